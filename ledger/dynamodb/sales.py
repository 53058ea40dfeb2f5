"""Staggered sales on the Bids table (the `SaleRecords` port; `ledger.domain.sales` says how
a request's lots become visible at once).

    SALE#{sale_id} SALE               the sale: terms, positions taken, lots committed
    SALE#{sale_id} REQUEST#{request}  a request's record: the first position of its batch
    SALE#{sale_id} BATCH#{first:04d}  a request's lots in closing order; `committed` is the commit marker
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from eventsourcing.persistence import StoredEvent

from ledger.domain.sales import DRAFT_ATTRIBUTE
from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.errors import raise_for
from ledger.dynamodb.items import from_item, put_event, put_new, put_snapshot, strip_keys, to_item
from ledger.dynamodb.table import index_keys
from ledger.persistence import TRANSACTION_LIMIT, SaleConditionsFailed, SaleRecords, lot_key, sale_key

SALE_SK = "SALE"


def batch_key(first: int) -> str:
    return f"BATCH#{first:04d}"


def request_key(request_id: str) -> str:
    return f"REQUEST#{request_id}"


def _cancellation_reasons(error: ClientError, items: int) -> list[bool] | None:
    """Which items of a cancelled transaction failed their condition (index-aligned), or None
    when it failed for another reason."""
    reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
    if error.response["Error"]["Code"] != "TransactionCanceledException" or len(reasons) != items:
        return None
    failed = [code == "ConditionalCheckFailed" for code in reasons]
    return failed if any(failed) else None


class SalesTable(TableAccess, SaleRecords):
    """A sale's item, its requests and batches, and its lots written as drafts."""

    def reserve_sale_lots(self, sale_id: str, new_sale: Mapping[str, Any] | None, taken: int, closes_after: str,
                          batch: Mapping[str, Any]) -> None:
        pk = sale_key(sale_id)
        count = len(batch["lot_ids"])
        if new_sale is not None:
            sale_write = put_new(self.table_name, {"PK": pk, "SK": SALE_SK, **new_sale})
        else:
            sale_write = {"Update": {
                "TableName": self.table_name,
                "Key": to_item({"PK": pk, "SK": SALE_SK}),
                # (Its lots are its lot count too, from now on kept in `lot_count`.)
                "UpdateExpression": "SET reserved = :after, lot_count = if_not_exists(lot_count, :taken)",
                # A sale written before batches has no `reserved`: its lots are its positions.
                "ConditionExpression": "(reserved = :taken OR (attribute_not_exists(reserved) AND size(lot_ids) = :taken))"
                                       " AND first_closes_at > :now",
                "ExpressionAttributeValues": to_item({":taken": taken, ":after": taken + count, ":now": closes_after}),
            }}
        request = put_new(self.table_name, {"PK": pk, "SK": request_key(str(batch["request_id"])),
                                             "request_id": batch["request_id"], "first": batch["first"]})
        stored_batch = put_new(self.table_name, {"PK": pk, "SK": batch_key(int(batch["first"])), **batch})
        try:
            self.client.transact_write_items(TransactItems=[sale_write, request, stored_batch])
        except ClientError as error:
            if (failed := _cancellation_reasons(error, 3)) is not None:
                raise SaleConditionsFailed(
                    f"reserve_sale_lots: conditions failed ({failed})", sale_exists=failed[0] and new_sale is not None,
                    sale_changed=failed[0] and new_sale is None, request_exists=failed[1] or failed[2],
                ) from error
            raise_for(error, "reserve_sale_lots")
        except BotoCoreError as error:
            raise_for(error, "reserve_sale_lots")

    def get_sale_request(self, sale_id: str, request_id: str) -> dict[str, Any] | None:
        return self._get_item("get_sale_request", sale_key(sale_id), request_key(request_id))

    def insert_lot_drafts(self, stored_events: Sequence[StoredEvent], snapshots: Sequence[Mapping[str, Any]]) -> None:
        items = [put_event(self.table_name, e) for e in stored_events]
        items += [put_snapshot(self.table_name, snapshot, None) for snapshot in snapshots]
        if len(items) > TRANSACTION_LIMIT:
            raise ValueError(f"{len(items)} items exceed DynamoDB's transaction limit of {TRANSACTION_LIMIT}")
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if (failed := _cancellation_reasons(error, len(items))) is not None:
                lot_ids = [str(e.originator_id) for e in stored_events] + [str(s["lot_id"]) for s in snapshots]
                exist = list(dict.fromkeys(lot for lot, hit in zip(lot_ids, failed, strict=True) if hit))
                raise SaleConditionsFailed(f"insert_lot_drafts: lots exist ({exist})", lots_exist=exist) from error
            raise_for(error, "insert_lot_drafts")
        except BotoCoreError as error:
            raise_for(error, "insert_lot_drafts")

    def commit_sale_batch(self, sale_id: str, first: int, count: int) -> bool:
        pk = sale_key(sale_id)
        items = [
            {"Update": {
                "TableName": self.table_name,
                "Key": to_item({"PK": pk, "SK": batch_key(first)}),
                "UpdateExpression": "SET committed = :yes",
                "ConditionExpression": "committed = :no",
                "ExpressionAttributeValues": to_item({":yes": True, ":no": False}),
            }},
            {"Update": {
                "TableName": self.table_name,
                "Key": to_item({"PK": pk, "SK": SALE_SK}),
                "UpdateExpression": "ADD lot_count :count",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeValues": to_item({":count": count}),
            }},
        ]
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if (failed := _cancellation_reasons(error, 2)) is not None and failed == [True, False]:
                return False
            raise_for(error, "commit_sale_batch")
        except BotoCoreError as error:
            raise_for(error, "commit_sale_batch")
        return True

    def open_drafts(self, snapshots: Sequence[Mapping[str, Any]]) -> None:
        """Up to TRANSACTION_LIMIT drafts a transaction (one call, not one per lot); when one
        of them is a draft no more (a decision replaced it), each of that transaction's alone."""
        for start in range(0, len(snapshots), TRANSACTION_LIMIT):
            updates = [self._opening(snapshot) for snapshot in snapshots[start:start + TRANSACTION_LIMIT]]
            try:
                self.client.transact_write_items(TransactItems=[{"Update": update} for update in updates])
                continue
            except ClientError as error:
                if _cancellation_reasons(error, len(updates)) is None:
                    raise_for(error, "open_drafts")
            except BotoCoreError as error:
                raise_for(error, "open_drafts")
            for update in updates:
                try:
                    self.client.update_item(**update)
                except ClientError as error:
                    if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise_for(error, "open_drafts")
                except BotoCoreError as error:
                    raise_for(error, "open_drafts")

    def _opening(self, snapshot: Mapping[str, Any]) -> dict[str, Any]:
        """The update that opens a draft: its mark removed, the index keys its status needs set,
        only if it is still that draft."""
        lot_id = str(snapshot["lot_id"])
        listed = list(index_keys(lot_id, {k: v for k, v in snapshot.items() if k != DRAFT_ATTRIBUTE}).items())
        return {
            "TableName": self.table_name,
            "Key": to_item({"PK": lot_key(lot_id), "SK": "SNAPSHOT"}),
            "UpdateExpression": "REMOVE #draft" + "".join(f"{', ' if i else ' SET '}#k{i} = :k{i}" for i in range(len(listed))),
            "ConditionExpression": "#draft = :draft",
            "ExpressionAttributeNames": {"#draft": DRAFT_ATTRIBUTE} | {f"#k{i}": name for i, (name, _) in enumerate(listed)},
            "ExpressionAttributeValues": to_item({":draft": snapshot[DRAFT_ATTRIBUTE]}
                                                 | {f":k{i}": value for i, (_, value) in enumerate(listed)}),
        }

    def get_sale(self, sale_id: str) -> dict[str, Any] | None:
        return self._get_item("get_sale", sale_key(sale_id), SALE_SK)

    def get_sale_batch(self, sale_id: str, first: int) -> dict[str, Any] | None:
        return self._get_item("get_sale_batch", sale_key(sale_id), batch_key(first))

    def sale_batches(self, sale_id: str, from_first: int) -> Iterator[dict[str, Any]]:
        items = self._pages(
            "sale_batches", "query", {"PageSize": 4},
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :low AND :high",
            ExpressionAttributeValues=to_item({":pk": sale_key(sale_id), ":low": batch_key(from_first),
                                               ":high": "BATCH#9999"}),
        )
        for item in items:
            yield strip_keys(from_item(item))
