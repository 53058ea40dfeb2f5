"""A lot's events as plain records: what `history`, `GET /lots/{id}/events` and the
dispute report show (version, time, type, the deciding numbers, the hashes)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ledger.domain.events import LotEvent, canonical

_HIDDEN = {"originator_id", "originator_version", "timestamp", "prev_hash", "hash", "originator_topic"}


def event_record(event: LotEvent) -> dict[str, Any]:
    data = {f.name: canonical(getattr(event, f.name)) for f in fields(event) if f.name not in _HIDDEN}
    return {
        "lot_id": event.originator_id,
        "version": event.originator_version,
        "type": type(event).__name__,
        "recorded_at": canonical(event.timestamp),
        "data": data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
