"""Fixtures for tests that talk to DynamoDB Local through the ledger."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from ledger.service import AuctionService
from ledger.values import utc_now


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
    AuctionService(env={"BIDS_TABLE": name, "CREATE_TABLE": "y", "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint})
    return name


@pytest.fixture
def clock() -> Clock:
    return Clock(utc_now())


@pytest.fixture
def ledger_env(dynamodb_endpoint, bids_table) -> dict[str, str]:
    return {"BIDS_TABLE": bids_table, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint}


@pytest.fixture
def service(ledger_env, clock) -> AuctionService:
    return AuctionService(env=ledger_env, clock=clock)
