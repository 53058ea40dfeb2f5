"""`POST /bid` and `POST /lots/{lot_id}/buy`: take a bid (or a purchase at the buy-now
price), record it once, and queue it for the processor in the lot's message group."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, Field

from handlers.bootstrap import current_app, metrics
from handlers.rest import HttpError, caller_of
from ledger.domain.commands import AmountText, BuyNow, Identifier, PlaceBid, StrictInput, new_id
from ledger.domain.values import from_epoch_ms

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
    description="Queues the bid for its lot and answers 202; GET the status_url (relative to the API) for the outcome.",
    responses={202: {"description": "queued", "content": {"application/json": {"schema": BidAccepted.model_json_schema()}}}},
)
def place_bid(
    body: Annotated[BidRequest, Body()],
    idempotency_key: Annotated[Identifier | None, Header(alias="Idempotency-Key")] = None,
) -> Response[BidAccepted]:
    caller = caller_of(router)
    request_context = router.current_event.request_context
    command = PlaceBid(
        bid_id=_bid_id(idempotency_key, body.bid_id),
        lot_id=body.lot_id,
        bidder=caller.user,
        amount=body.amount,
        # The time API Gateway received the request decides whether the bid was in time.
        placed_at=from_epoch_ms(request_context.request_time_epoch),
        correlation_id=request_context.request_id,
    )
    bid, new = current_app().service.submit_bid(command, confirmed=body.confirm)
    return _queued(bid, new, metric="BidsQueued")


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
    purchase, new = current_app().service.submit_buy_now(
        lot_id,
        bid_id=_bid_id(idempotency_key, body.bid_id if body else None),
        buyer=caller.user,
        # The time API Gateway received the request decides whether it was in time.
        placed_at=from_epoch_ms(request_context.request_time_epoch),
        correlation_id=request_context.request_id,
    )
    return _queued(purchase, new, metric="BuyNowQueued")


def _bid_id(idempotency_key: str | None, requested: str | None) -> str:
    """The bid's id: the Idempotency-Key header or the body's bid_id (the same if both), or a new one."""
    if idempotency_key and requested and idempotency_key != requested:
        raise HttpError(422, "INVALID_REQUEST", "Idempotency-Key and bid_id differ")
    return idempotency_key or requested or new_id()


def _queued(bid: PlaceBid | BuyNow, new: bool, metric: str) -> Response[BidAccepted]:
    """Queue a recorded bid (or purchase) unless it is decided already, and answer 202."""
    samsold = current_app()
    decided = None if new else samsold.service.get_bid_outcome(bid.bid_id)
    if decided is None:
        # Also on a retry: the first attempt may have stopped before queueing; the
        # queue's deduplication and the processor's receipts keep it to one decision.
        samsold.command_queue.send_bid(bid, correlation_id=bid.correlation_id)
        metrics.add_metric(name=metric, unit="Count", value=1)
    answer = BidAccepted(
        bid_id=bid.bid_id, status=decided.status if decided else "PENDING", status_url=f"/bids/{bid.bid_id}"
    )
    return Response(status_code=202, content_type="application/json", body=answer)
