"""The gateway's HTTP side: one threaded server answering REST routes (Lambda proxy),
the WebSocket API's `@connections` management API, CORS preflights and static files
(with the page's `/config.json` and the development `POST /dev/token`)."""

from __future__ import annotations

import ipaddress
import json
import logging
import mimetypes
import re
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.auth import JWKS_PATH
from local.gateway_rest import (
    MAX_BODY_BYTES,
    HttpResponse,
    IncomingRequest,
    gateway_error,
    new_request_id,
    proxy_response,
    rest_event,
)
from local.gateway_websocket import MAX_MESSAGE_BYTES, ConnectionGone

if TYPE_CHECKING:
    from local.gateway import LocalGateway

log = logging.getLogger(__name__)

_CONNECTIONS_SEGMENT = "@connections"
SITE_CONFIG_PATH = "/config.json"
DEV_TOKEN_PATH = "/dev/token"
_DEV_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class GatewayHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], gateway: LocalGateway) -> None:
        self.gateway = gateway
        super().__init__(address, GatewayRequestHandler)


class GatewayRequestHandler(BaseHTTPRequestHandler):
    server: GatewayHttpServer
    protocol_version = "HTTP/1.1"  # keep-alive, as browsers and requests sessions expect

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        received_at = datetime.now(timezone.utc)
        declared_length = int(self.headers.get("Content-Length") or 0)
        if declared_length > MAX_BODY_BYTES:
            self._discard_body(declared_length)  # so the client, still sending, reads the answer
            self._send(gateway_error(413, f"HTTP content length exceeded {MAX_BODY_BYTES} bytes.", "REQUEST_TOO_LARGE",
                                     self.server.gateway.gateway_responses))
            return
        url = urlsplit(self.path)
        request = IncomingRequest(
            method=self.command,
            path=unquote(url.path) or "/",
            query=parse_qsl(url.query, keep_blank_values=True),
            headers=list(self.headers.items()),
            body=self.rfile.read(declared_length) if declared_length else b"",
            source_ip=self.client_address[0],
            received_at=received_at,
        )
        self._send(self._respond(request, url.path))

    def _discard_body(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    def _respond(self, request: IncomingRequest, raw_path: str) -> HttpResponse:
        gateway = self.server.gateway
        if gateway.websocket_api is not None:
            connection_id = _management_target(raw_path, gateway.websocket_api.stage)
            if connection_id is not None:
                return _management(gateway, request, connection_id)
        if request.method == "OPTIONS" and request.header("Access-Control-Request-Method"):
            return _preflight(request)
        if request.method == "GET" and request.path == JWKS_PATH:
            return _json(200, gateway.auth.jwks())  # as a Cognito user pool publishes its keys
        if request.path == SITE_CONFIG_PATH and request.method in ("GET", "HEAD") and gateway.site_config is not None:
            return _json(200, _as_seen_by(gateway.site_config, gateway.host, request.header("Host")))
        if request.path == DEV_TOKEN_PATH and request.method == "POST" and gateway.dev_tokens:
            return _dev_token(gateway, request)
        matched = gateway.routes.match(request.method, request.path)
        if matched is None:
            return _static(gateway.static_dir, request) or _missing_route(gateway)
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

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


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


def _as_seen_by(config: dict[str, Any], bound_host: str, host_header: str | None) -> dict[str, Any]:
    """The page's configuration with the gateway's own URLs naming the host the browser
    asked for (`localhost`, or this machine's address when it listens on 0.0.0.0), so
    the page's REST calls stay same-origin and its WebSocket reaches the right machine."""
    asked = urlsplit(f"//{host_header}").hostname if host_header else None
    if not asked:
        return config
    asked = f"[{asked}]" if ":" in asked else asked

    def rewrite(value: Any) -> Any:
        if not isinstance(value, str) or "://" not in value:
            return value
        url = urlsplit(value)
        if url.hostname != bound_host.strip("[]") or url.port is None:
            return value
        return url._replace(netloc=f"{asked}:{url.port}").geturl()

    return {name: rewrite(value) for name, value in config.items()}


def _dev_token(gateway: LocalGateway, request: IncomingRequest) -> HttpResponse:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    user = body.get("user") if isinstance(body, dict) else None
    admin = body.get("admin", False) if isinstance(body, dict) else None
    if not isinstance(user, str) or not _DEV_USER.match(user) or not isinstance(admin, bool):
        return _json(400, {"error": {
            "code": "INVALID_REQUEST",
            "message": 'send {"user": "<letters, digits, _ . @ ->", "admin": false}',
            "details": None,
        }})
    if admin and not ipaddress.ip_address(request.source_ip).is_loopback:
        # With --host 0.0.0.0 others on the network reach the stack: they may sign in, not administer.
        return _json(403, {"error": {"code": "FORBIDDEN", "message": "admin tokens only for this machine", "details": None}})
    return _json(200, {"token": gateway.auth.mint(user, admin=admin), "user": user, "admin": admin})


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
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
