"""The auction's rules, each in one place: increments, the minimum next bid, when a
bid is in time, soft close, the reserve, and how a new lot's terms agree. Pure functions of the lot's state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any

from ledger.domain.commands import MAX_SALE_LOTS
from ledger.domain.errors import (
    BidAlreadyRetracted,
    BidNotAccepted,
    BidNotFound,
    InvalidCommand,
    LotNotOpen,
    SaleClosing,
    SaleFull,
)
from ledger.domain.events import (
    ADD_TO_END,
    ANY_BID,
    BOUGHT,
    FIRST_BID,
    FROM_BID,
    LEADER_CHANGE,
    OUTBID,
    RAISED,
    RESERVE_MET,
    TOOK_LEAD,
    BidPlaced,
    BidRejected,
    BidRetracted,
    LotEvent,
)
from ledger.domain.registration import APPROVAL, DECLINED, PENDING, SUSPENDED, Admission
from ledger.domain.state import evolve
from ledger.domain.values import (
    INTEGER_DIGITS,
    LATEST_TIME,
    fits_currency,
    format_decimal,
    format_time,
    minor_unit,
    minor_units,
    parse_decimal,
)

if TYPE_CHECKING:
    from ledger.domain.commands import CreateLot
    from ledger.domain.state import LotSnapshot

# Reason codes of BidRejected: a rejected bid carries exactly one, checked in this order
# by `decide_bid`.
LOT_NOT_OPEN = "LOT_NOT_OPEN"
LOT_CLOSED = "LOT_CLOSED"
LOT_CANCELLED = "LOT_CANCELLED"
SELLER_CANNOT_BID = "SELLER_CANNOT_BID"
ALREADY_LEADING = "ALREADY_LEADING"  # no longer given: a leader raises their maximum (kept for old events)
BELOW_OWN_MAXIMUM = "BELOW_OWN_MAXIMUM"
BELOW_MINIMUM = "BELOW_MINIMUM"
CURRENCY_PRECISION = "CURRENCY_PRECISION"
# A maximum whose next step (`largest_bid_allowed`) the API could not take: accepted, it
# would leave the lot with a minimum next bid nobody can send.
AMOUNT_TOO_LARGE = "AMOUNT_TOO_LARGE"
# A purchase at the buy-now price (`decide_buy_now`) when the lot has none, or no longer
# offers it by its terms (a bid was accepted first, or the reserve was met).
BUY_NOW_NOT_OFFERED = "BUY_NOW_NOT_OFFERED"
# Who may bid (`registration_refusal`): a blocked bidder (house-wide, or their registration
# for the sale suspended); on a lot that needs approval, a bidder without an approved
# registration (none, or declined; or still pending); and (`limit_refusal`) a bid that would
# take the bidder's exposure in the sale past their limit.
BIDDER_BLOCKED = "BIDDER_BLOCKED"
NOT_REGISTERED = "NOT_REGISTERED"
REGISTRATION_PENDING = "REGISTRATION_PENDING"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
REGISTRATION_REASONS = (BIDDER_BLOCKED, NOT_REGISTERED, REGISTRATION_PENDING, LIMIT_EXCEEDED)
REASON_CODES = (
    LOT_NOT_OPEN, LOT_CLOSED, LOT_CANCELLED, SELLER_CANNOT_BID,
    ALREADY_LEADING, BELOW_OWN_MAXIMUM, BELOW_MINIMUM, CURRENCY_PRECISION,
    BUY_NOW_NOT_OFFERED, AMOUNT_TOO_LARGE, *REGISTRATION_REASONS,
)


# The default increment table, in minor units of the lot's currency: from a price
# (inclusive) upwards, the step. For EUR/USD this is the familiar eBay-style table
# (0.05 below 1.00, 0.25 below 5.00, ... 100.00 from 5,000.00).
DEFAULT_BANDS_MINOR = (
    (0, 5),
    (100, 25),
    (500, 50),
    (2_500, 100),
    (10_000, 250),
    (25_000, 500),
    (50_000, 1_000),
    (100_000, 2_500),
    (250_000, 5_000),
    (500_000, 10_000),
)


def increment_rule(currency: str, fixed_step: Decimal | None) -> dict[str, Any]:
    """The increment rule written into LotCreated: the fixed step, or the band table
    in the currency's units."""
    if fixed_step is not None:
        return {"type": "fixed", "step": format_decimal(fixed_step)}
    unit = minor_unit(currency)
    return {
        "type": "bands",
        "bands": [[format_decimal(start * unit), format_decimal(step * unit)] for start, step in DEFAULT_BANDS_MINOR],
    }


