"""API Gateway on one machine: the REST API (Lambda proxy integration, Cognito-style
authorizer on the routes that need it) and the WebSocket API with its `@connections`
management API, driven by the routes read from template.yaml.

Ports: REST, static files and the management API share `port`; the WebSocket server
listens on `websocket_port` (default: the next port, or a free one when `port` is 0).
Stages: REST events carry `stage`; WebSocket events and the management URL carry the
WebSocket API's own stage (`WebSocketApi.stage`), as the template declares them apart.

The gateway answers only requests whose Host names an address it serves (DNS rebinding:
a page on another name resolved to this machine gets 403), and the `@connections` API only
calls signed with SigV4 by `management_credentials`, the key the runtime hands the
functions alone (`local.apigateway.host_check`, `local.apigateway.sigv4`).

A burst larger than a function's concurrency meets it as in AWS: Lambda queues no
synchronous call, so a call none of the function's workers can start within
`FUNCTION_START_TIMEOUT_S` is throttled, answered with the THROTTLED gateway response (429,
the template's Retry-After), never left to time out as a 504 (in AWS a function's throttle
reaches the client as a 5xx, the INTEGRATION_FAILURE response: the stage's throttle on
`POST /bid` is what should refuse a burst there first, docs/DEPLOY.md).

Besides the template's routes (neither exists in AWS): files from `static_dir`, and
`extra_routes`, (method, path) -> answer, answered before the template's routes and
same-origin only (their CORS preflights are refused); the
application's own pages come in this way (samsold_cli/dev_site.py), so the gateway
knows none of them. Answering happens here; `http_server` is the transport.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote

from local.apigateway.host_check import HostCheck
from local.apigateway.http_server import FUNCTION_START_TIMEOUT_S, INTEGRATION_TIMEOUT_S, GatewayHttpServer
from local.apigateway.rest import (
    HttpResponse,
    IncomingRequest,
    RouteTable,
    gateway_error,
    new_request_id,
    proxy_response,
    rest_event,
)
from local.apigateway.sigv4 import Credentials, signature_problem
from local.apigateway.throttling import RateRules, Throttling
from local.apigateway.websocket import MAX_MESSAGE_BYTES, ConnectionGone, LocalWebSocketApi
from local.cognito.user_pool import JWKS_PATH, DevAuth
from local.sam.model import GatewayResponse, Invoke, RateRule, RestRoute, RestThrottles, WebSocketApi

log = logging.getLogger(__name__)

# (method, path) -> its answer: routes of the gateway's user, beside the template's.
ExtraRoutes = Mapping[tuple[str, str], Callable[[IncomingRequest], HttpResponse]]

_CONNECTIONS_SEGMENT = "@connections"


class LocalGateway:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        rest_routes: list[RestRoute],
        websocket: WebSocketApi | None,
        invoke: Invoke,
        auth: DevAuth,
        static_dir: Path | None = None,
        stage: str = "prod",
        websocket_port: int | None = None,
        extra_routes: ExtraRoutes | None = None,
        gateway_responses: Mapping[str, GatewayResponse] | None = None,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
        management_credentials: Credentials | None = None,
        allowed_hosts: tuple[str, ...] = (),
        rest_throttles: RestThrottles | None = None,
        rate_rules: list[RateRule] | None = None,
        function_concurrency: Mapping[str, int] | None = None,
        function_start_timeout_s: float = FUNCTION_START_TIMEOUT_S,
    ) -> None:
        """`function_concurrency`: each function's concurrency (its reserved concurrency, or
        the local limit), so a call none of its workers can start in time is throttled as
        Lambda throttles it (`local.apigateway.http_server.FUNCTION_START_TIMEOUT_S`)."""
        self.host = host
        # Who may call @connections: by default a key made for this gateway alone.
        self.management_credentials = management_credentials or Credentials.generate()
        self.host_check = HostCheck(host, allowed_hosts)
        self.port = port
        self.routes = RouteTable(rest_routes)
        self.websocket_api = websocket
        self.invoke = invoke
        self.auth = auth
        self.static_dir = static_dir
        self.stage = stage
        self.extra_routes: ExtraRoutes = dict(extra_routes or {})
        self.gateway_responses = dict(gateway_responses or {})
        self.integration_timeout_s = integration_timeout_s
        self.function_concurrency = dict(function_concurrency or {})
        self.function_start_timeout_s = function_start_timeout_s
        self.throttling = Throttling(rest_throttles or {})
        self.web_acl = RateRules(rate_rules or [])
        self.websocket_server: LocalWebSocketApi | None = None
        if websocket is not None:
            ws_port = websocket_port if websocket_port is not None else (port + 1 if port else 0)
            self.websocket_server = LocalWebSocketApi(websocket, invoke, host=host, port=ws_port,
                                                      host_check=self.host_check)
        self._http: GatewayHttpServer | None = None

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def websocket_url(self) -> str:
        if self.websocket_server is None:
            raise RuntimeError("this gateway has no WebSocket API")
        return f"ws://{self.host}:{self.websocket_server.port}"

    @property
    def websocket_management_url(self) -> str:
        # As https://{api-id}.execute-api.{region}.amazonaws.com/{stage}: botocore appends /@connections/{id}.
        if self.websocket_api is None:
            raise RuntimeError("this gateway has no WebSocket API")
        return f"{self.rest_url}/{self.websocket_api.stage}"

    def start(self) -> LocalGateway:
        self._http = GatewayHttpServer(partial(_respond, self), self.host, self.port,
                                       line_of=partial(_function_of, self), gateway_responses=self.gateway_responses,
                                       integration_timeout_s=self.integration_timeout_s,
                                       function_concurrency=self.function_concurrency,
                                       function_start_timeout_s=self.function_start_timeout_s)
        self._http.start()
        self.port = self._http.port
        if self.websocket_server is not None:
            try:
                self.websocket_server.start()
            except BaseException:
                self._http.stop()
                self._http = None
                raise
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self.websocket_server is not None:
            self.websocket_server.stop()

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _function_of(gateway: LocalGateway, request: IncomingRequest, raw_path: str) -> str | None:
    """The function `_respond` will invoke for this request, if any (the same order of checks)."""
    if gateway.websocket_api is not None and _management_target(raw_path, gateway.websocket_api.stage) is not None:
        return None
    if request.method == "OPTIONS" and request.header("Access-Control-Request-Method"):
        return None
    if (request.method, request.path) in gateway.extra_routes:
        return None
    matched = gateway.routes.match(request.method, request.path)
    return matched.route.function if matched is not None else None


def _respond(gateway: LocalGateway, request: IncomingRequest, raw_path: str) -> HttpResponse:
    if not gateway.host_check.allows(request.header("Host")):
        return gateway_error(403, "this gateway does not serve that Host", "INVALID_HOST", gateway.gateway_responses)
    if gateway.websocket_api is not None:
        connection_id = _management_target(raw_path, gateway.websocket_api.stage)
        if connection_id is not None:
            problem = signature_problem(request, raw_path, gateway.management_credentials)
            if problem is not None:
                return _management_error(403, "ForbiddenException", problem)
            return _management(gateway, request, connection_id)
    if request.method == "OPTIONS" and request.header("Access-Control-Request-Method"):
        if any(path == request.path for _, path in gateway.extra_routes):
            # The gateway user's own routes are same-origin only: no page elsewhere may send
            # them JSON (or anything a preflight guards) from a visitor's browser.
            return _missing_route(gateway)
        return _preflight(request)
    if request.method == "GET" and request.path == JWKS_PATH:
        return _json(200, gateway.auth.jwks())  # as a Cognito user pool publishes its keys
    extra = gateway.extra_routes.get((request.method, request.path))
    if extra is not None:
        return extra(request)
    matched = gateway.routes.match(request.method, request.path)
    if matched is None:
        # Any other method (TRACE, ...) or path gets API Gateway's 403, as in AWS.
        return _static(gateway.static_dir, request) or _missing_route(gateway)
    if (blocked := gateway.web_acl.blocking(request.source_ip, request.header)) is not None:
        # The WAF in front of the stage: its custom response, before API Gateway's throttling.
        return HttpResponse(blocked.status, [("Content-Type", "application/json"), *blocked.headers.items()],
                            blocked.body.encode())
    if not gateway.throttling.admits_rest(matched.route.method, matched.route.path):
        # The stage's throttling, before the authorizer and the function.
        return gateway_error(429, "Too Many Requests", "THROTTLED", gateway.gateway_responses)
    claims = gateway.auth.claims(_bearer_token(request)) if matched.route.auth_required else None
    if matched.route.auth_required and claims is None:
        # The authorizer refuses; the function never runs.
        return gateway_error(401, "Unauthorized", "UNAUTHORIZED", gateway.gateway_responses)
    request_id = new_request_id()
    event = rest_event(request, matched, stage=gateway.stage, claims=claims, request_id=request_id)
    try:
        result = gateway.invoke(matched.route.function, event)
    except Exception:
        log.exception("%s %s: function %s failed", request.method, request.path, matched.route.function)
        return _with_request_id(
            gateway_error(502, "Internal server error", "INTEGRATION_FAILURE", gateway.gateway_responses), request_id
        )
    return _with_request_id(proxy_response(result), request_id)


def _missing_route(gateway: LocalGateway) -> HttpResponse:
    # API Gateway answers an unknown resource or method with 403, not 404.
    return gateway_error(403, "Missing Authentication Token", "MISSING_AUTHENTICATION_TOKEN", gateway.gateway_responses)


def _with_request_id(response: HttpResponse, request_id: str) -> HttpResponse:
    return HttpResponse(response.status, [*response.headers, ("x-amzn-RequestId", request_id)], response.body)


def _bearer_token(request: IncomingRequest) -> str | None:
    # The Cognito authorizer reads the Authorization header; accept the token with or without "Bearer ".
    value = request.header("Authorization")
    if value is None:
        return None
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else value.strip()


def _preflight(request: IncomingRequest) -> HttpResponse:
    # Permissive: locally the page is served from this origin anyway.
    headers = [
        ("Access-Control-Allow-Origin", request.header("Origin") or "*"),
        ("Access-Control-Allow-Methods", "GET,POST,PUT,PATCH,DELETE,OPTIONS"),
        ("Access-Control-Allow-Headers", request.header("Access-Control-Request-Headers") or "*"),
        ("Access-Control-Max-Age", "600"),
        ("Vary", "Origin"),
    ]
    return HttpResponse(204, headers)


def _static(static_dir: Path | None, request: IncomingRequest) -> HttpResponse | None:
    if static_dir is None or request.method not in ("GET", "HEAD"):
        return None
    if "\x00" in request.path:  # no file name holds a NUL (the OS refuses it): no such file
        return None
    root = static_dir.resolve()
    target = (root / request.path.lstrip("/")).resolve()
    if not target.is_relative_to(root):
        return None
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return None
    content_type = _content_type(target)
    return HttpResponse(200, [("Content-Type", content_type), ("Cache-Control", "no-cache")], target.read_bytes())


def _content_type(path: Path) -> str:
    # Fixed for the types browsers are strict about; the platform's mime table can differ.
    known = {
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".svg": "image/svg+xml",
    }
    guessed = known.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def _management_target(raw_path: str, stage: str) -> str | None:
    """The connection id in `/{stage}/@connections/{id}`: botocore appends the operation's
    `/@connections/{connectionId}` (id percent-encoded) to the endpoint URL's path."""
    parts = raw_path.split("/")
    if len(parts) == 4 and parts[0] == "" and parts[1] == stage and parts[2] == _CONNECTIONS_SEGMENT:
        return unquote(parts[3])
    return None


