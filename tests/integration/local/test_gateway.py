"""The local API Gateway over real HTTP and WebSocket connections: the events functions
receive (checked against Powertools' models of API Gateway's events), the authorizer,
the gateway's own answers, and the @connections management API through boto3."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from local.apigateway.gateway import LocalGateway
from local.apigateway.rest import HttpResponse
from local.apigateway.sigv4 import Credentials
from local.cognito.user_pool import DevAuth, subject_for
from local.sam.model import GatewayResponse, RestRoute, WebSocketApi
from tests.fixtures.gateway import handlers

FUNCTIONS: dict[str, Callable[[dict[str, Any], Any], Any]] = {
    "LotApi": handlers.lots_api,
    "Echo": handlers.echo,
    "Binary": handlers.binary,
    "Crash": handlers.crash,
    "Malformed": handlers.malformed,
    "WsConnect": handlers.ws_connect,
    "WsEcho": handlers.ws_echo,
    "WsSilent": handlers.ws_silent,
    "WsDefault": handlers.ws_default,
    "WsCrash": handlers.ws_crash,
    "WsPushBack": handlers.ws_push_back,
    "WsDisconnect": handlers.ws_disconnect,
    "WaitForRelease": handlers.wait_for_release,
    "Release": handlers.release,
}

REST_ROUTES = [
    RestRoute("GET", "/lots/{lot_id}", "LotApi"),
    RestRoute("GET", "/my/lots/{lot_id}", "LotApi", auth_required=True),
    RestRoute("POST", "/bid", "Echo", auth_required=True),
    RestRoute("ANY", "/echo/{proxy+}", "Echo"),
    RestRoute("GET", "/echo/binary", "Binary"),
    RestRoute("GET", "/crash", "Crash"),
    RestRoute("GET", "/malformed", "Malformed"),
    RestRoute("GET", "/wait", "WaitForRelease"),
    RestRoute("GET", "/release", "Release"),
]

WEBSOCKET = WebSocketApi(
    logical_id="LotUpdatesApi",
    route_selection_expression="$request.body.action",
    routes={
        "$connect": "WsConnect",
        "$disconnect": "WsDisconnect",
        "$default": "WsDefault",
        "echo": "WsEcho",
        "subscribe": "WsSilent",
        "crash": "WsCrash",
        "whoami": "WsPushBack",
        "wait": "WaitForRelease",
        "release": "Release",
    },
    stage="live",  # its own stage, unlike the REST API's "prod"
)


class Recorder:
    """The `invoke` the gateway gets: calls the fixture handler and keeps every event."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        with self._changed:
            self.calls.append((function, event))
            self._changed.notify_all()
        return FUNCTIONS[function](event, None)

    def events(self, function: str) -> list[dict[str, Any]]:
        with self._changed:
            return [event for name, event in self.calls if name == function]

    def wait_for(
        self, function: str, matches: Callable[[dict[str, Any]], bool], timeout_s: float = 5
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = [event for name, event in self.calls if name == function and matches(event)]
                if found:
                    return found[-1]
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{function} was not invoked as expected"
                self._changed.wait(remaining)


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory) -> DevAuth:
    return DevAuth(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    (site / "secret.txt").write_text("outside the static root")
    root = site / "public"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>SamSold</title>")
    (root / "app.js").write_text("console.log('live');")
    return root


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def gateway(auth: DevAuth, recorder: Recorder, static_dir: Path) -> Iterator[LocalGateway]:
    gateway = LocalGateway(
        port=0,
        websocket_port=0,
        rest_routes=REST_ROUTES,
        websocket=WEBSOCKET,
        invoke=recorder.invoke,
        auth=auth,
        static_dir=static_dir,
    )
    with gateway, pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATEWAY_TEST_MANAGEMENT_URL", gateway.websocket_management_url)
        # What the runtime gives the functions: the key the management API checks.
        patch.setenv("AWS_ACCESS_KEY_ID", gateway.management_credentials.access_key_id)
        patch.setenv("AWS_SECRET_ACCESS_KEY", gateway.management_credentials.secret_access_key)
        yield gateway


@pytest.fixture(scope="module")
def management(gateway: LocalGateway) -> Any:
    """The functions' client: it signs with the key the gateway was given."""
    return management_client(gateway, gateway.management_credentials)


def management_client(gateway: LocalGateway, credentials: Credentials) -> Any:
    return boto3.client("apigatewaymanagementapi", endpoint_url=gateway.websocket_management_url,
                        region_name="us-east-1", aws_access_key_id=credentials.access_key_id,
                        aws_secret_access_key=credentials.secret_access_key)


def last_event(recorder: Recorder, function: str) -> dict[str, Any]:
    return recorder.events(function)[-1]


# -- REST: the event ---------------------------------------------------------------


def test_rest_event_has_the_proxy_shape(gateway: LocalGateway, recorder: Recorder) -> None:
    before_ms = time.time() * 1000
    response = requests.post(
        f"{gateway.rest_url}/echo/a/b?x=1&x=2&y=3",
        data='{"amount": "12.50"}',
        headers={"Content-Type": "application/json", "X-Custom": "yes"},
        timeout=5,
    )
    after_ms = time.time() * 1000
    event = response.json()

    APIGatewayProxyEventModel.model_validate(event)
    assert event == last_event(recorder, "Echo")
    assert event["resource"] == "/echo/{proxy+}"
    assert event["path"] == "/echo/a/b"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["headers"]["X-Custom"] == "yes"
    assert event["multiValueHeaders"]["X-Custom"] == ["yes"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["body"] == '{"amount": "12.50"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == response.headers["x-amzn-RequestId"]
    assert before_ms - 1 <= context["requestTimeEpoch"] <= after_ms + 1
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["requestTime"])
    assert context["stage"] == "prod"
    assert context["resourcePath"] == "/echo/{proxy+}"
    assert context["httpMethod"] == "POST"
    assert context["path"] == "/prod/echo/a/b"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert "authorizer" not in context


def test_rest_response_carries_status_and_merged_headers(gateway: LocalGateway) -> None:
    response = requests.get(f"{gateway.rest_url}/echo/x", timeout=5)

    assert response.status_code == 201
    assert response.headers["X-Single"] == "one"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    event = response.json()
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None


def test_powertools_resolver_runs_unchanged(gateway: LocalGateway) -> None:
    response = requests.get(f"{gateway.rest_url}/lots/lot-7?as_of_version=3", timeout=5)

    assert response.status_code == 200
    assert response.json() == {"lot_id": "lot-7", "as_of_version": "3", "claims": {}}


def test_most_specific_route_wins_and_binary_bodies_are_decoded(gateway: LocalGateway) -> None:
    exact = requests.get(f"{gateway.rest_url}/echo/binary", timeout=5)
    other_method = requests.post(f"{gateway.rest_url}/echo/binary", timeout=5)

    assert exact.content == bytes(range(256))
    assert other_method.json()["resource"] == "/echo/{proxy+}"


def test_binary_request_body_arrives_base64_encoded(gateway: LocalGateway) -> None:
    payload = b"\xff\xfe\x00binary"
    event = requests.put(f"{gateway.rest_url}/echo/upload", data=payload, timeout=5).json()

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_a_slow_invocation_does_not_block_others(gateway: LocalGateway) -> None:
    handlers.release_gate.clear()
    with ThreadPoolExecutor(max_workers=1) as background:
        waiting = background.submit(requests.get, f"{gateway.rest_url}/wait", timeout=10)
        released = requests.get(f"{gateway.rest_url}/release", timeout=5)

        assert released.json() == {"releasing": True}
        assert waiting.result().json() == {"released": True}


def test_a_flood_on_one_function_does_not_hold_up_another(gateway: LocalGateway) -> None:
    # More calls of WaitForRelease than its line of threads: Release, another function,
    # still gets through, as each Lambda function has its own concurrency.
    from local.apigateway.http_server import THREADS_PER_FUNCTION

    handlers.release_gate.clear()
    flood = 2 * THREADS_PER_FUNCTION + 8  # also more than one shared pool of 64 threads would hold
    with ThreadPoolExecutor(max_workers=flood) as background:
        waiting = [background.submit(requests.get, f"{gateway.rest_url}/wait", timeout=10)
                   for _ in range(flood)]
        time.sleep(0.3)
        released = requests.get(f"{gateway.rest_url}/release", timeout=3)

        assert released.json() == {"releasing": True}
        assert all(call.result().json() == {"released": True} for call in waiting)


def test_a_call_not_answered_within_the_integration_timeout_gets_504(auth: DevAuth, recorder: Recorder) -> None:
    handlers.release_gate.clear()
    with LocalGateway(port=0, rest_routes=REST_ROUTES, websocket=None, invoke=recorder.invoke, auth=auth,
                      integration_timeout_s=0.5) as impatient:
        try:
            response = requests.get(f"{impatient.rest_url}/wait", timeout=5)
        finally:
            handlers.release_gate.set()  # lets the abandoned call end

    assert response.status_code == 504
    assert response.json() == {"message": "Endpoint request timed out"}


def test_stopping_does_not_wait_for_calls_in_flight(auth: DevAuth, recorder: Recorder) -> None:
    handlers.release_gate.clear()
    gateway = LocalGateway(port=0, rest_routes=REST_ROUTES, websocket=None, invoke=recorder.invoke, auth=auth).start()
    with ThreadPoolExecutor(max_workers=1) as background:
        try:
            background.submit(requests.get, f"{gateway.rest_url}/wait", timeout=10)
            time.sleep(0.3)
            started = time.monotonic()
            gateway.stop()
            assert time.monotonic() - started < 8  # the call in flight would hold it until its own timeout (10 s)
        finally:
            handlers.release_gate.set()


# -- REST: the authorizer ------------------------------------------------------------


def test_protected_route_without_token_is_refused_before_the_function(
    gateway: LocalGateway, recorder: Recorder
) -> None:
    invoked_before = len(recorder.events("Echo"))
    response = requests.post(f"{gateway.rest_url}/bid", json={"amount": "1"}, timeout=5)

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert len(recorder.events("Echo")) == invoked_before


@pytest.mark.parametrize("kind", ["forged", "expired", "garbage"])
def test_protected_route_refuses_bad_tokens(
    gateway: LocalGateway, auth: DevAuth, tmp_path: Path, recorder: Recorder, kind: str
) -> None:
    token = {
        "forged": DevAuth(tmp_path).mint("mallory", admin=True),  # another key
        "expired": auth.mint("alice", ttl_s=-5),
        "garbage": "not.a.jwt",
    }[kind]
    invoked_before = len(recorder.events("Echo"))
    response = requests.post(
        f"{gateway.rest_url}/bid", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert len(recorder.events("Echo")) == invoked_before


def test_minted_admin_token_reaches_the_function_as_authorizer_claims(
    gateway: LocalGateway, auth: DevAuth
) -> None:
    token = auth.mint("alice", admin=True)
    response = requests.post(
        f"{gateway.rest_url}/bid", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )

    assert response.status_code == 201
    claims = response.json()["requestContext"]["authorizer"]["claims"]
    assert claims["sub"] == subject_for("alice")
    assert claims["cognito:username"] == "alice"
    assert claims["cognito:groups"] == "admin"
    assert claims["token_use"] == "id"
    assert all(isinstance(value, str) for value in claims.values())
    # The REST authorizer's date format for exp/iat, epoch seconds for auth_time.
    assert re.fullmatch(r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d UTC \d{4}", claims["exp"])
    assert claims["auth_time"].isdigit()


def test_powertools_sees_claims_of_a_plain_user(gateway: LocalGateway, auth: DevAuth) -> None:
    token = auth.mint("bob")
    response = requests.get(
        f"{gateway.rest_url}/my/lots/lot-1", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )

    claims = response.json()["claims"]
    assert claims["sub"] == subject_for("bob")
    assert "cognito:groups" not in claims  # Cognito leaves the claim out for a user in no group


def test_public_route_gets_no_claims_even_with_a_token(gateway: LocalGateway, auth: DevAuth) -> None:
    token = auth.mint("alice", admin=True)
    response = requests.get(
        f"{gateway.rest_url}/lots/lot-1", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )

    assert response.json()["claims"] == {}


# -- REST: the gateway's own answers ---------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/lots/lot-1"), ("GET", "/")])
def test_unknown_route_gets_api_gateways_missing_token_answer(
    auth: DevAuth, recorder: Recorder, method: str, path: str
) -> None:
    # Without static files: API Gateway answers 403 (not 404) for an unknown resource or method.
    with LocalGateway(port=0, rest_routes=REST_ROUTES, websocket=None, invoke=recorder.invoke, auth=auth) as plain:
        response = requests.request(method, f"{plain.rest_url}{path}", timeout=5)

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize("path", ["/crash", "/malformed"])
def test_failing_or_malformed_function_gives_502(gateway: LocalGateway, path: str) -> None:
    response = requests.get(f"{gateway.rest_url}{path}", timeout=5)

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_body_over_10_mb_is_refused_with_413(gateway: LocalGateway, recorder: Recorder) -> None:
    invoked_before = len(recorder.events("Echo"))
    response = requests.post(f"{gateway.rest_url}/echo/big", data=b"x" * (10 * 1024 * 1024 + 1), timeout=10)

    assert response.status_code == 413
    assert len(recorder.events("Echo")) == invoked_before
    # The connection is still usable for the next request.
    assert requests.get(f"{gateway.rest_url}/echo/after", timeout=5).status_code == 201


def test_cors_preflight_is_answered_permissively(gateway: LocalGateway) -> None:
    response = requests.options(
        f"{gateway.rest_url}/bid",
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=5,
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "authorization,content-type"


def test_static_files_are_served_with_their_content_types(gateway: LocalGateway) -> None:
    index = requests.get(f"{gateway.rest_url}/", timeout=5)
    script = requests.get(f"{gateway.rest_url}/app.js", timeout=5)

    assert index.status_code == 200
    assert index.headers["Content-Type"].startswith("text/html")
    assert "<title>SamSold</title>" in index.text
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert requests.get(f"{gateway.rest_url}/missing.css", timeout=5).status_code == 403


def test_static_files_stay_inside_the_static_dir(gateway: LocalGateway) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    try:
        connection.request("GET", "/%2e%2e/secret.txt")  # percent-encoded so no client normalises it
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()

    assert status == 403
    assert b"outside the static root" not in body


# -- development auth --------------------------------------------------------------------


def test_signing_key_is_private_and_survives_a_restart(tmp_path: Path) -> None:
    token = DevAuth(tmp_path).mint("carol")
    restarted = DevAuth(tmp_path)

    claims = restarted.claims(token)
    assert claims is not None and claims["cognito:username"] == "carol"
    assert stat.S_IMODE(os.stat(restarted.key_path).st_mode) == 0o600
    assert restarted.claims(None) is None


def test_tampered_token_is_rejected(auth: DevAuth) -> None:
    header, payload, signature = auth.mint("dave").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["cognito:groups"] = ["admin"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    assert auth.claims(f"{header}.{forged_payload}.{signature}") is None


# -- WebSocket ---------------------------------------------------------------------------


def open_socket(gateway: LocalGateway, query: str = "") -> ClientConnection:
    return connect(f"{gateway.websocket_url}{query}", open_timeout=5, user_agent_header="gateway-test")


def whoami(socket: ClientConnection) -> str:
    socket.send(json.dumps({"action": "whoami"}))
    return json.loads(socket.recv(timeout=5))["you"]


def test_connect_event_carries_the_query_and_a_connection_id(
    gateway: LocalGateway, recorder: Recorder
) -> None:
    with open_socket(gateway, "/?lot_id=lot-1") as socket:
        connection_id = whoami(socket)

    event = recorder.wait_for("WsConnect", lambda e: e["requestContext"]["connectionId"] == connection_id)
    APIGatewayWebSocketConnectEventModel.model_validate(event)
    assert event["queryStringParameters"] == {"lot_id": "lot-1"}
    assert event["requestContext"]["routeKey"] == "$connect"
    assert event["requestContext"]["eventType"] == "CONNECT"
    assert event["requestContext"]["stage"] == "live"
    assert event["headers"]["User-Agent"] == "gateway-test"
    assert event["isBase64Encoded"] is False
    assert re.fullmatch(r"[A-Za-z0-9+/]{14}[A-Za-z0-9+/=]{2}", connection_id)


@pytest.mark.parametrize("status", [401, 403])
def test_connect_function_can_refuse_the_handshake(gateway: LocalGateway, status: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        open_socket(gateway, f"/?deny={status}")

    assert refused.value.response.status_code == status


def test_messages_are_routed_by_action(gateway: LocalGateway, recorder: Recorder) -> None:
    with open_socket(gateway) as socket:
        connection_id = whoami(socket)
        socket.send(json.dumps({"action": "echo", "text": "hi"}))
        echoed = json.loads(socket.recv(timeout=5))
        socket.send(json.dumps({"action": "subscribe", "lot_id": "lot-1"}))  # no reply
        socket.send(json.dumps({"action": "no-such-route"}))
        defaulted = json.loads(socket.recv(timeout=5))
        socket.send("plain text")
        plain = json.loads(socket.recv(timeout=5))

    assert echoed == {"route": "echo", "text": "hi", "connectionId": connection_id}
    assert defaulted["route"] == "$default"
    assert plain == {"route": "$default", "body": "plain text"}
    subscribe = last_event(recorder, "WsSilent")
    APIGatewayWebSocketMessageEventModel.model_validate(subscribe)
    assert subscribe["requestContext"]["eventType"] == "MESSAGE"
    assert subscribe["requestContext"]["connectionId"] == connection_id
    assert json.loads(subscribe["body"]) == {"action": "subscribe", "lot_id": "lot-1"}


def test_connections_are_served_concurrently(gateway: LocalGateway) -> None:
    handlers.release_gate.clear()
    with open_socket(gateway) as waiting, open_socket(gateway) as releasing:
        waiting.send(json.dumps({"action": "wait"}))
        releasing.send(json.dumps({"action": "release"}))

        assert json.loads(releasing.recv(timeout=5)) == {"releasing": True}
        assert json.loads(waiting.recv(timeout=10)) == {"released": True}


def test_failing_route_sends_api_gateways_error_frame(gateway: LocalGateway) -> None:
    with open_socket(gateway) as socket:
        socket.send(json.dumps({"action": "crash"}))
        error = json.loads(socket.recv(timeout=5))

    assert error["message"] == "Internal server error"
    assert set(error) == {"message", "connectionId", "requestId"}


def test_without_default_route_an_unknown_action_is_forbidden(auth: DevAuth, recorder: Recorder) -> None:
    api = WebSocketApi("NoDefaultApi", "$request.body.action", routes={"echo": "WsEcho"})
    with LocalGateway(port=0, rest_routes=[], websocket=api, invoke=recorder.invoke, auth=auth) as gateway:
        with open_socket(gateway) as socket:
            socket.send(json.dumps({"action": "nothing"}))
            error = json.loads(socket.recv(timeout=5))
            socket.send(json.dumps({"action": "echo", "text": "still open"}))
            echoed = json.loads(socket.recv(timeout=5))

    assert error["message"] == "Forbidden"
    assert echoed["text"] == "still open"


def test_disconnect_is_invoked_when_the_client_closes(gateway: LocalGateway, recorder: Recorder) -> None:
    with open_socket(gateway) as socket:
        connection_id = whoami(socket)

    event = recorder.wait_for("WsDisconnect", lambda e: e["requestContext"]["connectionId"] == connection_id)
    APIGatewayWebSocketDisconnectEventModel.model_validate(event)
    assert event["requestContext"]["eventType"] == "DISCONNECT"
    assert event["requestContext"]["disconnectStatusCode"] == 1000


# -- the @connections management API --------------------------------------------------------


def test_post_to_connection_reaches_the_client(gateway: LocalGateway, management: Any) -> None:
    with open_socket(gateway) as socket:
        connection_id = whoami(socket)
        management.post_to_connection(ConnectionId=connection_id, Data=b'{"type": "lot.updated"}')
        frame = socket.recv(timeout=5)

    assert frame == '{"type": "lot.updated"}'  # a text frame


def test_get_connection_describes_it(gateway: LocalGateway, management: Any) -> None:
    with open_socket(gateway) as socket:
        connection_id = whoami(socket)
        described = management.get_connection(ConnectionId=connection_id)

    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "gateway-test"}
    assert described["ConnectedAt"] <= described["LastActiveAt"]
    assert abs(described["ConnectedAt"].timestamp() - time.time()) < 60


def test_delete_connection_closes_it_and_then_it_is_gone(
    gateway: LocalGateway, management: Any, recorder: Recorder
) -> None:
    with open_socket(gateway) as socket:
        connection_id = whoami(socket)
        management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=5)

    recorder.wait_for("WsDisconnect", lambda e: e["requestContext"]["connectionId"] == connection_id)
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")


@pytest.mark.parametrize("operation", ["post_to_connection", "get_connection", "delete_connection"])
def test_only_the_functions_key_may_use_the_management_api(gateway: LocalGateway, operation: str) -> None:
    """Anyone reaching the gateway could otherwise push a fake message to any connection or
    close it: unsigned, signed with another key, or with the right key id and a wrong
    secret, the call is refused and the connection untouched."""
    others = [Credentials.generate(), Credentials(gateway.management_credentials.access_key_id, "not-the-secret")]
    with open_socket(gateway) as socket:
        connection_id = whoami(socket)
        unsigned = requests.post(f"{gateway.websocket_management_url}/@connections/{quote(connection_id, safe='')}",
                                 data=b'{"type": "lot.won"}', timeout=5)
        assert unsigned.status_code == 403
        assert unsigned.headers["x-amzn-ErrorType"] == "ForbiddenException"
        for credentials in others:
            client = management_client(gateway, credentials)
            arguments: dict[str, Any] = {"ConnectionId": connection_id}
            if operation == "post_to_connection":
                arguments["Data"] = b'{"type": "lot.won"}'
            with pytest.raises(client.exceptions.ForbiddenException):
                getattr(client, operation)(**arguments)
        socket.send(json.dumps({"action": "echo", "text": "still here"}))
        assert json.loads(socket.recv(timeout=5))["text"] == "still here"  # nothing pushed, not closed


@pytest.mark.parametrize("operation", ["post_to_connection", "get_connection", "delete_connection"])
def test_unknown_connection_is_gone(management: Any, operation: str) -> None:
    arguments: dict[str, Any] = {"ConnectionId": "Tm9TdWNoQ29ubj0="}
    if operation == "post_to_connection":
        arguments["Data"] = b"{}"

    with pytest.raises(management.exceptions.GoneException) as gone:
        getattr(management, operation)(**arguments)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


# -- HTTP/1.1 framing and bursts (the gateway on aiohttp) --------------------------------


def raw_exchange(gateway: LocalGateway, request: bytes, timeout_s: float = 5, *, want_body: bool = True) -> bytes:
    """Sends bytes as they are (no client fixes the framing) and reads until the server
    has answered one response (or closed)."""
    import socket

    with socket.create_connection(("127.0.0.1", gateway.port), timeout=timeout_s) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, received_body = received.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        while want_body and length and len(received_body) < int(length.group(1)):
            chunk = connection.recv(65536)
            if not chunk:
                break
            received_body += chunk
        return head + b"\r\n\r\n" + received_body


@pytest.mark.parametrize("declared", [b"abc", b"-1", b"1x", b"99999999999999999999999"])
def test_a_bad_content_length_is_answered_400(gateway: LocalGateway, recorder: Recorder, declared: bytes) -> None:
    invoked_before = len(recorder.events("Echo"))
    answer = raw_exchange(
        gateway,
        b"POST /echo/framing HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + declared + b"\r\n\r\n{}",
    )

    assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:200]
    assert len(recorder.events("Echo")) == invoked_before


def test_a_chunked_request_body_reaches_the_function_whole(gateway: LocalGateway) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"amount": '
        yield b'"12.50"}'

    # A generator body makes requests send Transfer-Encoding: chunked.
    response = requests.post(f"{gateway.rest_url}/echo/chunked", data=chunks(),
                             headers={"Content-Type": "application/json"}, timeout=5)

    assert response.status_code == 201
    event = response.json()
    assert event["body"] == '{"amount": "12.50"}'
    assert "chunked" in event["headers"].get("Transfer-Encoding", "").lower()


def test_a_chunked_body_over_10_mb_is_refused_with_413(gateway: LocalGateway, recorder: Recorder) -> None:
    invoked_before = len(recorder.events("Echo"))

    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    response = requests.post(f"{gateway.rest_url}/echo/big-chunked", data=chunks(), timeout=10)

    assert response.status_code == 413
    assert len(recorder.events("Echo")) == invoked_before


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "SEARCH"])
def test_methods_without_a_route_get_the_templates_403(auth: DevAuth, recorder: Recorder, method: str) -> None:
    responses = {
        "MISSING_AUTHENTICATION_TOKEN": GatewayResponse(
            status=403, template='{"error": {"code": "$context.error.responseType", '
                                 '"message": $context.error.messageString, "details": {}}}'),
    }
    with LocalGateway(port=0, rest_routes=REST_ROUTES, websocket=None, invoke=recorder.invoke, auth=auth,
                      gateway_responses=responses) as plain:
        response = requests.request(method, f"{plain.rest_url}/echo/x", timeout=5)

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": "MISSING_AUTHENTICATION_TOKEN",
                                         "message": "Missing Authentication Token", "details": {}}}


