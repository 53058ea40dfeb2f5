"""The local gateway's development sign-in (POST /dev/token): JSON only; a name is its
first client's (a secret, kept as a cookie by browsers, is needed for it afterwards);
admin tokens, and any token when the stack listens beyond loopback, need the run secret
`samsold dev` prints. Loopback as the caller's address grants nothing."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from local.apigateway.rest import IncomingRequest
from local.cognito.user_pool import KEY_FILE_NAME, USERS_FILE_NAME, DevAuth
from samsold_cli.dev_site import SECRET_COOKIE, _dev_token

RUN_SECRET = "the-run-secret-printed-on-the-console"
SECRET = "a" * 22


def request(body: object, source_ip: str = "127.0.0.1", content_type: str | None = "application/json",
            cookie: str | None = None) -> IncomingRequest:
    headers = [("Content-Type", content_type)] if content_type else []
    if cookie is not None:
        headers.append(("Cookie", cookie))
    return IncomingRequest(
        method="POST", path="/dev/token", query=[], headers=headers,
        body=body if isinstance(body, bytes) else json.dumps(body).encode(),
        source_ip=source_ip, received_at=datetime.now(UTC),
    )


def ask(stack: SimpleNamespace, *args, **kwargs) -> tuple[int, dict]:
    answer = _dev_token(stack, RUN_SECRET, request(*args, **kwargs))
    return answer.status, json.loads(answer.body)


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory) -> bytes:
    """One RSA key for the module (making one takes a fraction of a second)."""
    return DevAuth(tmp_path_factory.mktemp("key")).key_path.read_bytes()


@pytest.fixture
def stack(tmp_path, signing_key) -> SimpleNamespace:
    """A stack on a data directory of its own (its own development users), the module's key."""
    (tmp_path / KEY_FILE_NAME).write_bytes(signing_key)
    return SimpleNamespace(auth=DevAuth(tmp_path), host="127.0.0.1")


def test_admin_tokens_need_the_run_secret_even_from_this_machine(stack):
    status, answer = ask(stack, {"user": "ada", "admin": True}, "127.0.0.1")
    assert (status, answer["error"]["code"]) == (403, "FORBIDDEN")
    status, answer = ask(stack, {"user": "ada", "admin": True, "run_secret": "guessed"}, "127.0.0.1")
    assert status == 403
    status, answer = ask(stack, {"user": "ada", "admin": True, "run_secret": RUN_SECRET}, "10.1.2.3")
    assert status == 200 and stack.auth.claims(answer["token"])["cognito:groups"] == "admin"


def test_only_json_is_taken(stack):
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, answer = ask(stack, {"user": "bob"}, content_type=content_type)
        assert (status, answer["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE"), content_type
    assert ask(stack, {"user": "bob"}, content_type="application/json; charset=utf-8")[0] == 200
    assert ask(stack, {"user": "bob2", "colour": "red"})[0] == 400


def test_a_name_is_its_first_clients_and_nobody_elses(stack):
    status, first = ask(stack, {"user": "alice"})
    assert status == 200 and len(first["secret"]) >= 22
    # Someone else asking for alice, with no secret or another one, is told the name is taken.
    for body in ({"user": "alice"}, {"user": "alice", "secret": "b" * 22}):
        status, answer = ask(stack, body, "10.9.9.9")
        assert (status, answer["error"]["code"]) == (409, "NAME_TAKEN"), body
    # The first client, with its secret in the body or as the cookie the answer set, gets alice again.
    assert ask(stack, {"user": "alice", "secret": first["secret"]})[0] == 200
    assert ask(stack, {"user": "alice"}, cookie=f"{SECRET_COOKIE}={first['secret']}")[0] == 200
    # Kept on disk, for this user only: a restart does not hand the name out again.
    assert ask(SimpleNamespace(auth=DevAuth(stack.auth.key_path.parent), host="127.0.0.1"), {"user": "alice"})[0] == 409
    assert stat.S_IMODE((stack.auth.key_path.parent / USERS_FILE_NAME).stat().st_mode) == 0o600


def test_the_secret_comes_back_as_a_strict_http_only_cookie(stack):
    answer = _dev_token(stack, RUN_SECRET, request({"user": "carol", "secret": SECRET}))
    cookie = dict(answer.headers)["Set-Cookie"]
    assert cookie.startswith(f"{SECRET_COOKIE}={SECRET};")
    assert {"HttpOnly", "SameSite=Strict", "Path=/dev/token"} <= {part.strip() for part in cookie.split(";")}


@pytest.mark.parametrize("secret", ["short", "x" * 65, "has space" * 3, 12345678901234567890123])
def test_a_chosen_secret_must_be_long_and_plain(stack, secret):
    assert ask(stack, {"user": "dave", "secret": secret})[0] == 400


def test_beyond_loopback_every_token_needs_the_run_secret(stack):
    opened = SimpleNamespace(auth=stack.auth, host="0.0.0.0")
    status, answer = ask(opened, {"user": "erin"}, "127.0.0.1")
    assert (status, answer["error"]["code"]) == (403, "FORBIDDEN")
    assert ask(opened, {"user": "erin", "run_secret": RUN_SECRET}, "192.168.1.7")[0] == 200


def test_the_page_offers_development_sign_in_only_on_loopback(stack):
    from samsold_cli.dev_site import SITE_CONFIG_PATH, DevSite

    for host, offered in (("127.0.0.1", True), ("0.0.0.0", False), ("192.168.1.7", False)):
        stack = SimpleNamespace(auth=stack.auth, host=host,
                                endpoints={"rest": f"http://{host}:3000", "websocket": f"ws://{host}:3001"})
        config = DevSite()(stack)[("GET", SITE_CONFIG_PATH)](request({}, content_type=None))
        assert json.loads(config.body)["dev_tokens"] is offered, host