def increment_at(rule: dict[str, Any], price: Decimal) -> Decimal:
    if rule["type"] == "fixed":
        return parse_decimal(rule["step"])
    step = parse_decimal(rule["bands"][0][1])
    for start, band_step in rule["bands"]:
        if price >= parse_decimal(start):
            step = parse_decimal(band_step)
    return step


def minimum_bid(lot: LotSnapshot) -> Decimal:
    """The starting price for the first bid, then the current price plus the
    increment of its band, written in the currency's digits."""
    if lot.current_price is None:
        return lot.starting_price
    return one_increment_above(lot, lot.current_price)


# The largest amount the API takes (`ledger.domain.values.DECIMAL_PATTERN`): below 10^18.
LARGEST_AMOUNT_TAKEN = Decimal(10) ** INTEGER_DIGITS


def amount_too_large(lot: LotSnapshot, amount: Decimal) -> bool:
    """Whether `amount`, as a bidder's maximum, would leave the lot with a minimum next bid
    the API cannot take: the next step above it (what beats it, and what its bidder must
    pass to raise it) must stay below LARGEST_AMOUNT_TAKEN. The one rule that keeps every
    lot biddable, checked at the API (`BidAdmission`) and by the processor (`decide_bid`)."""
    return one_increment_above(lot, amount) >= LARGEST_AMOUNT_TAKEN


def largest_bid_allowed(lot: LotSnapshot) -> Decimal:
    """The largest maximum `amount_too_large` lets through for the lot (for messages)."""
    top = LARGEST_AMOUNT_TAKEN - minor_unit(lot.currency)
    # Increments never fall as the price rises: one step below the top's step stays below the top.
    return top - increment_at(lot.increment, top)


def reserve_met(lot: LotSnapshot) -> bool:
    price = lot.current_price
    return price is not None and (lot.reserve_price is None or price >= lot.reserve_price)


# What soft close did with an accepted bid (`soft_close`), for the dispute report's words:
# it moved the close (the hard close may have cut the move short), or why not.
EXTENDED = "EXTENDED"
EXTENDED_TO_HARD_CLOSE = "EXTENDED_TO_HARD_CLOSE"
SOFT_CLOSE_OFF = "SOFT_CLOSE_OFF"
BEFORE_WINDOW = "BEFORE_WINDOW"
NOT_A_LEADER_CHANGE = "NOT_A_LEADER_CHANGE"
EXTENSIONS_USED = "EXTENSIONS_USED"
NOT_LATER = "NOT_LATER"
AT_HARD_CLOSE = "AT_HARD_CLOSE"
SOFT_CLOSE_CODES = (
    EXTENDED, EXTENDED_TO_HARD_CLOSE, SOFT_CLOSE_OFF, BEFORE_WINDOW, NOT_A_LEADER_CHANGE, EXTENSIONS_USED, NOT_LATER, AT_HARD_CLOSE,
)


@dataclass(frozen=True)
class CloseMove:
    closes_at: datetime  # the close after the bid
    why: str  # one of SOFT_CLOSE_CODES


def changes_leader(lot: LotSnapshot, bidder: str, outcome: str) -> bool:
    """Whether an accepted bid with `outcome` changed the leader: it took the lead from
    someone else, or from no one (the first bid)."""
    return outcome == TOOK_LEAD and bidder != lot.leader


def soft_close(lot: LotSnapshot, placed_at: datetime, leader_changes: bool) -> CloseMove:
    """Soft close, by the lot's terms, for an accepted bid: one in the last
    `soft_close_window_s` (the edge included) moves the close to `soft_close_extension_s`
    after the bid (`from_bid`) or adds that much to the current close (`add_to_end`). With
    the trigger `leader_change` only a bid that changes the leader extends (the first bid
    does: it leads where no one did; an answered maximum or a leader's raise does not).
    Never backwards, never past the hard close, and not once the lot has had
    `max_extensions`. An extension is a move of the close: one the hard close reduces to
    nothing is none, and is not counted."""
    def stays(why: str) -> CloseMove:
        return CloseMove(lot.closes_at, why)

    if lot.soft_close_window_s == 0 or lot.soft_close_extension_s == 0:
        return stays(SOFT_CLOSE_OFF)
    if placed_at < lot.closes_at - timedelta(seconds=lot.soft_close_window_s):
        return stays(BEFORE_WINDOW)
    if lot.soft_close_trigger == LEADER_CHANGE and not leader_changes:
        return stays(NOT_A_LEADER_CHANGE)
    if lot.max_extensions is not None and lot.extension_count >= lot.max_extensions:
        return stays(EXTENSIONS_USED)
    start = lot.closes_at if lot.soft_close_mode == ADD_TO_END else placed_at
    wanted = start + timedelta(seconds=lot.soft_close_extension_s)
    if wanted <= lot.closes_at:
        return stays(NOT_LATER)
    if lot.hard_close_at is not None and wanted > lot.hard_close_at:
        if lot.closes_at >= lot.hard_close_at:
            return stays(AT_HARD_CLOSE)
        return CloseMove(lot.hard_close_at, EXTENDED_TO_HARD_CLOSE)
    return CloseMove(wanted, EXTENDED)


