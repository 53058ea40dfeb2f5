"""API Gateway on one machine: the REST API (Lambda proxy integration, Cognito-style
authorizer on the routes that need it) and the WebSocket API with its `@connections`
management API, driven by the routes read from template.yaml.

Ports: REST, static files and the management API share `port`; the WebSocket server
listens on `websocket_port` (default: the next port, or a free one when `port` is 0).
Stages: REST events carry `stage`; WebSocket events and the management URL carry the
WebSocket API's own stage (`WebSocketApi.stage`), as the template declares them apart.

For a web page served from `static_dir`: `site_config` (when set) is served as
`/config.json`, and `dev_tokens=True` adds `POST /dev/token` `{"user", "admin"}` ->
`{"token"}`, minted by the development auth (neither exists in AWS).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from local.apigateway.http_server import INTEGRATION_TIMEOUT_S, GatewayHttpServer
from local.apigateway.rest import RouteTable
from local.apigateway.websocket import LocalWebSocketApi
from local.cognito.user_pool import DevAuth
from local.sam.model import GatewayResponse, Invoke, RestRoute, WebSocketApi


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
        site_config: dict[str, Any] | None = None,
        dev_tokens: bool = False,
        gateway_responses: Mapping[str, GatewayResponse] | None = None,
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
    ) -> None:
        self.host = host
        self.port = port
        self.routes = RouteTable(rest_routes)
        self.websocket_api = websocket
        self.invoke = invoke
        self.auth = auth
        self.static_dir = static_dir
        self.stage = stage
        self.site_config = site_config
        self.dev_tokens = dev_tokens
        self.gateway_responses = dict(gateway_responses or {})
        self.integration_timeout_s = integration_timeout_s
        self.websocket_server: LocalWebSocketApi | None = None
        if websocket is not None:
            ws_port = websocket_port if websocket_port is not None else (port + 1 if port else 0)
            self.websocket_server = LocalWebSocketApi(websocket, invoke, host=host, port=ws_port)
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
        self._http = GatewayHttpServer(self, self.host, self.port, integration_timeout_s=self.integration_timeout_s)
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
