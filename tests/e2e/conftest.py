"""The end-to-end tests' stack (template.yaml on the local runtime, shared by every module
that needs no stack of its own) and its usual callers: an administrator and two bidders,
each a REST client with a development token.

The stack lives as long as this package's tests: it is stopped before the browser tests
start theirs, so the two never run side by side."""

from __future__ import annotations

import pytest

from local.cognito.user_pool import DevAuth
from tests.conftest import local_app_stack
from tests.e2e.helpers import Client


@pytest.fixture(scope="package")
def app_stack(tmp_path_factory):
    # On disk, as before: test_buy_now.py's first test needs the purchase still undecided
    # when the next bid is admitted, and on tables in memory the processor often wins.
    yield from local_app_stack(tmp_path_factory, dynamodb_in_memory=False)


@pytest.fixture(scope="package")
def dev_auth(app_stack) -> DevAuth:
    return DevAuth(app_stack.data_dir)


@pytest.fixture(scope="package")
def api(app_stack) -> str:
    return app_stack.endpoints["rest"]


@pytest.fixture(scope="module")
def admin(api, dev_auth):
    return Client(api, dev_auth.mint("ada", admin=True))


@pytest.fixture(scope="module")
def alice(api, dev_auth):
    return Client(api, dev_auth.mint("alice"))


@pytest.fixture(scope="module")
def bob(api, dev_auth):
    return Client(api, dev_auth.mint("bob"))
