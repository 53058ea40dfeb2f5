"""Who is watching what: the Connections table.

    LOT#{lot_id}        CONN#{connection_id}   a subscription to a lot's updates
    CONN#{connection_id} META                  the connection (its bidder, its lots)
    BIDDER#{bidder}     CONN#{connection_id}   where a signed-in bidder's outcomes go

Every item expires (TTL on `expires_at`) two hours after connect, as API Gateway
drops WebSocket connections by then anyway.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

CONNECTION_TTL_S = 2 * 3600
# API Gateway answers "gone" for a connection whose $connect has not finished yet, and
# the subscription is written during $connect: so young connections are not dropped.
CONNECTING_GRACE_S = 30
# BatchWriteItem may leave items unprocessed (throttled): written again after these pauses.
UNPROCESSED_RETRY_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


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
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def connect(self, connection_id: str, bidder: str | None, lot_id: str | None = None) -> None:
        """Records the connection (its META), a signed-in bidder's connection and, given
        `lot_id`, its subscription to the lot (as `subscribe` would): one PutItem, or one
        BatchWriteItem for more, so each of a crowd arriving at once costs one write request."""
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

    def subscribe(self, connection_id: str, lot_id: str) -> None:
        self._put({"PK": {"S": f"LOT#{lot_id}"}, "SK": {"S": f"CONN#{connection_id}"}, "expires_at": self._expiry()})
        self.client.update_item(
            TableName=self.table_name,
            Key={"PK": {"S": f"CONN#{connection_id}"}, "SK": {"S": "META"}},
            UpdateExpression="ADD lots :lot SET expires_at = if_not_exists(expires_at, :exp)",
            ExpressionAttributeValues={":lot": {"SS": [lot_id]}, ":exp": self._expiry()},
        )

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
        for lot_id in meta.get("lots", {}).get("SS", []):
            self._delete(f"LOT#{lot_id}", f"CONN#{connection_id}")
        if "bidder" in meta:
            self._delete(f"BIDDER#{meta['bidder']['S']}", f"CONN#{connection_id}")
        self._delete(f"CONN#{connection_id}", "META")

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

