"""REST plumbing shared by the API functions: the error shape `{"error": {"code",
"message", "details"}}` and the one table from ledger errors to HTTP statuses,
the caller from the Cognito authorizer's claims, the App serving the call (put in the
resolver's context by `resolve`, read by routes with `samsold_of`), and the checks on a
request's body (size, media type, UTF-8, one JSON object) made before anything parses it."""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from eventsourcing.persistence import OperationalError
from pydantic import BeforeValidator, Field

from bootstrap import App, logger
from ledger.domain.commands import is_user_id
from ledger.domain.errors import (
    BelowMinimum,
    BidAlreadyRetracted,
    BidderRefused,
    BidIdReused,
    BidNotAccepted,
    BidNotFound,
    BuyNowRefused,
    CheckpointNotFound,
    ConfirmationRequired,
    InvalidCommand,
    InvalidState,
    LedgerError,
    LogBusy,
    LotAlreadyExists,
    LotEnded,
    LotIdReserved,
    LotNotFound,
    LotNotOpen,
    LotUnreadable,
    NotAllowed,
    NotInLog,
    QuotaExceeded,
    RegistrationNotFound,
    SaleAlreadyExists,
    SaleClosing,
    SaleFull,
    SaleNotFound,
    SaleUnreadable,
    SnapshotChanged,
    TransientError,
    VersionNotFound,
)
from ledger.domain.listing import LIST_CURSOR_PATTERN
from ledger.domain.sellers import ListedAs, derived_handle, is_handle
from ledger.domain.values import TIME_RANGE_TEXT
from ledger.domain.wire import MAX_DEPTH, MalformedJson, parse_json_object

# How `ledger.domain.values` refuses a time outside its range (see `_invalid_request`).
_OUT_OF_RANGE = f"time out of range: times run {TIME_RANGE_TEXT}"
MAX_BODY_BYTES = 16 * 1024
# A sale's request carries up to 500 lots' terms: its routes take bodies up to 1 MiB (Lambda takes 6 MB).
MAX_SALE_BODY_BYTES = 1024 * 1024
LARGE_BODY_ROUTES = {("POST", "/sales"): MAX_SALE_BODY_BYTES, ("POST", "/sales/{sale_id}/lots"): MAX_SALE_BODY_BYTES}
MAX_BODY_DEPTH = MAX_DEPTH
JSON_MEDIA_TYPE = "application/json"
METHODS_WITHOUT_BODY = {"GET", "HEAD", "OPTIONS"}
ADMIN_GROUP = "admin"
# Who may create lots and sales: this group's members and administrators (or, where the
# template's AnyoneMaySell is "true", anyone signed in); their public handle is the token's
# HANDLE_CLAIM, which only administrators set (`ledger.domain.sellers`).
SELLERS_GROUP = "sellers"
HANDLE_CLAIM = "custom:seller_handle"

# The one table from the ledger's refusals to HTTP statuses, for REST and WebSocket
# routes alike (a test checks that every LedgerError class is in it).
STATUS_OF: dict[type[LedgerError], int] = {
    MalformedJson: 400,
    InvalidCommand: 422,
    LotNotFound: 404,
    # Time travel past the lot's last version (as_of_version).
    VersionNotFound: 404,
    BidNotFound: 404,
    LotAlreadyExists: 409,
    BidIdReused: 409,
    InvalidState: 409,
    NotAllowed: 403,
    # Another seller's lot id: the message says how ids are reserved.
    LotIdReserved: 403,
    # replay --fix lost a race to a live writer: compare again.
    SnapshotChanged: 409,
    TransientError: 503,
    # A bid far above the minimum, not confirmed: a question for the bidder, answered by
    # sending it again with "confirm": true.
    ConfirmationRequired: 422,
    # A bid below the minimum next bid: refused with the minimum, never queued.
    BelowMinimum: 422,
    # A purchase at the buy-now price the lot does not offer (now, or ever): its code says why.
    BuyNowRefused: 409,
    # A stored item of this lot cannot be read: the server's fault, not the caller's (so
    # not 4xx), confined to this lot, and a 5xx that alarms; not 503, as retrying cannot help.
    LotUnreadable: 500,
    # A retraction the lot's state refuses: it is not open, or the bid was rejected or
    # retracted already.
    LotNotOpen: 409,
    BidNotAccepted: 409,
    BidAlreadyRetracted: 409,
    # A bid on a closed or cancelled lot, refused at the API as a purchase is (its code says which).
    LotEnded: 409,
    SaleNotFound: 404,
    SaleAlreadyExists: 409,
    # Lots added to a sale after its first close, or past the most a sale holds.
    SaleClosing: 409,
    SaleFull: 422,
    # As LotUnreadable: the sale's stored item is damaged (its key is logged).
    SaleUnreadable: 500,
    # Who may bid: a bid the API can already see its bidder may not place (its code says why).
    BidderRefused: 403,
    RegistrationNotFound: 404,
    # Over a per-user quota: nothing written; Retry-After says when to ask again.
    QuotaExceeded: 429,
    # The public log: no checkpoint of that size, or the lot's events not sequenced yet.
    CheckpointNotFound: 404,
    NotInLog: 404,
    # Another sequencer holds the log: a moment's wait.
    LogBusy: 503,
}