def _management(gateway: LocalGateway, request: IncomingRequest, connection_id: str) -> HttpResponse:
    api = gateway.websocket_server
    assert api is not None
    try:
        if request.method == "POST":
            if len(request.body) > MAX_MESSAGE_BYTES:
                return _management_error(413, "PayloadTooLargeException", "Message too long")
            api.post_to_connection(connection_id, request.body)
            return HttpResponse(200, [("Content-Type", "application/json")])
        if request.method == "GET":
            info = api.get_connection(connection_id)
            return _json(200, {
                "connectedAt": _iso(info.connected_at_ms),
                "identity": {"sourceIp": info.source_ip, "userAgent": info.user_agent},
                "lastActiveAt": _iso(info.last_active_at_ms),
            })
        if request.method == "DELETE":
            api.delete_connection(connection_id)
            return HttpResponse(204, [])
    except ConnectionGone:
        return _management_error(410, "GoneException", None)
    return _missing_route(gateway)


def _management_error(status: int, error_type: str, message: str | None) -> HttpResponse:
    # botocore's rest-json parser takes the error code from this header, so
    # client.exceptions.GoneException and friends match as they do against AWS.
    response = _json(status, {"message": message})
    return HttpResponse(status, [*response.headers, ("x-amzn-ErrorType", error_type)], response.body)


def _json(status: int, payload: object) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(payload).encode())


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
