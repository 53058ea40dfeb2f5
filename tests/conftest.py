"""Shared fixtures: one DynamoDB Local (in memory) for the whole session, and the way the
end-to-end and browser tests start the whole application on the local runtime (each
package starts its own, see their conftest.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest
from hypothesis import settings

from bootstrap import use_placeholder_credentials
from local.dynamodb.launcher import DynamoDBLocal
from local.runtime import LocalStack
from samsold_bench.harness import limits_lifted
from samsold_cli.dev_site import WEB_DIR, dev_site
from tests.support.stack_coverage import (
    EVERY_STACK_TEST_RAN,
    LEAST_PRIVILEGE_TEST,
    every_stack_test_collected,
)

every_stack_test_key = pytest.StashKey[bool]()

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

# No assertion depends on timing, Hypothesis's per-example deadline included: on a loaded
# machine one slow example is not a failure.
settings.register_profile("samsold", deadline=None)
settings.load_profile("samsold")


def pytest_addoption(parser):
    parser.addoption(
        "--ledger-backend",
        choices=("dynamodb", "memory"),
        default="dynamodb",
        help="the recorder behind the `service` fixture: DynamoDB Local (default) or the in-memory one "
        "(no Java; tests that reach into DynamoDB themselves are skipped)",
    )
    parser.addoption(
        "--iam-usage-from",
        metavar="DIR",
        help="the base temporary directory of an earlier parallel run whose stacks' calls the "
        "least-privilege check reads (`make test` runs it so, once every worker has finished)",
    )


def in_parallel_worker(config: pytest.Config) -> bool:
    """True in a pytest-xdist worker (`make test` runs the suite on two of them)."""
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config, items):
    """The unused-permission check reads what every other test's stack did: it goes last. In a
    parallel run the other worker may still be running a stack, so it is left out there and
    run afterwards on the run's usage files (`--iam-usage-from`)."""
    last = [item for item in items if item.name == LEAST_PRIVILEGE_TEST]
    rest = [item for item in items if item not in last]
    if in_parallel_worker(config):
        config.stash[every_stack_test_key] = every_stack_test_collected(config, items)
        config.hook.pytest_deselected(items=last)
        items[:] = rest
    else:
        items[:] = rest + last


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A worker that ran its share of a run of every stack test says so in its base temporary
    directory, for the least-privilege check that reads that run's usage afterwards."""
    config = session.config
    if in_parallel_worker(config) and config.stash.get(every_stack_test_key, False) and exitstatus == 0:
        basetemp = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
        (basetemp / EVERY_STACK_TEST_RAN).write_text("every e2e and browser test was in this run\n")


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


def local_app_stack(tmp_path_factory, dynamodb_in_memory: bool = True):
    """template.yaml on the local runtime: real HTTP, real WebSockets, the real queue,
    stream and schedule. Its tables are in memory unless told otherwise (a third less of
    DynamoDB Local's CPU): nothing restarts these stacks (the tests about restarts start
    their own, on disk)."""
    stack = LocalStack(
        REPO / "template.yaml",
        tmp_path_factory.mktemp("samsold-data"),
        port=0,
        parameter_overrides=STACK_OVERRIDES,
        schedule_every=SWEEP_EVERY_S,
        static_dir=WEB_DIR,
        site=dev_site,
        dynamodb_in_memory=dynamodb_in_memory,
    )
    with stack:
        yield stack
