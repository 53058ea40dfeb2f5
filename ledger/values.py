"""Money and time as the ledger writes them.

Money is a Decimal with exactly the currency's ISO 4217 minor-unit digits ("12.50"
for EUR, "1250" for JPY). Times are UTC, kept to the millisecond, and written in one
fixed-width ISO 8601 form so that string order is time order (the open-lots index
sorts on it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

# ISO 4217 currencies whose minor unit is not 2 digits; every other listed code has 2.
_MINOR_UNITS_OTHER_THAN_TWO = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}
_TWO_DIGIT_CURRENCIES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN
BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS
KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN
MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD
SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS
UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
""".split()
MINOR_UNITS: dict[str, int] = {code: 2 for code in _TWO_DIGIT_CURRENCIES} | _MINOR_UNITS_OTHER_THAN_TWO

# Plain decimal notation only: no sign, no exponent, no NaN or Infinity.
_DECIMAL_STRING = re.compile(r"^(0|[1-9][0-9]{0,17})(\.[0-9]{1,8})?$")


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unknown ISO 4217 currency code {currency!r}") from None


def parse_decimal(text: str) -> Decimal:
    """A non-negative amount written in plain decimal notation, e.g. "12.50"."""
    if not isinstance(text, str) or not _DECIMAL_STRING.match(text):
        raise ValueError(
            f"amount must be a decimal string such as \"12.50\" (no sign, exponent or spaces), got {text!r}"
        )
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes this
        raise ValueError(f"not a decimal amount: {text!r}") from None


def decimals_of(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def fits_currency(amount: Decimal, currency: str) -> bool:
    """Whether the amount is written with no more decimals than the currency allows."""
    return decimals_of(amount) <= minor_units(currency)


def to_currency(amount: Decimal, currency: str) -> Decimal:
    """The amount written with exactly the currency's minor-unit digits."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)))


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def format_decimal(amount: Decimal) -> str:
    return format(amount, "f")


def to_utc_ms(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("times must carry a timezone (ISO 8601 with Z or an offset)")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def format_time(value: datetime) -> str:
    value = to_utc_ms(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime:
    return to_utc_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def utc_now() -> datetime:
    return to_utc_ms(datetime.now(UTC))


def from_epoch_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


def _parse_time_input(value: object) -> object:
    return parse_time(value) if isinstance(value, str) else value


# Field types for pydantic models: UtcTime is written as "2026-11-23T21:37:03.120Z",
# Money as its decimal string.
UtcTime = Annotated[
    datetime,
    BeforeValidator(_parse_time_input),
    AfterValidator(to_utc_ms),
    PlainSerializer(format_time, return_type=str, when_used="json"),
]
Money = Annotated[Decimal, PlainSerializer(format_decimal, return_type=str, when_used="json")]
