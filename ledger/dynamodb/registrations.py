"""Registrations and bidders' standings on the Bids table (the `RegistrationRecords` port).

    REG#{registration_id}  EVENT#{version:010d}  an event: topic, state (bytes); written once
    REG#{registration_id}  STATE                 the folded state; replaced on its version; a
                                                 registration's carries `reg_scope`, `reg_rank`
                                                 and `reg_bidder` (the two registration indexes)
    REG#{registration_id}  EXPOSURE              the bidder's exposure in the sale: moved (ADD) in lots' transactions
    REG#{scope}            PADDLES               the last paddle number given in a sale (or lone lot)

A registration's id is its scope and bidder (`SALE#{sale_id}#{user}`), a standing's its
bidder (`BIDDER#{user}`): every partition is one bidder's in one sale, or one sale's counter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from eventsourcing.persistence import StoredEvent

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.errors import raise_for
from ledger.dynamodb.items import EXPOSURE, from_item, strip_keys, to_item
from ledger.dynamodb.table import (
    MAX_VERSION,
    REGISTRATIONS_BY_BIDDER_INDEX,
    REGISTRATIONS_BY_SCOPE_INDEX,
    event_key,
)
from ledger.persistence import TRANSACTION_LIMIT, RegistrationRecords, registration_key

PADDLES = "PADDLES"


def registration_index_keys(state: Mapping[str, Any]) -> dict[str, str]:
    """The index attributes a registration's state record carries (a standing's none)."""
    if "scope" not in state:
        return {}
    return {"reg_scope": str(state["scope"]), "reg_rank": f"{state['status']}#{state['user_id']}",
            "reg_bidder": str(state["user_id"])}


class RegistrationRecordsTable(TableAccess, RegistrationRecords):
    def insert_registration(
        self, stored_events: Sequence[StoredEvent], state: Mapping[str, Any], expected_version: int | None,
        paddles: tuple[str, int] | None = None,
    ) -> None:
        pk = registration_key(str(state["registration_id"]))
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(PK)",
                     "Item": {"PK": {"S": pk}, "SK": {"S": event_key(e.originator_version)}, "topic": {"S": e.topic},
                              "state": {"B": e.state}}}}
            for e in stored_events
        ]
        put: dict[str, Any] = {"TableName": self.table_name,
                               "Item": to_item({"PK": pk, "SK": "STATE", **state, **registration_index_keys(state)})}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        items.append({"Put": put})
        if paddles is not None:
            scope, last = paddles
            items.append({"Update": {
                "TableName": self.table_name,
                "Key": {"PK": {"S": registration_key(scope)}, "SK": {"S": PADDLES}},
                "UpdateExpression": "SET #last = :next",
                "ConditionExpression": "attribute_not_exists(PK)" if last == 0 else "#last = :last",
                "ExpressionAttributeNames": {"#last": "last"},
                "ExpressionAttributeValues": {":next": {"N": str(state["paddle"])}}
                | ({} if last == 0 else {":last": {"N": str(last)}}),
            }})
        if len(items) > TRANSACTION_LIMIT:
            raise ValueError(f"{len(items)} items exceed DynamoDB's transaction limit of {TRANSACTION_LIMIT}")
        try:
            self.client.transact_write_items(TransactItems=items)
        except (ClientError, BotoCoreError) as error:
            raise_for(error, "insert_registration")

    def get_registrations(self, registration_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        keys = [(registration_key(r), "STATE") for r in dict.fromkeys(registration_ids)]
        return {str(item["registration_id"]): item for _, _, item in self._batch_get("get_registrations", keys)}

    def iter_registration_events(self, registration_id: str, *, lte: int | None = None) -> Iterator[StoredEvent]:
        items = self._pages(
            "iter_registration_events", "query", {"PageSize": 1000},
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :low AND :high",
            ExpressionAttributeValues={":pk": {"S": registration_key(registration_id)}, ":low": {"S": event_key(1)},
                                       ":high": {"S": event_key(MAX_VERSION if lte is None else lte)}},
            ConsistentRead=True,
        )
        for item in items:
            yield StoredEvent(originator_id=registration_id, originator_version=int(item["SK"]["S"].removeprefix("EVENT#")),
                              topic=item["topic"]["S"], state=bytes(item["state"]["B"]))

    def scope_registrations(
        self, scope: str, status: str | None, limit: int, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        # Ranks are "{status}#{user}" (user ids are ASCII above '$'): a status's run lies
        # between "{status}#" and "{status}$"; "~" is above every rank.
        low = after or (f"{status}#" if status else "A")
        high = f"{status}$" if status else "~"
        return self._index_page(
            "scope_registrations", REGISTRATIONS_BY_SCOPE_INDEX, "reg_rank", limit, after,
            KeyConditionExpression="reg_scope = :scope AND reg_rank BETWEEN :low AND :high",
            ExpressionAttributeValues={":scope": {"S": scope}, ":low": {"S": low}, ":high": {"S": high}},
        )

    def bidder_registrations(self, user_id: str, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        return self._index_page(
            "bidder_registrations", REGISTRATIONS_BY_BIDDER_INDEX, "reg_scope", limit, after,
            KeyConditionExpression="reg_bidder = :user AND reg_scope > :after",
            ExpressionAttributeValues={":user": {"S": user_id}, ":after": {"S": after or "#"}},
        )

    def _index_page(
        self, what: str, index: str, order: str, limit: int, after: str | None, **query: Any
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` records of an index query after the cursor `after` (an `order` value), and the next cursor."""
        records: list[dict[str, Any]] = []
        last: str | None = None
        for item in self._pages(what, "query", {"PageSize": limit + 1}, TableName=self.table_name, IndexName=index, **query):
            position = item[order]["S"]
            if position == after:
                continue
            if len(records) == limit:
                return records, last
            records.append(strip_keys(from_item(item)))
            last = position
        return records, None

    def get_exposures(self, registration_ids: Sequence[str]) -> dict[str, Decimal]:
        keys = [(registration_key(r), EXPOSURE) for r in dict.fromkeys(registration_ids)]
        return {pk.removeprefix("REG#"): Decimal(item.get("exposure", 0))
                for pk, _, item in self._batch_get("get_exposures", keys)}

    def last_paddle(self, scope: str) -> int:
        record = self._get_item("last_paddle", registration_key(scope), PADDLES)
        return 0 if record is None else int(record["last"])
