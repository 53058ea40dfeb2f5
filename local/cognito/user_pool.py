"""Development auth: the local stand-in for a Cognito user pool and the REST API's
Cognito user-pool authorizer.

`mint` issues tokens shaped like Cognito ID tokens (numeric `exp`/`iat`/`auth_time`,
`cognito:groups` a list), signed RS256 as Cognito's are, with a key pair kept on disk so
tokens survive restarts; `jwks` publishes the public key the way a user pool does, so
code that checks tokens itself (the WebSocket connect handler) works unchanged. `claims` verifies one and returns what API Gateway's REST (v1) Cognito
authorizer hands to Lambda in `requestContext.authorizer.claims`. That authorizer
flattens the token: every value is a string, and (as seen in captured events,
e.g. repost.aws "AWS Cognito Group" and the openillumi write-up on claim conversion):
  - `cognito:groups` is the group names joined by "," ("admin", "a,b"), and the key is
    absent when the user is in no group (Cognito leaves the claim out);
  - `exp` and `iat` are dates such as "Tue Apr 04 18:39:39 UTC 2023";
  - `auth_time` stays epoch seconds, as a string ("1680629979");
  - booleans are "true" / "false".
(HTTP APIs differ: they put claims under `authorizer.jwt.claims` and groups as "[a b]".)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ADMIN_GROUP = "admin"
# The template's pool has a `sellers` group, and a seller's handle in a custom attribute.
SELLERS_GROUP = "sellers"
HANDLE_ATTRIBUTE = "custom:seller_handle"
KEY_FILE_NAME = "dev-signing-key.pem"
# Who holds each development user name: name -> SHA-256 of the secret its first client got.
USERS_FILE_NAME = "dev-users.json"
KEY_ID = "samsold-dev-1"
JWKS_PATH = "/.well-known/jwks.json"
# A Cognito issuer is https://cognito-idp.{region}.amazonaws.com/{user_pool_id};
# this one names a pool that exists nowhere, so a dev token is never mistaken for a real one.
ISSUER = "https://cognito-idp.local.amazonaws.com/local_SamSoldDev"
CLIENT_ID = "samsold-local-client"  # the ID token's `aud`: the app client id
# API Gateway caches a Cognito authorizer's answer per token (300 s unless the API says
# otherwise); so does `claims`, which keeps an RS256 check off every request of a client.
# A cached token is still refused once it expires. Forged or expired tokens are not cached.
AUTHORIZER_CACHE_TTL_S = 300.0
AUTHORIZER_CACHE_SIZE = 10_000
_SUB_NAMESPACE = uuid.UUID("8f6f5b8e-3c5a-4d64-9a55-2f7d1b3c0a11")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def subject_for(user: str) -> str:
    """The stable `sub` of a development user: a UUID, as Cognito's are, derived from
    the name so the same user is the same bidder across restarts and machines."""
    return str(uuid.uuid5(_SUB_NAMESPACE, user))


class DevAuth:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.key_path = Path(data_dir) / KEY_FILE_NAME
        self._key = _load_or_create_key(self.key_path)
        # token -> (when it was checked, its expiry, its claims), the least recently used dropped first
        self._checked: OrderedDict[str, tuple[float, int, dict[str, str]]] = OrderedDict()
        self._checked_lock = threading.Lock()
        self.users_path = Path(data_dir) / USERS_FILE_NAME
        self._users_lock = threading.Lock()

    def claim(self, user: str, secret: str) -> bool:
        """Whether `secret` holds the name `user`: the first secret to ask for a name takes
        it (kept across restarts, as a user pool keeps its users and their passwords), and
        from then on only that secret gets it; another gets False."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self._users_lock:
            users = self._users()
            held = users.get(user)
            if held is not None:
                return hmac.compare_digest(held, digest)
            users[user] = digest
            _write_private(self.users_path, json.dumps(users, indent=1).encode())
            return True

    def _users(self) -> dict[str, str]:
        try:
            users = json.loads(self.users_path.read_text())
        except FileNotFoundError:
            return {}
        if not isinstance(users, dict):
            raise ValueError(f"{self.users_path} is not a map of user names; delete it to start afresh")
        return users

    def mint(self, user: str, *, admin: bool = False, seller: bool = False, handle: str | None = None,
             ttl_s: int = 12 * 3600) -> str:
        """An ID token of `user`, in the admin and/or sellers groups, with the seller handle
        an administrator would have given them (`handle`: the custom attribute)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": subject_for(user),
            "aud": CLIENT_ID,
            "iss": ISSUER,
            "cognito:username": user,
            "token_use": "id",  # a REST Cognito authorizer without OAuth scopes takes ID tokens
            "auth_time": now,
            "iat": now,
            "exp": now + ttl_s,
            "jti": str(uuid.uuid4()),
        }
        groups = [ADMIN_GROUP] * admin + [SELLERS_GROUP] * seller
        if groups:
            payload["cognito:groups"] = groups
        if handle is not None:
            payload[HANDLE_ATTRIBUTE] = handle
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": KEY_ID})

    def jwks(self) -> dict[str, Any]:
        """The public key as a user pool's `/.well-known/jwks.json` lists it."""
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [public | {"kid": KEY_ID, "alg": "RS256", "use": "sig"}]}

    def claims(self, token: str | None) -> dict[str, str] | None:
        """The authorizer's view of a valid token; None when missing, forged or expired."""
        if not token:
            return None
        now = time.time()
        with self._checked_lock:
            cached = self._checked.get(token)
            if cached is not None:
                checked_at, expires_at, claims = cached
                if now < expires_at and now - checked_at < AUTHORIZER_CACHE_TTL_S:
                    self._checked.move_to_end(token)
                    return dict(claims)
                del self._checked[token]
        try:
            payload = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=CLIENT_ID,
                issuer=ISSUER,
                options={"require": ["sub", "exp", "iat", "token_use"]},
            )
        except jwt.InvalidTokenError:
            return None
        if payload["token_use"] != "id":
            return None
        claims = {name: _authorizer_value(name, value) for name, value in payload.items()}
        with self._checked_lock:
            self._checked[token] = (now, int(payload["exp"]), claims)
            while len(self._checked) > AUTHORIZER_CACHE_SIZE:
                self._checked.popitem(last=False)
        return dict(claims)


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Write a private temporary file, then link it into place: linking fails if another
    # process created the key first, so two starting processes end up with one key.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink()
    return _read_key(path)


def _write_private(path: Path, content: bytes) -> None:
    """Replaces `path` with `content`, readable by this user only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    temporary.replace(path)


def _read_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise ValueError(f"{path} does not hold a PEM private key; delete it to create a new one") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA key; delete it to create a new one")
    return key


def _authorizer_value(name: str, value: Any) -> str:
    if name in ("exp", "iat"):
        return _authorizer_date(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _authorizer_date(epoch_s: int) -> str:
    # Built by hand: strftime's %a and %b follow the process locale.
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return (
        f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:02d} "
        f"{moment:%H:%M:%S} UTC {moment.year}"
    )
