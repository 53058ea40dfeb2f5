"""template.yaml deploys as it is: cfn-lint clean, `sam build` succeeds, every handler
path resolves, least-privilege policies, tables retained on stack delete.

The fast checks read the template and hold it to docs/ARCHITECTURE.md (the functions,
the Bids table's layout, the routes and who may call them). The slow
ones run the pinned tools from .cache/aws-tools (scripts/install-aws-tools.sh, run by
`make setup` and by the fixture below): cfn-lint must report nothing, `sam build` must
succeed, and every function's handler must import from its build output plus the
dependencies layer, as Lambda would import it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bootstrap import PLACEHOLDER_CREDENTIALS
from ledger.domain.closing import SWEEP_PERIOD_S
from local.sam.intrinsics import load_yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
TOOLS_DIR = ROOT / ".cache" / "aws-tools"
INSTALL_TOOLS = ROOT / "scripts" / "install-aws-tools.sh"
SCAN_TOOLS_DIR = ROOT / ".cache" / "scan-tools"  # checkov and parliament, installed by the same script
LINT_POLICIES = ROOT / "scripts" / "lint_policies.py"

HANDLERS = {
    "PlaceBidFunction": "handlers.place_bid.handler",
    "ProcessBidFunction": "handlers.process_bid.handler",
    "LotApiFunction": "handlers.lot_api.handler",
    "BroadcastLotChangesFunction": "handlers.broadcast.handler",
    "FanOutFunction": "handlers.fan_out.handler",
    "ConnectFunction": "handlers.connect.handler",
    "CloseDueLotsFunction": "handlers.close_due_lots.handler",
    "CloseTimerFunction": "handlers.close_timers.handler",
    "LogSequencerFunction": "handlers.log_sequencer.handler",
    "LogMonitorFunction": "handlers.log_monitor.handler",
}
# What a function's deployment package holds: the project's packages, nothing else.
PACKAGES = {"tlog", "ledger", "projections", "handlers", "adapters", "bootstrap"}
ENVIRONMENT = {
    "BIDS_TABLE",
    "CONNECTIONS_TABLE",
    "PROCESS_BID_QUEUE_URL",
    "WEBSOCKET_MANAGEMENT_URL",
    "PERSISTENCE_MODULE",
    "CLOSE_GRACE_SECONDS",
    "CLOSE_TIMER_QUEUE_URL",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "ALLOWED_ORIGIN",
}
# (method, path) -> (function, needs a signed-in caller): the routes the API serves.
REST_ROUTES = {
    ("POST", "/bid"): ("PlaceBidFunction", True),
    ("POST", "/lots/{lot_id}/buy"): ("PlaceBidFunction", True),
    ("GET", "/bids/{bid_id}"): ("LotApiFunction", True),
    ("GET", "/me/bids"): ("LotApiFunction", True),
    ("POST", "/lots"): ("LotApiFunction", True),
    ("GET", "/lots"): ("LotApiFunction", False),
    ("GET", "/lots/{lot_id}"): ("LotApiFunction", False),
    ("POST", "/lots/{lot_id}/cancel"): ("LotApiFunction", True),
    ("GET", "/lots/{lot_id}/events"): ("LotApiFunction", True),
    ("POST", "/lots/{lot_id}/bids/{bid_id}/retract"): ("LotApiFunction", True),
    ("GET", "/openapi.json"): ("LotApiFunction", False),
    ("POST", "/sales"): ("LotApiFunction", True),
    ("POST", "/sales/{sale_id}/lots"): ("LotApiFunction", True),
    ("GET", "/sales/{sale_id}"): ("LotApiFunction", False),
    ("GET", "/log/checkpoint"): ("LotApiFunction", False),
    ("GET", "/log/checkpoints/{size}"): ("LotApiFunction", False),
    ("GET", "/log/key"): ("LotApiFunction", False),
    ("GET", "/log/consistency"): ("LotApiFunction", False),
    ("GET", "/lots/{lot_id}/proof"): ("LotApiFunction", False),
    ("GET", "/bids/{bid_id}/receipt"): ("LotApiFunction", True),
    ("POST", "/bidders/{user_id}/erase"): ("LotApiFunction", True),
    # Who may bid: registrations and blocks (the handlers check the seller or administrator).
    ("GET", "/me/registrations"): ("LotApiFunction", True),
    ("POST", "/bidders/{user_id}/block"): ("LotApiFunction", True),
    ("POST", "/bidders/{user_id}/unblock"): ("LotApiFunction", True),
    **{(method, f"{scope}/registrations{action}"): ("LotApiFunction", True)
       for scope in ("/sales/{sale_id}", "/lots/{lot_id}")
       for method, action in (("POST", ""), ("GET", ""), ("POST", "/{user_id}/approve"), ("POST", "/{user_id}/decline"),
                              ("POST", "/{user_id}/suspend"))},
}
WEBSOCKET_ROUTES = {"$connect", "$disconnect", "subscribe", "unsubscribe"}
SNAPSHOT_CHANGES = {"eventName": ["MODIFY"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "LOT#"}]}}}}
# ConnectFunction checks tokens itself (WebSocket routes have no authorizer), and so does
# LotApiFunction for a lot's public view, which says where a signed-in caller stands.
AUTH_ENVIRONMENT = {"AUTH_ISSUER", "AUTH_JWKS_URL", "AUTH_CLIENT_ID"}
# Only the broadcast hands pages of a large audience to FanOutFunction.
FAN_OUT_ENVIRONMENT = {"FAN_OUT_QUEUE_URL", "FAN_OUT_PAGE_SIZE"}
CONFIRMATION_ENVIRONMENT = {"BID_CONFIRMATION_CAPS"}
# The per-user quotas each function enforces (ledger/service/quotas.py reads them).
BID_QUOTA_ENVIRONMENT = {"QUOTA_PENDING_BIDS_PER_LOT", "QUOTA_REJECTED_BIDS_PER_LOT_PER_HOUR"}
LOT_QUOTA_ENVIRONMENT = {"QUOTA_LOTS_PER_DAY"}
# Who may sell (handlers/rest.py seller_of), read by bootstrap.build.
SELLING_ENVIRONMENT = {"ANYONE_MAY_SELL"}
CONNECTION_QUOTA_ENVIRONMENT = {"QUOTA_CONNECTIONS_PER_USER", "QUOTA_SUBSCRIPTIONS_PER_CONNECTION"}
# The public log: the routes read it; only the sequencer signs and archives.
LOG_ENVIRONMENT = {"LOG_TABLE", "LOG_BUCKET", "LOG_ORIGIN"}
SEQUENCER_ENVIRONMENT = LOG_ENVIRONMENT | {"LOG_KEY_ID", "LOG_ARCHIVE_BUCKET"}
MONITOR_ENVIRONMENT = LOG_ENVIRONMENT | {"LOG_MONITOR_TABLE"}
# Least privilege: function -> {(action, resource)}, as the code uses them; the
# resource "BidsTable/index/OpenLotsByCloseTimeSharded" is the open-lots GSI,
# "BidsTable/index/EndedLotsByTime" the ended-lots one (only the lot list reads it).
POLICIES = {
    "PlaceBidFunction": {
        *(("dynamodb:" + a, "BidsTable") for a in ("GetItem", "BatchGetItem", "PutItem")),
        ("sqs:SendMessage", "ProcessBidQueue"),
    },
    # One BatchGetItem per batch; the queue carries no command that reads a lot's events.
    # The transaction Updates the bidders' records of the lot, and checks each bid's request record.
    "ProcessBidFunction": {("dynamodb:" + a, "BidsTable") for a in ("BatchGetItem", "PutItem", "UpdateItem",
                                                                      "ConditionCheckItem")},
    "LotApiFunction": {
        *(("dynamodb:" + a, "BidsTable") for a in ("GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem")),
        # Erasing a bidder: their disclosures and records.
        ("dynamodb:DeleteItem", "BidsTable"),
        ("dynamodb:BatchWriteItem", "BidsTable"),
        ("dynamodb:Query", "BidsTable/index/OpenLotsByCloseTimeSharded"),
        ("dynamodb:Query", "BidsTable/index/EndedLotsByTime"),
        ("dynamodb:Query", "BidsTable/index/BidsByLot"),  # a lot's bid history past its rejected bids
        ("dynamodb:Query", "BidsTable/index/RegistrationsByScope"),  # a sale's registrations
        ("dynamodb:Query", "BidsTable/index/RegistrationsByBidder"),  # a bidder's
        ("sqs:SendMessage", "CloseTimerQueue"),  # POST /lots arms a short lot's close timer
        # The public log's routes: its head and lots' runs, and the tiles.
        ("dynamodb:GetItem", "LogTable"),
        ("dynamodb:Query", "LogTable"),
        ("s3:GetObject", "LogBucket/*"),
    },
    "BroadcastLotChangesFunction": {
        ("dynamodb:Query", "BidsTable"),
        ("dynamodb:BatchGetItem", "BidsTable"),  # the disclosures of older bids among rejections
        ("dynamodb:Query", "BidsTable/index/BiddersByLot"),
        ("dynamodb:Query", "BidsTable/index/BidsByLot"),
        *(("dynamodb:" + a, "ConnectionsTable") for a in ("Query", "GetItem", "BatchWriteItem")),
        ("execute-api:ManageConnections", "WebSocketApi/WebSocketStage/POST/@connections/*"),
        ("sqs:SendMessage", "FanOutQueue"),
    },
    "FanOutFunction": {
        *(("dynamodb:" + a, "ConnectionsTable") for a in ("Query", "GetItem", "BatchWriteItem")),
        ("execute-api:ManageConnections", "WebSocketApi/WebSocketStage/POST/@connections/*"),
    },
    "ConnectFunction": {
        *(("dynamodb:" + a, "ConnectionsTable")
          for a in ("PutItem", "UpdateItem", "GetItem", "DeleteItem", "Query", "BatchWriteItem")),
        # A subscription's reply is the lot's view: its snapshot and its recent bids (events).
        ("dynamodb:GetItem", "BidsTable"),
        ("dynamodb:Query", "BidsTable"),
        ("dynamodb:Query", "BidsTable/index/BidsByLot"),
    },
    "CloseDueLotsFunction": {
        ("dynamodb:Query", "BidsTable/index/OpenLotsByCloseTimeSharded"),
        ("dynamodb:BatchGetItem", "BidsTable"),
        ("sqs:SendMessage", "ProcessBidQueue"),
        ("sqs:SendMessage", "CloseTimerQueue"),
    },
    "CloseTimerFunction": {
        ("dynamodb:GetItem", "BidsTable"),
        ("sqs:SendMessage", "ProcessBidQueue"),
        ("sqs:SendMessage", "CloseTimerQueue"),
    },
    # KMS Sign and GetPublicKey come from the key's policy (LogSigningKey), not from here.
    "LogSequencerFunction": {
        ("dynamodb:Query", "BidsTable"),
        *(("dynamodb:" + a, "LogTable") for a in ("UpdateItem", "PutItem", "Query")),
        ("s3:GetObject", "LogBucket/*"),
        ("s3:PutObject", "LogBucket/*"),
        ("s3:GetObject", "LogArchive/checkpoints/*"),
        ("s3:PutObject", "LogArchive/checkpoints/*"),
    },
    # Reads the log and the events; writes only its own state.
    "LogMonitorFunction": {
        ("dynamodb:Query", "BidsTable"),
        ("dynamodb:GetItem", "LogTable"),
        ("dynamodb:Query", "LogTable"),
        ("s3:GetObject", "LogBucket/*"),
        ("dynamodb:GetItem", "LogMonitorTable"),
        ("dynamodb:PutItem", "LogMonitorTable"),
    },
}
# The modules (or packages) that call AWS, and the resource each one calls.
AWS_CALLERS = {
    "ledger/dynamodb": "BidsTable",
    "adapters/connections.py": "ConnectionsTable",
    "adapters/command_queue.py": "ProcessBidQueue",
    "adapters/connection_posts.py": "WebSocketApi",
    "adapters/fan_out_queue.py": "FanOutQueue",
    "adapters/close_timer_queue.py": "CloseTimerQueue",
    "adapters/log_index.py": "LogTable",
    "adapters/log_storage.py": "LogBucket",
    "adapters/log_monitor_state.py": "LogMonitorTable",
}
OPERATIONS = {
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "transact_get_items": "dynamodb:GetItem",
    "send_message": "sqs:SendMessage",
    "get_object": "s3:GetObject",
    "put_object": "s3:PutObject",
    "send_message_batch": "sqs:SendMessage",
    "post_to_connection": "execute-api:ManageConnections/POST",
    "delete_connection": "execute-api:ManageConnections/DELETE",
    "get_connection": "execute-api:ManageConnections/GET",
}
TRANSACTION_PARTS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
# Calls that serve the CLI and tests, never a function: `samsold replay` walks every lot.
NOT_FROM_FUNCTIONS = {("dynamodb:Scan", "BidsTable")}
AARCH64 = 183  # ELF e_machine of ARM 64-bit


# --- reading the template ------------------------------------------------------------


def load_template() -> dict[str, Any]:
    return load_yaml(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def function_properties(template: dict[str, Any], lid: str) -> dict[str, Any]:
    """A function's properties over Globals.Function, maps merged as SAM merges them."""

    def merge(base: Any, override: Any) -> Any:
        if isinstance(base, dict) and isinstance(override, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in override.items()}}
        return override if override is not None else base

    globals_ = (template.get("Globals") or {}).get("Function") or {}
    return merge(globals_, template["Resources"][lid]["Properties"])


