"""Who a WebSocket client is, from the bearer token it passes on connect.

WebSocket routes have no Cognito authorizer, so the function checks the token itself,
by the rules of the REST API's Cognito user-pool authorizer, so that a token is good
on both or on neither: an RS256 signature by one of the pool's published keys
(AUTH_JWKS_URL), the pool as issuer (AUTH_ISSUER), the app client as audience
(AUTH_CLIENT_ID; empty: any client of the pool, as the authorizer takes), an ID token
(`token_use` "id": the authorizer takes access tokens only on routes with OAuth scopes,
and this API has none), `exp` and `iat` present and current, and a subject. Locally the
runtime publishes the development key and resolves the pool and its client the same way.
`bootstrap.build` makes the verifier from those variables; a test makes its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jwt

from ledger.domain.commands import is_user_id

ALGORITHMS = ["RS256"]  # never "none", never HS256 (which would take the public key as a secret)
REQUIRED_CLAIMS = ["sub", "iss", "aud", "exp", "iat", "token_use"]


@dataclass
class TokenVerifier:
    """Checks tokens against one pool (its key set and issuer) and app client."""

    jwks_url: str | None
    issuer: str | None
    client_id: str | None = None  # None: any client of the pool

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TokenVerifier:
        return cls(env.get("AUTH_JWKS_URL") or None, env.get("AUTH_ISSUER") or None, env.get("AUTH_CLIENT_ID") or None)

    @cached_property
    def _keys(self) -> jwt.PyJWKClient:
        assert self.jwks_url is not None
        return jwt.PyJWKClient(self.jwks_url, cache_keys=True, lifespan=3600)

    def verified_claims(self, token: str) -> dict[str, Any] | None:
        """The token's claims when the authorizer would take it; otherwise None."""
        if not self.jwks_url or not self.issuer:
            return None  # no pool to check against: nobody is signed in
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                issuer=self.issuer,
                audience=self.client_id,
                options={"require": REQUIRED_CLAIMS, "verify_aud": self.client_id is not None},
            )
        except (jwt.PyJWTError, OSError, ValueError):
            return None
        if claims["token_use"] != "id" or not is_user_id(claims["sub"]):
            return None
        return claims

    def bidder(self, token: str) -> str | None:
        """The token's subject when the token is genuine and current; otherwise None."""
        claims = self.verified_claims(token)
        return None if claims is None else claims["sub"]
