"""What the chain alone cannot catch: a lot rewritten consistently on the in-memory recorder
(a bid's amount changed, every later hash and the snapshot's head recomputed)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from bootstrap import App
from ledger.domain import commitments
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
            if event.sealed:  # committed: a new disclosure and its commitment, as an insider would write them
                disclosure = commitments.disclose(lot_id, version, "amount", amount)
                recorder._disclosures[(lot_id, version)]["amount"] = disclosure
                changes["sealed"] = event.sealed | {"amount": commitments.commitment(disclosure)}
        event = dataclasses.replace(event, **changes)  # type: ignore[arg-type]
        prev_hash = event.hash
        rewritten.append(event)
    for event in rewritten:
        stored = app.commands.mapper.to_stored_event(event)
        position = recorder._stored_events_index[lot_id][event.version]
        recorder._stored_events[position] = stored
    recorder._snapshots[lot_id]["head_hash"] = prev_hash