def in_digits(amount: Decimal, currency: str) -> Decimal:
    """An amount written in the currency's digits (a price one increment above a maximum
    may need rounding up to the next minor unit)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_CEILING)


def one_increment_above(lot: LotSnapshot, amount: Decimal) -> Decimal:
    """`amount` plus the increment of its band: what beats it by the least."""
    return in_digits(amount + increment_at(lot.increment, amount), lot.currency)


def proxy_price(lot: LotSnapshot, leader_maximum: Decimal, second_maximum: Decimal | None) -> Decimal:
    """The visible price for a leader with `leader_maximum` against the second-highest
    maximum (None: no other bid): one increment (of the band at the second-highest
    maximum) above it, never above the leader's maximum; the first bid opens at the
    starting price. Whenever the leader's maximum reaches the reserve, the price is at
    least the reserve."""
    price = lot.starting_price if second_maximum is None else min(leader_maximum, one_increment_above(lot, second_maximum))
    if lot.reserve_price is not None and leader_maximum >= lot.reserve_price:
        price = max(price, lot.reserve_price)
    return price


@dataclass(frozen=True)
class BidDecision:
    accepted: bool
    reason: str | None
    minimum: Decimal | None
    amount: Decimal | None  # the bidder's maximum, in the currency's digits (when it fits)
    closes_at: datetime  # the close time after the decision
    # Accepted bids: what the bid did (TOOK_LEAD, OUTBID, RAISED), the visible price
    # after it, and the leader's maximum after it (private: the numbers behind the price).
    outcome: str | None = None
    price: Decimal | None = None
    leader_maximum: Decimal | None = None


def registration_refusal(lot: LotSnapshot, admission: Admission | None) -> str | None:
    """Why the bidder may not bid on the lot (one reason code), or None: a bidder the house
    blocked, or whose registration for the sale is suspended, is BIDDER_BLOCKED everywhere;
    on a lot that needs approval, one with no registration (or a declined one) is
    NOT_REGISTERED and one still waiting REGISTRATION_PENDING."""
    admission = admission or Admission()
    if admission.blocked:
        return BIDDER_BLOCKED
    if lot.registration != APPROVAL:
        return None
    registration = admission.registration
    if registration is None or registration.status == DECLINED:
        return NOT_REGISTERED
    if registration.status == PENDING:
        return REGISTRATION_PENDING
    if registration.status == SUSPENDED:
        return BIDDER_BLOCKED
    return None


def decide_bid(
    lot: LotSnapshot, bidder: str, amount_text: str, placed_at: datetime, admission: Admission | None = None
) -> BidDecision:
    """Accept or reject one bid, whose amount is the bidder's maximum, against the lot
    state built from all earlier events and what is known of its bidder (`admission`:
    `registration_refusal`, checked once the lot is open to the bid and the bidder is not its
    seller). The first rule that fails gives the one reason code. An accepted bid bids for its bidder only as far as needed (`proxy_price`):
    - the first bid leads at the starting price (or the reserve, when it reaches it);
    - a higher maximum than the leader's takes the lead, and so does an equal one placed
      earlier (by `placed_at`, whatever order the queue delivered them in); the price is
      one increment above the beaten maximum, at most the new leader's maximum;
    - a lower maximum is still recorded: the leader's maximum answers it and the price
      moves to one increment above it, at most the leader's maximum (OUTBID);
    - the leader may raise their own maximum (RAISED): the price stays, unless the new
      maximum reaches an unmet reserve, when it rises to the reserve; a lower or equal
      maximum of theirs is refused (BELOW_OWN_MAXIMUM)."""

    def reject(reason: str, minimum: Decimal | None = None) -> BidDecision:
        return BidDecision(False, reason, minimum, None, lot.closes_at)

    if lot.status == "CANCELLED":
        return reject(LOT_CANCELLED)
    if lot.status == "CLOSED":
        return reject(LOT_CLOSED)
    if placed_at < lot.opens_at:
        return reject(LOT_NOT_OPEN)
    if placed_at >= lot.closes_at:
        return reject(LOT_CLOSED)
    if bidder == lot.seller:
        return reject(SELLER_CANNOT_BID)
    if (refused := registration_refusal(lot, admission)) is not None:
        return reject(refused)
    minimum = minimum_bid(lot)
    amount = parse_decimal(amount_text)
    if not fits_currency(amount, lot.currency):
        return reject(CURRENCY_PRECISION, minimum)
    amount = amount.quantize(minor_unit(lot.currency))
    if amount_too_large(lot, amount):
        return reject(AMOUNT_TOO_LARGE, minimum)
    leader_maximum = lot.leader_maximum if lot.leader_maximum is not None else lot.current_price

    def accept(outcome: str, price: Decimal, new_leader_maximum: Decimal) -> BidDecision:
        closes_at = soft_close(lot, placed_at, changes_leader(lot, bidder, outcome)).closes_at
        decision = BidDecision(True, None, minimum, amount, closes_at, outcome, price, new_leader_maximum)
        return reject(LIMIT_EXCEEDED, minimum) if limit_refusal(lot, bidder, decision, admission) else decision

    if lot.leader is not None and bidder == lot.leader:
        assert leader_maximum is not None and lot.current_price is not None
        if amount <= leader_maximum:
            return reject(BELOW_OWN_MAXIMUM, one_increment_above(lot, leader_maximum))
        price = lot.current_price
        if lot.reserve_price is not None and price < lot.reserve_price <= amount:
            price = lot.reserve_price
        return accept(RAISED, price, amount)
    if amount < minimum:
        return reject(BELOW_MINIMUM, minimum)
    if lot.leader is None or leader_maximum is None:
        return accept(TOOK_LEAD, proxy_price(lot, amount, None), amount)
    leader_placed_at = lot.leader_placed_at or placed_at
    if amount > leader_maximum or (amount == leader_maximum and placed_at < leader_placed_at):
        return accept(TOOK_LEAD, proxy_price(lot, amount, leader_maximum), amount)
    return accept(OUTBID, proxy_price(lot, leader_maximum, amount), leader_maximum)


def surely_below_minimum(lot: LotSnapshot, bidder: str, amount: Decimal, placed_at: datetime) -> Decimal | None:
    """The minimum next bid when `decide_bid` would reject this bid BELOW_MINIMUM on `lot`
    (or on any later state of it, as the minimum only rises: the API refuses it before it is
    queued); None when it might be decided otherwise. So only a bid in the lot's open time,
    of a bidder other than its seller and its leader (who may raise their maximum to any
    amount above it, even below the minimum), under the minimum next bid."""
    if lot.status in ("CANCELLED", "CLOSED") or not lot.opens_at <= placed_at < lot.closes_at:
        return None
    if bidder in (lot.seller, lot.leader):
        return None
    minimum = minimum_bid(lot)
    return minimum if amount < minimum else None


# --- limits across a sale's lots ---------------------------------------------------------------
# A registration's limit caps the bidder's exposure in the sale: the sum of their maxima on the
# sale's open lots they lead and the prices of its lots they won. Each lot's decisions move its
# bidders' exposure by what they change on that lot (`exposure_changes`); a bid that would take
# the bidder past their limit is rejected LIMIT_EXCEEDED (`limit_refusal`).


def exposure_on(lot: LotSnapshot, bidder: str) -> Decimal:
    """What `bidder` owes the lot, as far as their exposure counts it: their maximum while they
    lead it open, the price when it was sold to them, else nothing."""
    if lot.leader != bidder or lot.current_price is None:
        return Decimal(0)
    if lot.status == "OPEN":
        return lot.leader_maximum if lot.leader_maximum is not None else lot.current_price
    return lot.current_price if lot.status == "CLOSED" and lot.outcome == "SOLD" else Decimal(0)


def exposure_changes(lot: LotSnapshot, events: Iterable[LotEvent]) -> dict[str, Decimal]:
    """How `events` (the next ones of the lot, folded onto `lot`) move each bidder's exposure
    (only those it moves, by a change not zero)."""
    state = lot.model_copy(deep=True)
    changes: dict[str, Decimal] = {}
    for event in events:
        touched = {b for b in (state.leader, getattr(event, "bidder", None)) if b is not None}
        before = {b: exposure_on(state, b) for b in touched}
        state = evolve(event, state)
        touched |= {state.leader} if state.leader is not None else set()
        for bidder in touched:
            change = exposure_on(state, bidder) - before.get(bidder, Decimal(0))
            changes[bidder] = changes.get(bidder, Decimal(0)) + change
    return {bidder: change for bidder, change in changes.items() if change != 0}


def limit_refusal(lot: LotSnapshot, bidder: str, decision: BidDecision, admission: Admission | None) -> bool:
    """Whether an accepted `decision` would take the bidder's exposure in the sale past their
    registration's limit: their exposure elsewhere (what is known of it, less this lot's part)
    plus what they would owe this lot after it."""
    registration = None if admission is None else admission.registration
    if registration is None or registration.limit is None or not decision.accepted:
        return False
    if decision.outcome == OUTBID:
        return False  # the leader's maximum answered it: the bidder owes this lot nothing
    owed = decision.leader_maximum if decision.leader_maximum is not None else decision.price
    assert owed is not None
    elsewhere = admission.exposure - exposure_on(lot, bidder) if admission is not None else Decimal(0)
    return elsewhere + owed > registration.limit


# --- buy-it-now --------------------------------------------------------------------------


def buy_now_refusal(lot: LotSnapshot, buyer: str | None, placed_at: datetime) -> str | None:
    """Why a purchase at the lot's buy-now price placed at `placed_at` by `buyer` (None:
    anyone but the seller) is refused, as the one reason code a rejected bid carries, or
    None: it is offered. Offered while the lot is open at `placed_at` and, by the lot's
    `buy_now_until`, no bid has been accepted yet (`first_bid`) or the reserve is not met
    yet (`reserve_met`; a lot without a reserve meets it with its first bid). The lot's
    state is the one all earlier commands in its queue made, so a race with bids is decided
    by queue order; a purchase the queue put after another (or after the close) finds the
    lot CLOSED."""
    if lot.status == "CANCELLED":
        return LOT_CANCELLED
    if lot.status == "CLOSED":
        return LOT_CLOSED
    if placed_at < lot.opens_at:
        return LOT_NOT_OPEN
    if placed_at >= lot.closes_at:
        return LOT_CLOSED
    if buyer is not None and buyer == lot.seller:
        return SELLER_CANNOT_BID
    if lot.buy_now_price is None:
        return BUY_NOW_NOT_OFFERED
    if lot.buy_now_until == FIRST_BID and lot.bid_count > 0:
        return BUY_NOW_NOT_OFFERED
    if lot.buy_now_until == RESERVE_MET and reserve_met(lot):
        return BUY_NOW_NOT_OFFERED
    return None


def buy_now_offered(lot: LotSnapshot, at: datetime) -> Decimal | None:
    """The buy-now price a lot offers at `at` (what its view shows), or None."""
    return lot.buy_now_price if buy_now_refusal(lot, None, at) is None else None


def decide_buy_now(lot: LotSnapshot, buyer: str, placed_at: datetime, admission: Admission | None = None) -> BidDecision:
    """Accept or reject a purchase at the lot's buy-now price (`buy_now_refusal`; a buyer who
    may not bid is refused as for a bid, `registration_refusal`, once the lot offers it). Accepted,
    the buyer leads at the buy-now price (their maximum too) and the lot closes SOLD to them
    at once; the close time does not move."""
    reason = buy_now_refusal(lot, buyer, placed_at) or registration_refusal(lot, admission)
    if reason is not None:
        return BidDecision(False, reason, None, None, lot.closes_at)
    assert lot.buy_now_price is not None  # offered
    price = in_digits(lot.buy_now_price, lot.currency)
    decision = BidDecision(True, None, minimum_bid(lot), price, lot.closes_at, BOUGHT, price, price)
    if limit_refusal(lot, buyer, decision, admission):
        return BidDecision(False, LIMIT_EXCEEDED, None, None, lot.closes_at)
    return decision


def may_close(lot: LotSnapshot, at: datetime) -> bool:
    """Closing happens once, and only when the current close time (soft close may
    have moved it) has passed at the command's time."""
    return lot.status == "OPEN" and at >= lot.closes_at


