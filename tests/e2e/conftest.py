"""The whole application on the local runtime, from the real template.yaml, once per
session: real HTTP, real WebSockets, the real queue, stream and schedule."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.auth import DevAuth
from local.runtime import LocalStack

REPO = Path(__file__).resolve().parents[2]
# Short grace and a fast sweep so closing happens within a test; the template's own
# defaults (60 s grace, every minute) are for real use.
OVERRIDES = {"CloseGraceSeconds": "1"}
SWEEP_EVERY_S = 1.0


@pytest.fixture(scope="session")
def app_stack(tmp_path_factory):
    stack = LocalStack(
        REPO / "template.yaml",
        tmp_path_factory.mktemp("samsold-data"),
        port=0,
        parameter_overrides=OVERRIDES,
        schedule_every=SWEEP_EVERY_S,
    )
    with stack:
        yield stack


@pytest.fixture(scope="session")
def dev_auth(app_stack) -> DevAuth:
    return DevAuth(app_stack.data_dir)


@pytest.fixture(scope="session")
def api(app_stack):
    return app_stack.endpoints["rest"]
