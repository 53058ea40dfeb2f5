"""Development tokens are RS256 with a published key set, so the WebSocket connect
handler checks them the way it checks Cognito's in AWS."""

from __future__ import annotations

import requests

from adapters.tokens import TokenVerifier
from local.apigateway.gateway import LocalGateway
from local.cognito.user_pool import CLIENT_ID, ISSUER, JWKS_PATH, DevAuth, subject_for


def test_connect_handler_verifies_dev_tokens_through_the_published_keys(tmp_path):
    auth = DevAuth(tmp_path / "a")
    with LocalGateway(port=0, rest_routes=[], websocket=None, invoke=lambda *_: None, auth=auth) as gateway:
        keys = requests.get(gateway.rest_url + JWKS_PATH, timeout=5).json()
        assert keys["keys"][0]["alg"] == "RS256" and "d" not in keys["keys"][0]  # public part only
        jwks_url = gateway.rest_url + JWKS_PATH
        tokens = TokenVerifier.from_env({"AUTH_JWKS_URL": jwks_url, "AUTH_ISSUER": ISSUER, "AUTH_CLIENT_ID": CLIENT_ID})
        assert tokens.bidder(auth.mint("alice")) == subject_for("alice")
        assert TokenVerifier(jwks_url, ISSUER, "another-app-client").bidder(auth.mint("alice")) is None
        assert tokens.bidder(DevAuth(tmp_path / "other").mint("alice")) is None
        assert tokens.bidder(auth.mint("alice", ttl_s=-10)) is None
        assert tokens.bidder("not.a.token") is None
        assert TokenVerifier(jwks_url, "https://elsewhere", CLIENT_ID).bidder(auth.mint("alice")) is None