def check_terms(terms: CreateLot, opens_at: datetime, now: datetime) -> None:
    """How a new lot's terms must agree with each other and with the clock."""
    for name in ("starting_price", "reserve_price", "increment"):
        amount = getattr(terms, name)
        if amount is not None and not fits_currency(amount, terms.currency):
            raise InvalidCommand(
                f"{name} has more decimals than {terms.currency} allows ({minor_units(terms.currency)})",
                {"field": name, "currency": terms.currency},
            )
    if terms.reserve_price is not None and terms.reserve_price < terms.starting_price:
        raise InvalidCommand("reserve_price must not be below starting_price", {"field": "reserve_price"})
    if terms.closes_at <= now:
        raise InvalidCommand("closes_at must be in the future", {"field": "closes_at", "closes_at": format_time(terms.closes_at)})
    if terms.closes_at <= opens_at:
        raise InvalidCommand("closes_at must be after opens_at", {"field": "closes_at"})
    if terms.hard_close_at is not None and terms.hard_close_at < terms.closes_at:
        raise InvalidCommand("hard_close_at must not be before closes_at", {"field": "hard_close_at"})
    _check_buy_now_terms(terms)
    # A soft-close rule on a lot without soft close would be ignored: the seller meant something else.
    rule_fields = {"soft_close_mode": terms.soft_close_mode != FROM_BID,
                   "soft_close_trigger": terms.soft_close_trigger != ANY_BID,
                   "max_extensions": terms.max_extensions is not None}
    chosen = [name for name, given in rule_fields.items() if given]
    if chosen and (terms.soft_close_window_s == 0 or terms.soft_close_extension_s == 0):
        raise InvalidCommand(
            f"{chosen[0]} needs soft close: soft_close_window_s and soft_close_extension_s above 0",
            {"field": chosen[0]},
        )


