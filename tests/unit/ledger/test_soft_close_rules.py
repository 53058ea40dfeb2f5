"""Soft-close rules per lot: extend from the bid's time or add to the
current end; triggered by any accepted bid or only when the leader changes; capped by the
hard close or a number of extensions. Examples at the edges, then a property over any
sequence of bids (hypothesis), then the terms, the stored shape and an event stored before
these rules existed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.domain import rules
from ledger.domain.commands import MAX_EXTENSIONS, CreateLot, PlaceBid
from ledger.domain.errors import InvalidCommand, LotUnreadable
from ledger.domain.events import ADD_TO_END, LEADER_CHANGE, OUTBID, RAISED, TOOK_LEAD, BidPlaced, LotCreated
from ledger.domain.lot import Lot
from ledger.domain.state import fold
from ledger.snapshot_item import snapshot_from_item, snapshot_to_item
from projections.views import public_view
from tests.support.app import build_test_app

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CLOSES = T0 + timedelta(hours=1)
RULE_FIELDS = {"soft_close_mode", "soft_close_trigger", "max_extensions"}
OLD_EVENT = Path(__file__).parents[2] / "fixtures" / "ledger" / "lot_created_before_soft_close_rules.json"


def make_lot(**terms) -> Lot:
    terms.setdefault("title", "Clock")
    terms.setdefault("currency", "EUR")
    terms.setdefault("starting_price", "10.00")
    terms.setdefault("increment", "1.00")
    terms.setdefault("opens_at", T0)
    terms.setdefault("closes_at", CLOSES)
    return Lot.create(CreateLot(lot_id="clock", **terms), seller="sam", now=T0)


def bid(lot: Lot, bidder: str, amount: str, at: datetime) -> BidPlaced:
    command = PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.id, bidder=bidder, amount=amount, placed_at=at)
    outcome = lot.place_bid(command, now=at, aliases=lot.__dict__.setdefault("known_aliases", {}))
    assert outcome.status == "ACCEPTED", outcome
    event = lot.pending_events[-1]
    assert isinstance(event, BidPlaced)
    return event


def before_close(seconds: float) -> datetime:
    return CLOSES - timedelta(seconds=seconds)


# --- where an extension counts from ---------------------------------------------------------


def test_from_bid_is_the_default_and_counts_from_the_bid():
    lot = make_lot()
    assert (lot.state.soft_close_mode, lot.state.soft_close_trigger, lot.state.max_extensions) == ("from_bid", "any_bid", None)
    bid(lot, "alice", "10.00", before_close(30))
    assert lot.state.closes_at == before_close(30) + timedelta(seconds=120)


def test_add_to_end_adds_the_extension_to_the_current_close():
    lot = make_lot(soft_close_mode="add_to_end")
    bid(lot, "alice", "10.00", before_close(30))
    assert lot.state.closes_at == CLOSES + timedelta(seconds=120)
    bid(lot, "bob", "11.00", CLOSES + timedelta(seconds=5))  # in the window of the moved close
    assert (lot.state.closes_at, lot.state.extension_count) == (CLOSES + timedelta(seconds=240), 2)


def test_add_to_end_window_edge_is_inclusive():
    inside = make_lot(soft_close_mode="add_to_end")
    bid(inside, "alice", "10.00", before_close(120))
    assert inside.state.closes_at == CLOSES + timedelta(seconds=120)
    outside = make_lot(soft_close_mode="add_to_end")
    bid(outside, "alice", "10.00", CLOSES - timedelta(seconds=120, milliseconds=1))
    assert (outside.state.closes_at, outside.state.extension_count) == (CLOSES, 0)


def test_from_bid_early_in_a_long_window_with_a_short_extension_does_not_move_the_close():
    # The bid's time plus 30 s is before the close: the rule never moves it back, and it is no extension.
    lot = make_lot(soft_close_window_s=300, soft_close_extension_s=30)
    bid(lot, "alice", "10.00", before_close(200))
    assert (lot.state.closes_at, lot.state.extension_count) == (CLOSES, 0)
    same = make_lot(soft_close_window_s=300, soft_close_extension_s=30, soft_close_mode="add_to_end")
    bid(same, "alice", "10.00", before_close(200))
    assert (same.state.closes_at, same.state.extension_count) == (CLOSES + timedelta(seconds=30), 1)


# --- which bids extend ------------------------------------------------------------------------


def test_leader_change_trigger_extends_when_the_lead_passes_to_another_bidder():
    lot = make_lot(soft_close_trigger="leader_change")
    first = bid(lot, "alice", "10.00", before_close(60))  # the first bid leads where no one did
    assert first.outcome == TOOK_LEAD and lot.state.extension_count == 1
    took = bid(lot, "bob", "15.00", lot.state.closes_at - timedelta(seconds=10))
    assert took.outcome == TOOK_LEAD and took.closes_at == took.placed_at + timedelta(seconds=120)
    assert lot.state.extension_count == 2


def test_an_outbid_maximum_does_not_trigger_leader_change():
    lot = make_lot(soft_close_trigger="leader_change", soft_close_window_s=600)
    bid(lot, "alice", "50.00", before_close(3600))  # before the window: no extension
    answered = bid(lot, "bob", "20.00", before_close(30))
    assert answered.outcome == OUTBID and lot.state.leader == "alice"
    assert (lot.state.closes_at, lot.state.extension_count) == (CLOSES, 0)
    # The same bid under any_bid extends: it was accepted, and it moved the price.
    any_bid = make_lot(soft_close_window_s=600)
    bid(any_bid, "alice", "50.00", before_close(3600))
    bid(any_bid, "bob", "20.00", before_close(30))
    assert any_bid.state.extension_count == 1


def test_a_leaders_raise_does_not_trigger_leader_change():
    lot = make_lot(soft_close_trigger="leader_change")
    bid(lot, "alice", "10.00", before_close(3600))
    raised = bid(lot, "alice", "40.00", before_close(30))
    assert raised.outcome == RAISED
    assert (lot.state.closes_at, lot.state.extension_count) == (CLOSES, 0)


def test_an_equal_maximum_placed_earlier_takes_the_lead_and_counts_as_a_change():
    lot = make_lot(soft_close_trigger="leader_change", soft_close_mode="add_to_end", soft_close_window_s=600)
    bid(lot, "alice", "30.00", before_close(20))
    earlier = bid(lot, "bob", "30.00", before_close(25))  # delivered later, placed earlier
    assert earlier.outcome == TOOK_LEAD and lot.state.leader == "bob"
    assert (lot.state.closes_at, lot.state.extension_count) == (CLOSES + timedelta(seconds=240), 2)


# --- the caps ---------------------------------------------------------------------------------


def test_max_extensions_stops_at_the_last_allowed_extension():
    lot = make_lot(soft_close_mode="add_to_end", max_extensions=2)
    bid(lot, "alice", "10.00", before_close(10))
    bid(lot, "bob", "11.00", CLOSES + timedelta(seconds=5))  # the last allowed one
    assert (lot.state.closes_at, lot.state.extension_count) == (CLOSES + timedelta(seconds=240), 2)
    third = bid(lot, "alice", "12.00", CLOSES + timedelta(seconds=235))  # still accepted, but no more time
    assert third.closes_at == CLOSES + timedelta(seconds=240) and lot.state.extension_count == 2


def test_max_extensions_zero_turns_soft_close_off():
    lot = make_lot(max_extensions=0)
    bid(lot, "alice", "10.00", before_close(10))
    assert (lot.state.closes_at, lot.state.extension_count) == (CLOSES, 0)


def test_hard_close_caps_add_to_end_and_a_capped_move_to_nothing_is_no_extension():
    hard = CLOSES + timedelta(seconds=90)
    lot = make_lot(soft_close_mode="add_to_end", hard_close_at=hard, max_extensions=5)
    bid(lot, "alice", "10.00", before_close(10))
    assert (lot.state.closes_at, lot.state.extension_count) == (hard, 1)
    bid(lot, "bob", "11.00", hard - timedelta(seconds=1))  # the close is already at the hard close
    assert (lot.state.closes_at, lot.state.extension_count) == (hard, 1)


def test_a_bid_at_the_close_time_is_too_late_whatever_the_rule():
    lot = make_lot(soft_close_mode="add_to_end")
    command = PlaceBid(bid_id="late", lot_id=lot.id, bidder="alice", amount="10.00", placed_at=CLOSES)
    assert lot.place_bid(command, now=CLOSES, aliases={}).reason == "LOT_CLOSED"


# --- a property over any sequence of bids -----------------------------------------------------

BIDS = st.lists(
    st.tuples(st.sampled_from(["alice", "bob", "carol"]), st.integers(0, 40), st.integers(-200, 400)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(
    bids=BIDS,
    mode=st.sampled_from(["from_bid", "add_to_end"]),
    trigger=st.sampled_from(["any_bid", "leader_change"]),
    max_extensions=st.one_of(st.none(), st.integers(0, 4)),
    hard_after_s=st.one_of(st.none(), st.integers(0, 400)),
    window_s=st.sampled_from([30, 120, 600]),
    extension_s=st.sampled_from([1, 60, 120]),
)
def test_the_close_never_moves_back_nor_past_the_hard_close_nor_beyond_the_cap(
    bids, mode, trigger, max_extensions, hard_after_s, window_s, extension_s
):
    hard = None if hard_after_s is None else CLOSES + timedelta(seconds=hard_after_s)
    lot = make_lot(soft_close_mode=mode, soft_close_trigger=trigger, max_extensions=max_extensions,
                   hard_close_at=hard, soft_close_window_s=window_s, soft_close_extension_s=extension_s)
    for bidder, raise_by, seconds_to_close in bids:
        before = lot.state.model_copy()
        at = before.closes_at - timedelta(seconds=seconds_to_close)
        amount = f"{(int(before.current_price) + 1 if before.current_price is not None else 10) + raise_by}.00"
        command = PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.id, bidder=bidder, amount=amount, placed_at=at)
        outcome = lot.place_bid(command, now=at, aliases=lot.__dict__.setdefault("known_aliases", {}))
        after = lot.state
        assert after.closes_at >= before.closes_at, "the close moved back"
        if hard is not None:
            assert after.closes_at <= max(hard, CLOSES), "the close passed the hard close"
        if max_extensions is not None:
            assert after.extension_count <= max_extensions
        moved = after.closes_at != before.closes_at
        assert after.extension_count == before.extension_count + moved
        if moved:
            assert outcome.status == "ACCEPTED" and at >= before.closes_at - timedelta(seconds=window_s)
            start = before.closes_at if mode == ADD_TO_END else at
            assert after.closes_at == min(start + timedelta(seconds=extension_s), hard or datetime.max.replace(tzinfo=UTC))
            if trigger == LEADER_CHANGE:
                assert after.leader == bidder != before.leader


# --- the terms --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"soft_close_mode": "from_end"}, "'from_bid' or 'add_to_end'"),
        ({"soft_close_trigger": "every_bid"}, "'any_bid' or 'leader_change'"),
        ({"max_extensions": -1}, "greater than or equal to 0"),
        ({"max_extensions": MAX_EXTENSIONS + 1}, "less than or equal to"),
        ({"max_extensions": "3"}, "valid integer"),
        ({"max_extensions": True}, "valid integer"),
    ],
)
def test_soft_close_terms_of_the_wrong_shape_are_refused(change, message):
    with pytest.raises(ValidationError, match=message):
        CreateLot(title="Clock", currency="EUR", starting_price="10.00", closes_at=CLOSES, **change)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"soft_close_mode": "add_to_end", "soft_close_window_s": 0}, "soft_close_mode"),
        ({"soft_close_trigger": "leader_change", "soft_close_extension_s": 0}, "soft_close_trigger"),
        ({"max_extensions": 3, "soft_close_window_s": 0}, "max_extensions"),
    ],
)
def test_a_soft_close_rule_without_soft_close_is_refused_by_the_lot_rule(change, field):
    with pytest.raises(InvalidCommand, match="needs soft close") as refused:
        make_lot(**change)
    assert refused.value.details == {"field": field}


def test_the_rule_is_written_into_lot_created_and_the_snapshot_item_holds_it_in_one_short_attribute():
    lot = make_lot(soft_close_mode="add_to_end", soft_close_trigger="leader_change", max_extensions=3)
    created = lot.pending_events[0]
    assert isinstance(created, LotCreated)
    assert (created.soft_close_mode, created.soft_close_trigger, created.max_extensions) == ("add_to_end", "leader_change", 3)
    item = snapshot_to_item(lot.state)
    assert item["sc"] == "EL3" and not RULE_FIELDS & set(item)
    assert snapshot_from_item("clock", item) == lot.state
    assert snapshot_to_item(make_lot(soft_close_mode="add_to_end").state)["sc"] == "EA"
    assert snapshot_to_item(make_lot(max_extensions=0).state)["sc"] == "BA0"
    # Today's rule is left out, as in the items of lots created before the rules.
    default = make_lot().state
    item = snapshot_to_item(default)
    assert not {"sc", *RULE_FIELDS} & set(item)
    assert snapshot_from_item("clock", item) == default


@pytest.mark.parametrize("code", ["", "XA", "BX", "EL-1", "EL03", "el3", 3])
def test_a_snapshot_with_a_rule_it_cannot_read_is_unreadable(code):
    item = snapshot_to_item(make_lot().state) | {"sc": code}
    with pytest.raises(LotUnreadable, match="soft-close rule"):
        snapshot_from_item("clock", item)


def test_the_hash_covers_a_rule_other_than_the_default():
    created = make_lot(soft_close_mode="add_to_end").pending_events[0]
    assert created.compute_hash() == created.hash
    object.__setattr__(created, "soft_close_mode", "from_bid")
    assert created.compute_hash() != created.hash


def test_a_lot_created_event_stored_before_the_rules_reads_with_todays_rule_and_verifies():
    """A LotCreated as stored before these fields existed (tests/fixtures/ledger): read
    back, it has the defaults (today's rule) and its stored hash is still its hash."""
    stored_doc = json.loads(OLD_EVENT.read_text())
    mapper = build_test_app().commands.mapper
    new_shape = mapper.to_stored_event(make_lot().pending_events[0])
    stored = type(new_shape)(
        originator_id=stored_doc["originator_id"], originator_version=stored_doc["originator_version"],
        topic=stored_doc["topic"], state=json.dumps(stored_doc["state"]).encode(),
    )
    event = mapper.to_domain_event(stored)
    assert isinstance(event, LotCreated) and "soft_close_mode" not in event.__dict__
    assert (event.soft_close_mode, event.soft_close_trigger, event.max_extensions) == ("from_bid", "any_bid", None)
    assert event.compute_hash() == event.hash == stored_doc["state"]["hash"]
    state = fold([event])
    assert state is not None and state.soft_close_mode == "from_bid" and "sc" not in snapshot_to_item(state)


# --- what soft close did, by code (the dispute report's words) --------------------------------


@pytest.mark.parametrize(
    ("terms", "seconds_before_close", "leader_changes", "closes_after_s", "why"),
    [
        ({}, 30, True, 90, rules.EXTENDED),
        ({"soft_close_mode": "add_to_end"}, 30, True, 120, rules.EXTENDED),
        ({"hard_close_at": CLOSES + timedelta(seconds=60)}, 30, True, 60, rules.EXTENDED_TO_HARD_CLOSE),
        ({"hard_close_at": CLOSES}, 30, True, 0, rules.AT_HARD_CLOSE),
        ({"soft_close_window_s": 0}, 30, True, 0, rules.SOFT_CLOSE_OFF),
        ({}, 121, True, 0, rules.BEFORE_WINDOW),
        ({"soft_close_trigger": "leader_change"}, 30, False, 0, rules.NOT_A_LEADER_CHANGE),
        ({"soft_close_trigger": "leader_change"}, 30, True, 90, rules.EXTENDED),
        ({"max_extensions": 0}, 30, True, 0, rules.EXTENSIONS_USED),
        ({"soft_close_window_s": 300, "soft_close_extension_s": 60}, 200, True, 0, rules.NOT_LATER),
    ],
)
def test_soft_close_says_what_it_did(terms, seconds_before_close, leader_changes, closes_after_s, why):
    lot = make_lot(**terms).state
    move = rules.soft_close(lot, before_close(seconds_before_close), leader_changes)
    assert (move.closes_at, move.why) == (CLOSES + timedelta(seconds=closes_after_s), why)


def test_the_public_view_shows_the_rule():
    lot = make_lot(soft_close_mode="add_to_end", soft_close_trigger="leader_change", max_extensions=2)
    bid(lot, "alice", "10.00", before_close(10))
    view = public_view(lot.state, before_close(10)).model_dump(mode="json")
    assert {k: view[k] for k in ("soft_close_window_s", "soft_close_extension_s", "soft_close_mode", "soft_close_trigger",
                                 "max_extensions", "extension_count")} == {
        "soft_close_window_s": 120, "soft_close_extension_s": 120, "soft_close_mode": "add_to_end",
        "soft_close_trigger": "leader_change", "max_extensions": 2, "extension_count": 1}
    assert public_view(make_lot().state, T0).max_extensions is None
