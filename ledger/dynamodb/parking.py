"""Parked messages on the Bids table (the `ParkedMessages` port).

    PARKED#{id}   MESSAGE  a message that could not be parsed, kept for inspection
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.items import to_item
from ledger.dynamodb.table import parked_key
from ledger.persistence import ParkedMessages


class ParkedMessagesTable(TableAccess, ParkedMessages):
    """Keeps messages that can never be processed; parking one again overwrites it with the same."""

    def park(self, message_id: str, body: str, error: str, attributes: Mapping[str, Any]) -> None:
        """Keep a message that can never be processed, for inspection (idempotent)."""
        item = {
            "PK": parked_key(message_id),
            "SK": "MESSAGE",
            "body": body,
            "error": error,
            "attributes": dict(attributes),
            "parked_at": int(time.time() * 1000),
        }
        self._call("park", self.client.put_item, TableName=self.table_name, Item=to_item(item))

    def get_parked(self, message_id: str) -> dict[str, Any] | None:
        return self._get_item("get_parked", parked_key(message_id), "MESSAGE")
