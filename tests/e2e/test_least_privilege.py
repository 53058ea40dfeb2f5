"""Least privilege, the other way round: every permission a function's policy allows was
used by some call of the test suite, or its statement in template.yaml says why it stays
(`# Kept unused: ...`). Each stack the session ran recorded its functions' calls
(iam-usage.json in its data directory, under pytest's base temporary directory, kept
current while a stack runs).

Only a session that ran every test which starts the stack can tell: otherwise this test
is skipped (tests/conftest.py runs it last)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.iam.policy import Policies
from local.iam.usage import USAGE_FILE, IamUsage, unused_permissions
from local.sam.template import LocalEndpoints, SamTemplate
from samsold_cli.iam import kept_statements

REPO = Path(__file__).resolve().parents[2]
STACK_TEST_DIRS = ("tests/e2e", "tests/browser")


def every_stack_test_collected(session: pytest.Session) -> bool:
    collected = {Path(str(item.path)).resolve() for item in session.items}
    wanted = {path.resolve() for folder in STACK_TEST_DIRS for path in (REPO / folder).rglob("test_*.py")}
    config = session.config
    return wanted <= collected and not config.option.keyword and not config.option.markexpr


def test_every_permission_was_used_or_has_a_reason(request, tmp_path_factory) -> None:
    if not every_stack_test_collected(request.session):
        pytest.skip("only a run of every e2e and browser test shows which permissions nothing uses")
    used: dict[str, set[tuple[str, str]]] = {}
    for usage in [IamUsage.load(path) for path in tmp_path_factory.getbasetemp().rglob(USAGE_FILE)]:
        for function, pairs in usage.used.items():
            used.setdefault(function, set()).update(pairs)
    template = SamTemplate.load(REPO / "template.yaml")
    app = template.resolve(LocalEndpoints.placeholder(template.region, template.account_id))
    kept = kept_statements((REPO / "template.yaml").read_text())

    unused = unused_permissions({f.logical_id: Policies(f.policies) for f in app.functions}, used)
    unexplained = [f"{u.function} {u.sid}: {u.action} on {u.resource}" for u in unused
                   if (u.function, u.sid or "") not in kept]
    assert unexplained == [], "allowed, never used by a test, and no '# Kept unused:' reason in its statement"