def _check_buy_now_terms(terms: CreateLot) -> None:
    """A buy-now price fits the currency and is at least the starting price and the
    reserve (below either, buying would undercut the auction); `buy_now_until` without a
    buy-now price would be ignored: the seller meant something else."""
    price = terms.buy_now_price
    if price is None:
        if terms.buy_now_until != FIRST_BID:
            raise InvalidCommand("buy_now_until needs a buy_now_price", {"field": "buy_now_until"})
        return
    if not fits_currency(price, terms.currency):
        raise InvalidCommand(
            f"buy_now_price has more decimals than {terms.currency} allows ({minor_units(terms.currency)})",
            {"field": "buy_now_price", "currency": terms.currency},
        )
    if price < terms.starting_price:
        raise InvalidCommand("buy_now_price must not be below starting_price", {"field": "buy_now_price"})
    if terms.reserve_price is not None and price < terms.reserve_price:
        raise InvalidCommand("buy_now_price must not be below reserve_price", {"field": "buy_now_price"})


# --- fat-finger protection ---------------------------------------------------------------
# Asked at the API before a bid is queued (BidAdmission.admit_bid): a bid more than this
# many times the minimum next bid, or above the deployment's cap for the lot's currency, is
# taken only when the bidder confirms it. The processor never asks again: a queued bid was
# confirmed or needed no confirmation.
CONFIRMATION_FACTOR = 10
CONFIRMATION_BY_FACTOR = "factor"
CONFIRMATION_BY_CAP = "cap"


