"""A staggered sale as stored, and how its lots become visible all at once.

A sale's item (`SaleRecord`) holds its terms and two counts: `reserved`, the positions
requests have taken, and `lot_count`, the lots of the requests that committed. Each request
(`POST /sales`, `POST /sales/{sale_id}/lots`) takes the next positions (its `SaleBatch`,
written with the reservation), writes its lots as drafts (their snapshots carry
`DRAFT_ATTRIBUTE`, naming the batch), and commits by marking the batch committed: that one
write is the moment every lot of the request becomes visible. A draft is seen only once its
batch is committed (`draft_visible`), and each lot's position gives its close time, so added
lots continue the sale's interval. Read only by the sale routes and for drafts, never on a
bid's path. Bounded: at most `MAX_SALE_LOTS` lots in batches of at most
`MAX_SALE_REQUEST_LOTS` ids of 64 characters, a title of 200 characters (docs/CAPACITY.md
prices them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from ledger.domain.values import UtcTime

# The attribute of a draft lot's snapshot: the position of its batch's first lot (`draft_marker`).
DRAFT_ATTRIBUTE = "draft"


class SaleRecord(BaseModel):
    """The sale's terms and counts. A sale written before batches holds its lots (at most
    49, all committed with it) in `lot_ids` and has no counts."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sale_id: str
    title: str
    seller: str
    seller_handle: str | None = None  # public (`ledger.domain.sellers`); None for sales older than handles
    interval_s: int
    first_closes_at: UtcTime
    lot_ids: list[str] = []
    created_at: UtcTime
    # The request that created it (`request_id`): the same request sent again is answered
    # with this sale rather than refused.
    request_hash: str = ""
    reserved: int | None = None
    lot_count: int | None = None

    @property
    def positions_taken(self) -> int:
        """Positions requests have taken, committed or not: the next request's first position."""
        return len(self.lot_ids) if self.reserved is None else self.reserved

    @property
    def committed_lots(self) -> int:
        return len(self.lot_ids) if self.lot_count is None else self.lot_count
    # Who may bid on its lots (`ledger.domain.registration`); sales stored before it are open.
    registration: str = "open"
    # A sale that needs approval: its lots' one currency (`rules.sale_currency`); None for an
    # open sale, and for one stored before it (its lots are in `lot_ids`).
    currency: str | None = None

    def to_item(self) -> dict[str, Any]:
        """JSON-able attributes for the item (times as strings)."""
        return self.model_dump(mode="json", exclude_none=True)


class SaleBatch(BaseModel):
    """The lots of one request, at positions `first`, `first + 1`, ... of the sale; seen
    once `committed`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    first: int
    request_id: str
    lot_ids: list[str]
    committed: bool = False


def request_id(seller: str, sale_id: str, kind: str, body: Mapping[str, Any]) -> str:
    """The deterministic id of a request that writes a sale's lots: SHA-256 of its seller, sale,
    kind and body as sent (`body` without generated values), so the same request sent again
    (after a lost answer or a crash) is recognised and completed, never done twice."""
    text = json.dumps({"seller": seller, "sale_id": sale_id, "kind": kind, "body": body}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def generated_lot_id(request: str, index: int) -> str:
    """The id of a lot a request gave none: the same for the same request sent again."""
    return hashlib.sha256(f"{request}:{index}".encode()).hexdigest()[:32]


def draft_marker(first: int) -> str:
    """The draft attribute of a lot of the batch at `first`: four digits, so the largest
    snapshot stays within its 2 KB (tests/integration/ledger/test_bounded_snapshot.py)."""
    return f"{first:04d}"


def batch_of(marker: object) -> int | None:
    """The batch position a draft attribute names, or None when it names none."""
    return int(marker) if isinstance(marker, str) and len(marker) == 4 and marker.isdigit() else None


def draft_visible(snapshot: Mapping[str, Any], batch: Mapping[str, Any] | None) -> bool:
    """Whether a lot whose stored snapshot is `snapshot` is seen: it is no draft, or its batch
    (`batch`, as stored, None if absent) committed."""
    if DRAFT_ATTRIBUTE not in snapshot:
        return True
    return batch is not None and batch.get("committed") is True
