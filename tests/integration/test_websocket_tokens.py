"""Development tokens are RS256 with a published key set, so the WebSocket connect
handler checks them the way it checks Cognito's in AWS."""

from __future__ import annotations

import requests

from handlers import tokens
from local.auth import CLIENT_ID, ISSUER, JWKS_PATH, DevAuth, subject_for
from local.gateway import LocalGateway


def test_connect_handler_verifies_dev_tokens_through_the_published_keys(tmp_path, monkeypatch):
    auth = DevAuth(tmp_path / "a")
    with LocalGateway(port=0, rest_routes=[], websocket=None, invoke=lambda *_: None, auth=auth) as gateway:
        keys = requests.get(gateway.rest_url + JWKS_PATH, timeout=5).json()
        assert keys["keys"][0]["alg"] == "RS256" and "d" not in keys["keys"][0]  # public part only
        monkeypatch.setenv("AUTH_JWKS_URL", gateway.rest_url + JWKS_PATH)
        monkeypatch.setenv("AUTH_ISSUER", ISSUER)
        monkeypatch.setenv("AUTH_CLIENT_ID", CLIENT_ID)
        tokens._keys.cache_clear()
        assert tokens.bidder_from_token(auth.mint("alice")) == subject_for("alice")
        monkeypatch.setenv("AUTH_CLIENT_ID", "another-app-client")
        assert tokens.bidder_from_token(auth.mint("alice")) is None
        monkeypatch.setenv("AUTH_CLIENT_ID", CLIENT_ID)
        assert tokens.bidder_from_token(DevAuth(tmp_path / "other").mint("alice")) is None
        assert tokens.bidder_from_token(auth.mint("alice", ttl_s=-10)) is None
        assert tokens.bidder_from_token("not.a.token") is None
        monkeypatch.setenv("AUTH_ISSUER", "https://elsewhere")
        assert tokens.bidder_from_token(auth.mint("alice")) is None
    tokens._keys.cache_clear()
