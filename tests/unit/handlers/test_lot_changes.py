"""How the broadcast reads a batch of stream records into one change per lot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from handlers.broadcast import changes_in
from ledger.commands import CreateLot
from ledger.dynamodb import to_item
from ledger.values import utc_now
from tests.support.app import build_test_app


def image(item: dict[str, Any]) -> dict[str, Any]:
    return to_item({"PK": f"LOT#{item['lot_id']}", "SK": "SNAPSHOT", **item})


def test_of_two_images_at_one_version_the_later_in_the_stream_is_the_lot():
    # A snapshot tampered with in place, then repaired by `replay --fix` at the same version:
    # both records in one batch, the repair last. The watchers must get the repair.
    service = build_test_app().service
    lot = service.create_lot(
        CreateLot(lot_id="clock", title="Clock", currency="EUR", starting_price="10.00",
                  closes_at=utc_now() + timedelta(hours=1)), seller="sam")
    good = lot.to_item()
    tampered = good | {"bid_count": 99}
    records = [
        {"eventName": "MODIFY", "dynamodb": {"Keys": {"PK": {"S": "LOT#clock"}, "SK": {"S": "SNAPSHOT"}},
                                             "OldImage": image(good), "NewImage": image(new)}}
        for new in (tampered, good)
    ]
    (change,) = changes_in(DynamoDBStreamEvent({"Records": records})).values()
    assert change.snapshot.bid_count == 0 and change.old_version == lot.version
