"""Commands the ledger accepts, and what it answers. Validation of their shape lives
here (pydantic); rules that need the lot's state live in `ledger.rules`."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from ledger.values import Money, UtcTime, fits_currency, minor_units, parse_decimal

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Identifier = Annotated[str, Field(pattern=ID_PATTERN, description="letters, digits and _ . : -, at most 64")]
MAX_SOFT_CLOSE_S = 24 * 3600


def new_id() -> str:
    return uuid.uuid4().hex


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def positive_amount(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError("must be a decimal string such as \"12.50\"")
    amount = parse_decimal(value)
    if amount <= 0:
        raise ValueError("must be greater than zero")
    return amount


def _positive_amount_text(value: Any) -> str:
    positive_amount(value)
    return str(value)


_AMOUNT_SCHEMA = {"type": "string", "pattern": r"^(0|[1-9][0-9]*)(\.[0-9]+)?$", "examples": ["12.50"]}
# A price in a lot's terms: a positive decimal string, kept as a Decimal.
PriceInput = Annotated[Money, BeforeValidator(positive_amount), WithJsonSchema(_AMOUNT_SCHEMA)]
# A bid amount: a positive decimal string, kept as sent (the lot's currency decides later).
AmountText = Annotated[str, BeforeValidator(_positive_amount_text), WithJsonSchema(_AMOUNT_SCHEMA)]


class CreateLot(Command):
    """The terms of a new lot, as a seller gives them."""

    lot_id: Identifier = Field(default_factory=new_id)
    title: Annotated[str, Field(min_length=1, max_length=200)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    starting_price: PriceInput
    reserve_price: PriceInput | None = None
    increment: PriceInput | None = None  # a fixed step; None means the band table
    opens_at: UtcTime | None = None  # None means when the lot is created
    closes_at: UtcTime
    soft_close_window_s: Annotated[int, Field(ge=0, le=MAX_SOFT_CLOSE_S)] = 120
    soft_close_extension_s: Annotated[int, Field(ge=0, le=MAX_SOFT_CLOSE_S)] = 120
    hard_close_at: UtcTime | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        minor_units(value)  # raises for an unknown code
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "CreateLot":
        for name in ("starting_price", "reserve_price", "increment"):
            amount = getattr(self, name)
            if amount is not None and not fits_currency(amount, self.currency):
                raise ValueError(
                    f"{name} has more decimals than {self.currency} allows ({minor_units(self.currency)})"
                )
        if self.reserve_price is not None and self.reserve_price < self.starting_price:
            raise ValueError("reserve_price must not be below starting_price")
        if self.opens_at is not None and self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        if self.hard_close_at is not None and self.hard_close_at < self.closes_at:
            raise ValueError("hard_close_at must not be before closes_at")
        return self


class PlaceBid(Command):
    """A bid as the queue carries it. `amount` stays the string the bidder sent: the
    processor still checks it against the currency (CURRENCY_PRECISION)."""

    bid_id: Identifier
    lot_id: Identifier
    bidder: Annotated[str, Field(min_length=1, max_length=128)]
    amount: AmountText
    placed_at: UtcTime
    correlation_id: str | None = None  # the API request that took the bid
    type: Literal["PlaceBid"] = "PlaceBid"

    @property
    def amount_decimal(self) -> Decimal:
        return parse_decimal(self.amount)


class CloseLot(Command):
    lot_id: Identifier
    requested_at: UtcTime
    type: Literal["CloseLot"] = "CloseLot"


class CancelLot(Command):
    lot_id: Identifier
    cancelled_by: Annotated[str, Field(min_length=1, max_length=128)]
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "cancelled by an administrator"
    requested_at: UtcTime
    type: Literal["CancelLot"] = "CancelLot"


class LotCommandMessage(BaseModel):
    """One command as a queue message carries it (cancelling goes through the API, not the queue)."""

    command: Annotated[PlaceBid | CloseLot, Field(discriminator="type")]


BidStatus = Literal["PENDING", "ACCEPTED", "REJECTED"]


class BidOutcome(BaseModel):
    """How a bid was decided: what the bidder sees and the bid receipt records."""

    model_config = ConfigDict(frozen=True)

    bid_id: str
    lot_id: str
    bidder: str
    amount: str
    placed_at: UtcTime
    status: BidStatus
    reason: str | None = None
    minimum: Money | None = None
    current_price: Money | None = None
    version: int | None = None  # the event version that decided it
    decided_at: UtcTime | None = None


class CommandResult(BaseModel):
    """What one command of a batch did. `duplicate` marks a bid decided before."""

    command: str
    lot_id: str
    changed: bool
    bid: BidOutcome | None = None
    duplicate: bool = False

