"""What every part of the recorder shares: the client, the table, and five ways to ask.

Each concern's module (`events`, `bids`, `listings`, `bidders`, `sales`, `parking`) is a
mixin on `TableAccess`, so the recorder composed of them holds one client (tests swap it for
a counting one) and every request maps its failures the same way (`errors.raise_for`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ledger.dynamodb.errors import raise_for
from ledger.dynamodb.items import from_item, strip_keys
from ledger.dynamodb.table import BATCH_GET_LIMIT

# BatchWriteItem's most keys a request.
BATCH_WRITE_LIMIT = 25


class TableAccess:
    """The Bids table through one boto3 client: single gets, paged queries and scans, and
    batched gets and deletes, each mapping DynamoDB's failures onto the library's errors."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def _get_item(self, what: str, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._call(
            what, self.client.get_item, TableName=self.table_name, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else strip_keys(from_item(item))

    def _put_unless_stored(self, what: str, item: dict[str, Any], **condition: Any) -> tuple[bool, dict[str, Any] | None]:
        """PutItem under `condition` (ConditionExpression and its values): (True, None) when
        written; else (False, the item as stored, None when there is none), which DynamoDB
        returns with the refusal, so the caller need not read it."""
        try:
            self.client.put_item(TableName=self.table_name, Item=item, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                                 **condition)
            return True, None
        except BotoCoreError as error:
            raise_for(error, what)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise_for(error, what)
            old = error.response.get("Item")
            return False, strip_keys(from_item(old)) if old else None

    def _pages(self, what: str, operation: str, pagination: dict[str, int | None], **request: Any) -> Iterator[dict[str, Any]]:
        """Items of a Query or Scan, page by page, through boto3's paginator."""
        config = {name: value for name, value in pagination.items() if value is not None}
        try:
            for page in self.client.get_paginator(operation).paginate(PaginationConfig=config, **request):
                yield from page["Items"]
        except (ClientError, BotoCoreError) as error:
            raise_for(error, what)

    def _batch_get(
        self, what: str, keys: Sequence[tuple[str, str]], consistent: bool = True
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(PK, SK, attributes) of the items found among `keys`, in any order, through
        BatchGetItem (100 keys a request; unprocessed keys asked again)."""
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            chunk = [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in keys[start : start + BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self.table_name: {"Keys": chunk, "ConsistentRead": consistent}}
            while request:
                response = self._call(what, self.client.batch_get_item, RequestItems=request)
                for item in response["Responses"].get(self.table_name, []):
                    pk, sk = item["PK"]["S"], item["SK"]["S"]
                    yield pk, sk, strip_keys(from_item(item))
                request = response.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)

    def _batch_delete(self, what: str, keys: Sequence[tuple[str, str]]) -> None:
        """Delete the items at `keys` through BatchWriteItem (25 keys a request; unprocessed
        keys sent again), as `_batch_get` reads them."""
        for start in range(0, len(keys), BATCH_WRITE_LIMIT):
            chunk = [{"DeleteRequest": {"Key": {"PK": {"S": pk}, "SK": {"S": sk}}}}
                     for pk, sk in keys[start : start + BATCH_WRITE_LIMIT]]
            request: dict[str, Any] = {self.table_name: chunk}
            while request:
                request = self._call(what, self.client.batch_write_item, RequestItems=request).get("UnprocessedItems") or {}
                if request:
                    time.sleep(0.05)

    @staticmethod
    def _call(what: str, operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise_for(error, what)
