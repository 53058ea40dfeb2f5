"""API Gateway v2 WEBSOCKET stand-in: an asyncio `websockets` server in its own thread
that invokes the route functions with API Gateway's WebSocket proxy events, and the
operations behind the `@connections` management API, callable from any thread.

Event shapes follow the developer guide's WebSocket integration requests and are checked
in the tests against Powertools' `APIGatewayWebSocket{Connect,Message,Disconnect}EventModel`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from local.apigateway.formats import clf_time, forwarded_headers, grouped, last_values, random_id
from local.apigateway.host_check import HostCheck
from local.apigateway.throttling import Throttling
from local.sam.model import Invoke, WebSocketApi

log = logging.getLogger(__name__)

API_ID = "localws001"
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message and PostToConnection limit
_MANAGEMENT_TIMEOUT_S = 10.0
# A crowd at the door (every page reconnecting after a network blip, a link shared in a
# newsletter): thousands of handshakes at once. The kernel queues this many connections
# before accept() (Linux caps it at net.core.somaxconn; asyncio's default of 100 dropped the
# rest, so they came back only after the clients' SYN retries), and a handshake may wait
# this long for its $connect: locally it queues for one of the function's workers, where
# Lambda would start more sandboxes (the websockets library's default of 10 s refused most
# of a crowd of 2,000).
CROWD_LISTEN_BACKLOG = 4096
CROWD_HANDSHAKE_TIMEOUT_S = 120.0


class ConnectionGone(Exception):
    """The connection id is unknown or closed: the management API's 410 GoneException."""


@dataclass
class ConnectionInfo:
    connection_id: str
    connected_at_ms: int
    last_active_at_ms: int
    source_ip: str
    user_agent: str
    headers: list[tuple[str, str]]
    socket: ServerConnection | None = field(default=None, repr=False)
    # The subprotocol the $connect function chose (its response's Sec-WebSocket-Protocol).
    subprotocol: str | None = None


