"""One token verifier for REST and WebSocket.

The same table of forged tokens goes to both doors of the local stack: the REST API
(its Cognito authorizer, played by the local gateway) must answer 401, and WebSocket
$connect with the token as its subprotocol (the connect function's own check,
adapters/tokens.py) must refuse the handshake, with the API's error body. A genuine token
passes both; in the URL, where logs would keep it, it is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from local.cognito.user_pool import CLIENT_ID, ISSUER, KEY_FILE_NAME, KEY_ID, subject_for
from tests.e2e.helpers import websocket_protocols


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _genuine_claims() -> dict[str, Any]:
    """Claims shaped like a Cognito ID token, as the development user pool issues them."""
    now = int(time.time())
    return {"sub": subject_for("mallory"), "aud": CLIENT_ID, "iss": ISSUER, "cognito:username": "mallory",
            "token_use": "id", "auth_time": now, "iat": now, "exp": now + 3600, "jti": str(uuid.uuid4())}


class Forger:
    """Makes tokens with the stack's own development key (or another), claims changed at will."""

    def __init__(self, data_dir) -> None:
        self.key = serialization.load_pem_private_key((data_dir / KEY_FILE_NAME).read_bytes(), password=None)

    def signed(self, claims: dict[str, Any], key: Any = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": KEY_ID})

    def genuine(self) -> str:
        return self.signed(_genuine_claims())

    def unsigned(self, claims: dict[str, Any]) -> str:
        header = {"alg": "none", "typ": "JWT", "kid": KEY_ID}
        return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."

    def hs256_with_public_key(self, claims: dict[str, Any]) -> str:
        """The classic confusion attack: HMAC keyed with the published RSA public key."""
        secret = self.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        header = {"alg": "HS256", "typ": "JWT", "kid": KEY_ID}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"


def _changed(**changes: Any) -> Callable[[Forger], str]:
    """A token signed with the right key whose claims differ from a genuine one (None: removed)."""

    def make(forger: Forger) -> str:
        claims = _genuine_claims() | changes
        return forger.signed({name: value for name, value in claims.items() if value is not None})

    return make


# The one table both doors are checked against: each token is refused by REST and WebSocket.
FORGED_TOKENS: dict[str, Callable[[Forger], str]] = {
    "another audience": _changed(aud="some-other-app-client"),
    "no audience": _changed(aud=None),
    "access token": _changed(token_use="access"),
    "no token_use": _changed(token_use=None),
    "expired": _changed(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "no expiry": _changed(exp=None),
    "no issued-at": _changed(iat=None),
    "issued in the future": _changed(iat=int(time.time()) + 3600, exp=int(time.time()) + 7200),
    "wrong issuer": _changed(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Elsewhere"),
    "wrong key": lambda forger: forger.signed(
        _genuine_claims(), rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    "alg none": lambda forger: forger.unsigned(_genuine_claims()),
    "HS256 with the public key as secret": lambda forger: forger.hs256_with_public_key(_genuine_claims()),
    "missing sub": _changed(sub=None),
    "empty sub": _changed(sub=""),
    "garbage": lambda _forger: "not.a.token",
    "empty": lambda _forger: "",
}


@pytest.fixture(scope="module")
def forger(app_stack) -> Forger:
    return Forger(app_stack.data_dir)


def rest_status(api: str, token: str) -> requests.Response:
    # A route behind the authorizer; a genuine caller with no such bid gets 404.
    return requests.get(f"{api}/bids/no-such-bid", headers={"Authorization": f"Bearer {token}"}, timeout=30)


# The routes that open or erase private data, and what a genuine caller who is no administrator gets.
PRIVATE_ROUTES = {("GET", "/bids/no-such-bid/receipt"): 404, ("POST", "/bidders/no-such-user/erase"): 403}


def private_statuses(api: str, token: str) -> set[int]:
    return {requests.request(method, f"{api}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code
            for method, path in PRIVATE_ROUTES}


def websocket_refusal(app_stack, token: str, query: str = "") -> tuple[int, bytes] | None:
    """The status and body of a refused handshake; None when the connection opened."""
    url = f"{app_stack.endpoints['websocket']}/{query}"
    try:
        with connect(url, open_timeout=30, subprotocols=websocket_protocols(token)) as socket:
            # The answer names the API's protocol, never the token.
            assert socket.subprotocol == "samsold.v1"
            return None
    except InvalidStatus as refused:
        return refused.response.status_code, refused.response.body


def test_a_genuine_token_passes_both_doors(app_stack, api, forger):
    token = forger.genuine()
    assert rest_status(api, token).status_code == 404
    assert private_statuses(api, token) == set(PRIVATE_ROUTES.values())
    assert websocket_refusal(app_stack, token) is None


def test_a_token_in_the_websocket_url_is_refused(app_stack, forger):
    token = forger.genuine()
    try:
        with connect(f"{app_stack.endpoints['websocket']}/?token={token}", open_timeout=30):
            raise AssertionError("a token in the URL was taken")
    except InvalidStatus as refused:
        assert refused.response.status_code == 400
        assert json.loads(refused.response.body)["error"]["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize("forge", FORGED_TOKENS.values(), ids=FORGED_TOKENS.keys())
def test_a_forged_token_is_refused_by_both_doors(app_stack, api, forger, forge):
    token = forge(forger)
    rest = rest_status(api, token)
    assert rest.status_code == 401, rest.text
    assert rest.json()["error"]["code"] == "UNAUTHORIZED"
    assert private_statuses(api, token) == {401}
    refused = websocket_refusal(app_stack, token)
    assert refused is not None, "the WebSocket connect took a token the REST authorizer refuses"
    status, body = refused
    assert status == 401
    error = json.loads(body)["error"]
    assert error["code"] == "UNAUTHORIZED" and isinstance(error["message"], str) and error["details"] == {}


def test_the_connect_function_checks_the_app_client_the_template_names(app_stack):
    """template.yaml passes the user pool client to ConnectFunction; locally that is the
    development pool's client, the `aud` of the tokens it mints."""
    (function,) = [f for f in app_stack.app.functions if f.logical_id == "ConnectFunction"]
    assert function.environment["AUTH_CLIENT_ID"] == CLIENT_ID
    assert function.environment["AUTH_ISSUER"] == ISSUER


def test_every_route_behind_the_authorizer_refuses_a_forged_token(app_stack, api, forger):
    """Each route the OpenAPI document says needs a token (the registration and block routes
    among them) answers a token signed with another key 401, before anything runs."""
    document = requests.get(f"{api}/openapi.json", timeout=30).json()
    token = FORGED_TOKENS["wrong key"](forger)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not operation.get("security"):
                continue
            url = api + path.replace("{user_id}", "alice").replace("{size}", "1").replace("{", "").replace("}", "")
            answer = requests.request(method.upper(), url, headers={"Authorization": f"Bearer {token}"}, json={}, timeout=30)
            assert answer.status_code == 401, (method, path, answer.text)


def test_only_a_genuine_seller_s_token_creates_a_lot(api, forger):
    """Who may sell rests on the token's groups, which only a genuine token carries: the
    sellers group forged with another key is 401, a genuine bidder's token 403 (nothing
    written), and a genuine seller's lot shows the handle from their token."""
    lot_id = f"mallory-{uuid.uuid4().hex[:8]}"
    terms = {"lot_id": lot_id, "title": "Forged vase", "currency": "EUR", "starting_price": "10.00",
             "closes_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))}
    seller = _genuine_claims() | {"cognito:groups": ["sellers"], "custom:seller_handle": "mallory"}

    def create(token: str) -> requests.Response:
        return requests.post(f"{api}/lots", json=terms, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert create(forger.signed(seller, other_key)).status_code == 401
    refused = create(forger.genuine())
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert requests.get(f"{api}/lots/{lot_id}", timeout=30).status_code == 404
    created = create(forger.signed(seller))
    assert created.status_code == 201, created.text
    assert created.json()["seller"] == "mallory" and subject_for("mallory") not in created.text
