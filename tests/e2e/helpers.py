"""Small clients for the end-to-end tests: REST with tokens, a WebSocket watcher."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import requests
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from handlers.connect import PROTOCOL, TOKEN_PROTOCOL_PREFIX
from ledger.domain.values import format_time, utc_now


class Client:
    def __init__(self, api: str, token: str | None = None) -> None:
        self.api = api
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.api + path, timeout=30, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None and "data" not in kwargs:
            kwargs["json"] = body
        return self.session.post(self.api + path, timeout=30, **kwargs)

    def create_lot(self, **terms: Any) -> dict[str, Any]:
        # No lot_id: the API generates one starting with the seller's handle.
        terms = {
            "title": "Brass clock",
            "currency": "EUR",
            "starting_price": "10.00",
            "closes_at": format_time(utc_now() + timedelta(minutes=30)),
        } | terms
        response = self.post("/lots", terms)
        assert response.status_code == 201, response.text
        return response.json()

    def bid(self, lot_id: str, amount: str, **extra: Any) -> dict[str, Any]:
        response = self.post("/bid", {"lot_id": lot_id, "amount": amount} | extra)
        assert response.status_code == 202, response.text
        return response.json()

    def wait_for_outcome(self, bid_id: str, timeout: float = 30) -> dict[str, Any]:
        return eventually(lambda: _decided(self.get(f"/bids/{bid_id}").json()), timeout)


def _decided(status: dict[str, Any]) -> dict[str, Any] | None:
    return status if status.get("status") in ("ACCEPTED", "REJECTED") else None


def eventually(probe: Callable[[], Any], timeout: float = 30, every: float = 0.05, at_most: float = 0.5) -> Any:
    """The first truthy result of `probe`, asked again after `every` seconds, then after ever
    longer pauses up to `at_most`: a probe goes through the stack (a function, DynamoDB
    Local), and one every 0.1 s for a close seconds away costs more CPU than the close."""
    deadline = time.monotonic() + timeout
    at_most = max(at_most, every)
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: last {value!r}")
        time.sleep(every)
        every = min(every * 1.5, at_most)


def websocket_protocols(token: str | None) -> list[Subprotocol]:
    """What a client offers on connect: the API's protocol, and its token as a second one."""
    offered = [Subprotocol(PROTOCOL)]
    return offered + [Subprotocol(f"{TOKEN_PROTOCOL_PREFIX}{token}")] if token is not None else offered


class Watcher:
    """A WebSocket client collecting what the server pushes."""

    def __init__(self, url: str, token: str | None = None) -> None:
        # The token as the page sends it: a subprotocol, never in the URL (handlers/connect.py).
        self.socket = connect(url, open_timeout=30, subprotocols=websocket_protocols(token))
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.socket.send(json.dumps(message))

    def until(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not done(self.messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"not within {timeout}s; received {json.dumps(self.messages)[:2000]}")
            try:
                self.messages.append(json.loads(self.socket.recv(timeout=remaining)))
            except TimeoutError:
                continue
        return self.messages

    def lot_updates(self) -> list[dict[str, Any]]:
        return [m["lot"] for m in self.messages if m.get("type") == "lot.updated"]

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
