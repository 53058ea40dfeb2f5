"""PlaceBidFunction: `POST /bid`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers import bid_routes
from handlers.bootstrap import App, logger, metrics, serving
from handlers.rest import new_resolver, resolve

app = new_resolver()
app.include_router(bid_routes.router)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, Any]:
    with serving(samsold):
        return resolve(app, event, context)
