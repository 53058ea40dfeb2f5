"""Taking a bid (or a purchase at the buy-now price) at the API: admit it (its lot exists,
its amount fits the lot's currency, a bid far above the minimum is confirmed), record it
once as PENDING, and queue it for the processor in its lot's order; and a bid's status as
its bidder sees it. The wording a bidder reads when a bid is refused here lives here too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from ledger.domain import rules
from ledger.domain.commands import BidOutcome, BidStatus, BuyNow, PlaceBid, caller_bid_id, new_id
from ledger.domain.errors import (
    BelowMinimum,
    BidderRefused,
    BidIdReused,
    BidNotFound,
    BuyNowRefused,
    ConfirmationRequired,
    InvalidCommand,
    LedgerError,
    LotEnded,
)
from ledger.domain.registration import Admission, RegistrationState, lot_scope, registration_id, standing_id
from ledger.domain.state import LotSnapshot
from ledger.domain.values import fits_currency, format_decimal, minor_units, utc_now
from ledger.persistence import LotRecorder
from ledger.service.cache import LruCache
from ledger.service.ports import BidQueue
from ledger.service.queries import LotQueries
from ledger.service.quotas import QuotaLimits, Quotas

BidCommand = TypeVar("BidCommand", PlaceBid, BuyNow)
# The deployment's caps per currency above which a bid needs the bidder's confirmation
# (`ledger.domain.rules.parse_confirmation_caps`: "EUR=100000,JPY=15000000"; empty or unset: none).
CONFIRMATION_CAPS_VARIABLE = "BID_CONFIRMATION_CAPS"
# How old a snapshot read for admitting bids (`admit_bid`) may be when it is used again,
# instead of reading the lot for every bid (a read per bid, the API's busiest call). What
# admission takes from it cannot go wrong with age: the lot exists (lots are never deleted;
# an unknown lot is never remembered), its currency (fixed at creation), and the minimum
# next bid, which only rises, so an old one asks for confirmation sooner, never later; a
# refusal is decided again on the lot as stored now. The bound covers what could lower a
# minimum after all (a tampered snapshot repaired): the fat-finger question then goes by a
# minimum at most this old, no older than the one on the bidder's page.
ADMISSION_SNAPSHOT_MAX_AGE_S = 5.0
ADMISSION_SNAPSHOTS_KEPT = 4096


def confirmation_caps_from(env: Mapping[str, str]) -> dict[str, Decimal]:
    """The caps BID_CONFIRMATION_CAPS sets; ValueError naming the variable when it is wrong
    (read at start-up, so a wrong setting stops the function rather than failing bids)."""
    text = env.get(CONFIRMATION_CAPS_VARIABLE) or ""
    try:
        return rules.parse_confirmation_caps(text)
    except ValueError as problem:
        raise ValueError(f"{CONFIRMATION_CAPS_VARIABLE}={text!r}: {problem}") from None


@dataclass(frozen=True)
class QueuedBid:
    """A bid (or purchase) taken: as first recorded, its status now (PENDING unless a retry
    found it decided), and whether this call queued it."""

    bid: PlaceBid | BuyNow
    status: BidStatus
    queued: bool


class BidAdmission:
    """The API's side of a bid: admission, the PENDING record, the queue (`BidQueue`), status."""

    def __init__(
        self,
        queries: LotQueries,
        bids: BidQueue,
        confirmation_caps: Mapping[str, Decimal] | None = None,
        admission_snapshot_max_age_s: float = ADMISSION_SNAPSHOT_MAX_AGE_S,
        quotas: Quotas | None = None,
    ) -> None:
        self.queries = queries
        self.store: LotRecorder = queries.store
        self.bids = bids
        self.quotas = quotas or Quotas(self.store, QuotaLimits(), clock=utc_now)
        self.confirmation_caps: dict[str, Decimal] = dict(confirmation_caps or {})
        # Snapshots read to admit bids, each given again for at most the max age.
        self._admission_snapshots: LruCache[str, LotSnapshot] = LruCache(
            ADMISSION_SNAPSHOTS_KEPT, max_age_s=admission_snapshot_max_age_s
        )

    def queue_bid(self, command: PlaceBid, confirmed: bool = False) -> QueuedBid:
        """`POST /bid`: admit and record the bid (`submit_bid`), then queue it."""
        return self._queue(*self.submit_bid(command, confirmed))

    def queue_buy_now(
        self, lot_id: str, bid_id: str, buyer: str, placed_at: datetime, correlation_id: str | None = None
    ) -> QueuedBid:
        """`POST /lots/{lot_id}/buy`: admit and record the purchase (`submit_buy_now`), then queue it."""
        return self._queue(*self.submit_buy_now(lot_id, bid_id, buyer, placed_at, correlation_id))

    def _queue(self, bid: PlaceBid | BuyNow, new: bool) -> QueuedBid:
        """Queue a recorded bid (or purchase) unless it is decided already."""
        decided = None if new else self.queries.get_bid_outcome(bid.bid_id)
        if decided is not None:
            return QueuedBid(bid, decided.status, queued=False)
        # Also on a retry: the first attempt may have stopped before queueing; the
        # queue's deduplication and the processor's receipts keep it to one decision.
        self.bids.send_bid(bid, correlation_id=bid.correlation_id)
        return QueuedBid(bid, "PENDING", queued=True)

    def admit_bid(self, command: PlaceBid, confirmed: bool = False) -> LotSnapshot:
        """What a bid must pass before it is queued: its lot exists, its amount fits the
        lot's currency, and a bid far above the minimum next bid is confirmed
        (`rules.needs_confirmation`). Everything else is decided in order by the processor.
        The lot may be one read for an earlier bid (ADMISSION_SNAPSHOT_MAX_AGE_S); a bid
        that it would ask to confirm is asked only if the lot as stored now asks too."""
        lot = self._admission_snapshots.get(command.lot_id)
        if lot is not None and (
            rules.needs_confirmation(lot, command.amount_decimal, confirmed, self.confirmation_caps) is not None
            or _below_minimum(lot, command) is not None
        ):
            lot = None  # the minimum may have moved since: refuse only on the lot as stored now
        if lot is None:
            lot = self.queries.get_lot(command.lot_id)
            self._admission_snapshots.put(lot.lot_id, lot)
        refuse_ended_lot(lot)
        self.refuse_unadmitted(lot, command.bidder)
        if not fits_currency(command.amount_decimal, lot.currency):
            raise InvalidCommand(
                f"{lot.currency} amounts have at most {minor_units(lot.currency)} decimals",
                {"reason": rules.CURRENCY_PRECISION, "currency": lot.currency, "amount": command.amount},
            )
        refuse_unbounded_amount(lot, command)
        question = rules.needs_confirmation(lot, command.amount_decimal, confirmed, self.confirmation_caps)
        if question is not None:
            raise _confirmation_required(lot, command, question)
        if (refusal := _below_minimum(lot, command)) is not None:
            raise refusal
        return lot

    def refuse_unadmitted(self, lot: LotSnapshot, bidder: str) -> None:
        """A bidder the API can already see may not bid on the lot (`rules.registration_refusal`:
        blocked, or on a lot that needs approval not approved) is refused with BidderRefused (403)
        before anything is recorded or queued. Their standing and registration are read as they
        are now (one request, never kept: an approval must count at once); the processor decides
        again, on them as they stand when the bid's turn comes."""
        if bidder == lot.seller:
            return  # refused SELLER_CANNOT_BID by the processor, which says it first
        ids = [standing_id(bidder)]
        if lot.registration is not None:
            ids.append(registration_id(lot_scope(lot.lot_id, lot.sale_id), bidder))
        records = self.store.get_registrations(ids)
        standing, registration = records.get(ids[0]), records.get(ids[-1]) if len(ids) > 1 else None
        admission = Admission(registration=None if registration is None else RegistrationState.model_validate(registration),
                              blocked=bool(standing and standing.get("blocked")))
        reason = rules.registration_refusal(lot, admission)
        if reason is not None:
            raise BidderRefused(reason, _REGISTRATION_REFUSALS[reason], {"lot_id": lot.lot_id})

    def submit_buy_now(
        self, lot_id: str, bid_id: str, buyer: str, placed_at: datetime, correlation_id: str | None = None
    ) -> tuple[BuyNow, bool]:
        """Admit a purchase at the lot's buy-now price and record it as PENDING, once per bid
        id (as `submit_bid`). Admitted when the lot exists (LotNotFound) and, at `placed_at`,
        offers its buy-now price to the buyer (`rules.buy_now_refusal`, else BuyNowRefused);
        the queue's order still decides, as a bid ahead of it may take the offer away. A
        retry (same bid id) of a purchase recorded before is that purchase, whatever the lot
        offers now: the processor decides it once."""
        lot = self.queries.get_lot(lot_id)
        if lot.buy_now_price is None:
            # Never offered; but a closed or cancelled lot says so first, as for a bid.
            raise _buy_now_refused(rules.buy_now_refusal(lot, buyer, placed_at) or rules.BUY_NOW_NOT_OFFERED, lot)
        command = BuyNow(
            bid_id=bid_id, lot_id=lot_id, bidder=buyer, placed_at=placed_at, correlation_id=correlation_id,
            amount=format_decimal(rules.in_digits(lot.buy_now_price, lot.currency)),
        )
        reason = rules.buy_now_refusal(lot, buyer, placed_at)
        try:
            if reason is not None:
                raise _buy_now_refused(reason, lot)
            self.refuse_unadmitted(lot, buyer)
        except (BuyNowRefused, BidderRefused):
            # Only now look for an earlier request: the common path keeps its one write.
            recorded = self.store.get_bid_request(bid_id)
            if recorded is None:
                raise
            return _same_bid(command, recorded), False
        self.within_bid_quota(command)
        earlier = self.store.record_bid_request(command.model_dump(mode="json"))
        if earlier is None:
            return command, True
        return _same_bid(command, earlier), False

    def within_bid_quota(self, command: PlaceBid | BuyNow) -> None:
        """Count the bid against its bidder's quotas on its lot (`Quotas.take_bid`), or
        QuotaExceeded before anything of it is written."""
        self.quotas.take_bid(command.bidder, command.lot_id, command.bid_id)

    def submit_bid(self, command: PlaceBid, confirmed: bool = False) -> tuple[PlaceBid, bool]:
        """Admit a bid and record it as PENDING, once per bid id. Returns the bid as
        first recorded and whether this call recorded it; a bid id that comes back
        with another lot, bidder or amount is refused. A retry (same bid id) of a bid
        recorded when it was confirmed needs no confirmation again, nor is it refused when
        its lot has ended or its price has passed it since: it is the same bid, decided once."""
        if confirmed:
            command = command.model_copy(update={"confirmed": True})  # recorded: the queued bid must say so too
        try:
            self.admit_bid(command, confirmed)
        except (ConfirmationRequired, LotEnded, BelowMinimum, BidderRefused):
            # Only now look for an earlier request: the common path keeps its one write.
            recorded = self.store.get_bid_request(command.bid_id)
            if recorded is None:
                raise
            return _same_bid(command, recorded), False
        self.within_bid_quota(command)
        earlier = self.store.record_bid_request(command.model_dump(mode="json"))
        if earlier is None:
            return command, True
        return _same_bid(command, earlier), False

    def bid_status(self, bid_id: str, bidder: str) -> BidOutcome | None:
        """The bid's outcome, or PENDING while it waits in the queue, or RETRACTED (with the
        administrator's reason) once an accepted bid was retracted; None when there is no
        such bid of this bidder (another bidder's bid is not shown)."""
        outcome = self.queries.get_bid_outcome(bid_id)
        if outcome is None:
            request = self.store.get_bid_request(bid_id)
            if request is None:
                return None
            outcome = BidOutcome.model_validate(request | {"status": "PENDING"})
        elif outcome.status == "ACCEPTED" and outcome.bidder == bidder and (retraction := self.store.get_retraction(bid_id)):
            # Receipts are written once: a retraction is its own record, read only for accepted bids.
            outcome = outcome.model_copy(update={"status": "RETRACTED", "reason": retraction["reason"], "leading": False})
        return outcome if outcome.bidder == bidder else None

    def own_bid(self, bid_id: str, bidder: str) -> BidOutcome:
        """`bid_status`, or BidNotFound when the bidder has no such bid."""
        outcome = self.bid_status(bid_id, bidder)
        if outcome is None:
            raise BidNotFound(f"you have no bid {bid_id!r}")
        return outcome


