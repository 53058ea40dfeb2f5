"""A lot bought at its buy-now price in the operator's history and dispute report (in
memory, no stack): the purchase reads BOUGHT, the close SOLD to the buyer's alias, bought now."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from ledger.domain.commands import BuyNow, CreateLot, PlaceBid
from samsold_cli import audit
from tests.support.app import build_test_app, execute_one
from tests.unit.samsold_cli.test_operator_commands import ALICE, BOB, START, Clock, samsold


def test_history_and_dispute_tell_a_purchase(monkeypatch):
    clock = Clock()
    application = build_test_app(clock=clock)
    application.lots.create_lot(
        CreateLot(lot_id="clock", title="Mantel clock", currency="EUR", starting_price="10.00", reserve_price="30.00",
                  buy_now_price="45.00", buy_now_until="reserve_met", opens_at=START, closes_at=START + timedelta(minutes=10)),
        seller="sally")
    clock.now = START + timedelta(minutes=1)
    execute_one(application.commands, PlaceBid(bid_id="a-1", lot_id="clock", bidder=ALICE, amount="20.00", placed_at=clock.now))
    clock.now = START + timedelta(minutes=2)
    application.commands.execute("clock", [BuyNow(bid_id="b-buy", lot_id="clock", bidder=BOB, amount="45.00", placed_at=clock.now),
                                          PlaceBid(bid_id="a-2", lot_id="clock", bidder=ALICE, amount="50.00", placed_at=clock.now)])
    monkeypatch.setattr(audit, "ledger_target", lambda *_: SimpleNamespace(app=application))

    table = samsold("history", "clock")
    assert table.exit_code == 0, table.output
    assert "BOUGHT" in table.output and "SOLD to Bidder 2, bought now" in table.output and "LOT_CLOSED" in table.output
    assert BOB not in table.output
    application.commands.execute("clock", [BuyNow(bid_id="c-buy", lot_id="clock", bidder=ALICE, amount="45.00", placed_at=clock.now)])
    assert "LOT_CLOSED (buy now)" in samsold("history", "clock").output
    report = samsold("dispute", "--bid", "b-buy")
    assert report.exit_code == 0, report.output
    assert "bought the lot at its buy-now price of 45.00" in report.output
