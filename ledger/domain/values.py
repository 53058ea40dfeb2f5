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
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

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

# Plain decimal notation only: no sign, no exponent, no NaN or Infinity; at most 18
# integer and 8 decimal digits. Checked with fullmatch: Python's `$` also matches
# before a trailing newline, and "12.50\n" is not an amount.
INTEGER_DIGITS, DECIMAL_DIGITS = 18, 8
DECIMAL_PATTERN = f"^(0|[1-9][0-9]{{0,{INTEGER_DIGITS - 1}}})(\\.[0-9]{{1,{DECIMAL_DIGITS}}})?$"
_DECIMAL_STRING = re.compile(DECIMAL_PATTERN)


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unknown ISO 4217 currency code {currency!r}") from None


def parse_decimal(text: str) -> Decimal:
    """A non-negative amount written in plain decimal notation, e.g. "12.50"."""
    if not isinstance(text, str) or not _DECIMAL_STRING.fullmatch(text):
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


# The times the ledger accepts, in UTC: four-digit years that sort as strings and
# that every store and parser on the way reads back.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
# ISO 8601 as the API takes it: a date with a year 2000-2999 as written, a time to the
# second with an optional fraction, and "Z" or a numeric offset. Nothing may precede or
# follow it (checked with fullmatch). The JSON schema publishes the same pattern; the
# range is then checked in UTC.
TIME_PATTERN = (
    r"^2[0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_TIME_STRING = re.compile(TIME_PATTERN)
TIME_RANGE_TEXT = "from 2000-01-01T00:00:00.000Z to 2999-12-31T23:59:59.999Z"


def to_utc_ms(value: datetime) -> datetime:
    """The time in UTC, to the millisecond; refused unless it has a timezone and lies
    within the ledger's range."""
    if value.tzinfo is None:
        raise ValueError("times must carry a timezone (ISO 8601 with Z or an offset)")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # an offset that takes year 1 or 9999 past the calendar
        raise ValueError(f"time out of range: times run {TIME_RANGE_TEXT}") from None
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if not EARLIEST_TIME <= value <= LATEST_TIME:
        raise ValueError(f"time out of range: times run {TIME_RANGE_TEXT}")
    return value


def format_time(value: datetime) -> str:
    """The one stored form, "2026-11-23T21:37:03.120Z": fixed width (a four-digit year,
    which strftime's %Y does not pad), so string order is time order."""
    value = to_utc_ms(value)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with "Z" or an offset, exactly (no spaces, no other forms),
    within the ledger's range."""
    if not isinstance(text, str) or not _TIME_STRING.fullmatch(text):
        shown = repr(text[:40]) if isinstance(text, str) else type(text).__name__
        raise ValueError(
            f"times are ISO 8601 strings such as \"2026-11-23T21:37:03.120Z\" (Z or an offset, no spaces), "
            f"{TIME_RANGE_TEXT}; got {shown}"
        )
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:  # e.g. month 13, hour 24 or offset 24:00
        raise ValueError(f"not a valid time: {text!r}") from None
    return to_utc_ms(value)


def utc_now() -> datetime:
    return to_utc_ms(datetime.now(UTC))


def from_epoch_ms(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


def _utc_time(value: Any) -> datetime:
    # Strings as the wire carries them, or datetimes as code builds them; never epoch
    # numbers, which pydantic's datetime would coerce.
    if isinstance(value, str):
        return parse_time(value)
    if isinstance(value, datetime):
        return to_utc_ms(value)
    raise ValueError(f"times are ISO 8601 strings such as \"2026-11-23T21:37:03.120Z\", {TIME_RANGE_TEXT}")


# Field types for pydantic models: UtcTime is written as "2026-11-23T21:37:03.120Z",
# Money as its decimal string.
UtcTime = Annotated[
    datetime,
    PlainValidator(_utc_time),
    PlainSerializer(format_time, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": TIME_PATTERN,
            "description": f"ISO 8601 with Z or an offset, {TIME_RANGE_TEXT} in UTC",
            "examples": ["2026-11-23T21:37:03.120Z"],
        }
    ),
]
Money = Annotated[Decimal, PlainSerializer(format_decimal, return_type=str, when_used="json")]
