"""What a connection arriving with `?lot_id=` costs the Connections table: its META, its
subscription (and a signed-in bidder's connection) in one BatchWriteItem, where they were
two PutItems and an UpdateItem; what it records is what `subscribe` records."""

from __future__ import annotations

from collections import Counter

from handlers.connect import on_connect
from tests.integration.handlers.test_broadcast_fan_out import create_lot
from tests.support.counting import CountingClient


def test_a_connection_to_a_lot_is_recorded_in_one_write_request(setup):
    app, _ = setup
    lot_id = create_lot(app)
    app.connections.client = CountingClient(app.connections.client)

    assert on_connect(app, "c-crowd-1", {"lot_id": lot_id})["statusCode"] == 200

    assert app.connections.client.calls == Counter({"BatchWriteItem": 1})
    assert "c-crowd-1" in list(app.connections.watching_lot(lot_id))
    assert app.connections._meta("c-crowd-1")["lots"] == {"SS": [lot_id]}


def test_a_signed_in_bidder_s_connection_to_a_lot_is_recorded_and_removed_whole(setup):
    app, _ = setup
    lot_id = create_lot(app)

    app.connections.connect("c-crowd-2", "alice", lot_id)
    assert "c-crowd-2" in list(app.connections.of_bidder("alice"))
    assert "c-crowd-2" in list(app.connections.watching_lot(lot_id))

    app.connections.disconnect("c-crowd-2")
    assert "c-crowd-2" not in list(app.connections.of_bidder("alice"))
    assert "c-crowd-2" not in list(app.connections.watching_lot(lot_id))
    assert app.connections._meta("c-crowd-2") == {}
