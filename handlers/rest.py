"""REST plumbing shared by the API functions: the error shape of DESIGN section 4,
the caller from the Cognito authorizer's claims, and the body size limit."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from handlers.wiring import logger
from ledger.errors import (
    BidIdReused,
    InvalidCommand,
    InvalidState,
    LedgerError,
    LotAlreadyExists,
    LotNotFound,
    LotUnreadable,
    NotAllowed,
    TransientError,
)

MAX_BODY_BYTES = 16 * 1024
ADMIN_GROUP = "admin"

STATUS_OF: dict[type[LedgerError], int] = {
    InvalidCommand: 422,
    LotNotFound: 404,
    LotAlreadyExists: 409,
    BidIdReused: 409,
    InvalidState: 409,
    NotAllowed: 403,
    TransientError: 503,
    # A stored item of this lot cannot be read: the server's fault, not the caller's (so
    # not 4xx), confined to this lot, and a 5xx that alarms; not 503, as retrying cannot help.
    LotUnreadable: 500,
}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({"error": {"code": code, "message": message, "details": details or {}}}, default=str),
    )


class HttpError(Exception):
    """A refusal that is about the HTTP request itself rather than the ledger."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


@dataclass(frozen=True)
class Caller:
    user: str
    is_admin: bool


def groups_of(claims: dict[str, Any]) -> set[str]:
    """Cognito groups as the REST authorizer passes them: a list, or a string such as
    "admin" or "[admin editors]" / "admin,editors"."""
    groups = claims.get("cognito:groups") or []
    if isinstance(groups, str):
        groups = groups.strip("[]").replace(",", " ").split()
    return {str(g) for g in groups}


def caller_of(app: APIGatewayRestResolver) -> Caller:
    claims = app.current_event.request_context.authorizer.claims or {}
    user = claims.get("sub")
    if not user:
        raise HttpError(401, "UNAUTHORIZED", "sign in: this route needs a bearer token")
    return Caller(user=str(user), is_admin=ADMIN_GROUP in groups_of(claims))


def new_resolver() -> APIGatewayRestResolver:
    # CORS for the live lot page on another origin (template parameter AllowedOrigin).
    cors = CORSConfig(
        allow_origin=os.environ.get("ALLOWED_ORIGIN", "*"),
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        max_age=600,
    )
    app = APIGatewayRestResolver(enable_validation=True, cors=cors)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "problem": e.get("msg"), "type": e.get("type")}
            for e in error.errors()
        ]
        return error_response(400, "INVALID_REQUEST", "the request is not valid", {"errors": details})

    @app.exception_handler(LedgerError)
    def _ledger_error(error: LedgerError) -> Response:
        status = next((s for kind, s in STATUS_OF.items() if isinstance(error, kind)), 400)
        return error_response(status, error.code, error.message, error.details)

    @app.exception_handler(HttpError)
    def _http_error(error: HttpError) -> Response:
        return error_response(error.status, error.code, error.message, error.details)

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        return error_response(error.status_code, "REQUEST_ERROR", error.msg)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return error_response(404, "NOT_FOUND", "no such route")

    return app


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Refuse an oversized body before anything parses it, then route."""
    body = event.get("body") or ""
    if len(body.encode() if isinstance(body, str) else body) > MAX_BODY_BYTES:
        too_large = error_response(413, "BODY_TOO_LARGE", f"the body is larger than {MAX_BODY_BYTES} bytes")
        return {"statusCode": 413, "headers": {"Content-Type": "application/json"}, "body": too_large.body}
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    return app.resolve(event, context)
