"""Fixtures for tests that talk to DynamoDB Local through the ledger.

`service` is on DynamoDB Local by default; `--ledger-backend=memory` puts it on the
in-memory recorder instead (the same port, the same semantics, no Java), and skips the
tests that reach into DynamoDB themselves."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from bootstrap import App, build
from ledger.domain.values import utc_now
from tests.support.app import build_test_app

# Fixtures that mean a test reads or writes DynamoDB itself, not only through the service.
DYNAMODB_FIXTURES = {"dynamodb_client", "dynamodb_endpoint", "bids_table", "ledger_env", "stack", "dynamodb_local"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture(scope="session")
def bids_table(dynamodb_endpoint) -> str:
    name = f"bids-{uuid.uuid4().hex[:8]}"
    build({"BIDS_TABLE": name, "CREATE_TABLE": "y", "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint})
    return name


@pytest.fixture
def clock() -> Clock:
    return Clock(utc_now())


@pytest.fixture
def ledger_env(dynamodb_endpoint, bids_table) -> dict[str, str]:
    return {"BIDS_TABLE": bids_table, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint}


def pytest_collection_modifyitems(config, items):
    if config.getoption("ledger_backend") != "memory":
        return
    skip = pytest.mark.skip(reason="reaches into DynamoDB Local itself (--ledger-backend=memory)")
    for item in items:
        if DYNAMODB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.fixture
def service(request, clock) -> App:
    if request.config.getoption("ledger_backend") == "memory":
        return build_test_app(clock=clock)
    return build(request.getfixturevalue("ledger_env"), clock=clock)
