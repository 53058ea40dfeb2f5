"""Shared fixtures: one DynamoDB Local (in memory) for the whole session, and the way the
end-to-end and browser tests start the whole application on the local runtime (each
package starts its own, see their conftest.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from bootstrap import use_placeholder_credentials
from local.dynamodb.launcher import DynamoDBLocal
from local.runtime import LocalStack
from samsold_bench.harness import limits_lifted
from samsold_cli.dev_site import WEB_DIR, dev_site

REPO = Path(__file__).resolve().parents[1]
# Short grace and a fast sweep so closing happens within a test; pages of 3 watchers so a
# lot watched by more goes through FanOutFunction. The template's own defaults (8 s grace,
# every minute, pages of 1,000) are for real use.
# Tests make many lots and bids from few users, fast: the template's throttling and quotas are
# lifted far above them (unit and integration tests check the limits; `samsold-bench flood`
# runs the stack with them).
STACK_OVERRIDES = {"CloseGraceSeconds": "1", "FanOutPageSize": "3", **limits_lifted()}
SWEEP_EVERY_S = 1.0

# Placeholder credentials: DynamoDB Local accepts any, and no test may reach AWS.
use_placeholder_credentials()


def pytest_addoption(parser):
    parser.addoption(
        "--ledger-backend",
        choices=("dynamodb", "memory"),
        default="dynamodb",
        help="the recorder behind the `service` fixture: DynamoDB Local (default) or the in-memory one "
        "(no Java; tests that reach into DynamoDB themselves are skipped)",
    )


def pytest_collection_modifyitems(config, items):
    """The unused-permission check reads what every other test's stack did: it goes last."""
    last = [item for item in items if item.name == "test_every_permission_was_used_or_has_a_reason"]
    items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def dynamodb_local():
    with DynamoDBLocal() as ddb:
        yield ddb


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_local) -> str:
    return dynamodb_local.endpoint_url


@pytest.fixture(scope="session")
def dynamodb_client(dynamodb_endpoint):
    return boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)


@pytest.fixture
def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def local_app_stack(tmp_path_factory):
    """template.yaml on the local runtime: real HTTP, real WebSockets, the real queue,
    stream and schedule."""
    stack = LocalStack(
        REPO / "template.yaml",
        tmp_path_factory.mktemp("samsold-data"),
        port=0,
        parameter_overrides=STACK_OVERRIDES,
        schedule_every=SWEEP_EVERY_S,
        static_dir=WEB_DIR,
        site=dev_site,
    )
    with stack:
        yield stack
