"""LotApiFunction: the lot, sale, registration and public log routes and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from bootstrap import App, app_for, logger, traced
from handlers import log_routes, lot_routes, registration_routes, sale_routes
from handlers.openapi import openapi_document
from handlers.rest import new_resolver, resolve

app = new_resolver()
app.include_router(lot_routes.router)
app.include_router(sale_routes.router)
app.include_router(log_routes.router)
app.include_router(registration_routes.router)


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> dict[str, Any]:
    return openapi_document()


@logger.inject_lambda_context
@traced
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, Any]:
    return resolve(app, event, context, app_for(samsold))