@dataclass(frozen=True)
class ConfirmationQuestion:
    """Why a bid needs the bidder's confirmation, with the numbers to ask about (money in
    the currency's digits)."""

    triggered_by: str  # CONFIRMATION_BY_FACTOR, or CONFIRMATION_BY_CAP when only the cap is passed
    minimum: Decimal
    factor_limit: Decimal  # CONFIRMATION_FACTOR times the minimum: the most taken unasked
    cap: Decimal | None


def needs_confirmation(
    lot: LotSnapshot, amount: Decimal, confirmed: bool, caps: Mapping[str, Decimal]
) -> ConfirmationQuestion | None:
    """The question to ask before the bid is queued, or None: the bid is confirmed, or it is
    at most CONFIRMATION_FACTOR times the minimum next bid (the starting price before the
    first bid) and at most the cap of the lot's currency (no cap when `caps` has none)."""
    if confirmed:
        return None
    minimum = minimum_bid(lot)
    factor_limit = (minimum * CONFIRMATION_FACTOR).quantize(minor_unit(lot.currency))
    cap = caps.get(lot.currency)
    if amount > factor_limit:
        triggered_by = CONFIRMATION_BY_FACTOR
    elif cap is not None and amount > cap:
        triggered_by = CONFIRMATION_BY_CAP
    else:
        return None
    return ConfirmationQuestion(triggered_by, minimum, factor_limit, cap)


