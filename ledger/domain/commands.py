"""Commands the ledger accepts, and what it answers. Validation of their shape lives
here (pydantic); rules that need the lot's state live in `ledger.domain.rules`.

Input is strict (docs/ARCHITECTURE.md, "Input at the edges"): models refuse unknown fields and coercion (no
number or boolean where a string or an integer is meant: pydantic's strict mode),
patterns match the whole value (pydantic's regex `$` is the end of the text; Python
code uses fullmatch), free text has no surrounding whitespace or control characters,
and times lie within `ledger.domain.values`' range."""

from __future__ import annotations

import hashlib
import re
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    create_model,
)

from ledger.domain.events import ANY_BID, FIRST_BID, FROM_BID, BuyNowUntil, SoftCloseMode, SoftCloseTrigger
from ledger.domain.registration import OPEN, RegistrationMode
from ledger.domain.values import DECIMAL_DIGITS, INTEGER_DIGITS, MINOR_UNITS, Money, UtcTime, minor_units, parse_decimal

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Identifier = Annotated[str, Field(pattern=ID_PATTERN, description="letters, digits and _ . : -, at most 64")]
_IDENTIFIER = re.compile(ID_PATTERN)
MAX_SOFT_CLOSE_S = 24 * 3600
# The most extensions a lot's terms may cap it at: far more than any sale needs, and a
# bound a JSON Schema can state.
MAX_EXTENSIONS = 10_000
# A lot's events are keyed EVENT#{version:010d}: no version has more than ten digits.
MAX_VERSION = 10**10 - 1


# A user (a token's subject: Cognito's are UUIDs): ASCII, so it costs at most 128 bytes
# wherever it is stored (the snapshot's seller and leader, receipts, alias records).
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$"
UserId = Annotated[str, Field(pattern=USER_ID_PATTERN)]
_USER_ID = re.compile(USER_ID_PATTERN)


def is_user_id(value: Any) -> bool:
    """Whether `value` can name a user (a bidder, a seller, an administrator)."""
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def is_identifier(value: Any) -> bool:
    """Whether `value` is an id as the API documents it (for code outside a model)."""
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


# Free text (titles, reasons): no C0 or C1 control characters (NUL, newline, tab, ESC,
# DEL...), no lone surrogates, and no whitespace at either end. The same pattern is
# published in the JSON schema, less the surrogates: JSON Schema tools (Schemathesis)
# cannot use a surrogate range, and JSON with a lone surrogate never reaches a model
# (`ledger.domain.wire` refuses it).
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
TEXT_PATTERN = f"^[^{_CONTROL}{_SPACE}]([^{_CONTROL}]*[^{_CONTROL}{_SPACE}])?$"
_CONTROL_CHARACTER = re.compile(f"[{_CONTROL}\\ud800-\\udfff]")
_PLAIN_TEXT = re.compile(TEXT_PATTERN)


def _plain_text(value: str) -> str:
    if _CONTROL_CHARACTER.search(value):
        raise ValueError("must not contain control characters (such as NUL, tab or newline)")
    if not _PLAIN_TEXT.fullmatch(value):  # free of controls, so only its ends can fail
        raise ValueError("must not start or end with whitespace")
    return value


def _text_schema(max_length: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "minLength": 1, "maxLength": max_length, "pattern": TEXT_PATTERN})


# Plain text of 1 to 200 (a title) or 500 (a reason) characters.
Title = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_plain_text), _text_schema(200)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_plain_text), _text_schema(500)]


def _known_currency(code: str) -> str:
    minor_units(code)  # raises for an unknown code
    return code


# Published as the list of codes, so a client (or a fuzzer) knows exactly which are taken.
CurrencyCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_known_currency),
    WithJsonSchema({"type": "string", "enum": sorted(MINOR_UNITS), "description": "ISO 4217 code"}),
]


def _json_integer(value: Any) -> Any:
    # JSON has one number type and JSON Schema counts 120.0 as an integer, so it is
    # taken as 120; a string, a boolean or 120.5 is still refused by strict mode.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer as JSON Schema defines one: 120 or 120.0, never "120" or true.
JsonInteger = Annotated[int, BeforeValidator(_json_integer)]


def new_id() -> str:
    return uuid.uuid4().hex


def caller_bid_id(caller: str, key: str) -> str:
    """The id of the bid a caller names with their own idempotency key (`Idempotency-Key`, or
    `bid_id` in the body): the same key from two callers names two bids, and no key of one
    caller can reach another's bid. A hash of both ("k" and 32 hex digits), so ids say
    nothing of who placed them and are unlinkable across keys; `new_id`'s never start with "k"."""
    return "k" + hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest()[:32]


