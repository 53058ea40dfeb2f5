"""Maximum (proxy) bids, as eBay runs them: a bid's amount is
the bidder's maximum, and the ledger bids for them only as far as needed. Examples first,
then properties over any sequence of bids (hypothesis)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap import build
from ledger.domain import rules
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.domain.events import OUTBID, RAISED, TOOK_LEAD, BidPlaced
from ledger.domain.lot import Lot
from ledger.snapshot_item import snapshot_to_item
from projections.audit import replay
from projections.views import lot_view
from tests.support.app import IN_MEMORY

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_lot(**terms) -> Lot:
    terms.setdefault("title", "Lamp")
    terms.setdefault("currency", "EUR")
    terms.setdefault("starting_price", "10.00")
    terms.setdefault("opens_at", T0)
    terms.setdefault("closes_at", T0 + timedelta(hours=1))
    terms.setdefault("soft_close_window_s", 0)
    return Lot.create(CreateLot(lot_id="lamp", **terms), seller="sam", now=T0)


def bid(lot: Lot, bidder: str, amount: str, seconds: float = 60):
    command = PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.id, bidder=bidder, amount=amount,
                       placed_at=T0 + timedelta(seconds=seconds))
    outcome = lot.place_bid(command, now=T0, aliases=lot.__dict__.setdefault("known_aliases", {}))
    return outcome, lot.pending_events[-1]


def price(lot: Lot) -> str:
    return str(lot.state.current_price)


def test_the_first_bid_opens_at_the_starting_price_whatever_its_maximum():
    lot = make_lot()
    outcome, event = bid(lot, "alice", "50.00")
    assert (outcome.status, outcome.leading, price(lot)) == ("ACCEPTED", True, "10.00")
    assert (event.outcome, str(event.amount), str(event.price), str(event.leader_maximum)) == (TOOK_LEAD, "50.00", "10.00", "50.00")


def test_a_lower_maximum_is_recorded_and_the_leaders_maximum_answers_it():
    lot = make_lot()
    bid(lot, "alice", "50.00")
    outcome, event = bid(lot, "bob", "30.00")
    # One increment of the band at 30.00 (1.00) above Bob's maximum, Alice still leads.
    assert (outcome.status, outcome.leading, price(lot), lot.state.leader) == ("ACCEPTED", False, "31.00", "alice")
    assert (event.outcome, str(event.leader_maximum)) == (OUTBID, "50.00")


def test_a_higher_maximum_takes_the_lead_one_increment_above_the_beaten_one():
    lot = make_lot()
    bid(lot, "alice", "50.00")
    bid(lot, "bob", "30.00")
    outcome, event = bid(lot, "carol", "80.00")
    assert (outcome.leading, price(lot), lot.state.leader, event.outcome) == (True, "51.00", "carol", TOOK_LEAD)
    # Never above the leader's own maximum: a maximum just above the leader's.
    outcome, _ = bid(lot, "dave", "80.50")
    assert (outcome.leading, price(lot)) == (True, "80.50")


def test_of_equal_maxima_the_earlier_placed_wins_whatever_the_delivery_order():
    lot = make_lot()
    bid(lot, "alice", "40.00", seconds=90)
    outcome, event = bid(lot, "bob", "40.00", seconds=30)  # delivered later, placed earlier
    assert (outcome.leading, lot.state.leader, price(lot), event.outcome) == (True, "bob", "40.00", TOOK_LEAD)
    other = make_lot()
    bid(other, "bob", "40.00", seconds=30)
    outcome, event = bid(other, "alice", "40.00", seconds=90)  # delivered later, placed later
    assert (outcome.leading, other.state.leader, price(other), event.outcome) == (False, "bob", "40.00", OUTBID)


def test_a_leader_raises_their_maximum_without_raising_the_price():
    lot = make_lot()
    bid(lot, "alice", "20.00")
    outcome, event = bid(lot, "alice", "90.00")
    assert (outcome.status, outcome.leading, price(lot), str(lot.state.leader_maximum)) == ("ACCEPTED", True, "10.00", "90.00")
    assert event.outcome == RAISED
    outcome, _ = bid(lot, "alice", "90.00")
    assert (outcome.status, outcome.reason, str(outcome.minimum)) == ("REJECTED", rules.BELOW_OWN_MAXIMUM, "91.00")
    outcome, _ = bid(lot, "alice", "60.00")
    assert outcome.reason == rules.BELOW_OWN_MAXIMUM and str(lot.state.leader_maximum) == "90.00"


def test_the_reserve_raises_the_price_when_a_maximum_reaches_it():
    lot = make_lot(reserve_price="100.00")
    bid(lot, "alice", "60.00")
    assert (price(lot), rules.reserve_met(lot.state)) == ("10.00", False)
    bid(lot, "alice", "150.00")  # the leader's raise reaches the unmet reserve
    assert (price(lot), rules.reserve_met(lot.state)) == ("100.00", True)
    other = make_lot(reserve_price="100.00")
    bid(other, "bob", "100.00")  # a first bid that reaches the reserve opens at it
    assert price(other) == "100.00"


def test_the_winner_of_a_close_is_the_leader_with_the_highest_maximum():
    from ledger.domain.commands import CloseLot

    lot = make_lot()
    bid(lot, "alice", "50.00")
    bid(lot, "bob", "45.00")
    lot.close(CloseLot(lot_id=lot.id, requested_at=T0 + timedelta(hours=2)))
    closed = lot.pending_events[-1]
    assert (closed.outcome, closed.winner, str(closed.price)) == ("SOLD", "alice", "46.00")


# --- properties ----------------------------------------------------------------------

BIDDERS = ["ann", "ben", "cai", "dee"]
# (bidder, maximum in cents, seconds after opening): placed times may repeat (ties).
BIDS = st.lists(
    st.tuples(st.sampled_from(BIDDERS), st.integers(min_value=900, max_value=20_000), st.integers(min_value=1, max_value=40)),
    min_size=1, max_size=25,
)


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _run(bids, reserve: str | None = None) -> tuple[Lot, list]:
    lot = make_lot(reserve_price=reserve, increment="0.50" if reserve else None)
    outcomes = [bid(lot, who, _amount(cents), seconds)[0] for who, cents, seconds in bids]
    return lot, outcomes


@settings(max_examples=300, deadline=None)
@given(BIDS, st.sampled_from([None, "60.00"]))
def test_the_leader_holds_the_highest_maximum_placed_earliest_and_the_price_never_passes_it(bids, reserve):
    lot, outcomes = _run(bids, reserve)
    accepted = [(Decimal(_amount(cents)), seconds, i) for i, ((_, cents, seconds), o) in enumerate(zip(bids, outcomes, strict=True))
                if o.status == "ACCEPTED"]
    state = lot.state
    if not accepted:
        assert state.leader is None and state.current_price is None
        return
    best = max(accepted, key=lambda a: (a[0], -a[1], -a[2]))
    # The highest maximum leads; of equal ones, the earliest placed (and of those, the first decided).
    assert state.leader_maximum == best[0]
    assert state.leader == bids[best[2]][0] or any(
        a[0] == best[0] and a[1] == best[1] and bids[a[2]][0] == state.leader for a in accepted
    )
    assert state.current_price is not None and lot.state.starting_price <= state.current_price <= state.leader_maximum
    if reserve is not None:
        assert (state.current_price >= Decimal(reserve)) == (state.leader_maximum >= Decimal(reserve))


@settings(max_examples=300, deadline=None)
@given(BIDS)
def test_the_price_is_the_least_that_keeps_the_leader_ahead(bids):
    """After a bid that takes the lead or is answered by the leader's maximum, the price is
    one increment above the second-highest maximum, at most the leader's maximum (a raise
    by the leader keeps the price)."""
    lot = make_lot()
    second: Decimal | None = None  # the highest maximum of anyone but the leader, as the rules see it
    for who, cents, seconds in bids:
        before = (lot.state.leader, lot.state.leader_maximum)
        outcome, event = bid(lot, who, _amount(cents), seconds)
        if outcome.status != "ACCEPTED":
            continue
        assert isinstance(event, BidPlaced)
        if event.outcome == OUTBID:
            second = max(second or event.amount, event.amount)
        elif event.outcome == TOOK_LEAD and before[0] is not None and before[0] != who:
            second = max(second or before[1], before[1])
        if event.outcome == RAISED:
            continue
        leader_maximum = lot.state.leader_maximum
        assert leader_maximum is not None
        expected = lot.state.starting_price if second is None else min(leader_maximum, rules.one_increment_above(lot.state, second))
        assert lot.state.current_price == max(expected, lot.state.starting_price)


@settings(max_examples=60, deadline=None)
@given(BIDS, st.integers(min_value=1, max_value=10))
def test_the_outcome_does_not_depend_on_how_the_bids_are_split_into_batches_and_the_fold_equals_the_writer(bids, size):
    def decide(batch_size: int) -> tuple[list, dict]:
        service = build(IN_MEMORY, clock=lambda: T0)
        lot = service.lots.create_lot(
            CreateLot(lot_id="lamp", title="Lamp", currency="EUR", starting_price="10.00", opens_at=T0,
                      closes_at=T0 + timedelta(hours=1), soft_close_window_s=0), seller="sam")
        commands = [PlaceBid(bid_id=f"b{i}", lot_id=lot.lot_id, bidder=who, amount=_amount(cents),
                             placed_at=T0 + timedelta(seconds=seconds)) for i, (who, cents, seconds) in enumerate(bids)]
        results = []
        for start in range(0, len(commands), batch_size):
            results += service.commands.execute(lot.lot_id, commands[start : start + batch_size])
        assert not replay(service.queries, lot.lot_id).drifted  # the fold of the stored events is the stored snapshot
        final = snapshot_to_item(service.queries.get_lot(lot.lot_id))
        for name in ("updated_at", "head_hash"):
            final.pop(name)
        return [(r.bid.status, r.bid.reason, r.bid.current_price, r.bid.leading) for r in results], final

    assert decide(1) == decide(size)


@settings(max_examples=100, deadline=None)
@given(BIDS)
def test_maxima_never_reach_the_public(bids):
    service = build(IN_MEMORY, clock=lambda: T0)
    lot = service.lots.create_lot(
        CreateLot(lot_id="lamp", title="Lamp", currency="EUR", starting_price="10.00", opens_at=T0,
                  closes_at=T0 + timedelta(hours=1), soft_close_window_s=0), seller="sam")
    service.commands.execute(lot.lot_id, [PlaceBid(bid_id=f"b{i}", lot_id=lot.lot_id, bidder=who, amount=_amount(cents),
                                          placed_at=T0 + timedelta(seconds=seconds)) for i, (who, cents, seconds) in enumerate(bids)])
    state = service.queries.get_lot(lot.lot_id)
    view = lot_view(service.queries, state, T0).model_dump(mode="json")
    assert "maximum" not in str(view.keys()) and all(
        set(b) == {"bidder", "amount", "placed_at", "version", "outcome", "automatic", "you"} for b in view["recent_bids"])
    events = [e for e in service.queries.lot_events(lot.lot_id) if isinstance(e, BidPlaced)]
    # The history shows prices, and the maxima that the leader's maximum answered (beaten,
    # so public, as eBay shows them), never a standing maximum that set no price.
    public = {str(e.price_after) for e in events} | {str(e.amount) for e in events if e.outcome == OUTBID}
    assert {b["amount"] for b in view["recent_bids"]} <= public


def test_a_lot_stored_before_maximum_bids_reads_folds_and_verifies():
    """Events stored by 37da48a (no alias, outcome, price or leader_maximum on BidPlaced):
    their amount was the price and each took the lead, and their hashes still check out."""
    import json
    from pathlib import Path

    from eventsourcing.persistence import StoredEvent

    from ledger.domain.events import GENESIS_HASH
    from ledger.domain.state import fold

    doc = json.loads((Path(__file__).parents[2] / "fixtures" / "ledger" / "lot_before_maximum_bids.json").read_text())
    mapper = build(IN_MEMORY).commands.mapper
    events = [
        mapper.to_domain_event(StoredEvent(originator_id=e["originator_id"], originator_version=e["originator_version"],
                                           topic=e["topic"], state=json.dumps(e["state"]).encode()))
        for e in doc["events"]
    ]
    previous = GENESIS_HASH
    for event in events:
        assert event.prev_hash == previous and event.compute_hash() == event.hash
        previous = event.hash
    bids = [e for e in events if isinstance(e, BidPlaced)]
    assert [(e.outcome, e.price, e.alias) for e in bids] == [(TOOK_LEAD, None, None)] * 2
    state = fold(events)
    assert state is not None
    assert (str(state.current_price), state.leader, state.leader_maximum, state.leader_name) == ("15.00", "bob", None, None)
