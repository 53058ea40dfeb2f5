"""The WebSocket token travels as a subprotocol (`samsold.token.<token>` beside
`samsold.v1`), never in the URL, where access logs, proxies and histories keep it; the
handshake's answer names `samsold.v1` alone."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from handlers.connect import on_connect


class Tokens:
    def bidder(self, token: str) -> str | None:
        return "sub-of-alice" if token == "good" else None


class Connections:
    def __init__(self) -> None:
        self.connected: dict[str, str | None] = {}

    def connect(self, connection_id: str, bidder: str | None, lot_id: str | None = None) -> None:
        self.connected[connection_id] = bidder


def connect(protocols: str | None, query: dict[str, str] | None = None) -> tuple[dict[str, Any], Connections]:
    app: Any = SimpleNamespace(tokens=Tokens(), connections=Connections())
    headers = {"Sec-WebSocket-Protocol": protocols} if protocols is not None else {}
    return on_connect(app, "c1", query or {}, headers), app.connections


def test_the_token_comes_as_a_subprotocol_and_only_the_protocol_is_answered():
    answer, connections = connect("samsold.v1, samsold.token.good")
    assert answer["statusCode"] == 200 and connections.connected == {"c1": "sub-of-alice"}
    assert answer["headers"] == {"Sec-WebSocket-Protocol": "samsold.v1"}


def test_anonymous_clients_offer_the_protocol_or_nothing():
    for protocols in ("samsold.v1", None):
        answer, connections = connect(protocols)
        assert answer["statusCode"] == 200 and connections.connected == {"c1": None}


def test_a_token_in_the_url_is_refused_even_a_good_one():
    answer, connections = connect(None, {"token": "good"})
    assert answer["statusCode"] == 400 and connections.connected == {}
    assert json.loads(answer["body"])["error"]["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize(("protocols", "status"), [
    ("samsold.v1, samsold.token.forged", 401),
    ("samsold.v1, samsold.token.", 401),
    ("samsold.token.good", 400),  # the protocol itself not offered
    ("samsold.v1, samsold.token.good, samsold.token.good", 400),
])
def test_bad_tokens_and_offers_are_refused(protocols, status):
    answer, connections = connect(protocols)
    assert answer["statusCode"] == status and connections.connected == {}
