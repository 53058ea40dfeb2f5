"""A lot's public bid history on the whole stack, after a flood of rejected bids: the lot's
view (`GET /lots/{lot_id}`), the `lot.updated` push and a subscription's reply still list its
accepted bids, who bid what, read past the rejections through the `BidsByLot` index."""

from __future__ import annotations

from ledger.domain.commands import PlaceBid
from ledger.domain.values import utc_now
from samsold_cli.target import resolve_target
from tests.e2e.helpers import Client, Watcher, eventually

ROWS = [("Bidder 1", "10.00", False), ("Bidder 2", "20.00", False), ("Bidder 1", "20.50", True)]


def rows(view: dict) -> list[tuple[str, str, bool]]:
    return [(row["bidder"], row["amount"], row["automatic"]) for row in view["recent_bids"]]


def test_the_history_outlives_a_flood_of_rejected_bids(app_stack, api, dev_auth):
    seller = Client(api, dev_auth.mint("history-seller", seller=True))
    alice, bob = Client(api, dev_auth.mint("history-alice")), Client(api, dev_auth.mint("history-bob"))
    lot_id = seller.create_lot(title="Enamel sign", starting_price="10.00")["lot_id"]
    assert alice.wait_for_outcome(alice.bid(lot_id, "30.00")["bid_id"])["status"] == "ACCEPTED"
    assert bob.wait_for_outcome(bob.bid(lot_id, "20.00")["bid_id"])["leading"] is False
    assert rows(bob.get(f"/lots/{lot_id}").json()) == ROWS

    # 120 bids below the minimum, decided by the processor's own code (as a queue of them
    # would be): more rejections than the latest events a view reads.
    commands = resolve_target(app_stack.data_dir).app.commands
    flood = [PlaceBid(bid_id=f"{lot_id}-flood-{i}", lot_id=lot_id, bidder="history-mallory", amount="1.00", placed_at=utc_now())
             for i in range(120)]
    with Watcher(app_stack.endpoints["websocket"]) as watcher:
        watcher.send({"action": "subscribe", "lot_id": lot_id})
        watcher.until(lambda messages: any(m.get("type") == "subscribed" for m in messages))
        for start in range(0, len(flood), 40):  # 40 a transaction: 81 items of DynamoDB's 100
            commands.execute(lot_id, flood[start : start + 40])
        # The push of the lot's last version (BroadcastLotChangesFunction).
        watcher.until(lambda _: any(u["version"] == 123 for u in watcher.lot_updates()), timeout=60)
        assert rows(next(u for u in watcher.lot_updates() if u["version"] == 123)) == ROWS
    view = eventually(lambda: (v := bob.get(f"/lots/{lot_id}").json())["version"] == 123 and v)  # LotApiFunction
    assert (view["bid_count"], rows(view), view["older_bids"]) == (2, ROWS, False)
    assert [row["you"] for row in view["recent_bids"]] == [False, True, False]  # Bob's own row says so
    with Watcher(app_stack.endpoints["websocket"]) as late:  # ConnectFunction's reply to a subscription
        late.send({"action": "subscribe", "lot_id": lot_id})
        late.until(lambda messages: any(m.get("type") == "subscribed" for m in messages))
        assert rows(next(m for m in late.messages if m.get("type") == "subscribed")["lot"]) == ROWS
