"""The public log's routes (all public): the newest checkpoint and any by size, the log's
key, consistency proofs, and a lot's proof. docs/PROOFS.md specifies what they answer."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from pydantic import BaseModel

from handlers.rest import QueryInteger, samsold_of
from ledger.domain.commands import Identifier
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
