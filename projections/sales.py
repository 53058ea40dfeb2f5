"""What the public sees of a staggered sale: its terms and a page of its lots in closing
order, each as lists show a lot (`LotSummary`: its state, price and close time)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ledger.domain.values import UtcTime
from ledger.service.sales import SalePage
from projections.views import LotSummary, lot_summary


class SaleView(BaseModel):
    sale_id: str
    title: str
    seller: str | None  # the seller's public handle; null for sales created before handles
    interval_s: int
    first_closes_at: UtcTime
    registration: str = Field(description="open: any signed-in user bids; approval: approved registrations only")
    lot_count: int = Field(description="the sale's lots, on every page")
    items: list[LotSummary] = Field(description="this page of the sale's lots, in closing order")
    next: str | None = Field(description="the cursor of the next page, null on the last")
    lots: list[LotSummary] = Field(description="the same as items")


def sale_view(page: SalePage, now: datetime) -> SaleView:
    lots = [lot_summary(lot, now) for lot in page.lots]
    return SaleView(
        sale_id=page.sale.sale_id,
        title=page.sale.title,
        seller=page.sale.seller_handle,
        interval_s=page.sale.interval_s,
        first_closes_at=page.sale.first_closes_at,
        registration=page.sale.registration,
        lot_count=page.sale.committed_lots,
        items=lots,
        next=None if page.next_position is None else str(page.next_position),
        lots=lots,
    )