def refuse_ended_lot(lot: LotSnapshot) -> None:
    """A bid on a closed or cancelled lot is refused at once (LotEnded, 409), as a purchase
    is: the processor could only reject it. Safe on a remembered snapshot too, as a lot
    never reopens; a lot whose close time passed but is not closed yet is left to the
    processor, as soft close may have moved its close since."""
    if lot.status in ("CLOSED", "CANCELLED"):
        reason = rules.LOT_CANCELLED if lot.status == "CANCELLED" else rules.LOT_CLOSED
        raise LotEnded(reason, f"lot {lot.lot_id!r} is {lot.status.lower()}: it takes no more bids", {"lot_id": lot.lot_id})


def refuse_unbounded_amount(lot: LotSnapshot, command: PlaceBid) -> None:
    """A maximum that would leave the lot with a minimum next bid the API cannot take
    (`rules.amount_too_large`) is refused (422), confirmed or not."""
    if rules.amount_too_large(lot, command.amount_decimal):
        largest = format_decimal(rules.largest_bid_allowed(lot))
        raise InvalidCommand(
            f"{command.amount} {lot.currency} is more than this lot can take: the largest maximum is {largest} {lot.currency}",
            {"reason": rules.AMOUNT_TOO_LARGE, "currency": lot.currency, "amount": command.amount, "largest": largest},
        )