def test_a_head_request_gets_headers_and_no_body(gateway: LocalGateway) -> None:
    answer = raw_exchange(gateway, b"HEAD /app.js HTTP/1.1\r\nHost: localhost\r\n\r\n", want_body=False)
    head, _, body = answer.partition(b"\r\n\r\n")

    assert head.startswith(b"HTTP/1.1 200")
    assert body == b""


def test_five_hundred_simultaneous_connections_are_all_answered(gateway: LocalGateway) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def one(index: int, start: asyncio.Event) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        await start.wait()  # every connection is open before any request goes out
        writer.write(f"GET /lots/lot-{index} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        return int(status_line.split()[1])

    async def burst() -> list[int | BaseException]:
        start = asyncio.Event()
        tasks = [asyncio.create_task(one(index, start)) for index in range(500)]
        await asyncio.sleep(0.5)
        start.set()
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)

    # On a thread of its own: the browser tests' Playwright may hold this thread's event loop.
    with ThreadPoolExecutor(1) as thread:
        statuses = thread.submit(asyncio.run, burst()).result()

    assert [status for status in statuses if status != 200] == []


# -- what is served to whom: Host (DNS rebinding) and subprotocols -------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:3000", "127.0.0.1.nip.io", "10.0.0.7"])
def test_a_host_the_gateway_does_not_serve_is_refused(gateway: LocalGateway, recorder: Recorder, host: str) -> None:
    """A page on another name that resolves to this machine (DNS rebinding) reaches the
    gateway with its own name as Host: nothing is answered, no function runs. A loopback
    gateway serves loopback addresses and localhost only."""
    before = len(recorder.events("LotApi"))
    for path in ("/lots/lot-1", "/app.js", "/.well-known/jwks.json"):
        answer = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
        answer.putrequest("GET", path, skip_host=True)
        answer.putheader("Host", host)
        answer.endheaders()
        response = answer.getresponse()
        assert response.status == 403, (host, path)
        answer.close()
    assert len(recorder.events("LotApi")) == before
    import socket

    with pytest.raises(InvalidStatus) as refused:
        # The URL names the Host; the connection goes to this gateway, as a rebound name's would.
        sock = socket.create_connection(("127.0.0.1", gateway.websocket_server.port), timeout=5)
        connect(f"ws://{host}/", sock=sock, open_timeout=5).close()
    assert refused.value.response.status_code == 403


