"""The local gateway throttles as API Gateway does: past a route's burst, 429 in the shape
the template's THROTTLED gateway response gives (with Retry-After), before the authorizer
and the function; a WebSocket $connect past its burst is refused 429, a message gets
API Gateway's error frame. A call its function has no worker free for in time is throttled
the same way, as Lambda throttles it, not left to time out as a 504."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from local.apigateway.gateway import LocalGateway
from local.cognito.user_pool import DevAuth
from local.sam.model import GatewayResponse, RestRoute, Throttle, WebSocketApi
from tests.e2e.helpers import eventually

THROTTLED = GatewayResponse(status=429, headers={"Retry-After": "1"},
                            template='{"error": {"code": "THROTTLED", "message": $context.error.messageString, "details": {}}}')


def test_past_its_burst_a_route_answers_429_in_the_apis_shape_without_running_the_function(tmp_path: Path) -> None:
    calls: list[str] = []

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        calls.append(event.get("path") or event["requestContext"]["routeKey"])
        return {"statusCode": 200, "body": "{}"}

    websocket = WebSocketApi("Ws", "$request.body.action", {"$connect": "Fn", "subscribe": "Fn"},
                             throttles={"$connect": Throttle(rate=0.001, burst=1), "*": Throttle(rate=0.001, burst=1)})
    with LocalGateway(port=0, websocket_port=0, rest_routes=[RestRoute("GET", "/lots", "Fn"), RestRoute("POST", "/bid", "Fn", auth_required=True)],
                      websocket=websocket, invoke=invoke, auth=DevAuth(tmp_path), gateway_responses={"THROTTLED": THROTTLED},
                      rest_throttles={("*", "/*"): Throttle(rate=0.001, burst=2)}) as gateway:
        answers = [requests.get(f"{gateway.rest_url}/lots", timeout=5) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].json() == {"error": {"code": "THROTTLED", "message": "Too Many Requests", "details": {}}}
        assert answers[2].headers["Retry-After"] == "1"
        # Refused before the authorizer: no token, still 429 once the bucket is empty.
        assert [requests.post(f"{gateway.rest_url}/bid", timeout=5).status_code for _ in range(3)] == [401, 401, 429]
        assert calls == ["/lots", "/lots"]

        with connect(gateway.websocket_url) as socket:
            socket.send(json.dumps({"action": "subscribe"}))
            socket.recv(timeout=5)
            socket.send(json.dumps({"action": "subscribe"}))
            assert json.loads(socket.recv(timeout=5))["message"] == "Too Many Requests"
            with pytest.raises(InvalidStatus) as refused:
                connect(gateway.websocket_url)
            assert refused.value.response.status_code == 429


def test_a_call_no_worker_of_its_function_can_start_in_time_is_throttled_and_never_runs(tmp_path: Path) -> None:
    started: list[str] = []
    release = threading.Event()

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        started.append(event["path"])
        release.wait(30)  # the first call holds the function's only worker
        return {"statusCode": 202, "body": "{}"}

    with LocalGateway(port=0, websocket=None, rest_routes=[RestRoute("POST", "/bid", "Fn")], invoke=invoke,
                      auth=DevAuth(tmp_path), gateway_responses={"THROTTLED": THROTTLED},
                      function_concurrency={"Fn": 1}, function_start_timeout_s=0.2) as gateway, \
            ThreadPoolExecutor(1) as background:
        first = background.submit(requests.post, f"{gateway.rest_url}/bid", timeout=30)
        assert eventually(lambda: started == ["/bid"])
        try:
            second = requests.post(f"{gateway.rest_url}/bid", timeout=30)
        finally:
            release.set()

        assert second.status_code == 429
        assert second.json() == {"error": {"code": "THROTTLED", "message": "Too Many Requests", "details": {}}}
        assert second.headers["Retry-After"] == "1"
        assert first.result().status_code == 202
        assert started == ["/bid"]  # the throttled call never reached the function
