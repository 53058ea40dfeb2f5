"""Per-user quota records on the Bids table (the `QuotaRecords` port).

    QUOTA#{user}  {name}  a quota's record: `LOTS` (lots a day), `LOT#{lot_id}` (bids on a lot)

Each is under one user, so no partition is shared by users; written with a condition on
its version, so racing writers never both count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.items import to_item
from ledger.dynamodb.table import quota_key
from ledger.persistence import QuotaRecords


class QuotaRecordsTable(TableAccess, QuotaRecords):
    def get_quota(self, user: str, name: str) -> dict[str, Any] | None:
        return self._get_item("get_quota", quota_key(user), name)

    def put_quota(self, user: str, name: str, record: Mapping[str, Any], expected_version: int) -> None:
        item = to_item({**record, "PK": quota_key(user), "SK": name, "version": expected_version + 1})
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
        else:
            condition = {"ConditionExpression": "version = :v",
                         "ExpressionAttributeValues": {":v": {"N": str(expected_version)}}}
        self._call("put_quota", self.client.put_item, TableName=self.table_name, Item=item, **condition)
