"""Each function runs with exactly its template role: a policy with one action removed
makes the local stack fail where AWS would, with AWS's error naming the function's role
session, the action and the resource; `iam=False` lets the same call through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.iam.usage import USAGE_FILE
from local.runtime import LocalStack
from tests.e2e.helpers import Client

REPO = Path(__file__).resolve().parents[2]
BIDS_TABLE_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/BidsTable"
EXPECTED_MESSAGE = (
    "User: arn:aws:sts::000000000000:assumed-role/samsold-local-PlaceBidFunctionRole/PlaceBidFunction "
    f"is not authorized to perform: dynamodb:PutItem on resource: {BIDS_TABLE_ARN} "
    "because no identity-based policy allows the dynamodb:PutItem action"
)


def template_without_place_bid_put_item(directory: Path) -> Path:
    """template.yaml with dynamodb:PutItem taken out of PlaceBidFunction's policy (the
    function records each bid request with it), its code still found in the repository."""
    text = (REPO / "template.yaml").read_text()
    statement = text.index("Sid: RecordBidRequests")
    put_item = text.index("Action: dynamodb:PutItem\n", statement)
    # Another item action in its place: the statement stays well-formed, PutItem is gone.
    changed = text[:put_item] + "Action: dynamodb:ConditionCheckItem\n" + text[put_item + len("Action: dynamodb:PutItem\n"):]
    assert changed.count("dynamodb:PutItem") == text.count("dynamodb:PutItem") - 1
    changed = changed.replace("CodeUri: functions/", f"CodeUri: {REPO / 'functions'}/")
    path = directory / "template.yaml"
    path.write_text(changed)
    return path


@pytest.fixture
def narrowed_template(tmp_path: Path) -> Path:
    return template_without_place_bid_put_item(tmp_path)


def place_a_bid(stack: LocalStack) -> tuple[int, str]:
    admin = Client(stack.endpoints["rest"], stack.auth.mint("ada", admin=True))
    alice = Client(stack.endpoints["rest"], stack.auth.mint("alice"))
    lot = admin.create_lot()
    response = alice.post("/bid", {"lot_id": lot["lot_id"], "amount": "12.00"})
    return response.status_code, response.text


@pytest.fixture
def enforced_stack(narrowed_template: Path, tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(narrowed_template, tmp_path / "data", port=0) as stack:
        yield stack


def test_a_call_the_policy_does_not_allow_fails_as_aws_fails_it(enforced_stack: LocalStack) -> None:
    status, body = place_a_bid(enforced_stack)

    assert status >= 500, body  # the function failed: API Gateway answers 5xx
    denials = enforced_stack.iam_usage.denials
    assert [(d.function, d.action, d.resource, d.code) for d in denials] == [
        ("PlaceBidFunction", "dynamodb:PutItem", BIDS_TABLE_ARN, "AccessDeniedException")]
    assert denials[0].message == EXPECTED_MESSAGE
    assert enforced_stack.iam_usage.denial_counts() == {"PlaceBidFunction": 1}
    # What the function was allowed to do, it did (it read the lot first).
    assert ("dynamodb:GetItem", BIDS_TABLE_ARN) in enforced_stack.iam_usage.used["PlaceBidFunction"]

    enforced_stack.stop()
    recorded = json.loads((enforced_stack.data_dir / USAGE_FILE).read_text())
    assert [(d["function"], d["action"], d["message"]) for d in recorded["denied"]] == [
        ("PlaceBidFunction", "dynamodb:PutItem", EXPECTED_MESSAGE)]


def test_without_iam_the_same_call_goes_through(narrowed_template: Path, tmp_path: Path) -> None:
    with LocalStack(narrowed_template, tmp_path / "data", port=0, iam=False) as stack:
        status, body = place_a_bid(stack)
        assert status == 202, body
        assert stack.iam_usage.denials == []
        assert stack.iam_usage.used == {}
