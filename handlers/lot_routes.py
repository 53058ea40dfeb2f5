"""The lot API: create, read (now or as it stood then), list open lots, cancel, retract
a bid, the admin's event log, and a bidder's bid status."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, Field

from handlers.rest import ListCursor, QueryInteger, caller_of, optional_caller, rule_broken, samsold_of, seller_of
from ledger.domain.commands import (
    DEFAULT_CANCEL_REASON,
    MAX_VERSION,
    CancelLot,
    CreateLot,
    Identifier,
    Reason,
    RetractBid,
    StrictInput,
)
from ledger.domain.listing import ListStatus
from ledger.domain.values import UtcTime, utc_now
from projections.history import event_record
from projections.my_bids import MyBid, my_bid
from projections.views import LotSummary, LotView, lot_summary, lot_view, public_view

router = APIGatewayRouter()


@router.post("/lots", summary="Create a lot (sellers and administrators); the caller is its seller, its id theirs"
             " ({handle}-..., generated when left out)", responses={201: {"description": "created"}})
def create_lot(body: Annotated[CreateLot, Body()]) -> Response[LotView]:
    seller, listed_as = seller_of(router)
    # A lot closing before the next sweep could arm its timer gets one now.
    lot = samsold_of(router).lots.create_lot(body, seller=seller, listed_as=listed_as)
    return Response(status_code=201, content_type="application/json", body=public_view(lot, utc_now()))


class LotList(BaseModel):
    """Every list answers `items` and `next` (the cursor of the next page, None on the last)."""

    items: list[LotSummary]
    next: str | None
    lots: list[LotSummary] = Field(
        description="the same as items, kept for one release for clients written before items: read items"
    )


@router.get(
    "/lots",
    summary="List lots a page at a time: open (soonest to close first), closed (ended: most recently"
    " ended first) or all (the open ones, then the ended ones)",
)
def list_lots(
    status: Annotated[ListStatus, Query()] = "open",
    limit: Annotated[QueryInteger, Query(ge=1, le=100)] = 50,
    cursor: Annotated[ListCursor | None, Query()] = None,
) -> LotList:
    now = utc_now()
    page = samsold_of(router).list_lots(status, limit, cursor)
    items = [lot_summary(lot, now) for lot in page.lots]
    return LotList(items=items, next=page.next_cursor, lots=items)


@router.get("/lots/<lot_id>", summary="A lot's public view; as it stood at a version or time with as_of_version / as_of")
def get_lot(
    lot_id: Annotated[Identifier, Path()],
    as_of_version: Annotated[QueryInteger | None, Query(ge=1, le=MAX_VERSION)] = None,
    as_of_time: Annotated[UtcTime | None, Query(alias="as_of")] = None,
) -> LotView:
    if as_of_version is not None and as_of_time is not None:
        # Each is valid alone, which is all a schema can say: the pair is refused as 422.
        raise rule_broken("give as_of_version or as_of, not both")
    queries = samsold_of(router).queries
    if as_of_version is None and as_of_time is None:
        return lot_view(queries, queries.get_lot(lot_id), utc_now(), bidder=optional_caller(router))
    state = queries.lot_as_of(lot_id, version=as_of_version, at=as_of_time)
    return lot_view(queries, state, as_of_time or state.updated_at)


class CancelRequest(StrictInput):
    reason: Reason = DEFAULT_CANCEL_REASON


@router.post("/lots/<lot_id>/cancel", summary="Cancel a lot (administrators)")
def cancel_lot(lot_id: Annotated[Identifier, Path()], body: Annotated[CancelRequest | None, Body()] = None) -> LotView:
    caller = caller_of(router)
    reason = (body or CancelRequest()).reason
    samsold = samsold_of(router)
    samsold.commands.cancel_lot(
        CancelLot(lot_id=lot_id, cancelled_by=caller.user, reason=reason, requested_at=utc_now()), is_admin=caller.is_admin
    )
    return lot_view(samsold.queries, samsold.queries.get_lot(lot_id), utc_now())


class RetractRequest(StrictInput):
    reason: Reason  # required: the bidder is told it, and the dispute report shows it


@router.post(
    "/lots/<lot_id>/bids/<bid_id>/retract",
    summary="Retract an accepted bid of an open lot (administrators)",
    description="The lot falls back to the standing its remaining accepted bids give (price, leader); its close time "
    "stays. Answers the lot's view after it. The bidder is told (bid.retracted), and so is a bidder it puts in the lead "
    "(bid.leading).",
)
def retract_bid(
    lot_id: Annotated[Identifier, Path()], bid_id: Annotated[Identifier, Path()], body: Annotated[RetractRequest, Body()]
) -> LotView:
    caller = caller_of(router)
    samsold = samsold_of(router)
    samsold.commands.retract_bid(
        RetractBid(lot_id=lot_id, bid_id=bid_id, retracted_by=caller.user, reason=body.reason, requested_at=utc_now()),
        is_admin=caller.is_admin,
    )
    return lot_view(samsold.queries, samsold.queries.get_lot(lot_id), utc_now())


class EventPage(BaseModel):
    lot_id: str
    items: list[dict[str, Any]]
    next: str | None  # the cursor of the next page (the last version on this one), None on the last
    events: list[dict[str, Any]] = Field(description="the same as items, kept for one release: read items")
    next_after_version: int | None = Field(description="next as a number, kept for one release: read next")


# A page cursor of the event log: the version the page before ended at.
EventCursor = Annotated[str, Field(pattern=r"^(0|[1-9][0-9]{0,9})$", description="`next` of the page before")]


@router.get("/lots/<lot_id>/events", summary="A lot's events with their hashes (administrators), page by page")
def get_events(
    lot_id: Annotated[Identifier, Path()],
    after_version: Annotated[
        QueryInteger, Query(ge=0, le=MAX_VERSION, description="the same as cursor, kept for one release")
    ] = 0,
    limit: Annotated[QueryInteger, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[EventCursor | None, Query()] = None,
) -> EventPage:
    caller = caller_of(router)
    if cursor is not None and after_version:
        raise rule_broken("give cursor or after_version, not both")
    start = int(cursor) if cursor is not None else after_version
    events, next_after_version = samsold_of(router).queries.lot_history(
        lot_id, is_admin=caller.is_admin, after_version=start, limit=limit
    )
    records = [event_record(e) for e in events]
    next_cursor = None if next_after_version is None else str(next_after_version)
    return EventPage(lot_id=lot_id, items=records, next=next_cursor, events=records, next_after_version=next_after_version)


class MyBids(BaseModel):
    items: list[MyBid]
    next: str | None  # the cursor of the next page (a lot id), None on the last


@router.get("/me/bids", summary="The lots you bid on, with where you stand, a page at a time")
def get_my_bids(
    limit: Annotated[QueryInteger, Query(ge=1, le=100)] = 50,
    cursor: Annotated[Identifier | None, Query(description="`next` of the page before")] = None,
) -> MyBids:
    caller = caller_of(router)
    page, next_after = samsold_of(router).queries.bidder_lots(caller.user, limit, cursor)
    return MyBids(items=[my_bid(lot, caller.user, record) for lot, record in page], next=next_after)


class BidStatus(BaseModel):
    bid_id: str
    lot_id: str
    amount: str
    placed_at: UtcTime
    status: Literal["PENDING", "ACCEPTED", "REJECTED", "RETRACTED"]
    reason: str | None  # REJECTED: the reason code; RETRACTED: the administrator's reason
    minimum: str | None = None
    current_price: str | None = None
    leading: bool | None = None  # accepted: whether the bidder led after it (`amount` is their maximum)


@router.get("/bids/<bid_id>", summary="Your bid's status: PENDING, ACCEPTED, REJECTED with the reason, or RETRACTED"
            " (accepted, then withdrawn by an administrator) with theirs")
def get_bid(bid_id: Annotated[Identifier, Path()]) -> BidStatus:
    caller = caller_of(router)
    outcome = samsold_of(router).admission.own_bid(bid_id, caller.user)
    data = outcome.model_dump(mode="json")
    return BidStatus.model_validate(data)
