"""Bidders' records on the Bids table (the `BidderRecords` port).

    BIDDER#{user} LOT#{lot_id}    a bidder's alias on a lot; written once, with their first accepted bid (`events`)
    BIDDER#{user} MYBID#{lot_id}  a bidder's record of a lot (their maximum, their last bid): written with
                                  the events (`events`); `update_bidder_lots` rewrites them (replay)

A record of a lot carries `bidder_lot` for the keys-only index of a lot's bidders.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.errors import raise_for
from ledger.dynamodb.items import from_item, strip_keys, update_bidder_lot
from ledger.dynamodb.table import BIDDERS_BY_LOT_INDEX, MY_BID_PREFIX, bidder_key, my_bid_key
from ledger.persistence import BidderRecords, lot_key


class BidderRecordsTable(TableAccess, BidderRecords):
    """Reads bidders' aliases, and keeps their records of lots newest first."""

    def get_aliases(self, lot_id: str, bidders: Sequence[str]) -> dict[str, int]:
        keys = [(bidder_key(b), lot_key(lot_id)) for b in dict.fromkeys(bidders)]
        return {str(item["bidder"]): int(item["alias"]) for _, _, item in self._batch_get("get_aliases", keys)}

    def update_bidder_lots(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write bidders' records of lots, each only over an older one (stream deliveries may repeat)."""
        for record in records:
            try:
                self.client.update_item(
                    **update_bidder_lot(self.table_name, record),
                    ConditionExpression="attribute_not_exists(version) OR version < :v",
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise_for(error, "update_bidder_lots")  # a newer record is kept as it is
            except BotoCoreError as error:
                raise_for(error, "update_bidder_lots")

    def bidder_lots(self, bidder: str, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the bidder's records of lots, by lot id, after the lot `after`; and the
        lot to read on from (None: no more)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :mine)",
            "ExpressionAttributeValues": {":pk": {"S": bidder_key(bidder)}, ":mine": {"S": MY_BID_PREFIX}},
            "Limit": limit + 1,  # one more says whether there is a next page
        }
        if after is not None:
            request["ExclusiveStartKey"] = {"PK": {"S": bidder_key(bidder)}, "SK": {"S": my_bid_key(after)}}
        response = self._call("bidder_lots", self.client.query, **request)
        records = [strip_keys(from_item(item)) for item in response["Items"]]
        return records[:limit], (str(records[limit - 1]["lot_id"]) if len(records) > limit else None)

    def get_bidder_lot(self, bidder: str, lot_id: str) -> dict[str, Any] | None:
        return self._get_item("get_bidder_lot", bidder_key(bidder), my_bid_key(lot_id))

    def lot_bidders(self, lot_id: str) -> Iterator[str]:
        """Every bidder with a record of the lot (from the keys-only index)."""
        items = self._pages(
            "lot_bidders", "query", {}, TableName=self.table_name, IndexName=BIDDERS_BY_LOT_INDEX,
            KeyConditionExpression="bidder_lot = :lot", ExpressionAttributeValues={":lot": {"S": lot_id}},
        )
        for item in items:
            yield item["PK"]["S"].removeprefix("BIDDER#")
