"""The Lot aggregate: decides commands by `ledger.domain.rules` and records the decisions
as chained events. Its state is the snapshot the one fold (`ledger.domain.state`)
builds, so the writer and every reader agree by construction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING, asdict, fields
from datetime import datetime
from typing import Any

from eventsourcing.domain import BaseAggregate

from ledger.domain import commitments, rules
from ledger.domain.commands import BidOutcome, BuyNow, CancelLot, CloseLot, CreateLot, PlaceBid, RetractBid
from ledger.domain.errors import InvalidState, NotAllowed
from ledger.domain.events import (
    GENESIS_HASH,
    BidPlaced,
    BidRejected,
    BidRetracted,
    LotCancelled,
    LotClosed,
    LotCreated,
    LotEvent,
    canonical,
    keep_stored_topic,
)
from ledger.domain.registration import OPEN, Admission
from ledger.domain.state import LotSnapshot, evolve


class Lot(BaseAggregate[str]):
    # `self.state` (a LotSnapshot) is set by apply_event or from_snapshot; it is not
    # declared as a class annotation because eventsourcing turns those into __init__ args.

    @classmethod
    def create(
        cls, command: CreateLot, seller: str, now: datetime, sale_id: str | None = None, registration: str | None = None,
        seller_handle: str | None = None,
    ) -> Lot:
        """A new lot by its terms; a sale's lot takes the sale's `registration` instead of its own."""
        opens_at = command.opens_at or now
        rules.check_terms(command, opens_at, now)
        return cls._create(
            LotCreated,
            id=command.lot_id,
            prev_hash=GENESIS_HASH,
            title=command.title,
            seller=seller,
            currency=command.currency,
            starting_price=command.starting_price,
            reserve_price=command.reserve_price,
            increment=rules.increment_rule(command.currency, command.increment),
            opens_at=opens_at,
            closes_at=command.closes_at,
            soft_close_window_s=command.soft_close_window_s,
            soft_close_extension_s=command.soft_close_extension_s,
            hard_close_at=command.hard_close_at,
            soft_close_mode=command.soft_close_mode,
            soft_close_trigger=command.soft_close_trigger,
            max_extensions=command.max_extensions,
            buy_now_price=command.buy_now_price,
            buy_now_until=command.buy_now_until,
            sale_id=sale_id,
            registration=_needed(registration if sale_id is not None else command.registration),
            seller_handle=seller_handle,
        )

    @classmethod
    def from_snapshot(cls, state: LotSnapshot) -> Lot:
        """The lot as its stored snapshot says, ready to decide the next command."""
        lot = cls.__new__(cls)
        lot.__base_init__(originator_id=state.lot_id, originator_version=state.version, timestamp=state.updated_at)
        lot.state = state
        return lot

    def apply_event(self, event: LotEvent) -> None:
        self.state = evolve(event, getattr(self, "state", None))

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        # Every event links to the one before it, and commits to its private fields: their
        # disclosures wait in `disclosures` (by version) to be stored with it.
        version = self.version + 1
        private = commitments.private_fields(event_class.__name__)
        defaults = {f.name: None if f.default is MISSING else f.default for f in fields(event_class)}
        disclosed = {
            name: commitments.disclose(self.id, version, name, canonical(kwargs.get(name, defaults.get(name)))) for name in private
        }
        if disclosed:
            self.disclosures[version] = disclosed
        sealed = {name: commitments.commitment(d) for name, d in disclosed.items()} or None
        super().trigger_event(event_class, prev_hash=self.state.head_hash, sealed=sealed, **kwargs)

    @property
    def disclosures(self) -> dict[int, dict[str, str]]:
        """The disclosures of the events triggered here, by version and field (stored with them)."""
        if "_disclosures" not in self.__dict__:
            self._disclosures: dict[int, dict[str, str]] = {}
        return self._disclosures

    def place_bid(
        self, command: PlaceBid, now: datetime, aliases: dict[str, int], admission: Admission | None = None
    ) -> BidOutcome:
        """Decide a bid. `aliases` holds the lot's bidders' alias numbers as far as the
        caller knows them; a bidder not in it is taken to be new on this lot, given the next
        number and added to it (storage refuses the new alias when that was wrong). On a lot
        that needs approval the alias is the bidder's paddle. `admission`: what is known of
        the bidder's registration and standing (`rules.registration_refusal`)."""
        decision = rules.decide_bid(self.state, command.bidder, command.amount, command.placed_at, admission)
        return self._record_bid(command, decision, now, aliases, admission)

    def buy_now(
        self, command: BuyNow, now: datetime, aliases: dict[str, int], admission: Admission | None = None
    ) -> BidOutcome:
        """Decide a purchase at the buy-now price: recorded as a bid (BidPlaced, outcome
        BOUGHT, or BidRejected with its reason) and, accepted, followed by the LotClosed it
        makes: SOLD to the buyer at the buy-now price. `aliases` and `admission` as for `place_bid`."""
        decision = rules.decide_buy_now(self.state, command.bidder, command.placed_at, admission)
        outcome = self._record_bid(command, decision, now, aliases, admission)
        if decision.accepted:
            self.trigger_event(
                LotClosed,
                outcome="SOLD",
                price=decision.price,
                winner=command.bidder,
                winning_bid_id=command.bid_id,
                reserve_met=True,
                requested_at=command.placed_at,
                bought_now=True,
            )
        return outcome

    def _record_bid(
        self, command: PlaceBid | BuyNow, decision: rules.BidDecision, now: datetime, aliases: dict[str, int],
        admission: Admission | None = None,
    ) -> BidOutcome:
        """Record a bid's decision as its event and answer its outcome."""
        state = self.state
        registration = None if admission is None or state.registration is None else admission.registration
        if decision.accepted:
            assert decision.amount is not None and decision.minimum is not None
            paddle = None if registration is None else registration.paddle
            alias = aliases.setdefault(command.bidder, paddle or state.bidder_count + 1)
            self.trigger_event(
                BidPlaced,
                bid_id=command.bid_id,
                bidder=command.bidder,
                amount=decision.amount,
                placed_at=command.placed_at,
                minimum=decision.minimum,
                closes_at=decision.closes_at,
                correlation_id=command.correlation_id,
                alias=alias,
                outcome=decision.outcome,
                price=decision.price,
                leader_maximum=decision.leader_maximum,
                registration_version=None if registration is None else registration.version,
            )
        else:
            who: dict[str, Any] = {}
            if decision.reason in rules.REGISTRATION_REASONS:
                who = {"registration_status": None if registration is None else registration.status,
                       "registration_version": None if registration is None else registration.version}
            if decision.reason == rules.LIMIT_EXCEEDED and registration is not None and admission is not None:
                who |= {"limit": registration.limit, "exposure": admission.exposure}
            self.trigger_event(
                BidRejected,
                bid_id=command.bid_id,
                bidder=command.bidder,
                amount=command.amount,
                placed_at=command.placed_at,
                reason=decision.reason,
                minimum=decision.minimum,
                current_price=state.current_price,
                closes_at=state.closes_at,
                correlation_id=command.correlation_id,
                **({"buy_now": True} if isinstance(command, BuyNow) else {}),
                **who,
            )
        return BidOutcome(
            bid_id=command.bid_id,
            lot_id=self.id,
            bidder=command.bidder,
            amount=command.amount,
            placed_at=command.placed_at,
            status="ACCEPTED" if decision.accepted else "REJECTED",
            reason=decision.reason,
            minimum=decision.minimum,
            current_price=self.state.current_price,
            version=self.version,
            decided_at=now,
            leading=self.state.leader == command.bidder if decision.accepted else None,
        )

    def close(self, command: CloseLot) -> bool:
        """Close when due; a second close, or one that soft close overtook, does nothing."""
        state = self.state
        if not rules.may_close(state, command.requested_at):
            return False
        sold = rules.reserve_met(state)
        self.trigger_event(
            LotClosed,
            outcome="SOLD" if sold else "UNSOLD",
            price=state.current_price,
            winner=state.leader if sold else None,
            winning_bid_id=state.leading_bid_id if sold else None,
            reserve_met=sold,
            requested_at=command.requested_at,
        )
        return True

    def cancel(self, command: CancelLot, is_admin: bool) -> bool:
        if not is_admin:
            raise NotAllowed("only administrators may cancel a lot")
        if self.state.status == "CANCELLED":
            return False
        if self.state.status == "CLOSED":
            raise InvalidState("a closed lot cannot be cancelled", {"status": self.state.status})
        self.trigger_event(
            LotCancelled,
            cancelled_by=command.cancelled_by,
            reason=command.reason,
            requested_at=command.requested_at,
        )
        return True

    def retract(self, command: RetractBid, is_admin: bool, events: Iterable[LotEvent]) -> BidRetracted:
        """Retract an accepted bid (administrators only, while the lot is open), recording
        the standing the remaining bids give. `events` are the lot's events up to its
        current version; they are read only once the lot's state allows a retraction."""
        if not is_admin:
            raise NotAllowed("only administrators may retract a bid")
        state = self.state
        rules.check_open_for_retraction(state, command.requested_at)
        events = list(events)
        bid = rules.retractable_bid(state, events, command.bid_id, command.requested_at)
        standing = rules.standing_without(state, events, bid)
        self.trigger_event(
            BidRetracted,
            bid_id=bid.bid_id,
            bidder=bid.bidder,
            retracted_by=command.retracted_by,
            reason=command.reason,
            requested_at=command.requested_at,
            **asdict(standing),  # the event carries the standing field for field
        )
        event = self.pending_events[-1]
        assert isinstance(event, BidRetracted)
        return event


def _needed(registration: str | None) -> str | None:
    """The lot's `registration` as its event keeps it: "approval", or None for open (the default)."""
    return None if registration in (None, OPEN) else registration


keep_stored_topic(Lot, "ledger.lot")