def status_of(error: LedgerError) -> int:
    """The HTTP status of a ledger error: its class's entry in STATUS_OF (or its nearest base's)."""
    return next((status for kind, status in STATUS_OF.items() if isinstance(error, kind)), 400)


# The codes of the refusals about the request itself: 400 for one that is malformed (its
# shape, a type, a pattern); 422 for one that is well-formed but breaks a rule, as the
# ledger's InvalidCommand does (`RULE_BROKEN`, formerly INVALID_COMMAND, and INVALID_REQUEST
# for the 422s below: `former_code` says so for one release).
INVALID_REQUEST = "INVALID_REQUEST"
RULE_BROKEN = InvalidCommand.code
# How pydantic begins the message of a ValueError a validator raised: not for people.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def error_response(status: int, code: str, message: str, details: Any = None, former_code: str | None = None,
                   retry_after_s: int | None = None) -> Response:
    error = {"code": code, "message": message, "details": details or {}}
    if former_code is not None:
        error["former_code"] = former_code
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps({"error": error}, default=str),
        headers=None if retry_after_s is None else {"Retry-After": str(retry_after_s)},
    )


class HttpError(Exception):
    """A refusal that is about the HTTP request's shape itself (its body, JSON, media
    type, query parameters, auth header) rather than the ledger: those are LedgerErrors."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, former_code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.former_code = former_code


def rule_broken(message: str, details: Any = None) -> HttpError:
    """422: the request is well-formed, but the combination breaks a rule (formerly INVALID_REQUEST)."""
    return HttpError(422, RULE_BROKEN, message, details, former_code=INVALID_REQUEST)


def plain_problem(message: str) -> str:
    """A validator's message as people read it, without pydantic's prefix."""
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return message


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


def samsold_of(app: APIGatewayRestResolver | APIGatewayRouter) -> App:
    """The App serving the call in progress, which `resolve` put in the resolver's context."""
    samsold: App = app.context["samsold"]
    return samsold


def caller_of(app: APIGatewayRestResolver | APIGatewayRouter) -> Caller:
    claims = app.current_event.request_context.authorizer.claims or {}
    user = claims.get("sub")
    if not user:
        raise HttpError(401, "UNAUTHORIZED", "sign in: this route needs a bearer token")
    if not is_user_id(user):
        raise HttpError(401, "UNAUTHORIZED", "the token's subject is not a user id this API takes")
    return Caller(user=str(user), is_admin=ADMIN_GROUP in groups_of(claims))


def seller_of(app: APIGatewayRestResolver | APIGatewayRouter) -> tuple[str, ListedAs]:
    """The caller as a seller: their user id, and how their lots are listed (their handle;
    any lot id for an administrator). 403 for a caller who may not sell."""
    caller = caller_of(app)
    claims = app.current_event.request_context.authorizer.claims or {}
    if not (caller.is_admin or SELLERS_GROUP in groups_of(claims) or samsold_of(app).anyone_may_sell):
        raise HttpError(403, "FORBIDDEN", f"only sellers create lots and sales: ask an administrator to add you to"
                        f" the {SELLERS_GROUP!r} group")
    handle = claims.get(HANDLE_CLAIM)
    if handle is None:
        handle = derived_handle(caller.user)
    elif not is_handle(handle):
        raise HttpError(403, "FORBIDDEN", "your seller handle is not one the API takes (2 to 24 lower-case letters"
                        " and digits, a letter first): ask an administrator to change it")
    return caller.user, ListedAs(handle=str(handle), any_lot_id=caller.is_admin)


