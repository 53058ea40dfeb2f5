"""Whether a pytest run covered every test that starts the stack: only such a run shows which
permissions nothing uses (tests/e2e/test_least_privilege.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK_TEST_DIRS = ("tests/e2e", "tests/browser")
LEAST_PRIVILEGE_TEST = "test_every_permission_was_used_or_has_a_reason"
# Written by each worker of a parallel run that covered every stack test and passed.
EVERY_STACK_TEST_RAN = "every-stack-test-ran"


def every_stack_test_collected(config: pytest.Config, items: Sequence[pytest.Item]) -> bool:
    collected = {Path(str(item.path)).resolve() for item in items}
    wanted = {path.resolve() for folder in STACK_TEST_DIRS for path in (REPO / folder).rglob("test_*.py")}
    return wanted <= collected and not config.option.keyword and not config.option.markexpr