def parse_confirmation_caps(text: str) -> dict[str, Decimal]:
    """A deployment's caps, one per currency, written `EUR=100000,USD=100000,JPY=15000000`
    (empty: none; a currency not listed has none). Read strictly, as a setting read at
    start-up should be: ISO 4217 codes, each once, and positive plain amounts in the
    currency's digits, comma-separated without spaces. ValueError says what is wrong."""
    caps: dict[str, Decimal] = {}
    if text == "":
        return caps
    for entry in text.split(","):
        code, equals, amount_text = entry.partition("=")
        if not equals:
            raise ValueError(f"{entry!r} is not CURRENCY=AMOUNT, such as EUR=100000")
        minor_units(code)  # raises for anything but a known ISO 4217 code
        if code in caps:
            raise ValueError(f"{code} has two caps")
        amount = parse_decimal(amount_text)
        if amount <= 0:
            raise ValueError(f"the cap of {code} must be above zero")
        if not fits_currency(amount, code):
            raise ValueError(f"the cap of {code} has more decimals than {code} allows ({minor_units(code)})")
        caps[code] = amount.quantize(minor_unit(code))
    return caps


# --- retraction by an administrator -------------------------------------------------------
# Rare, so deciding one reads the lot's events (the service loads them); the BidRetracted
# event then carries the standing it computed, and the fold never reads events.


@dataclass(frozen=True)
class LotStanding:
    """A lot's standing from a set of accepted bids: the visible price (None: no bid), the
    leader, their leading bid, maximum, alias and time of bid, the accepted bids counted,
    whether the reserve is met; and one bidder's highest maximum among them (None: none)."""

    price: Decimal | None
    leader: str | None
    leading_bid_id: str | None
    leader_maximum: Decimal | None
    leader_alias: int | None
    leader_placed_at: datetime | None
    bid_count: int
    reserve_met: bool
    bidder_maximum: Decimal | None


def check_open_for_retraction(lot: LotSnapshot, now: datetime) -> None:
    """Bids are retracted only while the lot is open: opened, its close time in force not
    passed (a retraction after it would change a result already due), neither closed nor
    cancelled. Checked on the state before the lot's events are read."""
    if lot.status != "OPEN" or now < lot.opens_at or now >= lot.closes_at:
        # SCHEDULED: not opened yet; CLOSING: its close time passed, the sweep closes it shortly.
        status: str = lot.status if lot.status != "OPEN" else "SCHEDULED" if now < lot.opens_at else "CLOSING"
        raise LotNotOpen(f"bids are retracted only while the lot is open (it is {status})",
                         {"lot_id": lot.lot_id, "status": status, "closes_at": format_time(lot.closes_at)})


def retractable_bid(lot: LotSnapshot, events: Iterable[LotEvent], bid_id: str, now: datetime) -> BidPlaced:
    """The accepted bid `bid_id` among the lot's events (all of them, in order), if it may
    be retracted now: the lot is open (`check_open_for_retraction`), and the bid was
    accepted and not retracted before."""
    check_open_for_retraction(lot, now)
    placed: BidPlaced | None = None
    rejected = retracted = False
    for event in events:
        if isinstance(event, BidPlaced) and event.bid_id == bid_id:
            placed = event
        elif isinstance(event, BidRejected) and event.bid_id == bid_id:
            rejected = True
        elif isinstance(event, BidRetracted) and event.bid_id == bid_id:
            retracted = True
    details = {"lot_id": lot.lot_id, "bid_id": bid_id}
    if retracted:
        raise BidAlreadyRetracted(f"bid {bid_id!r} was retracted already", details)
    if placed is None and rejected:
        raise BidNotAccepted(f"bid {bid_id!r} was rejected: there is nothing to retract", details)
    if placed is None:
        raise BidNotFound(f"lot {lot.lot_id!r} has no bid {bid_id!r}", details)
    return placed


