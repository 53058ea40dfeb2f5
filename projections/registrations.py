"""What a registration and a bidder's standing look like through the API: the sale (or lone
lot), the bidder, the status, their paddle and limit (money in the limit's currency's digits)."""

from __future__ import annotations

from pydantic import BaseModel

from ledger.domain.registration import (
    SALE_SCOPE,
    RegistrationState,
    RegistrationStatus,
    StandingState,
    limit_text,
    split_scope,
)


class RegistrationView(BaseModel):
    sale_id: str | None  # the sale registered for, or None for a lone lot
    lot_id: str | None  # the lone lot registered for, or None for a sale
    user_id: str
    status: RegistrationStatus
    paddle: int | None  # "Paddle {n}" across the sale's lots, from the first approval
    limit: str | None  # the most the bidder's exposure in the sale may reach (None: no limit)
    currency: str | None  # the limit's
    reason: str | None  # the last decline's or suspension's
    version: int


def registration_view(state: RegistrationState) -> RegistrationView:
    kind, scope_id = split_scope(state.scope)
    return RegistrationView(
        sale_id=scope_id if kind == SALE_SCOPE else None, lot_id=None if kind == SALE_SCOPE else scope_id,
        user_id=state.user_id, status=state.status, paddle=state.paddle, limit=limit_text(state),
        currency=state.currency if state.limit is not None else None, reason=state.reason, version=state.version,
    )


class StandingView(BaseModel):
    user_id: str
    blocked: bool
    reason: str | None
    version: int
    bids_retracted: int = 0  # a block: how many of the bidder's accepted bids on open lots it retracted


def standing_view(state: StandingState, bids_retracted: int = 0) -> StandingView:
    return StandingView(user_id=state.user_id, blocked=state.blocked, reason=state.reason, version=state.version,
                        bids_retracted=bids_retracted)
