"""The OpenAPI document of the whole REST API, built from the same routers the
functions serve, so it cannot drift from the routes."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from handlers import bid_routes, lot_routes
from handlers.rest import new_resolver

PUBLIC_ROUTES = {("GET", "/lots"), ("GET", "/lots/{lot_id}"), ("GET", "/openapi.json")}


@cache
def openapi_document() -> dict[str, Any]:
    app = new_resolver()
    app.include_router(bid_routes.router)
    app.include_router(lot_routes.router)
    app.get("/openapi.json", summary="This document")(lambda: None)
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="SamSold",
            version="1.0.0",
            description="Event-sourced auction ledger. Errors are {\"error\": {\"code\", \"message\", \"details\"}}.",
            security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
        )
    )
    document.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            # Validation failures are answered 400 in our error shape, not Powertools' default 422.
            responses.pop("422", None)
            responses["400"] = {"description": "the request is not valid", **error}
            if (method.upper(), path) not in PUBLIC_ROUTES:
                operation["security"] = [{"bearer": []}]
                responses["401"] = {"description": "no valid bearer token", **error}
            if "{lot_id}" in path or "{bid_id}" in path:
                responses["404"] = {"description": "no such lot or bid", **error}
    return document


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}},
        }
    },
}
