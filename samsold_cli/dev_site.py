"""The application's own pages on the local stack, beside the API (none of them exists in
AWS): the files of web/, `/config.json` (where the page reads its REST and WebSocket URLs)
`POST /dev/token` (where it signs in development users), and `/favicon.ico` answered 204
(the page links `favicon.svg`; this is for clients that ask for the old name anyway, which
would otherwise get API Gateway's 403 for a path without a route).

`POST /dev/token` takes `Content-Type: application/json` only (415 otherwise), a body
`{"user", "admin"?, "secret"?, "run_secret"?}`, and answers `{"token", "user", "admin",
"secret"}`:
  - a name belongs to the first client that asks for it: the answer carries a secret (also
    set as an HttpOnly, SameSite=Strict cookie on /dev/token, so a browser keeps it), and
    that secret is needed for the name from then on; any other caller gets 409 NAME_TAKEN
    (kept in the data directory's dev-users.json, so across restarts too). A client may
    choose its own secret (22 to 64 of A-Z a-z 0-9 _ -);
  - an admin token, and any token when the stack listens beyond loopback (`--host
    0.0.0.0`), needs `run_secret`: made for each run and printed by `samsold dev` on its
    console only (403 without it). `samsold token NAME [--admin]` on this machine needs
    none: it signs with the key in the data directory.

The user pool's stand-in (`local.cognito.user_pool.DevAuth`) mints the token and keeps the
names; this module only offers them to the page, refusing in the API's error envelope
`{"error": {"code", "message", "details"}}`. `samsold dev` and the tests' stacks pass
`static_dir=WEB_DIR, site=DevSite()` (or `dev_site`) to `LocalStack`, whose gateway answers
these routes before the template's.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Callable
from functools import partial
from http.cookies import CookieError, SimpleCookie
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
SECRET_COOKIE = "samsold_dev_secret"
_DEV_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_BODY_KEYS = {"user", "admin", "secret", "run_secret"}

Routes = dict[tuple[str, str], Callable[[IncomingRequest], HttpResponse]]


class _Signs(Protocol):
    @property
    def auth(self) -> DevAuth: ...

    @property
    def host(self) -> str: ...


class DevSite:
    """The site of one run: `site(stack)` gives the routes; `run_secret`, made here, is
    what `samsold dev` prints for admin tokens (and for any token beyond loopback)."""

    def __init__(self, run_secret: str | None = None) -> None:
        self.run_secret = run_secret or secrets.token_urlsafe(18)

    def __call__(self, stack: LocalStack) -> Routes:
        return _routes(stack, self.run_secret)


def dev_site(stack: LocalStack) -> Routes:
    """The routes, with a run secret nobody is told (admin tokens then come from `samsold token`)."""
    return DevSite()(stack)


def serves_beyond_loopback(host: str) -> bool:
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host != "localhost"


def _routes(stack: LocalStack, run_secret: str) -> Routes:
    """The routes, once the stack's endpoints are known: (method, path) -> answer."""
    # Beyond loopback the page's sign-in is off: a token then needs the run secret.
    config = {"rest": stack.endpoints["rest"], "websocket": stack.endpoints["websocket"],
              "dev_tokens": not serves_beyond_loopback(stack.host)}

    def site_config(request: IncomingRequest) -> HttpResponse:
        return _json(200, _as_seen_by(config, stack.host, request.header("Host")))

    return {
        ("GET", SITE_CONFIG_PATH): site_config,
        ("HEAD", SITE_CONFIG_PATH): site_config,
        ("POST", DEV_TOKEN_PATH): partial(_dev_token, stack, run_secret),
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


def _dev_token(signer: _Signs, run_secret: str, request: IncomingRequest) -> HttpResponse:
    media_type = (request.header("Content-Type") or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        return _error(415, "UNSUPPORTED_MEDIA_TYPE", "send Content-Type: application/json")
    try:
        body = json.loads(request.body)
    except ValueError:
        body = None
    if not isinstance(body, dict) or set(body) - _BODY_KEYS:
        return _error(400, "INVALID_REQUEST", 'send {"user": "<letters, digits, _ . @ ->", "admin": false}')
    user, admin = body.get("user"), body.get("admin", False)
    secret = body.get("secret", _cookie(request, SECRET_COOKIE))
    given_run_secret = body.get("run_secret")
    if not isinstance(user, str) or not _DEV_USER.match(user) or not isinstance(admin, bool):
        return _error(400, "INVALID_REQUEST", 'send {"user": "<letters, digits, _ . @ ->", "admin": false}')
    if secret is not None and (not isinstance(secret, str) or not _SECRET.match(secret)):
        return _error(400, "INVALID_REQUEST", "secret: 22 to 64 of A-Z a-z 0-9 _ -")
    if given_run_secret is not None and not isinstance(given_run_secret, str):
        return _error(400, "INVALID_REQUEST", "run_secret: the string samsold dev printed")
    if admin or serves_beyond_loopback(signer.host):
        if given_run_secret is None or not hmac.compare_digest(given_run_secret.encode(), run_secret.encode()):
            why = "admin tokens" if admin else "tokens, as this stack listens beyond this machine,"
            return _error(403, "FORBIDDEN", f"{why} need the run_secret samsold dev printed "
                          "(or run samsold token on this machine)")
    secret = secret or secrets.token_urlsafe(24)
    if not signer.auth.claim(user, secret):
        return _error(409, "NAME_TAKEN", f"{user} is another client's name: send its secret, or choose another name",
                      {"user": user})
    answer = _json(200, {"token": signer.auth.mint(user, admin=admin), "user": user, "admin": admin,
                         "secret": secret})
    cookie = f"{SECRET_COOKIE}={secret}; Path={DEV_TOKEN_PATH}; Max-Age=31536000; HttpOnly; SameSite=Strict"
    return HttpResponse(answer.status, [*answer.headers, ("Set-Cookie", cookie)], answer.body)


def _cookie(request: IncomingRequest, name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(request.header("Cookie") or "")
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _error(status: int, code: str, message: str, details: object = None) -> HttpResponse:
    return _json(status, {"error": {"code": code, "message": message, "details": details}})


def _json(status: int, payload: object) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(payload).encode())
