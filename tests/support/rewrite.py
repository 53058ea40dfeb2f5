"""What the chain alone cannot catch: a lot rewritten consistently on the in-memory recorder
(a bid's amount changed, every later hash and the snapshot's head recomputed)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from bootstrap import App
from ledger.domain.events import BidPlaced


def rewrite_bid_amount(app: App, lot_id: str, version: int, amount: str) -> None:
    recorder = app.commands.store
    events = list(app.queries.lot_events(lot_id))
    prev_hash = events[version - 2].hash
    rewritten = []
    for event in events[version - 1 :]:
        changes: dict[str, object] = {"prev_hash": prev_hash, "hash": ""}
        if event.version == version:
            assert isinstance(event, BidPlaced)
            changes["amount"] = Decimal(amount)
        event = dataclasses.replace(event, **changes)  # type: ignore[arg-type]
        prev_hash = event.hash
        rewritten.append(event)
    for event in rewritten:
        stored = app.commands.mapper.to_stored_event(event)
        position = recorder._stored_events_index[lot_id][event.version]
        recorder._stored_events[position] = stored
    recorder._snapshots[lot_id]["head_hash"] = prev_hash
