"""`POST /bid` and `POST /lots/{lot_id}/buy`: a bid (or a purchase at the buy-now price)
from the request, taken by the service (admitted, recorded once, queued in its lot's
order: `ledger.service.admission`), answered 202 with where to read its outcome."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, Field

from bootstrap import metrics
from handlers.rest import caller_of, rule_broken, samsold_of
from ledger.domain.commands import AmountText, Identifier, PlaceBid, StrictInput
from ledger.domain.values import from_epoch_ms
from ledger.service.admission import QueuedBid, bid_id_for

router = APIGatewayRouter()


class BidRequest(StrictInput):
    """The bidder is the signed-in caller, never a field of the body."""

    lot_id: Identifier
    amount: AmountText
    bid_id: Identifier | None = None
    confirm: bool = Field(
        default=False,
        description="true places a bid far above the minimum next bid, which is otherwise refused with 422 CONFIRMATION_REQUIRED",
    )


class BidAccepted(BaseModel):
    bid_id: str
    status: Literal["PENDING", "ACCEPTED", "REJECTED"]
    status_url: str


@router.post(
    "/bid",
    summary="Place a bid",
    description="Queues the bid for its lot and answers 202; GET the status_url (relative to the API) for the outcome. "
    "An Idempotency-Key (or bid_id) is the caller's own: sent again by the same caller it is the same bid, by another "
    "caller another bid; the answer's bid_id names the bid. A bid below the minimum next bid as the API sees it is "
    "refused with 422 BELOW_MINIMUM and the minimum.",
    responses={202: {"description": "queued", "content": {"application/json": {"schema": BidAccepted.model_json_schema()}}}},
)
def place_bid(
    body: Annotated[BidRequest, Body()],
    idempotency_key: Annotated[Identifier | None, Header(alias="Idempotency-Key")] = None,
) -> Response[BidAccepted]:
    caller = caller_of(router)
    request_context = router.current_event.request_context
    command = PlaceBid(
        bid_id=bid_id_for(caller.user, _key(idempotency_key, body.bid_id)),
        lot_id=body.lot_id,
        bidder=caller.user,
        amount=body.amount,
        # The time API Gateway received the request decides whether the bid was in time.
        placed_at=from_epoch_ms(request_context.request_time_epoch),
        correlation_id=request_context.request_id,
    )
    queued = samsold_of(router).admission.queue_bid(command, confirmed=body.confirm)
    return _accepted(queued, metric="BidsQueued")


class BuyRequest(StrictInput):
    """The buyer is the signed-in caller; the price is the lot's buy-now price."""

    bid_id: Identifier | None = None


@router.post(
    "/lots/<lot_id>/buy",
    summary="Buy the lot at its buy-now price",
    description="Queues the purchase in the lot's order with its bids and answers 202; GET the status_url for the "
    "outcome (ACCEPTED: the lot is SOLD to you at the buy-now price; REJECTED with BUY_NOW_NOT_OFFERED or "
    "LOT_CLOSED when a bid or another purchase was ahead of it in the queue).",
    responses={202: {"description": "queued", "content": {"application/json": {"schema": BidAccepted.model_json_schema()}}}},
)
def buy_now(
    lot_id: Annotated[Identifier, Path()],
    body: Annotated[BuyRequest | None, Body()] = None,
    idempotency_key: Annotated[Identifier | None, Header(alias="Idempotency-Key")] = None,
) -> Response[BidAccepted]:
    caller = caller_of(router)
    request_context = router.current_event.request_context
    queued = samsold_of(router).admission.queue_buy_now(
        lot_id,
        bid_id=bid_id_for(caller.user, _key(idempotency_key, body.bid_id if body else None)),
        buyer=caller.user,
        # The time API Gateway received the request decides whether it was in time.
        placed_at=from_epoch_ms(request_context.request_time_epoch),
        correlation_id=request_context.request_id,
    )
    return _accepted(queued, metric="BuyNowQueued")


def _key(idempotency_key: str | None, requested: str | None) -> str | None:
    """The caller's key for the bid: the Idempotency-Key header or the body's bid_id (the same if both)."""
    if idempotency_key and requested and idempotency_key != requested:
        raise rule_broken("Idempotency-Key and bid_id differ: send one, or the same in both")
    return idempotency_key or requested


def _accepted(queued: QueuedBid, metric: str) -> Response[BidAccepted]:
    """202, with the bid's status now (counted under `metric` when this call queued it)."""
    if queued.queued:
        metrics.add_metric(name=metric, unit="Count", value=1)
    bid_id = queued.bid.bid_id
    answer = BidAccepted(bid_id=bid_id, status=queued.status, status_url=f"/bids/{bid_id}")
    return Response(status_code=202, content_type="application/json", body=answer)
