"""Calling the REST functions' handlers directly with API Gateway events, on the App of the
running test module: its fixture puts the App in `APP` and clears it after. The unit and the
integration handler tests share these, on the in-memory recorder and on DynamoDB Local."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bootstrap import App
from ledger.domain.values import format_time, utc_now
from tests.support.events import FakeContext, rest_event

SELLER = {"sub": "sam", "cognito:username": "sam", "cognito:groups": "sellers", "custom:seller_handle": "sam"}

# The App of the running test: the helpers below pass it to every handler they call.
APP: dict[str, App] = {}


def call(handler_module: Any, event: dict[str, Any]) -> tuple[int, Any]:
    response = handler_module.handler(event, FakeContext(), APP["app"])
    body = response.get("body")
    return response["statusCode"], (json.loads(body) if body else None)


def api(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    from handlers import lot_api, place_bid

    module = place_bid if path == "/bid" else lot_api
    return call(module, rest_event(method, path, **kwargs))


def create_lot(**terms: Any) -> dict[str, Any]:
    terms = {"title": "Blue vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": format_time(utc_now() + timedelta(minutes=30))} | terms
    status, body = api("POST", "/lots", body=terms, claims=SELLER)
    assert status == 201, body
    return body
