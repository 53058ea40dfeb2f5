"""How the broadcast reads a batch of stream records into one change per lot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from handlers.broadcast import changes_in
from ledger.domain.commands import CreateLot
from ledger.domain.values import utc_now
from ledger.dynamodb import to_item
from ledger.snapshot_item import snapshot_to_item
from tests.support.app import build_test_app


def image(item: dict[str, Any]) -> dict[str, Any]:
    return to_item({"PK": f"LOT#{item['lot_id']}", "SK": "SNAPSHOT", **item})


def test_of_two_images_at_one_version_the_later_in_the_stream_is_the_lot():
    # A snapshot tampered with in place, then repaired by `replay --fix` at the same version:
    # both records in one batch, the repair last. The watchers must get the repair.
    service = build_test_app()
    lot = service.lots.create_lot(
        CreateLot(lot_id="clock", title="Clock", currency="EUR", starting_price="10.00",
                  closes_at=utc_now() + timedelta(hours=1)), seller="sam")
    good = snapshot_to_item(lot)
    tampered = good | {"bid_count": 99}
    records = [
        {"eventName": "MODIFY", "dynamodb": {"Keys": {"PK": {"S": "LOT#clock"}, "SK": {"S": "SNAPSHOT"}},
                                             "OldImage": image(good), "NewImage": image(new)}}
        for new in (tampered, good)
    ]
    (change,) = changes_in(DynamoDBStreamEvent({"Records": records})).values()
    assert change.snapshot.bid_count == 0 and change.old_version == lot.version


def test_a_change_is_read_with_the_lot_s_latest_events_and_in_full_when_it_is_longer():
    from handlers.broadcast import LotChange, read_change
    from ledger.domain.commands import PlaceBid
    from ledger.service.queries import RECENT_EVENTS_READ

    app = build_test_app()
    now = utc_now()
    lot = app.lots.create_lot(
        CreateLot(lot_id="long", title="Long", currency="EUR", starting_price="10.00", increment="0.01",
                  opens_at=now, closes_at=now + timedelta(hours=1), soft_close_window_s=0), seller="sam")
    app.commands.execute(lot.lot_id, [
        PlaceBid(bid_id=f"b{i}", lot_id=lot.lot_id, bidder=f"bidder-{i % 2}", amount=f"{10 + i}.00", placed_at=now)
        for i in range(120)
    ])
    state = app.queries.get_lot(lot.lot_id)
    latest, events = read_change(app, LotChange(state.version - 3, state))  # among the latest: one read
    assert len(latest) == RECENT_EVENTS_READ and [e.originator_version for e in events] == [119, 120, 121]
    latest, events = read_change(app, LotChange(1, state))  # longer than the latest: read in full
    assert [e.originator_version for e in events] == list(range(2, 122))
    assert latest[0].originator_version == 121
