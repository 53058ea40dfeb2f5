"""Least privilege, the other way round: every permission a function's policy allows was
used by some call of the test suite, or its statement in template.yaml says why it stays
(`# Kept unused: ...`). Each stack the session ran recorded its functions' calls
(iam-usage.json in its data directory, under pytest's base temporary directory, kept
current while a stack runs).

Only a run of every test which starts the stack can tell: otherwise this test is skipped.
In a one-process run tests/conftest.py runs it last; after a parallel run (`make test`) it
runs on its own, reading the usage files of that run (`--iam-usage-from`), whose every
worker said it ran its share of the whole suite and passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.iam.policy import Policies
from local.iam.usage import USAGE_FILE, IamUsage, unused_permissions
from local.sam.template import LocalEndpoints, SamTemplate
from samsold_cli.iam import kept_statements
from tests.support.stack_coverage import EVERY_STACK_TEST_RAN, REPO, every_stack_test_collected


def usage_of_a_whole_run(request, tmp_path_factory) -> Path:
    """The base temporary directory whose stacks ran every stack test (or a skip)."""
    earlier = request.config.getoption("--iam-usage-from")
    if earlier is None:
        if not every_stack_test_collected(request.config, request.session.items):
            pytest.skip("only a run of every e2e and browser test shows which permissions nothing uses")
        return tmp_path_factory.getbasetemp()
    workers = sorted(Path(earlier).glob("popen-gw*"))
    if not workers or not all((worker / EVERY_STACK_TEST_RAN).is_file() for worker in workers):
        pytest.skip(f"{earlier} holds no passed parallel run of every e2e and browser test")
    return Path(earlier)


def test_every_permission_was_used_or_has_a_reason(request, tmp_path_factory) -> None:
    basetemp = usage_of_a_whole_run(request, tmp_path_factory)
    used: dict[str, set[tuple[str, str]]] = {}
    for usage in [IamUsage.load(path) for path in basetemp.rglob(USAGE_FILE)]:
        for function, pairs in usage.used.items():
            used.setdefault(function, set()).update(pairs)
    template = SamTemplate.load(REPO / "template.yaml")
    app = template.resolve(LocalEndpoints.placeholder(template.region, template.account_id))
    kept = kept_statements((REPO / "template.yaml").read_text())

    unused = unused_permissions({f.logical_id: Policies(f.policies) for f in app.functions}, used)
    unexplained = [f"{u.function} {u.sid}: {u.action} on {u.resource}" for u in unused
                   if (u.function, u.sid or "") not in kept]
    assert unexplained == [], "allowed, never used by a test, and no '# Kept unused:' reason in its statement"
