"""The OpenAPI document of the whole REST API, built from the same routers the
functions serve, so it cannot drift from the routes."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from handlers import bid_routes, log_routes, lot_routes, registration_routes, sale_routes
from handlers.rest import LARGE_BODY_ROUTES, MAX_BODY_BYTES, MAX_BODY_DEPTH, new_resolver
from ledger.domain.values import TIME_RANGE_TEXT

PUBLIC_ROUTES = {("GET", "/lots"), ("GET", "/lots/{lot_id}"), ("GET", "/openapi.json"), ("GET", "/sales/{sale_id}")}
# The public log: anyone may check it.
PUBLIC_ROUTES |= {("GET", "/log/checkpoint"), ("GET", "/log/checkpoints/{size}"), ("GET", "/log/key"),
                  ("GET", "/log/consistency"), ("GET", "/lots/{lot_id}/proof")}


# Not the caller's doing: the lot's stored item is damaged (its key is logged; `samsold verify` names it).
UNREADABLE = {"LOT_UNREADABLE": "the lot's stored data cannot be read"}
# Who may sell, and the lot ids each seller reserves (handlers/rest.py seller_of, ledger/domain/sellers.py).
NOT_A_SELLER = {
    "FORBIDDEN": "only members of the sellers group and administrators create lots and sales (unless this deployment "
    "lets anyone signed in sell), or the caller's seller handle is not one the API takes",
    "LOT_ID_RESERVED": "a seller's lot ids start with their handle and '-' (details.reserved_prefix; leave lot_id out to "
    "have one generated so): this one is another's (details.field names it)",
}
RETRY = {"TRANSIENT": "other writes to the lot kept winning, or the storage is not answering; retry"}
# Who may bid: a bid of a bidder the API can see may not bid (the processor would reject it so).
WHO_MAY_BID = {
    "BIDDER_BLOCKED": "the auction house blocked you, or suspended your registration for the lot's sale",
    "NOT_REGISTERED": "the lot's sale needs an approved registration, and you have none (or it was declined)",
    "REGISTRATION_PENDING": "your registration for the lot's sale waits for approval",
}
# Who may bid: registrations per sale (or lone lot) and blocks.
NO_SALE = {"SALE_NOT_FOUND": "no such sale"}
NO_LOT = {"LOT_NOT_FOUND": "no such lot"}
REVIEWERS = {"FORBIDDEN": "only the seller or an administrator reviews registrations"}
NO_REGISTRATION = {"REGISTRATION_NOT_FOUND": "the bidder has not registered"}
OPEN_TO_ALL = {"RULE_BROKEN": "the sale (or lot) is open to every signed-in bidder: nothing to register for"}
REGISTRATION_ERRORS: dict[tuple[str, str], dict[int, dict[str, str]]] = {}
for _kind, _path, _missing in (("sale", "/sales/{sale_id}", NO_SALE), ("lot", "/lots/{lot_id}", NO_LOT)):
    REGISTRATION_ERRORS |= {
        ("POST", f"{_path}/registrations"): {
            403: {"SELLER_CANNOT_BID": "the seller may not register for their own sale"}, 404: _missing, 422: OPEN_TO_ALL,
            503: RETRY},
        ("GET", f"{_path}/registrations"): {403: REVIEWERS, 404: _missing},
        ("POST", f"{_path}/registrations/{{user_id}}/approve"): {
            403: REVIEWERS, 404: _missing | NO_REGISTRATION,
            422: {"RULE_BROKEN": "the limit has more decimals than the lots' currency allows, or the lots have several "
                  "currencies"}, 503: RETRY},
        ("POST", f"{_path}/registrations/{{user_id}}/decline"): {403: REVIEWERS, 404: _missing | NO_REGISTRATION, 503: RETRY},
        ("POST", f"{_path}/registrations/{{user_id}}/suspend"): {
            403: REVIEWERS, 404: _missing | NO_REGISTRATION,
            409: {"INVALID_STATE": "only an approved registration can be suspended"}, 503: RETRY},
    }
for _route, _errors in REGISTRATION_ERRORS.items():
    if _route[1].startswith("/lots/"):
        _errors[500] = UNREADABLE
# A user id with characters no route's path takes (a control character) matches no route.
NO_ROUTE = {"NOT_FOUND": "no such route: the user id has a character no path takes"}
REGISTRATION_ERRORS |= {
    ("POST", "/bidders/{user_id}/block"): {403: {"FORBIDDEN": "only administrators may block a bidder"}, 404: NO_ROUTE,
                                           503: RETRY},
    ("POST", "/bidders/{user_id}/unblock"): {403: {"FORBIDDEN": "only administrators may unblock a bidder"},
                                             404: NO_ROUTE, 503: RETRY},
}
# The refusals each route answers, by status and then code, besides the ones every route
# answers (COMMON_ERRORS). 400 is a malformed request (its shape, a type, a pattern); 422
# a well-formed one that breaks a rule. Each response lists its codes in `x-error-codes`.
ROUTE_ERRORS: dict[tuple[str, str], dict[int, dict[str, str]]] = {
    ("POST", "/bid"): {
        403: WHO_MAY_BID,
        404: {"LOT_NOT_FOUND": "no such lot"},
        409: {
            "LOT_CLOSED": "the lot is closed", "LOT_CANCELLED": "the lot is cancelled",
            "IDEMPOTENCY_KEY_REUSED": "the bid id (Idempotency-Key) was used for another bid",
        },
        422: {
            "RULE_BROKEN": "the amount has more decimals than the lot's currency allows (details.reason "
            "CURRENCY_PRECISION), or is so large that the lot's next minimum bid would be more than any amount this API "
            "takes (AMOUNT_TOO_LARGE; details.largest is the most it takes), or Idempotency-Key and bid_id differ",
            "CONFIRMATION_REQUIRED": "the amount is more than 10 times the minimum next bid, or above this deployment's "
            "cap for the currency; send it again with \"confirm\": true to place it (details name the numbers)",
        },
        500: UNREADABLE,
    },
    ("POST", "/lots/{lot_id}/buy"): {
        403: WHO_MAY_BID,
        404: {"LOT_NOT_FOUND": "no such lot"},
        409: {
            "BUY_NOW_NOT_OFFERED": "the lot has no buy-now price, or no longer offers it (a bid was accepted or the "
            "reserve met first, by its buy_now_until)",
            "LOT_CLOSED": "the lot is closed", "LOT_CANCELLED": "the lot is cancelled",
            "LOT_NOT_OPEN": "the lot is not open yet", "SELLER_CANNOT_BID": "the seller may not buy their own lot",
            "IDEMPOTENCY_KEY_REUSED": "the bid id (Idempotency-Key) was used for another bid",
        },
        422: {"RULE_BROKEN": "Idempotency-Key and bid_id differ"},
        500: UNREADABLE,
    },
    ("POST", "/lots"): {
        403: NOT_A_SELLER,
        409: {"LOT_ALREADY_EXISTS": "a lot with this lot_id exists already"},
        422: {"RULE_BROKEN": "the terms break a rule, such as closes_at in the past (details.field names the field)"},
    },
    ("GET", "/lots/{lot_id}"): {
        401: {"UNAUTHORIZED": "a bearer token was sent and is not valid (the view is public: leave the token out)"},
        404: {"LOT_NOT_FOUND": "no such lot (or it did not exist then)",
              "VERSION_NOT_FOUND": "as_of_version is past the lot's last version (details.last_version)"},
        422: {"RULE_BROKEN": "as_of_version and as_of given together"},
        500: UNREADABLE,
    },
    ("POST", "/lots/{lot_id}/cancel"): {
        403: {"FORBIDDEN": "only administrators may cancel a lot"},
        404: {"LOT_NOT_FOUND": "no such lot"},
        409: {"INVALID_STATE": "the lot is closed already"},
        500: UNREADABLE,
        503: RETRY,
    },
    ("GET", "/lots/{lot_id}/events"): {
        403: {"FORBIDDEN": "the event log is for administrators"},
        404: {"LOT_NOT_FOUND": "no such lot"},
        422: {"RULE_BROKEN": "cursor and after_version given together"},
        500: UNREADABLE,
    },
    ("POST", "/lots/{lot_id}/bids/{bid_id}/retract"): {
        403: {"FORBIDDEN": "only administrators may retract a bid"},
        404: {"LOT_NOT_FOUND": "no such lot", "BID_NOT_FOUND": "the lot has no such bid"},
        409: {
            "LOT_NOT_OPEN": "the lot is not open (not yet, its close time passed, closed or cancelled)",
            "BID_NOT_ACCEPTED": "the bid was rejected: nothing stands to retract",
            "BID_ALREADY_RETRACTED": "the bid was retracted already",
        },
        500: UNREADABLE,
        503: RETRY,
    },
    ("GET", "/bids/{bid_id}"): {404: {"BID_NOT_FOUND": "you have no such bid"}},
    ("POST", "/sales"): {
        403: NOT_A_SELLER,
        409: {
            "SALE_ALREADY_EXISTS": "a sale with this sale_id exists already, made by another request (the same request "
            "sent again is answered 201 with the sale it made)",
            "LOT_ALREADY_EXISTS": "a lot with one of its lot_ids exists already",
        },
        422: {"RULE_BROKEN": "first_closes_at is not in the future, a lot's terms break a rule (details name the lot), "
              "or a lot_id is in the sale twice"},
    },
    ("POST", "/sales/{sale_id}/lots"): {
        403: {"FORBIDDEN": "only the sale's seller may add lots to it"},
        404: {"SALE_NOT_FOUND": "no such sale"},
        409: {
            "SALE_CLOSING": "the sale's first lot's close time has passed: lots can no longer be added",
            "LOT_ALREADY_EXISTS": "a lot with one of its lot_ids exists already",
        },
        422: {"RULE_BROKEN": "a lot's terms break a rule (details name the lot), or a lot_id is in the request twice",
              "SALE_FULL": "the sale would hold more than its most lots (details.room says how many more it takes)"},
        500: {"SALE_UNREADABLE": "the sale's stored item cannot be read"},
        503: RETRY,
    },
    ("GET", "/sales/{sale_id}"): {
        404: {"SALE_NOT_FOUND": "no such sale"},
        500: {"SALE_UNREADABLE": "the sale's stored item cannot be read"},
    },
    # Who may bid.
    **REGISTRATION_ERRORS,
    # The public log.
    ("GET", "/log/checkpoint"): {404: {"CHECKPOINT_NOT_FOUND": "the log has published no checkpoint yet"}},
    ("GET", "/log/checkpoints/{size}"): {404: {"CHECKPOINT_NOT_FOUND": "the log published no checkpoint of this size"}},
    ("GET", "/log/key"): {404: {"CHECKPOINT_NOT_FOUND": "the log has published no checkpoint, so no key yet"}},
    ("GET", "/log/consistency"): {
        404: {"CHECKPOINT_NOT_FOUND": "no checkpoint was published at one of the sizes"},
        422: {"RULE_BROKEN": "from is larger than to"},
    },
    ("GET", "/lots/{lot_id}/proof"): {
        404: {"LOT_NOT_FOUND": "no such lot", "CHECKPOINT_NOT_FOUND": "no checkpoint of that size",
              "NOT_IN_LOG": "none of the lot's events is in the log at that size"},
        422: {"RULE_BROKEN": "from is larger than the checkpoint's size"},
        500: UNREADABLE,
    },
    ("GET", "/bids/{bid_id}/receipt"): {
        404: {"BID_NOT_FOUND": "you have no decided bid of this id", "CHECKPOINT_NOT_FOUND": "the log has published no "
              "checkpoint yet", "NOT_IN_LOG": "the bid's event is not in the newest checkpoint yet"},
        500: UNREADABLE,
    },
    ("POST", "/bidders/{user_id}/erase"): {
        403: {"FORBIDDEN": "only administrators may erase a bidder"},
        404: NO_ROUTE,
        409: {"INVALID_STATE": "a lot the bidder bid on is still open (details.lots): erase them once those end",
              "SNAPSHOT_CHANGED": "a lot moved on while its snapshot was refolded: erase again to finish"},
        500: UNREADABLE,
    },
}
# What every route answers that has parameters (400, 503), needs a token (401) or takes a body (413, 415).
MALFORMED = {
    "INVALID_REQUEST": "a parameter, header or the body is malformed (details.errors names each field and the problem)",
}
BODY_MALFORMED = MALFORMED | {"INVALID_JSON": "the body is not one JSON object as this API takes it"}
NO_TOKEN = {"UNAUTHORIZED": "no valid bearer token"}
STORAGE = {"TRANSIENT": "the ledger's storage is not answering; retry"}
NOT_JSON = {"UNSUPPORTED_MEDIA_TYPE": "the body is not sent as application/json (UTF-8)"}
# Every route may be throttled (the stage's and the route's rate and burst: answered by the
# gateway); some also count the caller's quotas. Both answer 429 with Retry-After.
THROTTLED = {"THROTTLED": "too many requests to this API or route; retry after Retry-After seconds"}
BID_QUOTA = {"QUOTA_EXCEEDED": "too many of your bids on this lot are pending or were rejected this hour"}
QUOTA_ROUTES: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/bid"): BID_QUOTA,
    ("POST", "/lots/{lot_id}/buy"): BID_QUOTA,
    ("POST", "/lots"): {"QUOTA_EXCEEDED": "you created your lots for today"},
    ("POST", "/sales"): {"QUOTA_EXCEEDED": "the sale's lots would pass your lots for today"},
    ("POST", "/sales/{sale_id}/lots"): {"QUOTA_EXCEEDED": "the lots would pass your lots for today"},
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
NO_PARAMETERS = {("GET", "/openapi.json")}
# Checkpoints are served as the signed notes they are (docs/PROOFS.md), not as JSON.
TEXT_ROUTES = {("GET", "/log/checkpoint"), ("GET", "/log/checkpoints/{size}")}
# OpenAPI links: what a response gives the next request (clients and Schemathesis's
# stateful phase follow them from a created lot or a placed bid to the routes that read it).
LINKS: dict[tuple[str, str, str], dict[tuple[str, str], dict[str, Any]]] = {
    ("POST", "/lots", "201"): {
        ("GET", "/lots/{lot_id}"): {"parameters": {"lot_id": "$response.body#/lot_id"}},
        ("GET", "/lots/{lot_id}/events"): {"parameters": {"lot_id": "$response.body#/lot_id"}},
        ("POST", "/lots/{lot_id}/cancel"): {"parameters": {"lot_id": "$response.body#/lot_id"}},
        ("POST", "/lots/{lot_id}/buy"): {"parameters": {"lot_id": "$response.body#/lot_id"}},
        # A new lot's view names the least a first bid may be.
        ("POST", "/bid"): {"requestBody": {"lot_id": "$response.body#/lot_id", "amount": "$response.body#/minimum_bid"}},
    },
    ("POST", "/bid", "202"): {("GET", "/bids/{bid_id}"): {"parameters": {"bid_id": "$response.body#/bid_id"}}},
    ("POST", "/lots/{lot_id}/buy", "202"): {("GET", "/bids/{bid_id}"): {"parameters": {"bid_id": "$response.body#/bid_id"}}},
    ("POST", "/sales", "201"): {
        ("GET", "/sales/{sale_id}"): {"parameters": {"sale_id": "$response.body#/sale_id"}},
        ("POST", "/sales/{sale_id}/lots"): {"parameters": {"sale_id": "$response.body#/sale_id"}},
        ("POST", "/sales/{sale_id}/registrations"): {"parameters": {"sale_id": "$response.body#/sale_id"}},
        ("GET", "/sales/{sale_id}/registrations"): {"parameters": {"sale_id": "$response.body#/sale_id"}},
    },
    # A registration names its sale and bidder: what the seller's review takes.
    ("POST", "/sales/{sale_id}/registrations", "201"): {
        ("POST", f"/sales/{{sale_id}}/registrations/{{user_id}}/{action}"): {
            "parameters": {"sale_id": "$response.body#/sale_id", "user_id": "$response.body#/user_id"}}
        for action in ("approve", "decline", "suspend")
    },
}
# Powertools writes pydantic's constraint names for some parameters; JSON Schema's are these.
_JSON_SCHEMA_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _with_json_schema_keywords(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_with_json_schema_keywords(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    numeric = schema.get("type") in ("integer", "number")
    return {
        (_JSON_SCHEMA_KEYWORDS.get(key, key) if numeric else key): _with_json_schema_keywords(value)
        for key, value in schema.items()
    }


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's or body's schema without the `null` alternative that
    Powertools writes for `X | None`: leaving it out is how a request says "none", and
    a JSON `null` body or the text "null" is refused like any other body or value."""
    alternatives = schema.get("anyOf")
    if not isinstance(alternatives, list):
        return schema
    kept = [a for a in alternatives if a != {"type": "null"}]
    if len(kept) != 1 or len(kept) == len(alternatives):
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**kept[0], **rest}


