"""What the public sees of a staggered sale: its terms and its lots in closing order,
each as lists show a lot (`LotSummary`: its state, price and close time)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from ledger.domain.sales import SaleRecord
from ledger.domain.state import LotSnapshot
from ledger.domain.values import UtcTime
from projections.views import LotSummary, lot_summary


class SaleView(BaseModel):
    sale_id: str
    title: str
    seller: str | None  # the seller's public handle; null for sales created before handles
    interval_s: int
    first_closes_at: UtcTime
    lots: list[LotSummary]  # in the sale's closing order


def sale_view(sale: SaleRecord, lots: Sequence[LotSnapshot], now: datetime) -> SaleView:
    return SaleView(
        sale_id=sale.sale_id,
        title=sale.title,
        seller=sale.seller_handle,
        interval_s=sale.interval_s,
        first_closes_at=sale.first_closes_at,
        lots=[lot_summary(lot, now) for lot in lots],
    )