class StrictInput(BaseModel):
    """What arrives from outside: known fields only, no coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Command(StrictInput):
    pass


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


def _positive_decimal_pattern() -> str:
    """The amounts `positive_amount` takes, as one regex for the JSON schema: those of
    DECIMAL_PATTERN but zero, without lookahead (which not every JSON Schema tool reads)."""
    fractions_below_one = "|".join(
        f"0{{{zeros}}}[1-9][0-9]{{0,{DECIMAL_DIGITS - 1 - zeros}}}" for zeros in range(DECIMAL_DIGITS)
    )
    whole = f"[1-9][0-9]{{0,{INTEGER_DIGITS - 1}}}(\\.[0-9]{{1,{DECIMAL_DIGITS}}})?"
    return f"^({whole}|0\\.({fractions_below_one}))$"


POSITIVE_AMOUNT_PATTERN = _positive_decimal_pattern()
_AMOUNT_SCHEMA = {"type": "string", "pattern": POSITIVE_AMOUNT_PATTERN, "examples": ["12.50"]}
# A price in a lot's terms: a positive decimal string, kept as a Decimal.
PriceInput = Annotated[Money, BeforeValidator(positive_amount), WithJsonSchema(_AMOUNT_SCHEMA)]
# A bid amount: a positive decimal string, kept as sent (the lot's currency decides later).
AmountText = Annotated[str, BeforeValidator(_positive_amount_text), WithJsonSchema(_AMOUNT_SCHEMA)]


class CreateLot(Command):
    """The terms of a new lot, as a seller gives them. Each field is checked here;
    how the fields must agree (prices fit the currency, the times' order) is a rule of
    the lot (`ledger.domain.rules.check_terms`), refused with 422 rather than 400."""

    lot_id: Identifier = Field(default_factory=new_id)
    title: Title
    currency: CurrencyCode
    starting_price: PriceInput
    reserve_price: PriceInput | None = None
    increment: PriceInput | None = None  # a fixed step; None means the band table
    opens_at: UtcTime | None = None  # None means when the lot is created
    closes_at: UtcTime
    soft_close_window_s: Annotated[JsonInteger, Field(ge=0, le=MAX_SOFT_CLOSE_S)] = 120
    soft_close_extension_s: Annotated[JsonInteger, Field(ge=0, le=MAX_SOFT_CLOSE_S)] = 120
    hard_close_at: UtcTime | None = None
    # Soft-close rules (`ledger.domain.rules.soft_close`): an extension counts from the bid's
    # time or adds to the current end; any accepted bid extends, or only one that changes
    # the leader; at most `max_extensions` of them (None: no cap but the hard close).
    soft_close_mode: SoftCloseMode = FROM_BID
    soft_close_trigger: SoftCloseTrigger = ANY_BID
    max_extensions: Annotated[JsonInteger, Field(ge=0, le=MAX_EXTENSIONS)] | None = None
    # Buy-it-now (`ledger.domain.rules.buy_now_refusal`): a price at which a bidder may buy the lot
    # at once, offered until the first accepted bid or until the reserve is met.
    buy_now_price: PriceInput | None = None
    buy_now_until: BuyNowUntil = FIRST_BID
    # Who may bid (`ledger.domain.registration`): any signed-in user, or only bidders whose
    # registration for the lot the seller (or an administrator) approved.
    registration: RegistrationMode = OPEN


class PlaceBid(Command):
    """A bid as the queue carries it. `amount` stays the string the bidder sent: the
    processor still checks it against the currency (CURRENCY_PRECISION)."""

    bid_id: Identifier
    lot_id: Identifier
    bidder: UserId
    amount: AmountText
    placed_at: UtcTime
    correlation_id: str | None = None  # the API request that took the bid
    # The bidder confirmed a bid far above the minimum (the API's question, asked before it
    # is queued); recorded with the request, which a queued bid must match (`ledger.domain.queued`).
    confirmed: bool = False
    type: Literal["PlaceBid"] = "PlaceBid"

    @property
    def amount_decimal(self) -> Decimal:
        return parse_decimal(self.amount)


class BuyNow(Command):
    """A purchase at the lot's buy-now price, queued in the lot's message group like a bid
    and decided in order with them (`ledger.domain.rules.decide_buy_now`). `amount` is the buy-now
    price as the lot offered it when the purchase was taken; `bidder` is the buyer."""

    bid_id: Identifier
    lot_id: Identifier
    bidder: UserId
    amount: AmountText
    placed_at: UtcTime
    correlation_id: str | None = None  # the API request that took the purchase
    type: Literal["BuyNow"] = "BuyNow"

    @property
    def amount_decimal(self) -> Decimal:
        return parse_decimal(self.amount)


class CloseLot(Command):
    lot_id: Identifier
    requested_at: UtcTime
    type: Literal["CloseLot"] = "CloseLot"


# The reason a cancellation records when its request gives none (the API's body too).
DEFAULT_CANCEL_REASON = "cancelled by an administrator"


class CancelLot(Command):
    lot_id: Identifier
    cancelled_by: UserId
    reason: Reason = DEFAULT_CANCEL_REASON
    requested_at: UtcTime
    type: Literal["CancelLot"] = "CancelLot"


class RetractBid(Command):
    """An administrator withdraws an accepted bid of an open lot, saying why (the reason
    is stored in the event and shown to the bidder)."""

    lot_id: Identifier
    bid_id: Identifier
    retracted_by: UserId
    reason: Reason
    requested_at: UtcTime
    type: Literal["RetractBid"] = "RetractBid"


class LotCommandMessage(BaseModel):
    """One command as a queue message carries it (cancelling and retracting a bid go through
    the API, not the queue)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    command: Annotated[PlaceBid | CloseLot | BuyNow, Field(discriminator="type")]


# RETRACTED: accepted, then withdrawn by an administrator (`reason` is theirs).
BidStatus = Literal["PENDING", "ACCEPTED", "REJECTED", "RETRACTED"]


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
    # Accepted: whether the bidder led after it (a lower maximum than the leader's is
    # accepted, recorded, and answered by the leader's maximum). `amount` is their maximum.
    leading: bool | None = None


class CommandResult(BaseModel):
    """What one command of a batch did. `duplicate` marks a bid decided before; `parked`
    says why a queued command was not decided at all (`ledger.domain.queued`)."""

    command: str
    lot_id: str
    changed: bool
    bid: BidOutcome | None = None
    duplicate: bool = False
    parked: str | None = None



# --- staggered sales ------------------------------------------------------------------
# What one decision writes (its events and records, a sale with its lots) is written in one
# transaction of at most this many items: DynamoDB's TransactWriteItems takes 100, and every
# recorder keeps the limit (`ledger.persistence`), so a batch decided on one fits on the other.
TRANSACTION_LIMIT = 100
# A sale (`POST /sales`) creates its lots in closing order, `interval_s` apart from
# `first_closes_at`; `POST /sales/{sale_id}/lots` adds more, continuing the interval, until
# the sale's first close. A request of up to MAX_SALE_REQUEST_LOTS lots is more than one
# transaction holds (a lot is its LotCreated event and its snapshot: SALE_ITEMS_PER_LOT
# items), so its lots are written as drafts, DRAFT_LOTS_PER_TRANSACTION to a transaction,
# and opened by one commit marker (`ledger.service.sales`): all or nothing as bidders see it.
SALE_ITEMS_PER_LOT = 2
DRAFT_LOTS_PER_TRANSACTION = TRANSACTION_LIMIT // SALE_ITEMS_PER_LOT
MAX_SALE_REQUEST_LOTS = 500
MAX_SALE_LOTS = 1000
# Staggered means apart: at least a second, at most an hour between two closes.
MIN_SALE_INTERVAL_S = 1
MAX_SALE_INTERVAL_S = 3600

# A sale's id is an id of at most 32 characters (a generated one is 32): each of its lots'
# snapshots names it, and the largest snapshot has room for no more within 2 KB
# (tests/integration/ledger/test_bounded_snapshot.py).
SALE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}$"
SaleId = Annotated[str, Field(pattern=SALE_ID_PATTERN, description="letters, digits and _ . : -, at most 32")]

