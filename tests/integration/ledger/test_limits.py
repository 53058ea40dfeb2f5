"""A registration's limit caps the bidder's exposure in the sale (their maxima on the lots
they lead plus the prices of the lots they won) under any interleaving: generated bids and
closes across a sale's lots never take a limited bidder past their limit, and the exposure kept
with their registration is always what the lots say; processors deciding different lots at
once cannot either. On DynamoDB Local (or the in-memory recorder with --ledger-backend=memory)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap import build
from ledger.domain import rules
from ledger.domain.commands import CloseLot, CreateSale, PlaceBid
from ledger.domain.registration import registration_id

LIMITS = {"alice": Decimal("100.00"), "bob": Decimal("60.00"), "carol": None}
LOTS = 3


def _sale(app, now, lots: int = LOTS):
    page = app.sales.create_sale(CreateSale.model_validate({
        "sale_id": f"lim-{uuid.uuid4().hex[:12]}", "title": "Limits", "interval_s": 60, "registration": "approval",
        "first_closes_at": (now + timedelta(minutes=10)).isoformat(),
        "lots": [{"title": f"Lot {i}", "currency": "EUR", "starting_price": "10.00", "increment": "1.00"}
                 for i in range(lots)]}), seller="sam")
    scope = app.registrations.sale_scope(page.sale.sale_id)
    for bidder, limit in LIMITS.items():
        app.registrations.register(scope, bidder)
        app.registrations.approve(scope, bidder, "sam", False, limit)
    return scope, [lot.lot_id for lot in page.lots]


def _exposures(app, scope, lot_ids) -> dict[str, Decimal]:
    lots = [app.queries.get_lot(lot_id) for lot_id in lot_ids]
    return {bidder: sum((rules.exposure_on(lot, bidder) for lot in lots), Decimal(0)) for bidder in LIMITS}


step = st.one_of(
    st.tuples(st.just("bid"), st.integers(0, LOTS - 1), st.sampled_from(sorted(LIMITS)), st.integers(10, 90)),
    st.tuples(st.just("close"), st.integers(0, LOTS - 1), st.just(""), st.just(0)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=st.lists(step, min_size=1, max_size=30))
def test_no_interleaving_of_bids_and_closes_takes_a_bidder_past_their_limit(service, clock, plan):
    scope, lot_ids = _sale(service, clock.now)
    for kind, index, bidder, amount in plan:
        if kind == "bid":
            service.commands.execute(lot_ids[index], [PlaceBid(
                bid_id=uuid.uuid4().hex, lot_id=lot_ids[index], bidder=bidder, amount=f"{amount}.00", placed_at=clock.now)])
        else:
            at = clock.now + timedelta(hours=1)  # past every close time: the lot closes
            service.commands.execute(lot_ids[index], [CloseLot(lot_id=lot_ids[index], requested_at=at)])
        exposures = _exposures(service, scope, lot_ids)
        stored = service.queries.store.get_exposures([registration_id(scope.key, b) for b in LIMITS])
        for who, limit in LIMITS.items():
            assert limit is None or exposures[who] <= limit, (who, exposures[who], limit)
            assert stored.get(registration_id(scope.key, who), Decimal(0)) == exposures[who], who


def test_processors_deciding_different_lots_at_once_keep_the_cap(ledger_env, clock):
    """Ten processors (each its own App: its own caches) take one bid of alice's each, on ten
    lots of the sale at once: her limit of 100.00 lets three maxima of 30.00 lead, never four."""
    setup = build(ledger_env, clock=clock)
    scope, lot_ids = _sale(setup, clock.now, lots=10)
    processors = [build(ledger_env, clock=clock) for _ in lot_ids]

    def bid(pair):
        app, lot_id = pair
        command = PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder="alice", amount="30.00", placed_at=clock.now)
        return app.commands.execute(lot_id, [command])[0].bid

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(bid, zip(processors, lot_ids, strict=True)))
    assert sorted(o.status for o in outcomes) == ["ACCEPTED"] * 3 + ["REJECTED"] * 7
    assert {o.reason for o in outcomes if o.status == "REJECTED"} == {"LIMIT_EXCEEDED"}
    assert _exposures(setup, scope, lot_ids)["alice"] == Decimal("90.00")
    assert setup.queries.store.get_exposures([registration_id(scope.key, "alice")]) == {
        registration_id(scope.key, "alice"): Decimal("90.00")}
