"""The staggered-sale routes: create a sale of lots that close one after another, add lots to
it until its first close, and read it a page of lots at a time."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import Field

from handlers.rest import QueryInteger, samsold_of, seller_of
from ledger.domain.commands import MAX_SALE_LOTS, MAX_SALE_REQUEST_LOTS, AddSaleLots, CreateSale, SaleId
from ledger.domain.values import utc_now
from ledger.service.sales import SALE_PAGE_LOTS
from projections.sales import SaleView, sale_view

router = APIGatewayRouter()

# A page cursor of a sale's lots: the position of the page's first lot (`next` of the page before).
SaleCursor = Annotated[str, Field(pattern=r"^(0|[1-9][0-9]{0,3})$", description="`next` of the page before")]


@router.post(
    "/sales",
    summary=f"Create a staggered sale of up to {MAX_SALE_REQUEST_LOTS} lots: they close interval_s apart, from"
    " first_closes_at, in the order given; the caller (a seller or an administrator) is their seller, their lot"
    " ids theirs ({handle}-..., generated when left out)",
    description="All its lots are seen at once, or none. The same request sent again (after a lost answer or a failure)"
    " completes and answers the sale it made; a lot given no lot_id gets an id that is the same when it is sent again."
    " The answer holds every lot the request made.",
    responses={201: {"description": "created, all its lots with it"}},
)
def create_sale(body: Annotated[CreateSale, Body()]) -> Response[SaleView]:
    seller, listed_as = seller_of(router)
    # Its lots closing before the next sweep could arm their timers get them now, as POST /lots does.
    page = samsold_of(router).sales.create_sale(body, seller=seller, listed_as=listed_as)
    return Response(status_code=201, content_type="application/json", body=sale_view(page, utc_now()))


@router.post(
    "/sales/<sale_id>/lots",
    summary=f"Add up to {MAX_SALE_REQUEST_LOTS} lots to a sale (its seller), before its first close, up to"
    f" {MAX_SALE_LOTS} in all: they close after its last lot, interval_s apart, in the order given",
    description="All the lots of the request are seen at once, or none. The same request sent again completes and"
    " answers the lots it added. The answer holds the sale with the lots this request added.",
    responses={201: {"description": "added"}},
)
def add_sale_lots(sale_id: Annotated[SaleId, Path()], body: Annotated[AddSaleLots, Body()]) -> Response[SaleView]:
    seller, listed_as = seller_of(router)
    page = samsold_of(router).sales.add_lots(sale_id, body, seller=seller, listed_as=listed_as)
    return Response(status_code=201, content_type="application/json", body=sale_view(page, utc_now()))


@router.get("/sales/<sale_id>", summary="A sale and a page of its lots in closing order, with their state")
def get_sale(
    sale_id: Annotated[SaleId, Path()],
    cursor: Annotated[SaleCursor | None, Query()] = None,
    limit: Annotated[QueryInteger, Query(ge=1, le=SALE_PAGE_LOTS)] = SALE_PAGE_LOTS,
) -> SaleView:
    page = samsold_of(router).sales.get_sale(sale_id, after=0 if cursor is None else int(cursor), limit=limit)
    return sale_view(page, utc_now())
