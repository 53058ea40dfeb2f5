"""A staggered sale as stored: the `SALE#{sale_id}`/`SALE` item, written once with its
lots (`Sales.create_sale`) and read only by `GET /sales/{sale_id}`, never on a
bid's path. Bounded: at most `MAX_SALE_LOTS` lot ids of 64 characters and a title of 200
characters (docs/CAPACITY.md prices it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ledger.domain.values import UtcTime


class SaleRecord(BaseModel):
    """The sale's terms and its lots in closing order (each lot's own state is its snapshot)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sale_id: str
    title: str
    seller: str
    seller_handle: str | None = None  # public (`ledger.domain.sellers`); None for sales older than handles
    interval_s: int
    first_closes_at: UtcTime
    lot_ids: list[str]
    created_at: UtcTime
    # SHA-256 of the request that created it (its seller and every field, lot ids included):
    # the same request sent again is answered with this sale rather than refused.
    request_hash: str = ""

    def to_item(self) -> dict[str, Any]:
        """JSON-able attributes for the item (times as strings)."""
        return self.model_dump(mode="json", exclude_none=True)
