"""Who may bid: registering for a sale (or a lone lot) that needs approval, the seller's (or an
administrator's) review of its registrations, a bidder's own registrations, and an
administrator's blocks. Each route parses, calls one use case (`ledger.service.registrations`)
and shapes the answer."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel, Field

from handlers.rest import QueryInteger, caller_of, samsold_of
from ledger.domain.commands import Identifier, PriceInput, Reason, SaleId, StrictInput, UserId
from ledger.domain.registration import BIDDER_LIST_CURSOR_PATTERN, SCOPE_LIST_CURSOR_PATTERN, RegistrationStatus
from ledger.service.registrations import Scope
from projections.registrations import RegistrationView, StandingView, registration_view, standing_view

router = APIGatewayRouter()

ScopeCursor = Annotated[str, Field(pattern=SCOPE_LIST_CURSOR_PATTERN, description="`next` of the page before")]
BidderCursor = Annotated[str, Field(pattern=BIDDER_LIST_CURSOR_PATTERN, description="`next` of the page before")]
Limit = Annotated[QueryInteger, Query(ge=1, le=100)]


class RegisterRequest(StrictInput):
    """Nothing to say: the bidder is the signed-in caller."""


class ApproveRequest(StrictInput):
    limit: PriceInput | None = Field(default=None, description="the most the bidder's exposure in the sale may reach: "
                                     "their maxima on the lots they lead plus the prices of the lots they won")


class ReasonRequest(StrictInput):
    reason: Reason  # the bidder is told it


class Registrations(BaseModel):
    items: list[RegistrationView]
    next: str | None  # the cursor of the next page, None on the last


def _registered(scope: Scope) -> Response[RegistrationView]:
    caller = caller_of(router)
    state, asked = samsold_of(router).registrations.register(scope, caller.user)
    return Response(status_code=201 if asked else 200, content_type="application/json", body=registration_view(state))


@router.post("/sales/<sale_id>/registrations", summary="Register to bid in a sale that needs approval (as the caller)",
             responses={201: {"description": "asked: PENDING until the seller decides"},
                        200: {"description": "registered already: the registration as it is"}})
def register_for_sale(sale_id: Annotated[SaleId, Path()],
                      body: Annotated[RegisterRequest | None, Body()] = None) -> Response[RegistrationView]:
    return _registered(samsold_of(router).registrations.sale_scope(sale_id))


@router.post("/lots/<lot_id>/registrations", summary="Register to bid on a lot that needs approval (a lot of a sale: "
             "for its sale)", responses={201: {"description": "asked: PENDING until the seller decides"},
                                         200: {"description": "registered already: the registration as it is"}})
def register_for_lot(lot_id: Annotated[Identifier, Path()],
                     body: Annotated[RegisterRequest | None, Body()] = None) -> Response[RegistrationView]:
    return _registered(samsold_of(router).registrations.lot_scope(lot_id))


@router.get("/me/registrations", summary="Your registrations, a page at a time")
def my_registrations(limit: Limit = 50, cursor: Annotated[BidderCursor | None, Query()] = None) -> Registrations:
    states, next_cursor = samsold_of(router).registrations.of_bidder(caller_of(router).user, limit, cursor)
    return Registrations(items=[registration_view(s) for s in states], next=next_cursor)


def _listed(scope: Scope, status: RegistrationStatus | None, limit: int, cursor: str | None) -> Registrations:
    caller = caller_of(router)
    states, next_cursor = samsold_of(router).registrations.of_scope(scope, caller.user, caller.is_admin, status, limit, cursor)
    return Registrations(items=[registration_view(s) for s in states], next=next_cursor)


@router.get("/sales/<sale_id>/registrations", summary="A sale's registrations by status, then bidder (its seller and "
            "administrators)")
def sale_registrations(sale_id: Annotated[SaleId, Path()], status: Annotated[RegistrationStatus | None, Query()] = None,
                       limit: Limit = 50, cursor: Annotated[ScopeCursor | None, Query()] = None) -> Registrations:
    return _listed(samsold_of(router).registrations.sale_scope(sale_id), status, limit, cursor)


@router.get("/lots/<lot_id>/registrations", summary="A lone lot's registrations by status, then bidder (its seller "
            "and administrators)")
def lot_registrations(lot_id: Annotated[Identifier, Path()], status: Annotated[RegistrationStatus | None, Query()] = None,
                      limit: Limit = 50, cursor: Annotated[ScopeCursor | None, Query()] = None) -> Registrations:
    return _listed(samsold_of(router).registrations.lot_scope(lot_id), status, limit, cursor)


def _approve(scope: Scope, user_id: str, body: ApproveRequest | None) -> RegistrationView:
    caller = caller_of(router)
    limit = None if body is None else body.limit
    return registration_view(samsold_of(router).registrations.approve(scope, user_id, caller.user, caller.is_admin, limit))


def _decline(scope: Scope, user_id: str, body: ReasonRequest) -> RegistrationView:
    caller = caller_of(router)
    return registration_view(samsold_of(router).registrations.decline(scope, user_id, caller.user, caller.is_admin, body.reason))


def _suspend(scope: Scope, user_id: str, body: ReasonRequest) -> RegistrationView:
    caller = caller_of(router)
    return registration_view(samsold_of(router).registrations.suspend(scope, user_id, caller.user, caller.is_admin, body.reason))


APPROVE = "Approve a registration (the seller or an administrator): the bidder gets a paddle, and perhaps a limit"
DECLINE = "Decline a registration, saying why (the seller or an administrator)"
SUSPEND = "Suspend an approved registration, saying why (the seller or an administrator): their bids are refused"


@router.post("/sales/<sale_id>/registrations/<user_id>/approve", summary=APPROVE)
def approve_for_sale(sale_id: Annotated[SaleId, Path()], user_id: Annotated[UserId, Path()],
                     body: Annotated[ApproveRequest | None, Body()] = None) -> RegistrationView:
    return _approve(samsold_of(router).registrations.sale_scope(sale_id), user_id, body)


@router.post("/sales/<sale_id>/registrations/<user_id>/decline", summary=DECLINE)
def decline_for_sale(sale_id: Annotated[SaleId, Path()], user_id: Annotated[UserId, Path()],
                     body: Annotated[ReasonRequest, Body()]) -> RegistrationView:
    return _decline(samsold_of(router).registrations.sale_scope(sale_id), user_id, body)


@router.post("/sales/<sale_id>/registrations/<user_id>/suspend", summary=SUSPEND)
def suspend_for_sale(sale_id: Annotated[SaleId, Path()], user_id: Annotated[UserId, Path()],
                     body: Annotated[ReasonRequest, Body()]) -> RegistrationView:
    return _suspend(samsold_of(router).registrations.sale_scope(sale_id), user_id, body)


@router.post("/lots/<lot_id>/registrations/<user_id>/approve", summary=APPROVE)
def approve_for_lot(lot_id: Annotated[Identifier, Path()], user_id: Annotated[UserId, Path()],
                    body: Annotated[ApproveRequest | None, Body()] = None) -> RegistrationView:
    return _approve(samsold_of(router).registrations.lot_scope(lot_id), user_id, body)


@router.post("/lots/<lot_id>/registrations/<user_id>/decline", summary=DECLINE)
def decline_for_lot(lot_id: Annotated[Identifier, Path()], user_id: Annotated[UserId, Path()],
                    body: Annotated[ReasonRequest, Body()]) -> RegistrationView:
    return _decline(samsold_of(router).registrations.lot_scope(lot_id), user_id, body)


@router.post("/lots/<lot_id>/registrations/<user_id>/suspend", summary=SUSPEND)
def suspend_for_lot(lot_id: Annotated[Identifier, Path()], user_id: Annotated[UserId, Path()],
                    body: Annotated[ReasonRequest, Body()]) -> RegistrationView:
    return _suspend(samsold_of(router).registrations.lot_scope(lot_id), user_id, body)


@router.post("/bidders/<user_id>/block", summary="Block a bidder house-wide, saying why (administrators): their bids "
             "are refused on every lot", description="Their maxima stop counting: each of their accepted bids on a lot "
             "still open is retracted with the block's reason (bids_retracted says how many), so a lot they led falls back "
             "to what its other bids give; bids on lots that closed stand.")
def block_bidder(user_id: Annotated[UserId, Path()], body: Annotated[ReasonRequest, Body()]) -> StandingView:
    caller = caller_of(router)
    state, withdrawn = samsold_of(router).registrations.block(user_id, caller.user, caller.is_admin, body.reason)
    return standing_view(state, bids_retracted=withdrawn)


@router.post("/bidders/<user_id>/unblock", summary="Unblock a bidder (administrators)")
def unblock_bidder(user_id: Annotated[UserId, Path()]) -> StandingView:
    caller = caller_of(router)
    return standing_view(samsold_of(router).registrations.unblock(user_id, caller.user, caller.is_admin))