def events_of(template: dict[str, Any], event_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for lid in resources_of(template, "AWS::Serverless::Function"):
        for name, event in (function_properties(template, lid).get("Events") or {}).items():
            if event["Type"] == event_type:
                yield lid, name, event["Properties"]


def ref(value: Any) -> str:
    """The logical id or parameter a !Ref or !GetAtt points at."""
    if "Ref" in value:
        return value["Ref"]
    return value["Fn::GetAtt"][0]


def parameter_default(template: dict[str, Any], name: str) -> Any:
    return template["Parameters"][name]["Default"]


# --- functions and code --------------------------------------------------------------


def test_functions_handlers_runtime_and_logs(template):
    functions = resources_of(template, "AWS::Serverless::Function")
    assert set(functions) == set(HANDLERS)
    log_groups = resources_of(template, "AWS::Logs::LogGroup")
    groups_used = set()
    for lid in functions:
        props = function_properties(template, lid)
        assert props["Handler"] == HANDLERS[lid]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["Layers"] == [{"Ref": "DependenciesLayer"}]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        group = ref(props["LoggingConfig"]["LogGroup"])
        assert group in log_groups, f"{lid} logs to {group}, which the template does not declare"
        assert log_groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        groups_used.add(group)
    assert len(groups_used) == len(functions), "each function has a log group of its own"


def test_code_uri_holds_exactly_the_project_packages(template):
    code_uris = {function_properties(template, lid)["CodeUri"] for lid in HANDLERS}
    assert len(code_uris) == 1, code_uris
    code_dir = ROOT / code_uris.pop()
    assert {p.name for p in code_dir.iterdir()} == PACKAGES
    for package in PACKAGES:
        assert (code_dir / package).resolve() == ROOT / package, f"{code_dir / package} is not the top-level package"


def test_dependencies_layer_is_built_by_sam_for_arm64(template):
    layer = template["Resources"]["DependenciesLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"] == {"BuildMethod": "python3.12", "BuildArchitecture": "arm64"}
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    requirements = ROOT / layer["Properties"]["ContentUri"] / "requirements.txt"
    assert requirements.is_file()


def test_layer_pins_satisfy_the_project_dependencies():
    from packaging.requirements import Requirement

    tomllib = pytest.importorskip("tomllib")
    pins = {}
    for line in (ROOT / "layers" / "dependencies" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"pin {line} exactly"
            pins[_normalise(requirement.name)] = specifier.version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    # What the Lambda code needs (the rest serves the CLI and the local runtime).
    for name in ("boto3", "eventsourcing", "pydantic", "aws-lambda-powertools", "pyjwt"):
        (wanted,) = [Requirement(r) for r in project if _normalise(Requirement(r).name) == name]
        assert name in pins, f"{name} is missing from the layer"
        assert wanted.specifier.contains(pins[name]), f"layer pins {name}=={pins[name]}, pyproject wants {wanted}"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.parametrize(
    ("setting", "taken"),
    [("", True), ("EUR=100000", True), ("EUR=100000,USD=100000.50,JPY=15000000", True),
     ("EUR=100000, USD=1", False), ("eur=1", False), ("EUR=1e5", False), ("EUR=-1", False), ("EUR=1,", False)],
)
def test_the_confirmation_caps_parameter_takes_the_shape_the_function_reads(template, setting, taken):
    """CloudFormation refuses a malformed BidConfirmationCaps at deploy time; what its pattern
    lets through (an unknown code, too many decimals, a duplicate) PlaceBid refuses at start."""
    from ledger.domain.rules import parse_confirmation_caps

    parameter = template["Parameters"]["BidConfirmationCaps"]
    # A cap by default, for the main currencies: a confirmed absurd bid is the bidder's choice, an unconfirmed one is not.
    assert set(parse_confirmation_caps(parameter["Default"])) >= {"EUR", "USD", "GBP", "JPY"}
    assert (re.fullmatch(parameter["AllowedPattern"], setting) is not None) is taken
    if taken:
        parse_confirmation_caps(setting)
    assert function_properties(template, "PlaceBidFunction")["Environment"]["Variables"]["BID_CONFIRMATION_CAPS"] == {
        "Ref": "BidConfirmationCaps"
    }


def test_environment_is_the_one_the_code_reads(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    for lid in HANDLERS:
        extra = {"ConnectFunction": AUTH_ENVIRONMENT | CONNECTION_QUOTA_ENVIRONMENT,
                 "LotApiFunction": AUTH_ENVIRONMENT | LOT_QUOTA_ENVIRONMENT | SELLING_ENVIRONMENT,
                 "BroadcastLotChangesFunction": FAN_OUT_ENVIRONMENT,
                 "PlaceBidFunction": CONFIRMATION_ENVIRONMENT | BID_QUOTA_ENVIRONMENT,
                 "LogSequencerFunction": SEQUENCER_ENVIRONMENT,
                 "LogMonitorFunction": MONITOR_ENVIRONMENT}.get(lid, set())
        if lid == "LotApiFunction":
            extra = extra | LOG_ENVIRONMENT
        assert set(function_properties(template, lid)["Environment"]["Variables"]) == ENVIRONMENT | extra
    from ledger.service import quotas

    read = {quotas.LOTS_PER_DAY_VARIABLE, quotas.PENDING_BIDS_VARIABLE, quotas.REJECTED_BIDS_VARIABLE,
            quotas.CONNECTIONS_VARIABLE, quotas.SUBSCRIPTIONS_VARIABLE}
    assert read == BID_QUOTA_ENVIRONMENT | LOT_QUOTA_ENVIRONMENT | CONNECTION_QUOTA_ENVIRONMENT
    assert variables["BIDS_TABLE"] == {"Ref": "BidsTable"}
    assert variables["CONNECTIONS_TABLE"] == {"Ref": "ConnectionsTable"}
    assert variables["PROCESS_BID_QUEUE_URL"] == {"Ref": "ProcessBidQueue"}
    assert variables["WEBSOCKET_MANAGEMENT_URL"] == {
        "Fn::Sub": "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}"
    }
    assert variables["PERSISTENCE_MODULE"] == "ledger.dynamodb"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "samsold"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SamSold"
    assert variables["CLOSE_GRACE_SECONDS"] == {"Ref": "CloseGraceSeconds"}
    assert variables["CLOSE_TIMER_QUEUE_URL"] == {"Ref": "CloseTimerQueue"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["ALLOWED_ORIGIN"] == {"Ref": "AllowedOrigin"}
    lot_api = function_properties(template, "LotApiFunction")["Environment"]["Variables"]
    assert lot_api["ANYONE_MAY_SELL"] == {"Ref": "AnyoneMaySell"}
    assert template["Parameters"]["AnyoneMaySell"]["Default"] == "false"
    broadcast = function_properties(template, "BroadcastLotChangesFunction")["Environment"]["Variables"]
    assert broadcast["FAN_OUT_QUEUE_URL"] == {"Ref": "FanOutQueue"}
    assert broadcast["FAN_OUT_PAGE_SIZE"] == {"Ref": "FanOutPageSize"}
    assert parameter_default(template, "FanOutPageSize") == 1000


def test_rest_api_answers_preflights_for_the_page_without_a_token(template):
    api = template["Resources"]["BidsApi"]["Properties"]
    assert api["Auth"]["AddDefaultAuthorizerToCorsPreflight"] is False
    assert "Idempotency-Key" in api["Cors"]["AllowHeaders"] and "Authorization" in api["Cors"]["AllowHeaders"]
    for response in api["GatewayResponses"].values():
        assert response["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"] == {"Fn::Sub": "'${AllowedOrigin}'"}


def test_close_grace_outlasts_place_bid(template):
    """A bid placed in time is queued before its lot's CloseLot (from the close timer or the
    sweep): the close grace is longer than PlaceBid's timeout, and short enough that a lot
    closes within 15 s of its close time (its close timer arrives at the grace's end)."""
    place_bid_timeout = function_properties(template, "PlaceBidFunction")["Timeout"]
    assert place_bid_timeout <= 5
    assert place_bid_timeout < parameter_default(template, "CloseGraceSeconds") <= 10
    assert template["Parameters"]["CloseGraceSeconds"]["MinValue"] > place_bid_timeout


def test_policies_are_least_privilege(template):
    for lid, expected in POLICIES.items():
        granted = set()
        for policy in function_properties(template, lid)["Policies"]:
            assert isinstance(policy, dict) and "Statement" in policy, f"{lid}: explicit statements only"
            for statement in policy["Statement"]:
                assert statement["Effect"] == "Allow"
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                for action in actions:
                    assert "*" not in action, f"{lid}: wildcard action {action}"
                    for resource in resources:
                        granted.add((action, _resource_name(resource)))
        assert granted == expected, f"{lid}: extra {granted - expected}, missing {expected - granted}"


def test_every_aws_call_in_the_code_is_granted(template):
    """A call the policies miss fails only in AWS (nothing checks IAM locally): every
    operation the code makes must be granted to some function, or be a CLI-only one."""
    granted = set()
    for lid in HANDLERS:
        for policy in function_properties(template, lid)["Policies"]:
            for statement in policy["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                granted |= {(a, _resource_name(r)) for a in actions for r in resources}
    needed = set()
    for module, resource in AWS_CALLERS.items():
        path = ROOT / module
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
        assert files, f"{module} is named as an AWS caller and does not exist"
        source = "\n".join(file.read_text() for file in files)
        operations = set(re.findall(r"\.(\w+)\b", source)) & set(OPERATIONS)
        needed |= {(OPERATIONS[op], resource) for op in operations}
        if "transact_write_items" in source:
            parts = set(re.findall(r"[\"'](Put|Update|Delete|ConditionCheck)[\"']\s*:", source))
            needed |= {(TRANSACTION_PARTS[part], resource) for part in parts}
    missing = set()
    for action, resource in needed - NOT_FROM_FUNCTIONS:
        action, _, method = action.partition("/")
        if not any(a == action and r.split("/")[0] == resource and (not method or f"/{method}/" in r) for a, r in granted):
            missing.add((action + (f" {method}" if method else ""), resource))
    assert not missing, f"the code calls these and no function may: {sorted(missing)}"


def _resource_name(resource: Any) -> str:
    """'BidsTable', 'BidsTable/index/X', 'WebSocketApi/WebSocketStage/POST/@connections/*'."""
    assert resource != "*", "no Resource: '*'"
    if isinstance(resource, dict) and ("Ref" in resource or "Fn::GetAtt" in resource):
        return ref(resource)
    text = resource["Fn::Sub"]
    text = text[0] if isinstance(text, list) else text
    text = text.removeprefix("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:")
    text = text.removeprefix("arn:${AWS::Partition}:s3:::")
    return re.sub(r"\$\{(\w+)(?:\.Arn)?\}", r"\1", text)


# --- storage and queue ---------------------------------------------------------------


def test_bids_table(template):
    table = template["Resources"]["BidsTable"]
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    open_index, ended_index, bidders_index, bids_index, by_scope, by_bidder = props["GlobalSecondaryIndexes"]
    assert open_index == {
        "IndexName": "OpenLotsByCloseTimeSharded",
        "KeySchema": [
            {"AttributeName": "open_shard", "KeyType": "HASH"},
            {"AttributeName": "closes_at", "KeyType": "RANGE"},
        ],
        # Keys only: a bid that keeps the close time changes no key and writes nothing here.
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
    assert ended_index == {
        "IndexName": "EndedLotsByTime",
        "KeySchema": [
            {"AttributeName": "ended_shard", "KeyType": "HASH"},
            {"AttributeName": "ended_at", "KeyType": "RANGE"},
        ],
        # Keys only, set once when a lot ends: no bid ever writes here.
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
    assert bidders_index == {
        "IndexName": "BiddersByLot",
        "KeySchema": [{"AttributeName": "bidder_lot", "KeyType": "HASH"}],
        # Keys only, set once per bidder and lot (off the bid's path: the stream writes it).
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
    assert bids_index == {
        "IndexName": "BidsByLot",
        "KeySchema": [{"AttributeName": "bid_lot", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        # An accepted bid's or a retraction's event, written once with it: the bid history's source.
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["topic", "state"]},
    }
    # A registration's state record, written at registration rate, never on a bid's path.
    assert by_scope == {
        "IndexName": "RegistrationsByScope",
        "KeySchema": [{"AttributeName": "reg_scope", "KeyType": "HASH"}, {"AttributeName": "reg_rank", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert by_bidder == {
        "IndexName": "RegistrationsByBidder",
        "KeySchema": [{"AttributeName": "reg_bidder", "KeyType": "HASH"}, {"AttributeName": "reg_scope", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        ("PK", "S"), ("SK", "S"), ("open_shard", "S"), ("closes_at", "S"), ("ended_shard", "S"), ("ended_at", "S"),
        ("bidder_lot", "S"), ("bid_lot", "S"), ("reg_scope", "S"), ("reg_rank", "S"), ("reg_bidder", "S"),
    }
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_connections_table(template):
    table = template["Resources"]["ConnectionsTable"]
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["PK", "SK"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_bids_table_matches_the_one_the_code_creates(template):
    """Tests and the local runtime run on the table ledger.dynamodb creates: it must be
    the one AWS gets."""
    from ledger.dynamodb import bids_table_definition

    code = bids_table_definition("Bids")
    props = template["Resources"]["BidsTable"]["Properties"]
    assert set(code) - {"TableName"} <= {
        "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "StreamSpecification",
    }, "the code's table has settings the template does not declare"
    assert code["BillingMode"] == props["BillingMode"]
    assert code["KeySchema"] == props["KeySchema"]
    assert sorted(code["AttributeDefinitions"], key=str) == sorted(props["AttributeDefinitions"], key=str)
    assert code["GlobalSecondaryIndexes"] == props["GlobalSecondaryIndexes"]
    assert code["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": props["StreamSpecification"]["StreamViewType"],
    }


def test_process_bid_queue_and_dead_letter_queue(template):
    queue = template["Resources"]["ProcessBidQueue"]["Properties"]
    dlq = template["Resources"]["ProcessBidDeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ProcessBidDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    processor_timeout = function_properties(template, "ProcessBidFunction")["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * processor_timeout

    alarm = resources_of(template, "AWS::CloudWatch::Alarm")["ProcessBidDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ProcessBidDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_fan_out_queue_and_dead_letter_queue(template):
    """Pages of a large audience: a standard queue (pages need no order), retried 3 times."""
    queue = template["Resources"]["FanOutQueue"]["Properties"]
    dlq = template["Resources"]["FanOutDeadLetterQueue"]["Properties"]
    assert "FifoQueue" not in queue and "FifoQueue" not in dlq
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["FanOutDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 3}
    assert queue["VisibilityTimeout"] >= 6 * function_properties(template, "FanOutFunction")["Timeout"]
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True

    alarm = resources_of(template, "AWS::CloudWatch::Alarm")["FanOutDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FanOutDeadLetterQueue", "QueueName"]}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_only_the_three_command_senders_may_send_to_the_bid_queue(template):
    [policy] = resources_of(template, "AWS::SQS::QueuePolicy").values()
    assert policy["Properties"]["Queues"] == [{"Ref": "ProcessBidQueue"}]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "sqs:SendMessage")
    allowed = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    roles = {a["Fn::GetAtt"][0] for a in allowed if "Fn::GetAtt" in a}
    assert roles == {"PlaceBidFunctionRole", "CloseDueLotsFunctionRole", "CloseTimerFunctionRole"}
    senders = {lid for lid, expected in POLICIES.items() if ("sqs:SendMessage", "ProcessBidQueue") in expected}
    assert {f"{lid}Role" for lid in senders} == roles  # exactly the functions whose policies send to it


def test_alarms_say_when_the_service_falls_behind(template):
    alarms = {lid: spec["Properties"] for lid, spec in resources_of(template, "AWS::CloudWatch::Alarm").items()}
    assert set(alarms) == {"ProcessBidDeadLetterAlarm", "ProcessBidQueueAgeAlarm", "ProcessBidErrorsAlarm",
                           "BroadcastIteratorAgeAlarm", "FanOutDeadLetterAlarm", "CloseTimerDeadLetterAlarm",
                           "QueuedBidsUnmatchedAlarm", "LogMonitorAlarm"}
    watched = {
        lid: (a["Namespace"], a["MetricName"], a.get("Dimensions"), a["Statistic"], a["ComparisonOperator"], a["Threshold"])
        for lid, a in alarms.items()
    }
    assert watched["ProcessBidQueueAgeAlarm"] == (
        "AWS/SQS", "ApproximateAgeOfOldestMessage",
        [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ProcessBidQueue", "QueueName"]}}],
        "Maximum", "GreaterThanThreshold", 300,
    )
    assert watched["ProcessBidErrorsAlarm"] == (
        "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": "ProcessBidFunction"}}],
        "Sum", "GreaterThanThreshold", 0,
    )
    # A bid sent to the queue without the API's request record was parked: someone wrote to the queue.
    unmatched = alarms["QueuedBidsUnmatchedAlarm"]
    assert (unmatched["Namespace"], unmatched["MetricName"], unmatched["Statistic"], unmatched["Threshold"]) == (
        "SamSold", "QueuedBidsUnmatched", "Sum", 0)
    # The public log's monitor: a run that found a mismatch fails (handlers/log_monitor.py).
    assert watched["LogMonitorAlarm"] == (
        "AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": "LogMonitorFunction"}}],
        "Sum", "GreaterThanThreshold", 0,
    )
    assert watched["BroadcastIteratorAgeAlarm"] == (
        "AWS/Lambda", "IteratorAge", [{"Name": "FunctionName", "Value": {"Ref": "BroadcastLotChangesFunction"}}],
        "Maximum", "GreaterThanThreshold", 30000,
    )
    # A retried bid (visibility timeout) must not look like a backlog; a stale push must alarm
    # before the stream mapping drops it unsent.
    assert alarms["ProcessBidQueueAgeAlarm"]["Threshold"] > template["Resources"]["ProcessBidQueue"]["Properties"]["VisibilityTimeout"]
    ((_, _, stream),) = [e for e in events_of(template, "DynamoDB") if e[0] == "BroadcastLotChangesFunction"]
    assert alarms["BroadcastIteratorAgeAlarm"]["Threshold"] < stream["MaximumRecordAgeInSeconds"] * 1000
    for alarm in alarms.values():
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == alarm["OKActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }


# --- event sources -------------------------------------------------------------------


def sqs_source_of(template: dict[str, Any], function: str) -> dict[str, Any]:
    ((_, _, sqs),) = [(lid, name, props) for lid, name, props in events_of(template, "SQS") if lid == function]
    return sqs


def test_processor_reads_the_queue_in_batches_with_partial_failures(template):
    assert {lid for lid, _, _ in events_of(template, "SQS")} == {"ProcessBidFunction", "FanOutFunction", "CloseTimerFunction"}
    lid = "ProcessBidFunction"
    sqs = sqs_source_of(template, lid)
    assert sqs["Queue"] == {"Fn::GetAtt": ["ProcessBidQueue", "Arn"]}
    assert sqs["BatchSize"] == 10
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Not pinned to 1: reserved only when the parameter asks for it.
    assert function_properties(template, lid)["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveProcessBidConcurrency", {"Ref": "ProcessBidReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert parameter_default(template, "ProcessBidReservedConcurrency") == ""


def test_broadcast_reads_only_snapshot_changes(template):
    ((lid, _, stream),) = [e for e in events_of(template, "DynamoDB") if e[0] == "BroadcastLotChangesFunction"]
    assert stream["Stream"] == {"Fn::GetAtt": ["BidsTable", "StreamArn"]}
    assert stream["StartingPosition"] == "LATEST"
    assert [json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]] == [SNAPSHOT_CHANGES]
    # Batches in parallel per shard, split by partition key: one lot's records keep their order.
    assert stream["ParallelizationFactor"] == 10


def test_fan_out_takes_one_page_per_invocation_with_partial_failures(template):
    sqs = sqs_source_of(template, "FanOutFunction")
    assert sqs["Queue"] == {"Fn::GetAtt": ["FanOutQueue", "Arn"]}
    assert sqs["BatchSize"] == 1  # a page is one invocation's work by its size
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_close_timer_queue_delays_each_timer_and_feeds_the_timer_function(template):
    """Close timers: a standard queue (only it delays each message on its own), retried 3
    times into a dead-letter queue with an alarm; CloseTimerFunction reads it in batches."""
    queue = template["Resources"]["CloseTimerQueue"]["Properties"]
    dlq = template["Resources"]["CloseTimerDeadLetterQueue"]["Properties"]
    assert "FifoQueue" not in queue and "FifoQueue" not in dlq
    assert "DelaySeconds" not in queue  # each timer sets its own
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["CloseTimerDeadLetterQueue", "Arn"]},
                                      "maxReceiveCount": 3}
    assert queue["VisibilityTimeout"] >= 6 * function_properties(template, "CloseTimerFunction")["Timeout"]
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    alarm = resources_of(template, "AWS::CloudWatch::Alarm")["CloseTimerDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["CloseTimerDeadLetterQueue", "QueueName"]}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)

    sqs = sqs_source_of(template, "CloseTimerFunction")
    assert sqs["Queue"] == {"Fn::GetAtt": ["CloseTimerQueue", "Arn"]}
    assert sqs["BatchSize"] == 10
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_due_lots_are_swept_every_minute(template):
    ((lid, _, schedule),) = [e for e in events_of(template, "Schedule") if e[0] == "CloseDueLotsFunction"]
    assert schedule["Schedule"] == "rate(1 minute)"
    assert SWEEP_PERIOD_S == 60  # the close timers' rule counts on the sweep's period (ledger/domain/closing.py)


def test_the_log_sequencer_reads_every_lot_change_and_signs_every_minute_with_a_key_only_it_may_use(template):
    ((_, _, stream),) = [e for e in events_of(template, "DynamoDB") if e[0] == "LogSequencerFunction"]
    assert stream["StartingPosition"] == "TRIM_HORIZON"  # from the first event on, none skipped
    assert stream["MaximumBatchingWindowInSeconds"] < 60  # every event in the log within a minute
    snapshots = {"eventName": ["INSERT", "MODIFY"],
                 "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "LOT#"}]}, "SK": {"S": ["SNAPSHOT"]}}}}
    assert [json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]] == [snapshots]
    ((_, _, schedule),) = [e for e in events_of(template, "Schedule") if e[0] == "LogSequencerFunction"]
    assert schedule["Schedule"] == "rate(1 minute)" and json.loads(schedule["Input"]) == {"publish": True}
    key = template["Resources"]["LogSigningKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    statements = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    signing = {"kms:Sign", "kms:GetPublicKey"}
    sequencer = {"Fn::GetAtt": ["LogSequencerFunctionRole", "Arn"]}
    for sid, statement in statements.items():
        if statement["Effect"] == "Allow" and signing & set(statement["Action"]):
            assert statement["Principal"] == {"AWS": sequencer}, sid
    deny = statements["NoOneElseSigns"]
    assert set(deny["Action"]) == signing and deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": sequencer}}
    archive = template["Resources"]["LogArchiveBucket"]["Properties"]
    assert archive["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert "LogOrigin" in template["Parameters"] and "LogArchiveBucketName" in template["Parameters"]


def test_the_log_monitor_runs_every_minute_and_only_it_writes_its_state(template):
    ((_, _, schedule),) = [e for e in events_of(template, "Schedule") if e[0] == "LogMonitorFunction"]
    assert schedule["Schedule"] == "rate(1 minute)" and "Input" not in schedule
    environment = function_properties(template, "LogMonitorFunction")["Environment"]["Variables"]
    assert environment["LOG_MONITOR_TABLE"] == {"Ref": "LogMonitorTable"} and "LOG_KEY_ID" not in environment
    writers = set()
    for lid in HANDLERS:
        for policy in function_properties(template, lid)["Policies"]:
            for statement in policy["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if statement["Resource"] == {"Fn::GetAtt": ["LogMonitorTable", "Arn"]}:
                    writers |= {lid for action in actions if action != "dynamodb:GetItem"}
    assert writers == {"LogMonitorFunction"}
    assert template["Outputs"]["LogMonitorTableName"]["Value"] == {"Ref": "LogMonitorTable"}


# --- APIs ----------------------------------------------------------------------------


def test_rest_routes_and_their_auth(template):
    api = template["Resources"]["BidsApi"]["Properties"]
    assert api["StageName"] == {"Ref": "Stage"}
    assert api["Auth"]["DefaultAuthorizer"] == "CognitoAuthorizer"
    assert api["Auth"]["Authorizers"]["CognitoAuthorizer"]["UserPoolArn"] == {
        "Fn::If": ["CreateUserPool", {"Fn::GetAtt": ["UserPool", "Arn"]}, {"Ref": "ExistingUserPoolArn"}]
    }
    routes = {}
    for lid, _, event in events_of(template, "Api"):
        assert event["RestApiId"] == {"Ref": "BidsApi"}
        authorizer = (event.get("Auth") or {}).get("Authorizer", "CognitoAuthorizer")
        routes[(event["Method"].upper(), event["Path"])] = (lid, authorizer != "NONE")
    assert routes == REST_ROUTES


def test_user_pool_is_created_unless_one_is_given(template):
    assert template["Conditions"]["CreateUserPool"] == {"Fn::Equals": [{"Ref": "ExistingUserPoolArn"}, ""]}
    for lid in ("UserPool", "UserPoolClient", "AdminGroup"):
        assert template["Resources"][lid]["Condition"] == "CreateUserPool"
    assert template["Resources"]["AdminGroup"]["Properties"]["GroupName"] == "admin"
    # The WebSocket connect function takes ID tokens of the pool's app client, as the REST authorizer does.
    client_id = function_properties(template, "ConnectFunction")["Environment"]["Variables"]["AUTH_CLIENT_ID"]
    assert client_id == {"Fn::If": ["CreateUserPool", {"Ref": "UserPoolClient"}, ""]}


def test_the_pages_origin_is_required_and_never_any(template):
    origin = template["Parameters"]["AllowedOrigin"]
    assert "Default" not in origin  # sam deploy asks for it
    pattern = re.compile(origin["AllowedPattern"])
    assert pattern.match("https://auctions.example.com") and pattern.match("http://localhost:3000")
    for refused in ("*", "", "https://a.example, https://b.example", "auctions.example.com", "https://*.example.com"):
        assert not pattern.match(refused), refused


def test_sign_in_sends_no_password_unless_asked_and_admins_use_mfa(template):
    pool = template["Resources"]["UserPool"]["Properties"]
    assert pool["MfaConfiguration"] == {"Ref": "UserPoolMfa"} and pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert parameter_default(template, "UserPoolMfa") == "ON"
    flows = template["Resources"]["UserPoolClient"]["Properties"]["ExplicitAuthFlows"]
    condition, asked, default = flows["Fn::If"]
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "AllowPasswordAuth"}, "true"]}
    assert parameter_default(template, "AllowPasswordAuth") == "false"
    assert "ALLOW_USER_PASSWORD_AUTH" not in default and "ALLOW_USER_PASSWORD_AUTH" in asked
    assert "ALLOW_USER_SRP_AUTH" in default


def test_both_stages_keep_access_logs_with_caller_sub_and_request_id_and_no_token(template):
    rest = template["Resources"]["BidsApi"]["Properties"]["AccessLogSetting"]
    websocket = template["Resources"]["WebSocketStage"]["Properties"]["AccessLogSettings"]
    for setting, group, fields in ((rest, "RestApiAccessLogGroup", {"sub": "$context.authorizer.claims.sub"}),
                                   (websocket, "WebSocketAccessLogGroup", {"connectionId": "$context.connectionId"})):
        assert setting["DestinationArn"] == {"Fn::GetAtt": [group, "Arn"]}
        line = json.loads(setting["Format"])
        assert line["requestId"] == "$context.requestId" and line["ip"] == "$context.identity.sourceIp"
        assert fields.items() <= line.items()
        assert not [value for value in line.values() if "header" in value.lower() or "querystring" in value.lower()]
        assert template["Resources"][group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_place_bid_writes_only_bid_and_quota_items(template):
    statements = [statement for policy in function_properties(template, "PlaceBidFunction")["Policies"]
                  for statement in policy["Statement"]]
    (put,) = [statement for statement in statements if "dynamodb:PutItem" in statement["Action"]]
    assert put["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["BID#*", "QUOTA#*"]}}


def test_websocket_routes_reach_the_connect_function(template):
    (api,) = resources_of(template, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    routes = resources_of(template, "AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == WEBSOCKET_ROUTES
    for route in routes.values():
        assert route["Properties"]["Target"] == {"Fn::Join": ["/", ["integrations", {"Ref": "ConnectIntegration"}]]}
    integration = template["Resources"]["ConnectIntegration"]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert "${ConnectFunction.Arn}" in integration["IntegrationUri"]["Fn::Sub"]
    deployment = template["Resources"]["WebSocketDeployment"]
    assert set(deployment["DependsOn"]) == set(routes), "deploy only once every route exists"
    (permission,) = resources_of(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["FunctionName"] == {"Ref": "ConnectFunction"}
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


# --- the security scan (make lint runs checkov and scripts/lint_policies.py) -------------


def test_every_function_and_the_rest_api_are_traced(template):
    for lid in HANDLERS:
        assert function_properties(template, lid)["Tracing"] == "Active", f"{lid} is not traced"
    assert template["Resources"]["BidsApi"]["Properties"]["TracingEnabled"] is True


def test_every_table_and_queue_names_its_encryption_at_rest(template):
    # The keys AWS owns, on purpose (docs/DEPLOY.md, "Encryption at rest"): SSEEnabled false
    # is DynamoDB's AWS owned key, SqsManagedSseEnabled SQS's own keys (SSE-SQS).
    for lid, table in resources_of(template, "AWS::DynamoDB::Table").items():
        assert table["Properties"].get("SSESpecification") == {"SSEEnabled": False}, lid
    for lid, queue in resources_of(template, "AWS::SQS::Queue").items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, lid


def test_every_checkov_skip_names_a_check_and_says_why(template):
    skips = 0
    for lid, resource in template["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
            skips += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", str(skip.get("id"))), f"{lid}: {skip}"
            assert len(str(skip.get("comment") or "").split()) >= 5, f"{lid} skips {skip['id']} without its reason"
    assert skips > 0


def test_outputs_for_the_cli(template):
    assert {"BidsApiEndpoint", "WebSocketApiEndpoint", "BidsTableName", "ProcessBidQueueUrl"} <= set(
        template["Outputs"]
    )


# --- the tools: cfn-lint and sam build -----------------------------------------------


def _tool_env(extra_path: list[Path]) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*map(str, extra_path), str(TOOLS_DIR / "bin"), env.get("PATH", "")])
    env["SAM_CLI_TELEMETRY"] = "0"
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.fixture(scope="module")
def aws_tools() -> Path:
    """The pinned cfn-lint and SAM CLI (installs them the first time: needs PyPI)."""
    result = subprocess.run([str(INSTALL_TOOLS)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, f"scripts/install-aws-tools.sh failed:\n{result.stdout}\n{result.stderr}"
    return TOOLS_DIR / "bin"


def _is_python312(executable: Path) -> bool:
    try:
        result = subprocess.run(
            [str(executable), "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True, text=True, timeout=30,
        )
    except OSError:
        return False
    return result.stdout.strip() == "True"


@pytest.fixture(scope="module")
def python312(aws_tools) -> Path:
    """A real python3.12 (sam build runs it to fetch the layer's wheels for python3.12)."""

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.parent.parent.name))

    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [aws_tools / "python3.12"]
    if on_path := shutil.which("python3.12"):
        candidates.append(Path(on_path))  # may be a pyenv shim that fails: tried, not trusted
    candidates += sorted(pyenv_root.glob("versions/3.12*/bin/python3.12"), key=version_key, reverse=True)
    for candidate in candidates:
        if candidate.exists() and _is_python312(candidate):
            return candidate
    pytest.fail(
        "sam build needs a python3.12 for the functions' runtime and none was found (looked in "
        f"{aws_tools}, on PATH and in {pyenv_root}/versions): install one, e.g. `pyenv install 3.12`, "
        "then rerun scripts/install-aws-tools.sh"
    )


@pytest.mark.slow
def test_cfn_lint_reports_nothing(aws_tools):
    result = subprocess.run(
        [str(aws_tools / "cfn-lint"), str(TEMPLATE)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=_tool_env([]),
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


POLICY_LINT_FIXTURE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Ledger:
    Type: AWS::DynamoDB::Table
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Version: "2012-10-17"
          Statement:
            - Sid: ReadLedger
              Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt Ledger.Arn
            - Sid: QueryLedger
              Effect: Allow
              Action: {action}
              Resource: !Sub "${{Ledger.Arn}}/index/ByTime"
"""


@pytest.mark.slow
@pytest.mark.parametrize(("action", "returncode", "says"), [
    ("dynamodb:Query", 0, "1 policy documents of 1 functions, 0 findings"),
    ("dynamodb:Querry", 1, "FINDING   Reader QueryLedger: UNKNOWN_ACTION"),
    ("sqs:SendMessage", 1, "FINDING   Reader QueryLedger: RESOURCE_MISMATCH"),
])
def test_policy_lint_names_the_function_and_statement_of_a_finding(aws_tools, tmp_path, action, returncode, says):
    template = tmp_path / "template.yaml"
    template.write_text(POLICY_LINT_FIXTURE.format(action=action))
    result = subprocess.run([str(SCAN_TOOLS_DIR / "bin" / "python"), str(LINT_POLICIES), str(template)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == returncode, result.stdout + result.stderr
    assert says in result.stdout


@pytest.mark.slow
def test_policy_lint_refuses_a_policy_it_cannot_read(aws_tools, tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(POLICY_LINT_FIXTURE.format(action="dynamodb:Query").replace(
        '        - Version: "2012-10-17"\n', '        - DynamoDBReadPolicy: {TableName: !Ref Ledger}\n        - Version: "2012-10-17"\n'))
    result = subprocess.run([str(SCAN_TOOLS_DIR / "bin" / "python"), str(LINT_POLICIES), str(template)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2
    assert "Resources.Reader.Properties.Policies[0]: DynamoDBReadPolicy is not an inline policy document" in result.stderr


@pytest.fixture(scope="module")
def sam_build(aws_tools, python312, tmp_path_factory) -> Path:
    """`sam build` of the template into a fresh folder, once per module."""
    build_dir = tmp_path_factory.mktemp("sam-build") / "build"
    result = subprocess.run(
        [
            str(aws_tools / "sam"), "build",
            "--template-file", str(TEMPLATE),
            "--build-dir", str(build_dir),
            "--cache-dir", str(build_dir.parent / "cache"),
        ],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=_tool_env([python312.parent]),
    )
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    return build_dir


@pytest.mark.slow
def test_sam_build_ships_only_the_project_packages(sam_build):
    for lid in HANDLERS:
        assert {p.name for p in (sam_build / lid).iterdir()} == PACKAGES, lid
    built = load_template_at(sam_build / "template.yaml")
    layer_uri = built["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"]
    assert (sam_build / layer_uri / "python").is_dir()


def load_template_at(path: Path) -> dict[str, Any]:
    return load_yaml(path.read_text())


@pytest.mark.slow
def test_layer_holds_python312_aarch64_binaries(sam_build):
    site = sam_build / "DependenciesLayer" / "python"
    extensions = [p for p in site.rglob("*.so*") if p.is_file()]
    assert any(p.name.startswith("_pydantic_core") for p in extensions), "pydantic-core's extension is missing"
    for extension in extensions:
        header = extension.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", extension
        assert int.from_bytes(header[18:20], "little") == AARCH64, f"{extension} is not built for arm64"
        if ".cpython-" in extension.name:
            assert ".cpython-312-aarch64-linux-gnu." in extension.name, extension


@pytest.fixture(scope="module")
def host_binaries(sam_build, python312, tmp_path_factory) -> Path | None:
    """This machine's builds of the layer's compiled distributions, same versions.

    The layer holds aarch64 binaries; to import the functions on another architecture
    the test puts the host's build of each such distribution ahead of the layer.
    """
    if platform.machine().lower() in ("aarch64", "arm64"):
        return None
    site = sam_build / "DependenciesLayer" / "python"
    wanted = []
    for wheel in site.glob("*.dist-info/WHEEL"):
        if "Root-Is-Purelib: false" in wheel.read_text():
            name, version = wheel.parent.name.removesuffix(".dist-info").rsplit("-", 1)
            wanted.append(f"{name}=={version}")
    overlay = tmp_path_factory.mktemp("host-binaries")
    if wanted:
        result = subprocess.run(
            [str(python312), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--target", str(overlay), *wanted],
            capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, f"pip could not fetch host builds of {wanted}:\n{result.stderr}"
    return overlay


def _placeholder_environment(template: dict[str, Any], lid: str) -> dict[str, str]:
    """The function's environment with stand-ins for what CloudFormation resolves."""

    def resolve(value: Any) -> str:
        if isinstance(value, (str, int, float)):
            return str(value)
        if "Ref" in value:
            name = value["Ref"]
            if name in template.get("Parameters", {}):
                # A parameter a deployment must set gets the value it would set.
                required = {"AllowedOrigin": "https://auction.example.com"}
                return str(template["Parameters"][name].get("Default", required.get(name)))
            return f"samsold-{name}"
        if "Fn::If" in value:  # the default parameters' branch: a user pool of the stack's own
            return resolve(value["Fn::If"][1])
        if "Fn::Sub" in value:
            pseudo = {"AWS::Region": "us-east-1", "AWS::URLSuffix": "amazonaws.com", "AWS::AccountId": "123456789012"}
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return re.sub(r"\$\{([\w:.]+)\}", lambda m: pseudo.get(m[1], m[1].lower()), text)
        raise AssertionError(f"{lid}: no stand-in for {value}")

    variables = function_properties(template, lid)["Environment"]["Variables"]
    return {name: resolve(value) for name, value in variables.items()}


@pytest.mark.slow
@pytest.mark.parametrize("lid", sorted(HANDLERS))
def test_handler_imports_from_the_build(lid, template, sam_build, host_binaries, python312):
    """Lambda's view: /var/task is the function's build folder, /opt/python the layer's."""
    module, _, attribute = HANDLERS[lid].rpartition(".")
    task_root = sam_build / lid
    source = task_root / Path(*module.split("."))
    assert source.with_suffix(".py").is_file() or (source / "__init__.py").is_file(), (
        f"{module} is not in {lid}'s build output: is {'/'.join(module.split('.'))}.py written yet?"
    )
    path = [str(task_root), str(sam_build / "DependenciesLayer" / "python")]
    if host_binaries is not None:
        path.insert(0, str(host_binaries))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(path),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": lid,
        **PLACEHOLDER_CREDENTIALS,
        **_placeholder_environment(template, lid),
    }
    check = (
        "import importlib, sys\n"
        f"module = importlib.import_module({module!r})\n"
        f"assert callable(getattr(module, {attribute!r}, None)), 'no callable {attribute} in {module}'\n"
        "outside = sorted({m.__file__ for m in list(sys.modules.values())\n"
        "    if getattr(m, '__file__', None) and m.__name__.split('.')[0] in ('ledger', 'projections', 'handlers')\n"
        f"    and not m.__file__.startswith({str(task_root)!r})}})\n"
        "assert not outside, outside\n"
    )
    # -S: no site-packages, as in Lambda only the task root, the layer and the stdlib.
    result = subprocess.run(
        [str(python312), "-S", "-c", check], capture_output=True, text=True, timeout=120, cwd=task_root, env=env,
    )
    assert result.returncode == 0, f"{HANDLERS[lid]} does not import from the build:\n{result.stderr}"

