"""The public log's state in its own DynamoDB table (LogTable), off every bid's path.

| PK | SK | holds |
| --- | --- | --- |
| `LOG` | `HEAD` | `size`, `root`, the newest checkpoint (`checkpoint_size`, `checkpoint`, `checkpoint_at`: when it was signed), the key's PEM, the sequencer's lease (`lease_owner`, `lease_until`) |
| `LOT#{lot_id}` | `RUN#{first_version:010d}` | one append's run of the lot's events: `first_version`, `last_version`, `first_index` |

An append moves the head and writes its runs in one TransactWriteItems, conditional on the
lease and on the size it appended to, so the tree (tiles) and the runs never disagree.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from ledger.domain.errors import LogBusy
from ledger.service.public_log import LogHead, LotRun

HEAD_KEY = {"PK": {"S": "LOG"}, "SK": {"S": "HEAD"}}


def _run_key(lot_id: str, first_version: int) -> dict[str, Any]:
    return {"PK": {"S": f"LOT#{lot_id}"}, "SK": {"S": f"RUN#{first_version:010d}"}}


def _run(lot_id: str, item: dict[str, Any]) -> LotRun:
    return LotRun(lot_id, int(item["first_version"]["N"]), int(item["last_version"]["N"]), int(item["first_index"]["N"]))


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("ConditionalCheckFailedException", "TransactionCanceledException")


class DynamoDBLogIndex:
    def __init__(self, dynamodb_client: Any, table_name: str, clock: Any = time.time) -> None:
        self.dynamodb = dynamodb_client
        self.table = table_name
        self.clock = clock

    @staticmethod
    def _head(item: dict[str, Any] | None) -> LogHead:
        if not item:
            return LogHead()
        return LogHead(
            size=int(item.get("size", {"N": "0"})["N"]),
            root=bytes(item["root"]["B"]) if "root" in item else b"",
            checkpoint_size=int(item["checkpoint_size"]["N"]) if "checkpoint_size" in item else None,
            checkpoint=item.get("checkpoint", {}).get("S"),
            public_key_pem=item.get("public_key_pem", {}).get("S"),
            checkpoint_at=item.get("checkpoint_at", {}).get("S"),  # absent on heads written before it was kept
        )

    def head(self) -> LogHead:
        return self._head(self.dynamodb.get_item(TableName=self.table, Key=HEAD_KEY, ConsistentRead=True).get("Item"))

    def take_lease(self, owner: str, seconds: float) -> LogHead:
        now = self.clock()
        try:
            response = self.dynamodb.update_item(
                TableName=self.table, Key=HEAD_KEY,
                UpdateExpression="SET lease_owner = :o, lease_until = :u",
                ConditionExpression="attribute_not_exists(lease_owner) OR lease_until < :now OR lease_owner = :o",
                ExpressionAttributeValues={":o": {"S": owner}, ":u": {"N": str(now + seconds)}, ":now": {"N": str(now)}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _conditional_failed(error):
                raise LogBusy("another sequencer holds the log; retry shortly") from None
            raise
        return self._head(response["Attributes"])

    def release_lease(self, owner: str) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key=HEAD_KEY, UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :o", ExpressionAttributeValues={":o": {"S": owner}},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def append(self, owner: str, old_size: int, new_size: int, root: bytes, runs: Sequence[LotRun]) -> None:
        values: dict[str, Any] = {":o": {"S": owner}, ":n": {"N": str(new_size)}, ":r": {"B": root}}
        if old_size:
            condition = "lease_owner = :o AND #size = :old"
            values[":old"] = {"N": str(old_size)}
        else:
            condition = "lease_owner = :o AND attribute_not_exists(#size)"
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": self.table, "Key": HEAD_KEY, "UpdateExpression": "SET #size = :n, #root = :r",
            "ConditionExpression": condition, "ExpressionAttributeNames": {"#size": "size", "#root": "root"},
            "ExpressionAttributeValues": values,
        }}]
        for run in runs:
            items.append({"Put": {
                "TableName": self.table,
                "Item": {**_run_key(run.lot_id, run.first_version), "first_version": {"N": str(run.first_version)},
                         "last_version": {"N": str(run.last_version)}, "first_index": {"N": str(run.first_index)}},
                "ConditionExpression": "attribute_not_exists(PK)",
            }})
        try:
            self.dynamodb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if _conditional_failed(error):
                raise LogBusy("the log moved on under this append; retry") from None
            raise

    def publish(self, owner: str, size: int, note: str, public_key_pem: str, published_at: str) -> None:
        try:
            self.dynamodb.update_item(
                TableName=self.table, Key=HEAD_KEY,
                UpdateExpression="SET checkpoint_size = :s, #checkpoint = :c, public_key_pem = :k, checkpoint_at = :t",
                ConditionExpression="lease_owner = :o AND #size = :s",
                ExpressionAttributeNames={"#size": "size", "#checkpoint": "checkpoint"},
                ExpressionAttributeValues={":o": {"S": owner}, ":s": {"N": str(size)}, ":c": {"S": note}, ":k": {"S": public_key_pem},
                                           ":t": {"S": published_at}},
            )
        except ClientError as error:
            if _conditional_failed(error):
                raise LogBusy("the log moved on under this checkpoint; retry") from None
            raise

    def last_versions(self, lot_ids: Sequence[str]) -> dict[str, int]:
        last = {}
        for lot_id in lot_ids:
            items = self.dynamodb.query(
                TableName=self.table, KeyConditionExpression="PK = :pk AND begins_with(SK, :run)",
                ExpressionAttributeValues={":pk": {"S": f"LOT#{lot_id}"}, ":run": {"S": "RUN#"}},
                ScanIndexForward=False, Limit=1, ConsistentRead=True,
            )["Items"]
            last[lot_id] = int(items[0]["last_version"]["N"]) if items else 0
        return last

    def runs(self, lot_id: str) -> list[LotRun]:
        runs: list[LotRun] = []
        paginator = self.dynamodb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table, KeyConditionExpression="PK = :pk AND begins_with(SK, :run)",
            ExpressionAttributeValues={":pk": {"S": f"LOT#{lot_id}"}, ":run": {"S": "RUN#"}},
        ):
            runs += [_run(lot_id, item) for item in page["Items"]]
        return runs


def log_table_definition(table_name: str) -> dict[str, Any]:
    """The Log table as template.yaml declares it (for tests that make their own)."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
