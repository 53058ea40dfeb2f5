"""Who is watching what: the Connections table.

    LOT#{lot_id}        CONN#{connection_id}   a subscription to a lot's updates
    CONN#{connection_id} META                  the connection (its bidder, its lots)
    BIDDER#{bidder}     CONN#{connection_id}   where a signed-in bidder's outcomes go

Every item expires (TTL on `expires_at`) two hours after connect, as API Gateway
drops WebSocket connections by then anyway.

Quotas keep every item and query bounded: a signed-in user holds at most
`max_connections_per_user` connections (counted from their `BIDDER#` items at connect), a
connection at most `max_subscriptions` lots (a condition on the META item's set, so the
META item stays far below DynamoDB's 400 KB); None: no limit. Over one, `QuotaExceeded`
and nothing written. `$disconnect` deletes a connection's items 25 to a request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ledger.domain.errors import QuotaExceeded

CONNECTION_TTL_S = 2 * 3600
# API Gateway answers "gone" for a connection whose $connect has not finished yet, and
# the subscription is written during $connect: so young connections are not dropped.
CONNECTING_GRACE_S = 30
# BatchWriteItem may leave items unprocessed (throttled): written again after these pauses.
UNPROCESSED_RETRY_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
BATCH_WRITE_LIMIT = 25  # DynamoDB's BatchWriteItem takes 25 requests at most
# A user at their connections' limit may connect again once one of theirs closes.
CONNECTIONS_RETRY_AFTER_S = 60


@dataclass(frozen=True)
class WatcherPage:
    """A lot's subscriptions whose connection ids sort after `after` (None: from the first)
    up to and including `through` (None: to the last). Bounds, not a start key and a count:
    connections that come or go meanwhile shift no other page, so no watcher falls between
    two pages or lands in both."""

    lot_id: str
    after: str | None
    through: str | None


@dataclass(frozen=True)
class WatcherPages:
    """A lot's watchers cut into pages of at most a page size: the first page's connections,
    and the bounds of each later page."""

    first: list[str]
    rest: list[WatcherPage]


class ConnectionStore:
    def __init__(self, client: Any, table_name: str, max_connections_per_user: int | None = None,
                 max_subscriptions: int | None = None) -> None:
        self.client = client
        self.table_name = table_name
        self.max_connections_per_user = max_connections_per_user
        self.max_subscriptions = max_subscriptions

    def connect(self, connection_id: str, bidder: str | None, lot_id: str | None = None) -> None:
        """Records the connection (its META), a signed-in bidder's connection and, given
        `lot_id`, its subscription to the lot (as `subscribe` would): one PutItem, or one
        BatchWriteItem for more, so each of a crowd arriving at once costs one write request.
        QuotaExceeded (nothing written) when the bidder holds their most connections already."""
        if bidder and self.max_connections_per_user is not None:
            self._check_connections_of(bidder, self.max_connections_per_user)
        item: dict[str, Any] = {
            "PK": {"S": f"CONN#{connection_id}"},
            "SK": {"S": "META"},
            "expires_at": self._expiry(),
            "connected_at": {"N": str(int(time.time()))},
        }
        items = []
        if bidder:
            item["bidder"] = {"S": bidder}
            items.append({"PK": {"S": f"BIDDER#{bidder}"}, "SK": {"S": f"CONN#{connection_id}"}, "expires_at": self._expiry()})
        if lot_id:
            item["lots"] = {"SS": [lot_id]}
            items.append({"PK": {"S": f"LOT#{lot_id}"}, "SK": {"S": f"CONN#{connection_id}"}, "expires_at": self._expiry()})
        if items:
            self._put_all([*items, item])
        else:
            self._put(item)

    def _check_connections_of(self, bidder: str, limit: int) -> None:
        now = {"N": str(int(time.time()))}
        held = 0
        query: dict[str, Any] = {
            "TableName": self.table_name, "Select": "COUNT",
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :conn)",
            # Expired items TTL has not deleted yet are no longer connections.
            "FilterExpression": "expires_at > :now",
            "ExpressionAttributeValues": {":pk": {"S": f"BIDDER#{bidder}"}, ":conn": {"S": "CONN#"}, ":now": now},
        }
        while True:
            response = self.client.query(**query)
            held += response["Count"]
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        if held >= limit:
            raise QuotaExceeded(
                f"you have {held} live connections, the most one user may hold; close one first",
                {"quota": "connections_per_user", "limit": limit, "retry_after_s": CONNECTIONS_RETRY_AFTER_S},
            )

    def subscribe(self, connection_id: str, lot_id: str) -> None:
        """Subscribe the connection to the lot, or QuotaExceeded (nothing written) when it
        holds its most subscriptions already; subscribing again to a lot is no new one."""
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"PK": {"S": f"CONN#{connection_id}"}, "SK": {"S": "META"}},
            "UpdateExpression": "ADD lots :lot SET expires_at = if_not_exists(expires_at, :exp)",
            "ExpressionAttributeValues": {":lot": {"SS": [lot_id]}, ":exp": self._expiry()},
        }
        if self.max_subscriptions is not None:
            update["ConditionExpression"] = "attribute_not_exists(lots) OR size(lots) < :most OR contains(lots, :id)"
            update["ExpressionAttributeValues"] |= {":most": {"N": str(self.max_subscriptions)}, ":id": {"S": lot_id}}
        try:
            self.client.update_item(**update)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise QuotaExceeded(
                f"this connection watches {self.max_subscriptions} lots, the most one may; unsubscribe from one first",
                {"quota": "subscriptions_per_connection", "limit": self.max_subscriptions, "retry_after_s": 1},
            ) from None
        self._put({"PK": {"S": f"LOT#{lot_id}"}, "SK": {"S": f"CONN#{connection_id}"}, "expires_at": self._expiry()})

    def unsubscribe(self, connection_id: str, lot_id: str) -> None:
        self._delete(f"LOT#{lot_id}", f"CONN#{connection_id}")
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"PK": {"S": f"CONN#{connection_id}"}, "SK": {"S": "META"}},
                UpdateExpression="DELETE lots :lot",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":lot": {"SS": [lot_id]}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def drop_gone(self, connection_id: str) -> bool:
        """Forget a connection the management API called gone, unless it is still
        connecting. Returns whether it was dropped."""
        meta = self._meta(connection_id)
        connected_at = int(meta.get("connected_at", {}).get("N", "0"))
        if time.time() - connected_at < CONNECTING_GRACE_S:
            return False
        self._disconnect(connection_id, meta)
        return True

    def disconnect(self, connection_id: str) -> None:
        """Remove the connection and every subscription it had."""
        self._disconnect(connection_id, self._meta(connection_id))

    def _meta(self, connection_id: str) -> dict[str, Any]:
        response = self.client.get_item(
            TableName=self.table_name, Key={"PK": {"S": f"CONN#{connection_id}"}, "SK": {"S": "META"}}, ConsistentRead=True
        )
        return response.get("Item", {})

    def _disconnect(self, connection_id: str, meta: dict[str, Any]) -> None:
        keys = [(f"LOT#{lot_id}", f"CONN#{connection_id}") for lot_id in meta.get("lots", {}).get("SS", [])]
        if "bidder" in meta:
            keys.append((f"BIDDER#{meta['bidder']['S']}", f"CONN#{connection_id}"))
        keys.append((f"CONN#{connection_id}", "META"))  # last: what is left is still found by it
        for start in range(0, len(keys), BATCH_WRITE_LIMIT):
            self._delete_batch(keys[start:start + BATCH_WRITE_LIMIT])

    def _delete_batch(self, keys: list[tuple[str, str]]) -> None:
        requests: list[dict[str, Any]] = [
            {"DeleteRequest": {"Key": {"PK": {"S": pk}, "SK": {"S": sk}}}} for pk, sk in keys
        ]
        pause_s = 0.05
        while requests:
            response = self.client.batch_write_item(RequestItems={self.table_name: requests})
            requests = (response.get("UnprocessedItems") or {}).get(self.table_name, [])
            if requests:  # throttled: ask again for what was left, backing off
                time.sleep(pause_s)
                pause_s = min(pause_s * 2, 1.0)

    def watching_lot(self, lot_id: str) -> Iterator[str]:
        for ids in self._pages_of_connections(f"LOT#{lot_id}"):
            yield from ids

    def of_bidder(self, bidder: str) -> Iterator[str]:
        for ids in self._pages_of_connections(f"BIDDER#{bidder}"):
            yield from ids

    def watcher_pages(self, lot_id: str, page_size: int) -> WatcherPages:
        """The lot's watchers, `page_size` to a page: one keys-only Query per page. Only
        the first page's connections are kept; later pages are known by their bounds."""
        first: list[str] = []
        bounds: list[str] = []  # the last connection of each page
        for ids in self._pages_of_connections(f"LOT#{lot_id}", limit=page_size):
            if not bounds:
                first = ids
            bounds.append(ids[-1])
        # The last page stays open-ended: a connection subscribed after this read sorts into it.
        ends: list[str | None] = [*bounds[1:-1], None] if len(bounds) > 1 else []
        rest = [WatcherPage(lot_id, after, through) for after, through in zip(bounds[:-1], ends, strict=True)]
        return WatcherPages(first=first, rest=rest)

    def watching_page(self, page: WatcherPage) -> Iterator[str]:
        """The connections watching the page's lot within its bounds now."""
        start = None if page.after is None else f"CONN#{page.after}"
        through = None if page.through is None else f"CONN#{page.through}"
        for ids in self._pages_of_connections(f"LOT#{page.lot_id}", start_after=start, through=through):
            yield from ids

    def _pages_of_connections(self, pk: str, *, limit: int | None = None, start_after: str | None = None,
                              through: str | None = None) -> Iterator[list[str]]:
        """Connection ids under `pk` in key order, a Query page at a time (none empty), from
        just after the sort key `start_after` up to and including the sort key `through`."""
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :conn)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":conn": {"S": "CONN#"}},
            "ProjectionExpression": "SK",
        }
        if through is not None:
            query["KeyConditionExpression"] = "PK = :pk AND SK BETWEEN :conn AND :through"
            query["ExpressionAttributeValues"][":through"] = {"S": through}
        if limit is not None:
            query["Limit"] = limit
        # Any key inside the condition's range will do as a start key: it need not still exist.
        start_key = None if start_after is None else {"PK": {"S": pk}, "SK": {"S": start_after}}
        while True:
            if start_key is not None:
                query["ExclusiveStartKey"] = start_key
            response = self.client.query(**query)
            ids = [item["SK"]["S"].removeprefix("CONN#") for item in response["Items"]]
            if ids:  # a Query that stops at exactly `limit` items may be followed by an empty one
                yield ids
            start_key = response.get("LastEvaluatedKey")
            if start_key is None:
                return

    def _put(self, item: dict[str, Any]) -> None:
        self.client.put_item(TableName=self.table_name, Item=item)

    def _put_all(self, items: list[dict[str, Any]]) -> None:
        """Up to 25 items in one BatchWriteItem; what it leaves unprocessed is written again."""
        requests: dict[str, Any] = {self.table_name: [{"PutRequest": {"Item": item}} for item in items]}
        for pause in (*UNPROCESSED_RETRY_S, None):
            requests = self.client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
            if not requests:
                return
            if pause is None:
                raise RuntimeError(f"the Connections table left {len(requests[self.table_name])} items unwritten")
            time.sleep(pause)

    def _delete(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key={"PK": {"S": pk}, "SK": {"S": sk}})

    @staticmethod
    def _expiry() -> dict[str, str]:
        return {"N": str(int(time.time()) + CONNECTION_TTL_S)}