class LocalWebSocketApi:
    def __init__(self, api: WebSocketApi, invoke: Invoke, *, host: str, port: int,
                 host_check: HostCheck | None = None) -> None:
        self.api = api
        self.host_check = host_check or HostCheck(host)
        self.invoke = invoke
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-websocket", daemon=True)
        # Invocations run here so a slow function never stalls the event loop.
        self._invokers = ThreadPoolExecutor(max_workers=32, thread_name_prefix="local-websocket-invoke")
        self._server: Server | None = None
        self.throttling = Throttling(api.throttles)
        self._connections: dict[str, ConnectionInfo] = {}  # touched only on the loop
        self._closing: set[asyncio.Future[None]] = set()
        # Connections between an accepted $connect and the end of the handshake.
        self._handshaking: weakref.WeakKeyDictionary[ServerConnection, ConnectionInfo] = (
            weakref.WeakKeyDictionary()
        )

    def start(self) -> None:
        self._thread.start()
        try:
            self._server = self._call(self._serve())
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise
        self.port = next(iter(self._server.sockets)).getsockname()[1]

    def stop(self) -> None:
        if self._server is None:
            return
        # Closing the server closes every connection and waits for their $disconnect.
        self._call(self._close_server())
        self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._invokers.shutdown(wait=False, cancel_futures=True)

    # -- the @connections management API ------------------------------------------

    def post_to_connection(self, connection_id: str, data: bytes) -> None:
        self._call(self._post(connection_id, data))

    def get_connection(self, connection_id: str) -> ConnectionInfo:
        return self._call(self._get(connection_id))

    def delete_connection(self, connection_id: str) -> None:
        self._call(self._delete(connection_id))

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_MANAGEMENT_TIMEOUT_S)

    async def _post(self, connection_id: str, data: bytes) -> None:
        socket = self._open_socket(connection_id)
        try:
            await socket.send(_frame(data))
        except ConnectionClosed as closed:
            raise ConnectionGone(connection_id) from closed

    async def _get(self, connection_id: str) -> ConnectionInfo:
        self._open_socket(connection_id)
        return self._connections[connection_id]

    async def _delete(self, connection_id: str) -> None:
        socket = self._open_socket(connection_id)
        # Gone at once for later calls; the closing handshake finishes in the background.
        del self._connections[connection_id]
        closing = asyncio.ensure_future(socket.close(1000))
        self._closing.add(closing)  # the loop keeps only weak references to tasks
        closing.add_done_callback(self._closing.discard)

    def _open_socket(self, connection_id: str) -> ServerConnection:
        info = self._connections.get(connection_id)
        if info is None or info.socket is None or info.socket.close_code is not None:
            raise ConnectionGone(connection_id)
        return info.socket

    # -- serving ----------------------------------------------------------------------

    async def _serve(self) -> Server:
        return await serve(
            self._session,
            self.host,
            self.port,
            process_request=self._on_handshake,
            process_response=self._on_handshake_response,
            max_size=MAX_MESSAGE_BYTES,
            **crowd_handshake_options(),
        )

    async def _close_server(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _on_handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        """Runs the $connect route before the handshake completes: a non-2xx answer or an
        error refuses the connection with that status, as API Gateway does. A Host this
        gateway does not serve is refused before anything runs (DNS rebinding)."""
        hosts = request.headers.get_all("Host")
        if len(hosts) != 1 or not self.host_check.allows(hosts[0]):
            return socket.respond(403, "Forbidden\n")
        now_ms = _now_ms()
        info = ConnectionInfo(
            connection_id=random_id(),
            connected_at_ms=now_ms,
            last_active_at_ms=now_ms,
            source_ip=str(socket.remote_address[0]),
            user_agent=request.headers.get("User-Agent", ""),
            headers=forwarded_headers(list(request.headers.raw_items()), str(socket.remote_address[0])),
        )
        function = self.api.routes.get("$connect")
        if function is not None and not self.throttling.admits_websocket("$connect"):
            return socket.respond(429, "Too Many Requests\n")  # the stage's throttling, before the function
        if function is not None:
            event = self._connect_event(info, request)
            try:
                result = await self._invoke(function, event)
            except Exception:
                log.exception("$connect function %s failed", function)
                return socket.respond(500, "Internal server error\n")
            status = _status_of(result)
            if not 200 <= status < 300:
                return socket.respond(status, _body_of(result) or "Forbidden\n")
            info.subprotocol = _chosen_subprotocol(result, request)
        self._handshaking[socket] = info
        return None

    def _on_handshake_response(self, socket: ServerConnection, request: Request, response: Response) -> None:
        """API Gateway answers the handshake with the Sec-WebSocket-Protocol header the
        $connect function returned (and none otherwise): a browser that offered
        subprotocols closes a connection whose answer names none of them."""
        info = self._handshaking.get(socket)
        if info is not None and info.subprotocol is not None and response.status_code == 101:
            response.headers["Sec-WebSocket-Protocol"] = info.subprotocol

    async def _session(self, socket: ServerConnection) -> None:
        info = self._handshaking.pop(socket)
        info.socket = socket
        self._connections[info.connection_id] = info
        try:
            async for message in socket:
                info.last_active_at_ms = _now_ms()
                await self._on_message(info, message)
        except ConnectionClosed:
            pass
        finally:
            self._connections.pop(info.connection_id, None)
            await self._on_disconnect(info, socket)

    async def _on_message(self, info: ConnectionInfo, message: str | bytes) -> None:
        body, is_base64 = _message_body(message)
        route_key = self._route_key(body if not is_base64 else None)
        request_id = str(uuid.uuid4())
        assert info.socket is not None
        if route_key is None:
            await _send_error(info.socket, "Forbidden", info.connection_id, request_id)
            return
        if not self.throttling.admits_websocket(route_key):
            await _send_error(info.socket, "Too Many Requests", info.connection_id, request_id)
            return
        event = self._message_event(info, route_key, body, is_base64, request_id)
        try:
            result = await self._invoke(self.api.routes[route_key], event)
        except Exception:
            log.exception("WebSocket route %s failed", route_key)
            await _send_error(info.socket, "Internal server error", info.connection_id, request_id)
            return
        # Route responses: whatever body the function returns goes back to the caller.
        reply = _body_of(result)
        if reply:
            await info.socket.send(reply)

    async def _on_disconnect(self, info: ConnectionInfo, socket: ServerConnection) -> None:
        function = self.api.routes.get("$disconnect")
        if function is None:
            return
        event = self._disconnect_event(info, socket)
        try:
            await self._invoke(function, event)
        except Exception:  # API Gateway ignores $disconnect failures: the client is gone
            log.exception("$disconnect function %s failed", function)

    async def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._invokers, self.invoke, function, event)

    def _route_key(self, body: str | None) -> str | None:
        selected = _select_route(self.api.route_selection_expression, body)
        if selected is not None and selected in self.api.routes and not selected.startswith("$"):
            return selected
        return "$default" if "$default" in self.api.routes else None

    # -- events -----------------------------------------------------------------------

    def _request_context(self, info: ConnectionInfo, route_key: str, event_type: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": random_id(),
            "requestTime": clf_time(now),
            "messageDirection": "IN",
            "stage": self.api.stage,
            "connectedAt": info.connected_at_ms,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {"sourceIp": info.source_ip, "userAgent": info.user_agent},
            "requestId": str(uuid.uuid4()),
            "domainName": f"{self.host}:{self.port}",
            "connectionId": info.connection_id,
            "apiId": API_ID,
        }

    def _connect_event(self, info: ConnectionInfo, request: Request) -> dict[str, Any]:
        event: dict[str, Any] = {
            **_header_maps(info.headers),
            "requestContext": self._request_context(info, "$connect", "CONNECT"),
            "isBase64Encoded": False,
        }
        query = parse_qsl(urlsplit(request.path).query, keep_blank_values=True)
        if query:
            event["queryStringParameters"] = last_values(query)
            event["multiValueQueryStringParameters"] = grouped(query)
        return event

    def _message_event(
        self, info: ConnectionInfo, route_key: str, body: str, is_base64: bool, request_id: str
    ) -> dict[str, Any]:
        context = self._request_context(info, route_key, "MESSAGE")
        context["requestId"] = request_id
        context["messageId"] = random_id()
        return {"requestContext": context, "body": body, "isBase64Encoded": is_base64}

    def _disconnect_event(self, info: ConnectionInfo, socket: ServerConnection) -> dict[str, Any]:
        context = self._request_context(info, "$disconnect", "DISCONNECT")
        context["disconnectStatusCode"] = socket.close_code if socket.close_code is not None else 1006
        context["disconnectReason"] = socket.close_reason or ""
        return {**_header_maps(info.headers), "requestContext": context, "isBase64Encoded": False}


