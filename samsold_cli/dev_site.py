"""The application's own pages on the local stack, beside the API (none of them exists in
AWS): the files of web/, `/config.json` (where the page reads its REST and WebSocket URLs)
`POST /dev/token` `{"user", "admin"}` -> `{"token", "user", "admin"}` (where it signs
in development users), and `/favicon.ico` answered 204 (the page links `favicon.svg`;
this is for clients that ask for the old name anyway, which would otherwise get API
Gateway's 403 for a path without a route).

The user pool's stand-in (`local.cognito.user_pool.DevAuth`) mints the token; this module
only offers it to the page, refusing in the API's error envelope
`{"error": {"code", "message", "details"}}`. `samsold dev` and the tests' stacks pass
`static_dir=WEB_DIR, site=dev_site` to `LocalStack`, whose gateway answers these routes
before the template's.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from local.apigateway.rest import HttpResponse, IncomingRequest
from local.cognito.user_pool import DevAuth

if TYPE_CHECKING:
    from local.runtime import LocalStack

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
SITE_CONFIG_PATH = "/config.json"
DEV_TOKEN_PATH = "/dev/token"
FAVICON_ICO_PATH = "/favicon.ico"
_DEV_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class _Signs(Protocol):
    @property
    def auth(self) -> DevAuth: ...


def dev_site(stack: LocalStack) -> dict[tuple[str, str], Callable[[IncomingRequest], HttpResponse]]:
    """The routes, once the stack's endpoints are known: (method, path) -> answer."""
    config = {"rest": stack.endpoints["rest"], "websocket": stack.endpoints["websocket"], "dev_tokens": True}

    def site_config(request: IncomingRequest) -> HttpResponse:
        return _json(200, _as_seen_by(config, stack.host, request.header("Host")))

    return {
        ("GET", SITE_CONFIG_PATH): site_config,
        ("HEAD", SITE_CONFIG_PATH): site_config,
        ("POST", DEV_TOKEN_PATH): partial(_dev_token, stack),
        ("GET", FAVICON_ICO_PATH): _no_content,
        ("HEAD", FAVICON_ICO_PATH): _no_content,
    }


def _no_content(request: IncomingRequest) -> HttpResponse:
    return HttpResponse(204, [("Cache-Control", "max-age=86400")], b"")


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


def _dev_token(signer: _Signs, request: IncomingRequest) -> HttpResponse:
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
    return _json(200, {"token": signer.auth.mint(user, admin=admin), "user": user, "admin": admin})


def _json(status: int, payload: object) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(payload).encode())
