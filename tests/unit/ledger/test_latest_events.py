"""A lot's latest events read again (`LotQueries.latest_events`: the broadcast's and the
lot view's bid history), on the in-memory recorder: the second read asks storage only for
the events after those read before, and gives what a full read gives."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bootstrap import App
from ledger.domain.events import BidPlaced
from ledger.service.queries import RECENT_EVENTS_READ
from tests.support.app import build_test_app, execute_one
from tests.unit.ledger.test_admission_snapshots import START, a_bid, new_lot


@pytest.fixture
def service() -> App:
    return build_test_app(clock=lambda: START + timedelta(minutes=1))


def versions(events) -> list[int]:  # type: ignore[no-untyped-def]
    return [event.originator_version for event in events]


def test_latest_events_read_again_ask_storage_only_for_the_newer_ones_and_match_a_full_read(service):
    lot_id = new_lot(service)
    asked: list[int | None] = []
    iter_events = service.commands.store.iter_events

    def recorded(lot, **options):  # type: ignore[no-untyped-def]
        asked.append(options.get("gt"))
        return iter_events(lot, **options)

    def full_read(upto: int | None = None) -> list[int]:
        return [event.originator_version for event in iter_events(lot_id, lte=upto, desc=True, limit=RECENT_EVENTS_READ)]

    service.commands.store.iter_events = recorded  # type: ignore[method-assign]
    first = service.queries.latest_events(lot_id)
    for index in range(3):
        execute_one(service.commands, a_bid(lot_id, f"{20 + index}.00", bidder=f"bidder-{index}"))
    again = service.queries.latest_events(lot_id)
    assert asked == [None, versions(first)[0]]
    assert versions(again) == full_read() and len(again) == len(first) + 3
    assert [type(event) for event in again[:3]] == [BidPlaced] * 3
    # An older view is read whole, as it was, and does not replace the newer events kept.
    older = service.queries.latest_events(lot_id, upto_version=versions(first)[0])
    assert versions(older) == versions(first) == full_read(versions(first)[0])
    assert versions(service.queries.latest_events(lot_id)) == versions(again)
    assert asked[-1] == versions(again)[0]


def test_latest_events_kept_are_at_most_the_limit_of_a_read(service):
    lot_id = new_lot(service)
    service.queries.latest_events(lot_id)
    for index in range(RECENT_EVENTS_READ + 5):
        execute_one(service.commands, a_bid(lot_id, f"{20 + index}.00", bidder=f"bidder-{index % 7}"))
        if index % 40 == 0:
            service.queries.latest_events(lot_id)
    latest = service.queries.latest_events(lot_id)
    assert len(latest) == RECENT_EVENTS_READ
    assert versions(latest) == list(range(versions(latest)[0], versions(latest)[0] - RECENT_EVENTS_READ, -1))