def test_a_websocket_handshake_with_two_hosts_is_refused(gateway: LocalGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(gateway.websocket_url, open_timeout=5, additional_headers={"Host": "evil.example"}).close()
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "app.localhost"])
def test_the_names_of_this_machine_are_served(gateway: LocalGateway, host: str) -> None:
    answer = requests.get(f"{gateway.rest_url}/lots/lot-1", headers={"Host": f"{host}:{gateway.port}"}, timeout=5)
    assert answer.status_code == 200


def test_a_wildcard_gateway_serves_any_address_but_no_foreign_name() -> None:
    from local.apigateway.host_check import HostCheck

    opened = HostCheck("0.0.0.0", allowed=("tunnel.example",))
    assert all(opened.allows(host) for host in ("192.168.1.20:3000", "[fe80::1]", "localhost", "tunnel.example"))
    assert not any(opened.allows(host) for host in ("evil.example", "192.168.1.20.evil.example", None))


def test_the_subprotocol_the_connect_function_names_is_the_handshakes(gateway: LocalGateway) -> None:
    offered = [Subprotocol("samsold.v1"), Subprotocol("samsold.token.abc")]
    with connect(f"{gateway.websocket_url}/?protocol=samsold.v1", open_timeout=5, subprotocols=offered) as socket:
        assert socket.subprotocol == "samsold.v1"
    # One the client did not offer is not answered (a browser then drops the connection).
    with connect(f"{gateway.websocket_url}/?protocol=other", open_timeout=5, subprotocols=offered) as socket:
        assert socket.subprotocol is None


def test_the_gateway_users_own_routes_get_no_cors_preflight(auth: DevAuth, recorder: Recorder) -> None:
    """A page on another origin cannot send JSON to the dev site's routes (POST /dev/token)
    from a visitor's browser: their preflight is refused, the API's still answered."""
    own = {("POST", "/dev/token"): lambda request: HttpResponse(200, [], b"{}")}
    with LocalGateway(port=0, rest_routes=REST_ROUTES, websocket=None, invoke=recorder.invoke, auth=auth,
                      extra_routes=own) as plain:
        asked = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
        refused = requests.options(f"{plain.rest_url}/dev/token", headers=asked, timeout=5)
        assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
        assert requests.options(f"{plain.rest_url}/bid", headers=asked, timeout=5).status_code == 204
