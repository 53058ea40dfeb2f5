"""Staggered sales on the Bids table (the `SaleRecords` port).

    SALE#{sale_id} SALE  a staggered sale: its lots in closing order; written once, with them
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from eventsourcing.persistence import StoredEvent

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.errors import raise_for
from ledger.dynamodb.items import put_event, put_new, put_snapshot
from ledger.persistence import TRANSACTION_LIMIT, SaleConditionsFailed, SaleRecords, sale_key


class SalesTable(TableAccess, SaleRecords):
    """Writes a sale with its lots' first events and snapshots in one transaction."""

    def insert_sale(
        self, sale: Mapping[str, Any], stored_events: Sequence[StoredEvent], snapshots: Sequence[Mapping[str, Any]]
    ) -> None:
        """The sale item, then each lot's events, then each lot's snapshot: one
        TransactWriteItems, every Put conditional on its item being new."""
        items = [put_new(self.table_name, {"PK": sale_key(str(sale["sale_id"])), "SK": "SALE", **sale})]
        items += [put_event(self.table_name, e) for e in stored_events]
        items += [put_snapshot(self.table_name, snapshot, None) for snapshot in snapshots]
        if len(items) > TRANSACTION_LIMIT:
            raise ValueError(f"{len(items)} items exceed DynamoDB's transaction limit of {TRANSACTION_LIMIT}")
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if error.response["Error"]["Code"] == "TransactionCanceledException" and len(reasons) == len(items):
                # CancellationReasons is index-aligned with the items: say which existed.
                failed = [code == "ConditionalCheckFailed" for code in reasons]
                lot_ids = [str(e.originator_id) for e in stored_events] + [str(s["lot_id"]) for s in snapshots]
                if any(failed):
                    raise SaleConditionsFailed(
                        f"insert_sale: conditions failed ({reasons})",
                        sale_exists=failed[0],
                        lots_exist=list(dict.fromkeys(lot for lot, hit in zip(lot_ids, failed[1:], strict=True) if hit)),
                    ) from error
            raise_for(error, "insert_sale")
        except BotoCoreError as error:
            raise_for(error, "insert_sale")

    def get_sale(self, sale_id: str) -> dict[str, Any] | None:
        return self._get_item("get_sale", sale_key(sale_id), "SALE")
