"""The staggered-sale routes: create a sale of lots that close one after another, and
read it with its lots' state."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from handlers.rest import samsold_of, seller_of
from ledger.domain.commands import CreateSale, SaleId
from ledger.domain.values import utc_now
from projections.sales import SaleView, sale_view

router = APIGatewayRouter()


@router.post(
    "/sales",
    summary="Create a staggered sale: its lots close interval_s apart, from first_closes_at, in the order given;"
    " the caller (a seller or an administrator) is their seller, their ids theirs ({handle}-..., generated when left out)",
    responses={201: {"description": "created, all its lots with it"}},
)
def create_sale(body: Annotated[CreateSale, Body()]) -> Response[SaleView]:
    seller, listed_as = seller_of(router)
    # Its lots closing before the next sweep could arm their timers get them now, as POST /lots does.
    sale, lots = samsold_of(router).sales.create_sale(body, seller=seller, listed_as=listed_as)
    return Response(status_code=201, content_type="application/json", body=sale_view(sale, lots, utc_now()))


@router.get("/sales/<sale_id>", summary="A sale and its lots in closing order, with their state")
def get_sale(sale_id: Annotated[SaleId, Path()]) -> SaleView:
    sale, lots = samsold_of(router).sales.get_sale(sale_id)
    return sale_view(sale, lots, utc_now())
