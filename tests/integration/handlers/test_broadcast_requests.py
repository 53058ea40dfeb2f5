"""What a decided change costs the broadcast in DynamoDB requests, counted at the boto3
boundary (every call still reaches DynamoDB Local): the bidders' records of the lot are
written in the processor's transaction, each bidder's connections are looked up once per
invocation, and a lot nobody watches has no bid history read for it."""

from __future__ import annotations

from collections import Counter

from bootstrap import App
from ledger.dynamodb import DynamoDBRecorder
from tests.integration.handlers.test_broadcast_fan_out import (
    ALICE,
    BOB,
    bid,
    connect,
    create_lot,
    run_broadcast,
    snapshot_changed,
)
from tests.support.counting import CountingClient


def counted(app: App) -> tuple[CountingClient, CountingClient]:
    """Counts the app's calls to the Bids table and to the Connections table, from now on."""
    store = app.commands.store
    assert isinstance(store, DynamoDBRecorder)
    store.client = CountingClient(store.client)
    app.connections.client = CountingClient(app.connections.client)
    return store.client, app.connections.client


def both_changes(app: App, *lots: str) -> dict:
    """One stream invocation carrying each lot's change from its creation to now."""
    return {"Records": [record for lot_id in lots for record in snapshot_changed(app, lot_id, 1)["Records"]]}


def test_two_watched_lots_with_the_same_two_bidders_cost_eight_queries_and_no_writes(setup, management):
    app, sqs = setup
    lots = [create_lot(app), create_lot(app)]
    for lot_id in lots:
        for _ in range(3):
            connect(app, lot_id)
    connect(app, None, "alice")
    connect(app, None, "bob")
    for lot_id in lots:
        for amount, bidder in (("10.00", ALICE), ("15.00", BOB), ("20.00", ALICE)):
            bid(app, sqs, lot_id, amount, bidder)
    bids_calls, connection_calls = counted(app)

    run_broadcast(app, both_changes(app, *lots))

    # Per lot: its watchers (one Query), its latest events and their disclosures (a Query each);
    # per bidder: their connections (one Query), once for both lots. No UpdateItem: the records
    # were written with the bids (before: 2 UpdateItem per lot, and each bidder's connections per lot).
    assert dict(bids_calls.calls) == {"Paginate": 4}  # a paginated read counts once (one page here)
    assert connection_calls.calls == Counter({"Query": 4})
    assert all(len(got) == 1 for got in management.received.values() if got[0]["type"] == "lot.updated")
    assert {m["type"] for got in management.received.values() for m in got} >= {"lot.updated", "bid.outcome", "bid.outbid"}
    # GET /me/bids reads what the transaction wrote.
    assert app.queries.bidder_record("alice", lots[0])["maximum"] == "20.00"
    assert app.queries.bidder_record("bob", lots[1])["last_bid"] == "15.00"


def test_a_lot_nobody_watches_has_only_its_change_s_events_read(setup, management):
    app, sqs = setup
    lot_id = create_lot(app)
    alice = connect(app, None, "alice")
    for amount in ("10.00", "11.00", "12.00"):
        bid(app, sqs, lot_id, amount, ALICE)
    bids_calls, connection_calls = counted(app)
    read: list[dict] = []

    def remember(params: dict, **kwargs: object) -> None:
        read.append(dict(params))

    events = bids_calls._client.meta.events
    events.register("provide-client-params.dynamodb.Query", remember)
    try:
        run_broadcast(app, snapshot_changed(app, lot_id, 3))
    finally:
        events.unregister("provide-client-params.dynamodb.Query", remember)

    # Only event 4 (the change) and its disclosures were read: no bid history for a view nobody sees.
    assert [r["ExpressionAttributeValues"][":low"]["S"] for r in read] == ["EVENT#0000000004", "DISCLOSURE#0000000004"]
    assert connection_calls.calls == Counter({"Query": 2})  # the lot's watchers (none), alice's connections
    assert [m["type"] for m in management.received[alice]] == ["bid.outcome"]


def test_a_record_the_broadcast_wrote_before_is_carried_on_by_the_transaction(setup, bids_table):
    app, sqs = setup
    lot_id = create_lot(app)
    bid(app, sqs, lot_id, "20.00", ALICE)
    key = {"PK": {"S": "BIDDER#alice"}, "SK": {"S": f"MYBID#{lot_id}"}}
    app.commands.store.client.delete_item(TableName=bids_table, Key=key)
    # As the broadcast used to write it, off the bid's path.
    app.queries.record_bidder_lots([{"lot_id": lot_id, "bidder": "alice", "last_bid": "20.00", "last_bid_id": "old",
                                     "version": 2, "maximum": "20.00"}])

    bid(app, sqs, lot_id, "15.00", ALICE)  # rejected: a leader may only raise her maximum

    record = app.queries.bidder_record("alice", lot_id)
    # Carried on to the new version; a rejected amount is never her last bid.
    assert (record["maximum"], record["last_bid"], record["version"]) == ("20.00", "20.00", 3)
    assert lot_id in [lot.lot_id for lot, _ in app.queries.bidder_lots("alice", 1000)[0]]
