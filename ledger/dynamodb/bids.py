"""A bid's own records on the Bids table (the `BidRecords` port).

    BID#{bid_id}  REQUEST     a bid as the API took it (PENDING); written once
    BID#{bid_id}  RECEIPT     how a bid was decided; written once, with the events (`events`)
    BID#{bid_id}  RETRACTION  an accepted bid's retraction by an administrator; written once, likewise
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.items import to_item
from ledger.dynamodb.table import bid_key
from ledger.persistence import BidRecords


class BidsTable(TableAccess, BidRecords):
    """Records a bid's request once, and reads its request, receipt and retraction."""

    def record_bid_request(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record a bid as the API took it, once. Returns the request recorded before
        under the same bid id, or None when this one is new."""
        item = {"PK": bid_key(str(request["bid_id"])), "SK": "REQUEST", **request}
        written, stored = self._put_unless_stored("record_bid_request", to_item(item),
                                                  ConditionExpression="attribute_not_exists(PK)")
        if written:
            return None
        return stored or self.get_bid_request(str(request["bid_id"]))

    def get_bid_request(self, bid_id: str) -> dict[str, Any] | None:
        return self._get_item("get_bid_request", bid_key(bid_id), "REQUEST")

    def get_receipts(self, bid_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Receipts of the bids decided already, by bid id (strongly consistent)."""
        keys = [(bid_key(b), "RECEIPT") for b in dict.fromkeys(bid_ids)]
        return {str(item["bid_id"]): item for _, _, item in self._batch_get("get_receipts", keys)}

    def get_retraction(self, bid_id: str) -> dict[str, Any] | None:
        return self._get_item("get_retraction", bid_key(bid_id), "RETRACTION")
