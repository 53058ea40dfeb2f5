"""A lot's public bid history (`projections.history.public_history`): each row is what one
bidder did, as eBay lists it; an automatic answer by the leader's maximum is a row of the
leader's, marked so; hidden raises are no rows; a reader's own rows say so. Examples on the
Lot, a property over any bids and retractions (hypothesis), and the history read past a
flood of rejected bids (the in-memory service)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap import build
from ledger.domain.commands import CreateLot, PlaceBid, RetractBid
from ledger.domain.events import BidPlaced, BidRetracted
from ledger.domain.lot import Lot
from projections.history import leader_of, public_history
from projections.views import lot_view
from tests.support.app import IN_MEMORY

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_lot() -> Lot:
    return Lot.create(CreateLot(lot_id="lamp", title="Lamp", currency="EUR", starting_price="10.00", opens_at=T0,
                                closes_at=T0 + timedelta(hours=1), soft_close_window_s=0), seller="sam", now=T0)


def bid(lot: Lot, bidder: str, amount: str, seconds: float = 60) -> str:
    bid_id = uuid.uuid4().hex
    lot.place_bid(PlaceBid(bid_id=bid_id, lot_id=lot.id, bidder=bidder, amount=amount, placed_at=T0 + timedelta(seconds=seconds)),
                  now=T0, aliases=lot.__dict__.setdefault("known_aliases", {}))
    return bid_id


def history(lot: Lot, reader: str | None = None):
    events = [e for e in lot.pending_events if isinstance(e, BidPlaced | BidRetracted)]
    rows, older = public_history(events, "EUR", leader_of(lot.state), complete=True, reader=reader)
    return [(r.bidder, str(r.amount), "automatic" if r.automatic else r.outcome) + (("you",) if r.you else ()) for r in rows], older


def test_a_maximum_the_leader_answered_is_its_bidders_own_row_and_the_answer_the_leaders():
    lot = make_lot()
    bid(lot, "alice", "25.00")
    bid(lot, "bob", "20.00")  # below Alice's maximum: her maximum answers at 20.50
    bid(lot, "alice", "60.00")  # a hidden raise: no row, and nothing counted as missing
    rows, older = history(lot)
    assert rows == [("Bidder 1", "10.00", "LEADING"), ("Bidder 2", "20.00", "OUTBID"), ("Bidder 1", "20.50", "automatic")]
    assert older is False
    assert history(lot, reader="bob")[0][1] == ("Bidder 2", "20.00", "OUTBID", "you")
    assert [row[-1] for row in history(lot, reader="alice")[0]] == ["you", "OUTBID", "you"]


def test_a_bid_above_the_leaders_maximum_shows_the_price_it_set_not_its_maximum():
    lot = make_lot()
    bid(lot, "alice", "25.00")
    bid(lot, "bob", "80.00")
    assert history(lot)[0] == [("Bidder 1", "10.00", "LEADING"), ("Bidder 2", "26.00", "LEADING")]


def test_only_the_latest_rows_are_listed_and_the_rest_is_said_to_exist():
    lot = make_lot()
    for i in range(12):  # each answered by Alice's maximum: two rows a bid
        bid(lot, "alice" if i == 0 else f"b{i}", f"{900 if i == 0 else 10 + 2 * i}.00")
    rows, older = history(lot)
    assert len(rows) == 20 and older is True and rows[-1][2] == "automatic"


def test_a_retracted_bid_and_its_automatic_answers_are_no_rows():
    lot = make_lot()
    first = bid(lot, "alice", "25.00")
    bid(lot, "bob", "20.00")
    lot.retract(RetractBid(lot_id=lot.id, bid_id=first, retracted_by="root", reason="shill", requested_at=T0 + timedelta(minutes=5)),
                True, list(lot.pending_events))
    assert history(lot)[0] == [("Bidder 2", "20.00", "OUTBID")]


BIDDERS = ["ann", "ben", "cai", "dee"]
STEPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(BIDDERS), st.integers(min_value=900, max_value=20_000)),
    st.tuples(st.just("retract"), st.integers(min_value=0, max_value=30)),
), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(STEPS, st.sampled_from([None, *BIDDERS]))
def test_the_history_never_credits_a_bidder_with_more_than_their_maximum(steps, reader):
    lot = make_lot()
    accepted: list[str] = []
    for who, value in steps:
        if who == "retract":
            if accepted and lot.state.status == "OPEN":
                bid_id = accepted.pop(value % len(accepted))
                lot.retract(RetractBid(lot_id=lot.id, bid_id=bid_id, retracted_by="root", reason="test",
                                       requested_at=T0 + timedelta(minutes=5)), True, list(lot.pending_events))
            continue
        bid_id = bid(lot, who, f"{value // 100}.{value % 100:02d}")
        if isinstance(lot.pending_events[-1], BidPlaced):
            accepted.append(bid_id)
    standing = {e.bid_id for e in lot.pending_events if isinstance(e, BidPlaced)} - {
        e.bid_id for e in lot.pending_events if isinstance(e, BidRetracted)}
    maxima: dict[str, Decimal] = {}  # by alias: the highest maximum of the bids of theirs still standing
    users: dict[str, str] = {}
    for e in lot.pending_events:
        if isinstance(e, BidPlaced):
            users[f"Bidder {e.alias}"] = e.bidder
            if e.bid_id in standing:
                maxima[f"Bidder {e.alias}"] = max(maxima.get(f"Bidder {e.alias}", Decimal(0)), e.amount)
    events = [e for e in lot.pending_events if isinstance(e, BidPlaced | BidRetracted)]
    rows, _ = public_history(events, "EUR", leader_of(lot.state), complete=True, reader=reader)
    for row in rows:
        assert row.amount <= maxima[row.bidder], (row, maxima)
        assert row.you == (reader is not None and users[row.bidder] == reader)
    # Rows are in bid order, and an automatic answer follows the bid it answered.
    assert [r.version for r in rows] == sorted(r.version for r in rows)
    assert all(rows[i - 1].outcome == "OUTBID" and rows[i - 1].version == r.version for i, r in enumerate(rows) if r.automatic)


def test_the_history_is_read_past_any_number_of_rejected_bids():
    service = build(IN_MEMORY, clock=lambda: T0)
    service.lots.create_lot(CreateLot(lot_id="vase", title="Vase", currency="EUR", starting_price="10.00", opens_at=T0,
                                        closes_at=T0 + timedelta(hours=1), soft_close_window_s=0), seller="sam")
    place = lambda i, who, amount: PlaceBid(bid_id=f"b{i}", lot_id="vase", bidder=who, amount=amount,  # noqa: E731
                                            placed_at=T0 + timedelta(seconds=i))
    service.commands.execute("vase", [place(0, "alice", "30.00"), place(1, "bob", "20.00"), place(2, "carol", "25.00")])
    service.commands.execute("vase", [place(3 + i, "mallory", "1.00") for i in range(250)])  # each below the minimum
    view = lot_view(service.queries, service.queries.get_lot("vase"), T0)
    assert [(r.bidder, str(r.amount), r.automatic) for r in view.recent_bids] == [
        ("Bidder 1", "10.00", False), ("Bidder 2", "20.00", False), ("Bidder 1", "20.50", True),
        ("Bidder 3", "25.00", False), ("Bidder 1", "26.00", True)]
    assert view.older_bids is False


def test_the_readmes_proxy_duel_reads_as_the_readme_says():
    lot = make_lot()
    bid(lot, "alice", "30.00")
    bid(lot, "bob", "20.00")
    bid(lot, "bob", "45.00")
    bid(lot, "alice", "60.00")
    bid(lot, "alice", "55.00")  # refused: below her own maximum
    assert history(lot, reader="alice")[0] == [
        ("Bidder 1", "10.00", "LEADING", "you"), ("Bidder 2", "20.00", "OUTBID"), ("Bidder 1", "20.50", "automatic", "you"),
        ("Bidder 2", "31.00", "LEADING"), ("Bidder 1", "46.00", "LEADING", "you")]


def test_the_openapi_document_describes_the_history_fields():
    from handlers.openapi import openapi_document

    schemas = openapi_document()["components"]["schemas"]
    for schema, field in (("PublicBid", "amount"), ("PublicBid", "automatic"), ("PublicBid", "you"),
                          ("LotView", "older_bids"), ("LotView", "recent_bids"), ("YourStanding", "minimum_raise")):
        assert schemas[schema]["properties"][field].get("description"), (schema, field)
