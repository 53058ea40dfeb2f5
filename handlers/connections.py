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
from typing import Any

from botocore.exceptions import ClientError

CONNECTION_TTL_S = 2 * 3600
# API Gateway answers "gone" for a connection whose $connect has not finished yet, and
# the subscription is written during $connect: so young connections are not dropped.
CONNECTING_GRACE_S = 30


class ConnectionStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def connect(self, connection_id: str, bidder: str | None) -> None:
        item = {
            "PK": {"S": f"CONN#{connection_id}"},
            "SK": {"S": "META"},
            "expires_at": self._expiry(),
            "connected_at": {"N": str(int(time.time()))},
        }
        if bidder:
            item["bidder"] = {"S": bidder}
            self._put({"PK": {"S": f"BIDDER#{bidder}"}, "SK": {"S": f"CONN#{connection_id}"}, "expires_at": self._expiry()})
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
        return self._connections_under(f"LOT#{lot_id}")

    def of_bidder(self, bidder: str) -> Iterator[str]:
        return self._connections_under(f"BIDDER#{bidder}")

    def _connections_under(self, pk: str) -> Iterator[str]:
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :conn)",
            ExpressionAttributeValues={":pk": {"S": pk}, ":conn": {"S": "CONN#"}},
            ProjectionExpression="SK",
        )
        for page in pages:
            for item in page["Items"]:
                yield item["SK"]["S"].removeprefix("CONN#")

    def _put(self, item: dict[str, Any]) -> None:
        self.client.put_item(TableName=self.table_name, Item=item)

    def _delete(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key={"PK": {"S": pk}, "SK": {"S": sk}})

    @staticmethod
    def _expiry() -> dict[str, str]:
        return {"N": str(int(time.time()) + CONNECTION_TTL_S)}

