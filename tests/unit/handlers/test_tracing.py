"""X-Ray: every function's handler runs inside Powertools' Tracer (`bootstrap.traced`), which
is off outside Lambda and on the local stack, so tests and `samsold dev` send nothing."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from bootstrap import App, traced, tracer
from local.lambda_.functions import function_environment
from local.sam.template import LocalEndpoints, SamTemplate
from tests.support.events import FakeContext

ROOT = Path(__file__).resolve().parents[3]
HANDLER_MODULES = [
    "handlers.place_bid", "handlers.process_bid", "handlers.lot_api", "handlers.broadcast",
    "handlers.fan_out", "handlers.connect", "handlers.close_due_lots", "handlers.close_timers", "handlers.log_sequencer",
    "handlers.log_monitor",
]
TRACED_CODE = traced(lambda event, context, samsold=None: None).__code__


def _wrapped_chain(function: Any) -> list[Any]:
    chain = [function]
    while hasattr(chain[-1], "__wrapped__"):
        chain.append(chain[-1].__wrapped__)
    return chain


def test_tracing_is_off_outside_lambda():
    assert tracer.disabled


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_every_function_handler_is_traced(module):
    handler = importlib.import_module(module).handler
    assert any(getattr(f, "__code__", None) is TRACED_CODE for f in _wrapped_chain(handler)), f"{module}.handler"


def test_a_traced_handler_takes_its_app_by_position_or_by_name(app: App):
    seen: list[Any] = []

    @traced
    def handler(event: dict[str, Any], context: Any, samsold: App | None = None) -> str:
        seen.append(samsold)
        return event["answer"]

    assert handler({"answer": "by position"}, FakeContext(), app) == "by position"
    assert handler({"answer": "by name"}, FakeContext(), samsold=app) == "by name"
    assert handler({"answer": "none"}, FakeContext()) == "none"
    assert seen == [app, app, None]


def test_a_traced_handler_raises_what_the_handler_raises():
    @traced
    def handler(event: dict[str, Any], context: Any, samsold: App | None = None) -> None:
        raise LookupError("no such lot")

    with pytest.raises(LookupError, match="no such lot"):
        handler({}, FakeContext())


def test_the_local_runtime_turns_tracing_off_for_every_function():
    functions = SamTemplate.load(ROOT / "template.yaml").resolve(LocalEndpoints.placeholder("us-east-1", "000000000000")).functions
    assert len(functions) == len(HANDLER_MODULES)
    for function in functions:
        environment = function_environment(function, region="us-east-1", endpoints={}, parent_environment={})
        assert environment["POWERTOOLS_TRACE_DISABLED"] == "true", function.logical_id