# A lot's terms in a sale: those of `POST /lots` (CreateLot, whatever fields it has),
# less `closes_at` and `registration`, which the sale sets; an entry that gives one is refused (extra field).
SALE_SETS = ("closes_at", "registration")
SaleLotTerms = create_model(
    "SaleLotTerms",
    __base__=Command,
    __doc__="A lot's terms as in POST /lots, without closes_at and registration: the sale sets them.",
    **{name: (field.annotation, field) for name, field in CreateLot.model_fields.items() if name not in SALE_SETS},  # type: ignore[call-overload]
)


class CreateSale(Command):
    """A sale: its lots close one after another, `interval_s` apart, in the order given
    (`ledger.domain.rules.sale_close_times`); each is an ordinary lot with its own soft close."""

    sale_id: SaleId = Field(default_factory=new_id)
    title: Title
    interval_s: Annotated[JsonInteger, Field(ge=MIN_SALE_INTERVAL_S, le=MAX_SALE_INTERVAL_S)]
    first_closes_at: UtcTime
    lots: Annotated[list[SaleLotTerms], Field(min_length=1, max_length=MAX_SALE_REQUEST_LOTS)]
    # Who may bid on the sale's lots: anyone signed in, or bidders the seller approved.
    registration: RegistrationMode = OPEN


class AddSaleLots(Command):
    """More lots for a sale (`POST /sales/{sale_id}/lots`): they close after its last lot, the
    sale's `interval_s` apart, in the order given; who may bid on them is the sale's choice."""

    lots: Annotated[list[SaleLotTerms], Field(min_length=1, max_length=MAX_SALE_REQUEST_LOTS)]
