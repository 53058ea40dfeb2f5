"""The local Cognito authorizer's cache of checked tokens (`DevAuth.claims`): a client's
token is verified once, not on every request, as API Gateway caches an authorizer's
answer; a cached token is still refused once it expires, and a bad one is never cached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from local.cognito import user_pool
from local.cognito.user_pool import DevAuth


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature was checked, in order (the real check still runs)."""
    checked: list[str] = []
    decode = user_pool.jwt.decode

    def counted(token: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(user_pool.jwt, "decode", counted)
    return checked


def test_a_token_is_verified_once_and_its_claims_given_each_time(tmp_path: Path, verifications: list[str]) -> None:
    auth = DevAuth(tmp_path)
    token = auth.mint("alice")
    first = auth.claims(token)
    assert first is not None
    first["sub"] = "changed by a caller"
    assert auth.claims(token) == auth.claims(token) != first
    assert verifications == [token]


def test_a_cached_token_is_refused_once_it_expires(tmp_path: Path) -> None:
    auth = DevAuth(tmp_path)
    token = auth.mint("alice", ttl_s=1)
    assert auth.claims(token) is not None
    time.sleep(1.1)
    assert auth.claims(token) is None


def test_a_bad_token_is_checked_every_time(tmp_path: Path, verifications: list[str]) -> None:
    forged = DevAuth(tmp_path / "other").mint("mallory", admin=True)
    auth = DevAuth(tmp_path)
    assert auth.claims(forged) is None
    assert auth.claims(forged) is None
    assert verifications == [forged, forged]
