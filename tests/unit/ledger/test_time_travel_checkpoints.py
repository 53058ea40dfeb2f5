"""Time travel folds on from checkpoints (`ledger.service.checkpoints`): once a lot was
travelled in, a read at any version or time folds at most CHECKPOINT_EVERY - 1 events, so
anonymous `?as_of=` readers cannot make every read cost the lot's whole history; and the
state is exactly the full fold's. On the in-memory recorder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ledger.domain.commands import CreateLot, PlaceBid
from ledger.service.checkpoints import CHECKPOINT_EVERY
from ledger.service.commands import COMMANDS_PER_TRANSACTION
from ledger.service.queries import LotQueries
from tests.support.app import build_test_app

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_a_second_read_folds_from_the_nearest_checkpoint_and_agrees_with_the_full_fold():
    clock = [START]
    app = build_test_app(clock=lambda: clock[0])
    app.lots.create_lot(CreateLot(lot_id="long", title="Vase", currency="EUR", starting_price="1.00", opens_at=START,
                                  closes_at=START + timedelta(days=1), soft_close_window_s=0), seller="sam")
    bids = [PlaceBid(bid_id=uuid.uuid4().hex, lot_id="long", bidder=f"b{i % 7}", amount=f"{1 + i}.00",
                     placed_at=START + timedelta(seconds=i + 1)) for i in range(2 * CHECKPOINT_EVERY + 50)]
    for start in range(0, len(bids), COMMANDS_PER_TRANSACTION):
        clock[0] = START + timedelta(seconds=start + 1)
        app.commands.execute("long", bids[start : start + COMMANDS_PER_TRANSACTION])
    read = [0]
    iter_events = app.commands.store.iter_events

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        for event in iter_events(*args, **kwargs):
            read[0] += 1
            yield event

    app.commands.store.iter_events = counted  # type: ignore[method-assign]
    queries = app.queries
    assert queries.lot_as_of("long").version == len(bids) + 1  # the first read folds everything

    def full_fold(**when):  # type: ignore[no-untyped-def]
        return LotQueries(app.commands.store, app.commands.mapper).lot_as_of("long", **when)  # no checkpoints yet

    for version in (1, CHECKPOINT_EVERY - 1, CHECKPOINT_EVERY, CHECKPOINT_EVERY + 1, 2 * CHECKPOINT_EVERY + 37, len(bids) + 1):
        expected = full_fold(version=version)
        read[0] = 0
        assert queries.lot_as_of("long", version=version) == expected
        assert read[0] == version % CHECKPOINT_EVERY  # from the checkpoint at or below it
    for at in (START, START + timedelta(seconds=CHECKPOINT_EVERY + 3), START + timedelta(hours=1)):
        expected = full_fold(at=at)
        read[0] = 0
        assert queries.lot_as_of("long", at=at) == expected
        assert read[0] <= CHECKPOINT_EVERY + COMMANDS_PER_TRANSACTION  # to the first event after `at`, from a checkpoint