def bid_id_for(caller: str, key: str | None) -> str:
    """The id of a caller's bid: scoped to the caller when they named it with a key (a retry
    with the same key is the same bid; another caller's same key is another bid), else new.
    Bids stored before ids were scoped keep their ids, and `bid_status` finds them by those."""
    return new_id() if key is None else caller_bid_id(caller, key)


def _same_bid(command: BidCommand, earlier: Mapping[str, Any]) -> BidCommand:
    """The bid first recorded under the command's bid id, which must be the same bid (a
    bid and a purchase at the buy-now price are not the same)."""
    if earlier.get("type", "PlaceBid") != command.type:
        raise BidIdReused(f"bid id {command.bid_id!r} was used for another bid", {"bid_id": command.bid_id})
    first = type(command).model_validate(earlier)
    if (first.lot_id, first.bidder, first.amount) != (command.lot_id, command.bidder, command.amount):
        raise BidIdReused(
            f"bid id {command.bid_id!r} was used for another bid", {"bid_id": command.bid_id}
        )
    return first


def _below_minimum(lot: LotSnapshot, command: PlaceBid) -> LedgerError | None:
    """The refusal of a bid the API can already see is below the minimum next bid
    (`rules.surely_below_minimum`): 422 BELOW_MINIMUM with the minimum, so a flood of low bids
    is never queued nor recorded as BidRejected events; None when the processor must decide."""
    minimum = rules.surely_below_minimum(lot, command.bidder, command.amount_decimal, command.placed_at)
    if minimum is None:
        return None
    shown = format_decimal(rules.in_digits(minimum, lot.currency))
    return BelowMinimum(
        f"{command.amount} {lot.currency} is below the minimum bid of {shown} {lot.currency}",
        {"lot_id": lot.lot_id, "currency": lot.currency, "amount": command.amount, "minimum_bid": shown},
    )


