"""The gateway's HTTP side: one aiohttp server answering REST routes (Lambda proxy),
the WebSocket API's `@connections` management API, CORS preflights and static files
(with the page's `/config.json` and the development `POST /dev/token`)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import mimetypes
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aiohttp import StreamReader, web
from multidict import CIMultiDict

from local.apigateway.rest import (
    MAX_BODY_BYTES,
    HttpResponse,
    IncomingRequest,
    gateway_error,
    new_request_id,
    proxy_response,
    rest_event,
)
from local.apigateway.websocket import MAX_MESSAGE_BYTES, ConnectionGone
from local.cognito.user_pool import JWKS_PATH

if TYPE_CHECKING:
    from local.apigateway.gateway import LocalGateway

log = logging.getLogger(__name__)

_CONNECTIONS_SEGMENT = "@connections"
SITE_CONFIG_PATH = "/config.json"
DEV_TOKEN_PATH = "/dev/token"
_DEV_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
# Connections the kernel queues before accept(): a burst of 2,000 bids must not be refused
# (http.server's 5 lost 843 of them). Linux caps it at net.core.somaxconn.
LISTEN_BACKLOG = 2048
# Threads answering at once, per function (mostly waiting on its workers; more requests wait
# in that function's line) and for the gateway's own answers (@connections, files, CORS).
# Lines of their own, as each Lambda function has its own concurrency: a flood of bids must
# not hold up GET /lots or the broadcasts' @connections posts.
THREADS_PER_FUNCTION = 32
GATEWAY_THREADS = 16
# API Gateway's integration timeout: a request not answered by then gets a 504, and one
# still waiting for a thread by then is never invoked (so a burst that outlasts its
# clients does not leave a backlog of calls nobody waits for).
INTEGRATION_TIMEOUT_S = 29.0
SHUTDOWN_TIMEOUT_S = 1.0


class GatewayHttpServer:
    """aiohttp's server on an event loop of its own thread: a listen backlog that takes a
    burst of thousands of connections, and aiohttp's HTTP/1.1 parser (chunked bodies; a
    malformed request line or `Content-Length` answered 400). Answering a request (a
    function invocation, the @connections API, a file) blocks, so it runs on sized thread
    pools, one per function and one for the gateway's own answers, never on the loop."""

    def __init__(self, gateway: LocalGateway, host: str, port: int, *, backlog: int = LISTEN_BACKLOG,
                 integration_timeout_s: float = INTEGRATION_TIMEOUT_S) -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self.backlog = backlog
        self.integration_timeout_s = integration_timeout_s
        self._lines: dict[str, ThreadPoolExecutor] = {}  # function logical id ("" for the gateway) -> threads
        self._loop = asyncio.new_event_loop()
        self._runner: web.BaseRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listens (an OSError when the address is taken) and serves on a thread of its own."""
        try:
            self._runner = self._loop.run_until_complete(self._listen())
        except BaseException:
            self._loop.close()
            raise
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-gateway-loop", daemon=True)
        self._thread.start()

    async def _listen(self) -> web.BaseRunner:
        # A short shutdown: stopping the stack must not wait a minute for calls still in flight.
        runner = web.ServerRunner(web.Server(self._handle, access_log=None), handle_signals=False,
                                  shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, backlog=self.backlog, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        return runner

    def stop(self) -> None:
        if self._thread is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(SHUTDOWN_TIMEOUT_S + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        for line in self._lines.values():
            line.shutdown(wait=False, cancel_futures=True)
        self._lines = {}
        self._thread = self._runner = None

    def _line(self, request: IncomingRequest, raw_path: str) -> ThreadPoolExecutor:
        """The threads of the function this request goes to, or the gateway's own (created on first use)."""
        name = _function_of(self.gateway, request, raw_path) or ""
        line = self._lines.get(name)
        if line is None:
            size = THREADS_PER_FUNCTION if name else GATEWAY_THREADS
            line = self._lines[name] = ThreadPoolExecutor(size, thread_name_prefix=f"local-gateway:{name or 'own'}")
        return line

    async def _handle(self, http_request: web.BaseRequest) -> web.StreamResponse:
        received_at = datetime.now(timezone.utc)
        gateway = self.gateway
        declared_length = http_request.content_length
        if declared_length is not None and declared_length > MAX_BODY_BYTES:
            # Answered before reading; aiohttp discards what the client still sends.
            return _as_aiohttp(_too_large(gateway))
        if http_request.headers.get("Expect", "").lower() == "100-continue":
            await http_request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await _read_body(http_request.content)
        if body is None:  # chunked, and longer than the limit
            return _as_aiohttp(_too_large(gateway))
        url = urlsplit(http_request.raw_path)
        request = IncomingRequest(
            method=http_request.method,
            path=unquote(url.path) or "/",
            query=parse_qsl(url.query, keep_blank_values=True),
            headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in http_request.raw_headers],
            body=body,
            source_ip=http_request.remote or "",
            received_at=received_at,
        )
        loop = asyncio.get_running_loop()
        answering = loop.run_in_executor(self._line(request, url.path), _respond, gateway, request, url.path)
        try:
            # On timeout the call is cancelled if it has not started; one already running finishes unseen.
            response = await asyncio.wait_for(answering, self.integration_timeout_s)
        except asyncio.TimeoutError:
            response = gateway_error(504, "Endpoint request timed out", "INTEGRATION_TIMEOUT",
                                     gateway.gateway_responses)
        return _as_aiohttp(response)


async def _read_body(stream: StreamReader) -> bytes | None:
    """The whole body, or None once it passes MAX_BODY_BYTES."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.readany()
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        parts.append(chunk)


def _too_large(gateway: LocalGateway) -> HttpResponse:
    return gateway_error(413, f"HTTP content length exceeded {MAX_BODY_BYTES} bytes.", "REQUEST_TOO_LARGE",
                         gateway.gateway_responses)


_FRAMING_HEADERS = {"content-length", "transfer-encoding", "connection"}


def _as_aiohttp(response: HttpResponse) -> web.Response:
    # aiohttp frames the body itself; a function's own framing headers would contradict it.
    headers = CIMultiDict((name, value) for name, value in response.headers if name.lower() not in _FRAMING_HEADERS)
    return web.Response(status=response.status, headers=headers, body=response.body)


def _function_of(gateway: LocalGateway, request: IncomingRequest, raw_path: str) -> str | None:
    """The function `_respond` will invoke for this request, if any (the same order of checks)."""
    if gateway.websocket_api is not None and _management_target(raw_path, gateway.websocket_api.stage) is not None:
        return None
    if request.method == "OPTIONS" and request.header("Access-Control-Request-Method"):
        return None
    matched = gateway.routes.match(request.method, request.path)
    return matched.route.function if matched is not None else None


def _respond(gateway: LocalGateway, request: IncomingRequest, raw_path: str) -> HttpResponse:
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
        # Any other method (TRACE, ...) or path gets API Gateway's 403, as in AWS.
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
