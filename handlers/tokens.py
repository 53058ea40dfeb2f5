"""Who a WebSocket client is, from the bearer token it passes on connect.

WebSocket routes have no Cognito authorizer, so the function checks the token itself
against the user pool's published keys (AUTH_JWKS_URL, AUTH_ISSUER); locally the
runtime publishes the development key the same way."""

from __future__ import annotations

import os
from functools import cache

import jwt

ALGORITHMS = ["RS256"]


@cache
def _keys() -> jwt.PyJWKClient:
    return jwt.PyJWKClient(os.environ["AUTH_JWKS_URL"], cache_keys=True, lifespan=3600)


def bidder_from_token(token: str) -> str | None:
    """The token's subject when the token is genuine and current; otherwise None."""
    if not os.environ.get("AUTH_JWKS_URL"):
        return None
    try:
        key = _keys().get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=ALGORITHMS,
            issuer=os.environ.get("AUTH_ISSUER") or None,
            options={"verify_aud": False, "require": ["sub", "exp"]},
        )
    except (jwt.PyJWTError, OSError):
        return None
    return str(claims["sub"])