@cache
def openapi_document() -> dict[str, Any]:
    app = new_resolver()
    routers = (bid_routes.router, lot_routes.router, sale_routes.router, log_routes.router, registration_routes.router)
    # Including a router makes this resolver its owner, whose context its routes read
    # (`rest.samsold_of`): the functions' own resolvers get their routers back.
    owners = [router.api_resolver for router in routers]
    try:
        for router in routers:
            app.include_router(router)
    finally:
        for router, owner in zip(routers, owners, strict=True):
            router.api_resolver = owner
    app.get("/openapi.json", summary="This document")(lambda: None)
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="SamSold",
            version="1.0.0",
            description=(
                "Event-sourced auction ledger. Errors are {\"error\": {\"code\", \"message\", \"details\"}}. "
                f"Request bodies are one JSON object in UTF-8 sent as application/json, at most {MAX_BODY_BYTES} "
                f"bytes (a sale's lots: {max(LARGE_BODY_ROUTES.values())}) and {MAX_BODY_DEPTH} levels deep, without duplicate keys; times are ISO 8601 with Z or "
                f"an offset, {TIME_RANGE_TEXT} (one the offset takes outside it is refused with 422)."
            ),
            security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
        )
    )
    document = _with_json_schema_keywords(document)
    document.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = (method.upper(), path)
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_null(parameter["schema"])
            for media in operation.get("requestBody", {}).get("content", {}).values():
                media["schema"] = _without_null(media["schema"])
            responses = operation.setdefault("responses", {})
            # Validation failures are answered 400 in our error shape, not Powertools' default 422.
            responses.pop("422", None)
            errors: dict[int, dict[str, str]] = {}
            if route not in NO_PARAMETERS:
                errors |= {400: BODY_MALFORMED if "requestBody" in operation else MALFORMED, 503: STORAGE}
            if route not in PUBLIC_ROUTES:
                operation["security"] = [{"bearer": []}]
                errors[401] = NO_TOKEN
            if "requestBody" in operation:
                limit = LARGE_BODY_ROUTES.get(route, MAX_BODY_BYTES)
                errors |= {413: {"BODY_TOO_LARGE": f"the body is larger than {limit} bytes"}, 415: NOT_JSON}
            errors |= ROUTE_ERRORS.get(route, {})
            errors[429] = THROTTLED | QUOTA_ROUTES.get(route, {})
            for status, codes in sorted(errors.items()):
                description = "; ".join(f"{code}: {words}" for code, words in codes.items())
                responses[str(status)] = {"description": description, **error, "x-error-codes": list(codes)}
            responses["429"]["headers"] = RETRY_AFTER
            if route in TEXT_ROUTES:
                responses["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    _add_links(document)
    return _without_unused_schemas(document)


def documented_errors(document: dict[str, Any]) -> set[tuple[str, str, int, str]]:
    """Every (method, path, status, code) the document says a route answers."""
    return {
        (method.upper(), path, int(status), code)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation.get("responses", {}).items()
        for code in response.get("x-error-codes", [])
    }


def _without_unused_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the component schemas nothing refers to (Powertools adds its own
    validation errors' schemas, which this API never answers, and a model given inline)."""
    schemas = document.get("components", {}).get("schemas", {})
    while True:
        text = json.dumps({**document, "components": {**document["components"], "schemas": {}}}) + json.dumps(
            [schema for schema in schemas.values()]
        )
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return document
        for name in unused:
            del schemas[name]


def _add_links(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for (method, path, status), targets in LINKS.items():
        response = paths[path][method.lower()]["responses"][status]
        response["links"] = {
            paths[target_path][target_method.lower()]["operationId"]: {
                "operationId": paths[target_path][target_method.lower()]["operationId"],
                **link,
            }
            for (target_method, target_path), link in targets.items()
        }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "stable, for programs (each response lists its codes)"},
                "message": {"type": "string", "description": "for people"},
                "details": {"type": "object"},
                "former_code": {
                    "type": "string",
                    "description": "the code this refusal had before it was renamed, kept for one release: "
                    "RULE_BROKEN was INVALID_COMMAND, or INVALID_REQUEST when answered with 422",
                },
            },
        }
    },
}
