"""Properties of generated lots and command sequences, stored in DynamoDB Local:
the stored snapshot is the fold of the stored events, the price never falls, the
leader holds the highest accepted maximum (the price never above it), close time never moves back
nor past the hard close nor beyond the lot's number of extensions, and every bid is decided exactly once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain.commands import CancelLot, CloseLot, CreateLot, PlaceBid
from ledger.domain.errors import InvalidState
from ledger.domain.events import BidPlaced, BidRejected, LotClosed
from ledger.domain.state import evolve
from ledger.domain.values import minor_units
from projections.audit import replay, verify

BIDDERS = ["alice", "bob", "carol", "dave", "sam"]  # sam is the seller
LOT_SECONDS = 600


@st.composite
def lot_terms(draw):
    currency = draw(st.sampled_from(["EUR", "JPY", "KWD"]))
    digits = minor_units(currency)
    unit = Decimal(1).scaleb(-digits)
    start = Decimal(draw(st.integers(1, 50_000))) * unit
    terms = {
        "currency": currency,
        "starting_price": str(start),
        "soft_close_window_s": draw(st.sampled_from([0, 60, 120])),
        "soft_close_extension_s": draw(st.sampled_from([30, 120, 300])),
    }
    if draw(st.booleans()):
        terms["reserve_price"] = str(start + Decimal(draw(st.integers(0, 5_000))) * unit)
    if draw(st.booleans()):
        terms["increment"] = str(Decimal(draw(st.integers(1, 500))) * unit)
    if draw(st.booleans()):
        terms["hard_close_at"] = LOT_SECONDS + draw(st.integers(0, 300))
    if terms["soft_close_window_s"] and draw(st.booleans()):  # a soft-close rule needs soft close
        terms["soft_close_mode"] = draw(st.sampled_from(["from_bid", "add_to_end"]))
        terms["soft_close_trigger"] = draw(st.sampled_from(["any_bid", "leader_change"]))
        terms["max_extensions"] = draw(st.one_of(st.none(), st.integers(0, 3)))
    return terms


bid_step = st.fixed_dictionaries(
    {
        "kind": st.just("bid"),
        "bidder": st.sampled_from(BIDDERS),
        # Amount as minor units above the starting price (negative: below it).
        "above_start": st.integers(-100, 20_000),
        "extra_digit": st.booleans(),
        "at": st.integers(-30, LOT_SECONDS + 400),
        "repeat_earlier": st.booleans(),
    }
)
close_step = st.fixed_dictionaries({"kind": st.just("close"), "at": st.integers(0, LOT_SECONDS + 800)})
cancel_step = st.fixed_dictionaries({"kind": st.just("cancel"), "at": st.integers(0, LOT_SECONDS)})
steps = st.lists(st.one_of(bid_step, bid_step, bid_step, close_step, cancel_step), min_size=1, max_size=25)
batch_sizes = st.lists(st.integers(1, 10), min_size=1, max_size=25)


def build_commands(lot, terms, plan):
    unit = Decimal(1).scaleb(-minor_units(terms["currency"]))
    start = Decimal(terms["starting_price"])
    issued: list[PlaceBid] = []
    commands = []
    for step in plan:
        at = lot.opens_at + timedelta(seconds=step["at"])
        if step["kind"] == "bid":
            if step["repeat_earlier"] and issued:
                commands.append(issued[len(issued) // 2])
                continue
            amount = start + step["above_start"] * unit
            if amount <= 0:
                amount = unit
            text = f"{amount}5" if step["extra_digit"] and "." in str(amount) else str(amount)
            if step["extra_digit"] and "." not in text:
                text = f"{text}.5"
            command = PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.lot_id, bidder=step["bidder"], amount=text, placed_at=at)
            issued.append(command)
            commands.append(command)
        elif step["kind"] == "close":
            commands.append(CloseLot(lot_id=lot.lot_id, requested_at=at))
        else:
            commands.append(CancelLot(lot_id=lot.lot_id, cancelled_by="admin", requested_at=at))
    return commands, issued


def batches(commands, sizes):
    """Commands in the generated batch sizes; a cancel goes alone, as the API sends it."""
    position, size_index = 0, 0
    while position < len(commands):
        size = sizes[size_index % len(sizes)]
        size_index += 1
        batch = []
        for command in commands[position : position + size]:
            if isinstance(command, CancelLot):
                break
            batch.append(command)
        if not batch:
            batch = [commands[position]]
        yield batch
        position += len(batch)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(terms=lot_terms(), plan=steps, sizes=batch_sizes)
def test_generated_lots_keep_their_invariants(service, clock, terms, plan, sizes):
    create = dict(terms)
    hard = create.pop("hard_close_at", None)
    opens_at = clock.now
    closes_at = opens_at + timedelta(seconds=LOT_SECONDS)
    lot = service.lots.create_lot(
        CreateLot(
            lot_id=f"prop-{uuid.uuid4().hex[:12]}",
            title="generated",
            opens_at=opens_at,
            closes_at=closes_at,
            hard_close_at=None if hard is None else opens_at + timedelta(seconds=hard),
            **create,
        ),
        seller="sam",
    )
    commands, issued = build_commands(lot, terms, plan)
    for batch in batches(commands, sizes):
        try:
            service.commands.execute(lot.lot_id, batch, is_admin=True)
        except InvalidState:  # cancelling a closed lot: refused, and nothing written
            assert len(batch) == 1 and isinstance(batch[0], CancelLot)

    # The stored snapshot is exactly the fold of the stored events; the chain holds.
    assert not replay(service.queries, lot.lot_id).differences
    assert verify(service.queries, lot.lot_id).ok

    events = list(service.queries.lot_events(lot.lot_id))
    state = None
    highest_accepted: Decimal | None = None
    for event in events:
        before = state.model_copy(deep=True) if state is not None else None
        state = evolve(event, state)
        if before is None:
            continue
        assert state.closes_at >= before.closes_at, "close time moved backwards"
        if state.hard_close_at is not None:
            assert state.closes_at <= max(state.hard_close_at, state.scheduled_closes_at), "close time passed the hard close"
        if state.max_extensions is not None:
            assert state.extension_count <= state.max_extensions, "more extensions than the terms allow"
        if before.current_price is not None:
            assert state.current_price >= before.current_price, "price fell"
        if isinstance(event, BidPlaced):
            # Amounts are maxima: the leader holds the highest, and the price never passes it.
            highest_accepted = event.amount if highest_accepted is None else max(highest_accepted, event.amount)
            assert state.leader_maximum == highest_accepted and state.current_price <= highest_accepted
        if isinstance(event, LotClosed):
            assert event.outcome in ("SOLD", "UNSOLD")
    if highest_accepted is not None:
        assert state.leader_maximum == highest_accepted and state.current_price <= highest_accepted

    # Each bid decided once: one event and one receipt per distinct bid id.
    decided = [e.bid_id for e in events if isinstance(e, BidPlaced | BidRejected)]
    assert sorted(decided) == sorted({c.bid_id for c in issued})
    receipts = service.queries.bid_receipts([c.bid_id for c in issued])
    assert set(receipts) == {c.bid_id for c in issued}
    for event in events:
        if isinstance(event, BidPlaced | BidRejected):
            assert receipts[event.bid_id]["version"] == event.originator_version
