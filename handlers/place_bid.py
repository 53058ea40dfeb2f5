"""PlaceBidFunction: `POST /bid`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from bootstrap import App, app_for, logger, metrics, traced
from handlers import bid_routes
from handlers.rest import new_resolver, resolve

app = new_resolver()
app.include_router(bid_routes.router)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, samsold: App | None = None) -> dict[str, Any]:
    return resolve(app, event, context, app_for(samsold))
