"""Per-user quota records on the Bids table (the `QuotaRecords` port).

    QUOTA#{user}  {name}  a quota's record: `LOTS` (lots a day), `LOT#{lot_id}` (bids on a lot)

Each is under one user, so no partition is shared by users; written with a condition on
its version, so racing writers never both count; a refused write returns the record as
stored, so the writer decides again without reading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.items import to_item
from ledger.dynamodb.table import quota_key
from ledger.persistence import QuotaRecordChanged, QuotaRecords


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
        written, stored = self._put_unless_stored("put_quota", item, **condition)
        if not written:
            # The stored record comes back with the refusal: the writer need not read it.
            raise QuotaRecordChanged(f"the quota record {name} of {user} is no longer at version {expected_version}", stored)
