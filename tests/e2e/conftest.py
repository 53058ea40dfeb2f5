"""The session stack's usual callers (tests/conftest.py starts the stack): an administrator,
and two bidders, each a REST client with a development token."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import Client


@pytest.fixture(scope="module")
def admin(api, dev_auth):
    return Client(api, dev_auth.mint("ada", admin=True))


@pytest.fixture(scope="module")
def alice(api, dev_auth):
    return Client(api, dev_auth.mint("alice"))


@pytest.fixture(scope="module")
def bob(api, dev_auth):
    return Client(api, dev_auth.mint("bob"))