def optional_caller(app: APIGatewayRestResolver | APIGatewayRouter) -> str | None:
    """The caller of a public route, when they sign in: the authorizer's claims when API
    Gateway ran one, else the bearer token, checked here by the authorizer's rules (a public
    route has no authorizer). No token: None; a token that is not good: 401."""
    claims = app.current_event.request_context.authorizer.claims or {}
    if claims.get("sub"):
        return caller_of(app).user
    header = app.current_event.headers.get("Authorization")  # case-insensitive in Powertools
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    user = samsold_of(app).tokens.bidder(token) if scheme.lower() == "bearer" and token else None
    if user is None:
        raise HttpError(401, "UNAUTHORIZED", "the bearer token is not valid (leave it out to read the lot as anyone)")
    return user


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
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "problem": plain_problem(str(e.get("msg"))),
             "type": e.get("type")}
            for e in error.errors()
        ]
        # A time written as the schema's pattern allows whose offset takes it outside the
        # range in UTC ("2000-01-01T00:30:00+01:00"): a rule the schema cannot state, so 422.
        if details and all(_OUT_OF_RANGE in str(d["problem"]) for d in details):
            refusal = rule_broken("a time is outside the range the ledger keeps", {"errors": details})
            return error_response(422, refusal.code, refusal.message, refusal.details, refusal.former_code)
        fields = ", ".join(dict.fromkeys(str(d["field"]) for d in details))
        return error_response(400, INVALID_REQUEST, f"the request is not valid: see {fields}", {"errors": details})

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_media_type(error: RequestUnsupportedContentType) -> Response:
        # `resolve` refuses these first; this keeps Powertools' own 415 in the API's shape too.
        return error_response(415, "UNSUPPORTED_MEDIA_TYPE", f"send the body as {JSON_MEDIA_TYPE}")

    @app.exception_handler(LedgerError)
    def _ledger_error(error: LedgerError) -> Response:
        retry_after_s = error.retry_after_s if isinstance(error, QuotaExceeded) else None
        return error_response(status_of(error), error.code, error.message, error.details, error.former_code,
                              retry_after_s)

    @app.exception_handler(OperationalError)
    def _storage_out_of_reach(error: OperationalError) -> Response:
        # The storage failed in a way that may pass (throttling, DynamoDB out of reach):
        # the caller retries, as after any TransientError.
        logger.warning("storage failed", extra={"problem": str(error)})
        transient = TransientError("the ledger's storage is not answering; retry shortly")
        return error_response(status_of(transient), transient.code, transient.message, transient.details)

    @app.exception_handler(HttpError)
    def _http_error(error: HttpError) -> Response:
        return error_response(error.status, error.code, error.message, error.details, error.former_code)

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        return error_response(error.status_code, "REQUEST_ERROR", str(error.msg))

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return error_response(404, "NOT_FOUND", "no such route")

    return app


def _is_json_media_type(content_type: str) -> bool:
    """`application/json`, optionally with `charset=utf-8`, and nothing else."""
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    return media_type == JSON_MEDIA_TYPE and all(p.replace('"', "") == "charset=utf-8" for p in parameters)


def body_limit(method: str, resource: str) -> int:
    """The largest body a route takes, in bytes."""
    return LARGE_BODY_ROUTES.get((method, resource), MAX_BODY_BYTES)


def checked_body(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its body checked as the API documents bodies: at most
    MAX_BODY_BYTES (LARGE_BODY_ROUTES: more), sent as application/json, UTF-8, one JSON object without duplicate
    keys, at most MAX_BODY_DEPTH deep. A base64-encoded body (binary media) is decoded.
    The body Powertools then parses is the same text; HttpError says what is wrong."""
    body = event.get("body")
    if not body or event.get("httpMethod") in METHODS_WITHOUT_BODY:  # no route reads a body there
        return event
    limit = body_limit(str(event.get("httpMethod")), str(event.get("resource")))
    if len(body) > 2 * limit:  # too large however it is encoded; do not decode it
        raise HttpError(413, "BODY_TOO_LARGE", f"the body is larger than {limit} bytes")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, INVALID_REQUEST, "the body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        raise HttpError(413, "BODY_TOO_LARGE", f"the body is larger than {limit} bytes")
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    if not _is_json_media_type(str(headers.get("content-type") or "")):
        raise HttpError(415, "UNSUPPORTED_MEDIA_TYPE", f"send the body as {JSON_MEDIA_TYPE} (UTF-8)")
    try:
        parse_json_object(raw, max_bytes=limit, max_depth=MAX_BODY_DEPTH)
    except MalformedJson as error:
        raise HttpError(400, "INVALID_JSON", error.message, error.details) from None
    return {**event, "body": raw.decode("utf-8"), "isBase64Encoded": False}


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: Any, samsold: App) -> dict[str, Any]:
    """Refuse a body that is not as documented before anything parses it, then route, the
    routes reading `samsold` from the resolver's context (`samsold_of`; cleared after the call)."""
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    try:
        event = checked_body(event)
    except HttpError as error:
        refusal = error_response(error.status, error.code, error.message, error.details, error.former_code)
        headers = {
            "Content-Type": "application/json",
            # So the live lot page on another origin can read the refusal too.
            "Access-Control-Allow-Origin": os.environ.get("ALLOWED_ORIGIN", "*"),
        }
        return {"statusCode": error.status, "headers": headers, "body": refusal.body, "isBase64Encoded": False}
    app.append_context(samsold=samsold)
    return app.resolve(event, context)


def _query_integer(value: Any) -> Any:
    # Query strings are text; take digits only (pydantic's lax int would also take
    # " 7", "+7" and "7_0").
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or (len(value) > 1 and value[0] == "0") or len(value) > 10:
            raise ValueError("must be a whole number written in digits, such as 10")
        return int(value)
    return value


# An integer query parameter, such as `limit=10`: digits and nothing else.
QueryInteger = Annotated[int, BeforeValidator(_query_integer)]


# A page cursor: the `next` of the page before, the list position after which the page
# starts (the part of the list, a time and a lot id: `ledger.domain.listing`; clients pass it
# back as it is). The pattern is exact: every string it takes is a position the list takes.
ListCursor = Annotated[str, Field(pattern=LIST_CURSOR_PATTERN, description="`next` of the page before")]
