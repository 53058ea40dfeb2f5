"""The public log's routes: the newest checkpoint and any by size, the log's key, consistency
proofs and a lot's proof (public), a bid's receipt (its bidder only), and a bidder's erasure
(administrators). docs/PROOFS.md specifies what they answer."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from handlers.rest import QueryInteger, caller_of, samsold_of
from ledger.domain.commands import Identifier, UserId
from ledger.service.erasure import Erased
from tlog.proof import b64

router = APIGatewayRouter()
# Sizes as the log counts leaves, up to what a query integer holds (ten digits: ten billion leaves).
MAX_SIZE = 10**10 - 1


def _note(text: str) -> Response[str]:
    return Response(status_code=200, content_type="text/plain; charset=utf-8", body=text)


@router.get("/log/checkpoint", summary="The newest signed checkpoint of the public log (a c2sp signed note)")
def newest_checkpoint() -> Response[str]:
    return _note(samsold_of(router).public_log.checkpoint())


@router.get("/log/checkpoints/<size>", summary="The signed checkpoint the log published at this size")
def checkpoint_of_size(size: Annotated[QueryInteger, Path(ge=1, le=MAX_SIZE)]) -> Response[str]:
    return _note(samsold_of(router).public_log.checkpoint(size))


class LogKey(BaseModel):
    origin: str
    key_id: str
    algorithm: str
    public_key_pem: str


@router.get("/log/key", summary="The key that signs the log's checkpoints")
def log_key() -> LogKey:
    return LogKey(**samsold_of(router).public_log.key())


@router.get("/log/consistency", summary="Proof that the log at size `to` extends the log at size `from`")
def consistency(
    from_size: Annotated[QueryInteger, Query(alias="from", ge=1, le=MAX_SIZE)],
    to_size: Annotated[QueryInteger, Query(alias="to", ge=1, le=MAX_SIZE)],
) -> dict[str, Any]:
    proof = samsold_of(router).public_log.consistency(from_size, to_size)
    return {"from": from_size, "to": to_size, "proof": b64(proof)}


@router.get("/lots/<lot_id>/proof", summary="The lot's events in the public log with their inclusion proofs, under a checkpoint")
def lot_proof(
    lot_id: Annotated[Identifier, Path()],
    size: Annotated[QueryInteger | None, Query(ge=1, le=MAX_SIZE)] = None,
    from_size: Annotated[QueryInteger | None, Query(alias="from", ge=1, le=MAX_SIZE)] = None,
) -> dict[str, Any]:
    return samsold_of(router).public_log.lot_proof(lot_id, size=size, from_size=from_size)


@router.get(
    "/bids/<bid_id>/receipt",
    summary="Your decided bid's receipt: its lot's proof with the disclosures of your own private fields of its event",
    description="Only the bidder who placed the bid sees it; anyone else's bid, or none, is 404 alike. `proof` is a lot "
    "proof (docs/PROOFS.md) whose `disclosures` open the commitments of the bid's event that are yours (your user id, "
    "your maximum). 404 NOT_IN_LOG until the bid's event is in a published checkpoint.",
)
def bid_receipt(bid_id: Annotated[Identifier, Path()]) -> dict[str, Any]:
    return samsold_of(router).public_log.bid_receipt(bid_id, caller_of(router).user)


@router.post(
    "/bidders/<user_id>/erase",
    summary="Erase a bidder's private data (administrators)",
    description="Deletes the bidder's disclosures (their user id, maxima and the reasons about them, committed in the "
    "events: every hash and proof still holds), their aliases, records of lots and quota records, and their bids' "
    "requests, receipts and retractions; refolds the snapshots of their lots. 409 while a lot they bid on is open. "
    "Answers the erasure's record, which holds no personal data.",
)
def erase_bidder(user_id: Annotated[UserId, Path()]) -> Erased:
    return samsold_of(router).erasure.erase_bidder(user_id, is_admin=caller_of(router).is_admin)