def standing_without(lot: LotSnapshot, events: Iterable[LotEvent], bid: BidPlaced) -> LotStanding:
    """The lot's standing once `bid` is retracted: the proxy rule (`decide_bid`) re-run over
    the lot's accepted bids in their order, leaving out `bid` and every bid retracted
    before, each folded as it would now be decided (`evolve`, the one fold). Every bid that
    remains is accepted again: a retraction only lowers the price, so each still meets its
    minimum, and a bidder's remaining maxima still rise. The close time in force is kept
    (a retraction never moves it back), so no bid becomes late. Bids recorded before
    maximum bids (amount = price) count as maxima."""
    events = list(events)
    left_out = {e.bid_id for e in events if isinstance(e, BidRetracted)} | {bid.bid_id}
    state = lot.model_copy(deep=True, update={
        "current_price": None, "leader": None, "leading_bid_id": None, "leader_maximum": None,
        "leader_alias": None, "leader_placed_at": None, "bid_count": 0,
    })
    bidder_maximum: Decimal | None = None
    for event in events:
        if not isinstance(event, BidPlaced) or event.bid_id in left_out:
            continue
        decision = decide_bid(state, event.bidder, format_decimal(event.amount), event.placed_at)
        if not decision.accepted or decision.outcome is None:
            continue  # cannot happen (see above); a bid that would not stand is left out
        state = evolve(replace(event, outcome=decision.outcome, price=decision.price,
                               leader_maximum=decision.leader_maximum, closes_at=state.closes_at), state)
        if event.bidder == bid.bidder:
            bidder_maximum = event.amount if bidder_maximum is None else max(bidder_maximum, event.amount)
    return LotStanding(
        price=state.current_price,
        leader=state.leader,
        leading_bid_id=state.leading_bid_id,
        leader_maximum=state.leader_maximum,
        leader_alias=state.leader_alias,
        leader_placed_at=state.leader_placed_at,
        bid_count=state.bid_count,
        reserve_met=reserve_met(state),
        bidder_maximum=bidder_maximum,
    )


# --- staggered sales ---------------------------------------------------------------------
def sale_close_times(first_closes_at: datetime, interval_s: int, count: int) -> list[datetime]:
    """When each lot of a sale closes, in the sale's order: the first at `first_closes_at`,
    each next one `interval_s` later. Each lot's soft close then moves only that lot."""
    return [first_closes_at + timedelta(seconds=i * interval_s) for i in range(count)]


def check_sale_close_times(close_times: list[datetime], now: datetime) -> None:
    """A sale's first lot closes in the future, its last within the times the ledger keeps:
    refusals of the sale's own `first_closes_at`, not of a lot's close time."""
    if close_times and close_times[0] <= now:
        raise InvalidCommand(
            "first_closes_at must be in the future", {"field": "first_closes_at", "first_closes_at": format_time(close_times[0])}
        )
    if close_times and close_times[-1] > LATEST_TIME:
        raise InvalidCommand(f"the last lot would close after {format_time(LATEST_TIME)}", {"field": "first_closes_at"})


def check_sale_room(sale_id: str, first_closes_at: datetime, taken: int, adding: int, now: datetime) -> None:
    """More lots for a sale: only before its first close, and only as many as it has room for
    (`taken`: its positions taken so far, committed or not)."""
    if now >= first_closes_at:
        raise SaleClosing(f"sale {sale_id!r} began closing at {format_time(first_closes_at)}: lots can no longer be added",
                          {"sale_id": sale_id, "first_closes_at": format_time(first_closes_at)})
    if taken + adding > MAX_SALE_LOTS:
        raise SaleFull(f"a sale holds at most {MAX_SALE_LOTS} lots; this one has room for {MAX_SALE_LOTS - taken}",
                       {"sale_id": sale_id, "max_lots": MAX_SALE_LOTS, "room": MAX_SALE_LOTS - taken, "asked": adding})


def sale_currency(registration: str, currencies: list[str], sale_currency: str | None = None) -> str | None:
    """The one currency of a sale that needs approval (its bidders' limits are in it): each of
    its lots is in the currency of its first (`sale_currency`: the sale's, once created). An
    open sale keeps none (None)."""
    if registration != APPROVAL or not currencies:
        return None
    expected = sale_currency or currencies[0]
    for index, currency in enumerate(currencies):
        if currency != expected:
            raise InvalidCommand(f"every lot of a sale that needs approval is in its currency, {expected}",
                                 {"field": f"lots.{index}.currency", "currency": expected})
    return expected


def check_sale_lot_ids(lot_ids: list[str]) -> None:
    """Each lot is in a sale once (each lot's own terms are `check_terms`, with its close time)."""
    seen: set[str] = set()
    for index, lot_id in enumerate(lot_ids):
        if lot_id in seen:
            raise InvalidCommand(f"lot {lot_id!r} is in the sale twice", {"field": f"lots.{index}.lot_id", "lot_id": lot_id})
        seen.add(lot_id)
