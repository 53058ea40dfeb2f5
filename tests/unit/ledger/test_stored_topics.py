"""Stored events name their classes by topic, and LotCreated's hashed content names the
aggregate's: both stay as they were stored, wherever the modules live."""

from __future__ import annotations

from eventsourcing.utils import get_topic, resolve_topic

from ledger.domain import events
from ledger.domain.lot import Lot


def test_new_events_are_stored_under_the_topics_older_events_have():
    for cls in (events.LotCreated, events.BidPlaced, events.BidRejected, events.LotClosed, events.LotCancelled,
                events.BidRetracted):
        assert get_topic(cls) == f"ledger.events:{cls.__name__}"
        assert resolve_topic(f"ledger.events:{cls.__name__}") is cls


def test_the_aggregate_keeps_its_stored_topic():
    assert get_topic(Lot) == "ledger.lot:Lot"
    assert resolve_topic("ledger.lot:Lot") is Lot


def test_registration_events_and_aggregates_are_stored_under_their_topics():
    from ledger.domain import registration

    for cls in registration.REGISTRATION_EVENTS:
        assert get_topic(cls) == f"ledger.registration:{cls.__name__}"
        assert resolve_topic(f"ledger.registration:{cls.__name__}") is cls
    for aggregate in (registration.Registration, registration.BidderStanding):
        assert resolve_topic(f"ledger.registration:{aggregate.__name__}") is aggregate