# Why a bidder may not bid, as the API says it, by the reason code.
_REGISTRATION_REFUSALS = {
    rules.BIDDER_BLOCKED: "you may not bid: the auction house has blocked you, or suspended your registration for this sale",
    rules.NOT_REGISTERED: "this sale needs a registration the seller approves: register to bid first",
    rules.REGISTRATION_PENDING: "your registration for this sale waits for the seller's approval",
}


# Why a purchase at the buy-now price is refused at the API, by its reason code.
_BUY_NOW_REFUSALS = {
    rules.LOT_CANCELLED: "the lot is cancelled",
    rules.LOT_CLOSED: "the lot is closed",
    rules.LOT_NOT_OPEN: "the lot is not open yet",
    rules.SELLER_CANNOT_BID: "the seller may not buy their own lot",
}


def _buy_now_refused(reason: str, lot: LotSnapshot) -> BuyNowRefused:
    if reason != rules.BUY_NOW_NOT_OFFERED:
        why = _BUY_NOW_REFUSALS.get(reason, reason)
    elif lot.buy_now_price is None:
        why = "the lot has no buy-now price"
    elif lot.buy_now_until == "reserve_met":
        why = "the reserve is met: the lot is no longer offered at its buy-now price"
    else:
        why = "a bid was accepted: the lot is no longer offered at its buy-now price"
    return BuyNowRefused(reason, f"cannot buy lot {lot.lot_id!r} now: {why}", {"lot_id": lot.lot_id})


def _confirmation_required(lot: LotSnapshot, command: PlaceBid, question: rules.ConfirmationQuestion) -> ConfirmationRequired:
    """The refusal, with the numbers a client needs to ask its bidder (money as decimal
    strings in the currency's digits)."""
    currency = lot.currency
    if question.triggered_by == rules.CONFIRMATION_BY_FACTOR:
        why = f"more than {rules.CONFIRMATION_FACTOR} times the minimum bid of {format_decimal(question.minimum)} {currency}"
    else:
        assert question.cap is not None  # only a cap passed
        why = f"above {format_decimal(question.cap)} {currency}, the most this service takes unconfirmed"
    return ConfirmationRequired(
        f"{command.amount} {currency} is {why}: send the bid again with \"confirm\": true to place it",
        {
            "lot_id": lot.lot_id,
            "currency": currency,
            "amount": command.amount,
            "minimum_bid": format_decimal(question.minimum),
            "triggered_by": question.triggered_by,
            "factor": rules.CONFIRMATION_FACTOR,
            "factor_limit": format_decimal(question.factor_limit),
            "cap": None if question.cap is None else format_decimal(question.cap),
        },
    )