def _select_route(expression: str, body: str | None) -> str | None:
    """Evaluates `$request.body.<path>` against a JSON body; anything else selects nothing."""
    prefix = "$request.body."
    if body is None or not expression.startswith(prefix):
        return None
    try:
        value: Any = json.loads(body)
    except (ValueError, RecursionError):  # nested too deep for the parser: selects no route, as unparseable
        return None
    for name in expression[len(prefix):].split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value if isinstance(value, str) else None


def _header_maps(headers: list[tuple[str, str]]) -> dict[str, Any]:
    return {"headers": last_values(headers), "multiValueHeaders": grouped(headers)}


def _message_body(message: str | bytes) -> tuple[str, bool]:
    if isinstance(message, str):
        return message, False
    return base64.b64encode(message).decode("ascii"), True


def _frame(data: bytes) -> str | bytes:
    # PostToConnection data arrives at the client as a text frame when it is text.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _chosen_subprotocol(result: Any, request: Request) -> str | None:
    """The $connect response's Sec-WebSocket-Protocol, when it is one the client offered."""
    headers = result.get("headers") if isinstance(result, dict) else None
    if not isinstance(headers, dict):
        return None
    chosen = next((value for name, value in headers.items() if name.lower() == "sec-websocket-protocol"), None)
    offered = {item.strip() for value in request.headers.get_all("Sec-WebSocket-Protocol") for item in value.split(",")}
    return chosen if isinstance(chosen, str) and chosen in offered else None


def _status_of(result: Any) -> int:
    if isinstance(result, dict) and isinstance(result.get("statusCode"), int):
        return result["statusCode"]
    return 200


def _body_of(result: Any) -> str | None:
    if isinstance(result, dict) and isinstance(result.get("body"), str):
        return result["body"]
    return None


async def _send_error(socket: ServerConnection, message: str, connection_id: str, request_id: str) -> None:
    await socket.send(json.dumps({"message": message, "connectionId": connection_id, "requestId": request_id}))


def _now_ms() -> int:
    return int(time.time() * 1000)


def crowd_handshake_options() -> dict[str, Any]:
    """How the WebSocket server takes a crowd of handshakes at once (see CROWD_LISTEN_BACKLOG):
    a listen backlog for all of them, and room for each to wait its turn at $connect."""
    return {"backlog": CROWD_LISTEN_BACKLOG, "open_timeout": CROWD_HANDSHAKE_TIMEOUT_S}
