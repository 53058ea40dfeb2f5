"""IAM on the local stack without Java: the policy evaluator, what each AWS call is
authorized as, and the botocore hook that refuses a call as AWS refuses it."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from local.iam.calls import Where, authorizations
from local.iam.enforce import Enforcement, Identity
from local.iam.policy import Policies, PolicyError, matches
from local.iam.usage import IamUsage, unused_permissions
from local.sam.template import LocalEndpoints, SamTemplate, TemplateError

ACCOUNT = "000000000000"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/BidsTable"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:ProcessBidQueue.fifo"
WHERE = Where("us-east-1", ACCOUNT, {"http://127.0.0.1:3000/prod": "websocketapi"}, {"BidsTable": "PK"})
REPO = Path(__file__).resolve().parents[3]


def policy(*statements: dict) -> Policies:
    return Policies([{"Version": "2012-10-17", "Statement": list(statements)}])


# -- the evaluator ------------------------------------------------------------------------


def test_wildcards_match_as_iam_matches_them() -> None:
    assert matches("dynamodb:*Item", "dynamodb:PutItem")
    assert matches("dynamodb:Get?tem", "dynamodb:GetItem")
    assert not matches("dynamodb:Get?tem", "dynamodb:GetIItem")
    assert matches("DynamoDB:putitem", "dynamodb:PutItem", ignore_case=True)
    assert not matches(f"{TABLE}", f"{TABLE}/index/ByTime")
    assert matches(f"{TABLE}/index/*", f"{TABLE}/index/ByTime")


def test_allowed_only_what_a_statement_allows() -> None:
    policies = policy({"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": TABLE})
    assert policies.decide("dynamodb:PutItem", TABLE) == "allow"
    assert policies.decide("dynamodb:DeleteItem", TABLE) == "implicit_deny"
    assert policies.decide("dynamodb:PutItem", TABLE.replace("BidsTable", "Other")) == "implicit_deny"


def test_an_explicit_deny_wins_over_any_allow() -> None:
    policies = policy({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
                      {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE})
    assert policies.decide("dynamodb:GetItem", TABLE) == "allow"
    assert policies.decide("dynamodb:DeleteItem", TABLE) == "explicit_deny"


def test_not_action_and_not_resource_allow_everything_but_what_they_name() -> None:
    policies = policy({"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "NotResource": QUEUE})
    assert policies.decide("dynamodb:PutItem", TABLE) == "allow"
    assert policies.decide("dynamodb:DeleteItem", TABLE) == "implicit_deny"
    assert policies.decide("sqs:SendMessage", QUEUE) == "implicit_deny"


def test_leading_keys_condition_limits_the_items_a_call_may_touch() -> None:
    policies = policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE,
                       "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LOT#*"]}}})
    assert policies.decide("dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": ["LOT#1"]}) == "allow"
    assert policies.decide("dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": ["BID#1"]}) == "implicit_deny"


def test_a_condition_the_evaluator_cannot_evaluate_is_refused_when_the_policies_load() -> None:
    with pytest.raises(PolicyError, match="only the String operators"):
        policy({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE,
                "Condition": {"Bool": {"aws:SecureTransport": "true"}}})
    with pytest.raises(PolicyError, match="exactly one of Action and NotAction"):
        policy({"Effect": "Allow", "Resource": TABLE})


# -- what a call is authorized as ----------------------------------------------------------


def pairs(service: str, operation: str, params: dict, url: str = "") -> list[tuple[str, str]]:
    return [(a.action, a.resource) for a in authorizations(service, operation, params, WHERE, url)]


def test_item_calls_are_their_own_action_on_the_table_and_index_queries_on_the_index() -> None:
    assert pairs("dynamodb", "PutItem", {"TableName": "BidsTable", "Item": {}}) == [("dynamodb:PutItem", TABLE)]
    assert pairs("dynamodb", "Query", {"TableName": "BidsTable", "IndexName": "ByTime"}) == [
        ("dynamodb:Query", f"{TABLE}/index/ByTime")]


def test_a_transaction_is_authorized_part_by_part_as_each_part_s_item_action() -> None:
    transaction = {"TransactItems": [
        {"Put": {"TableName": "BidsTable", "Item": {}}},
        {"Update": {"TableName": "Other", "Key": {}}},
        {"ConditionCheck": {"TableName": "BidsTable", "Key": {}}},
        {"Delete": {"TableName": "BidsTable", "Key": {}}},
    ]}
    other = TABLE.replace("BidsTable", "Other")
    assert pairs("dynamodb", "TransactWriteItems", transaction) == [
        ("dynamodb:PutItem", TABLE), ("dynamodb:UpdateItem", other),
        ("dynamodb:ConditionCheckItem", TABLE), ("dynamodb:DeleteItem", TABLE)]


def test_batch_calls_are_authorized_once_per_table() -> None:
    assert pairs("dynamodb", "BatchGetItem", {"RequestItems": {"BidsTable": {}, "Other": {}}}) == [
        ("dynamodb:BatchGetItem", TABLE), ("dynamodb:BatchGetItem", TABLE.replace("BidsTable", "Other"))]


def test_sqs_calls_name_the_queue_of_their_url_and_batches_their_single_action() -> None:
    url = f"http://127.0.0.1:4566/{ACCOUNT}/ProcessBidQueue.fifo"
    assert pairs("sqs", "SendMessage", {"QueueUrl": url}) == [("sqs:SendMessage", QUEUE)]
    assert pairs("sqs", "SendMessageBatch", {"QueueUrl": url}) == [("sqs:SendMessage", QUEUE)]


def test_connection_calls_are_manage_connections_on_the_method_and_connection() -> None:
    url = "http://127.0.0.1:3000/prod/@connections/abc%3D"
    base = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:websocketapi/prod"
    assert pairs("apigatewaymanagementapi", "PostToConnection", {"ConnectionId": "abc="}, url) == [
        ("execute-api:ManageConnections", f"{base}/POST/@connections/abc=")]
    assert pairs("apigatewaymanagementapi", "DeleteConnection", {"ConnectionId": "abc="}, url) == [
        ("execute-api:ManageConnections", f"{base}/DELETE/@connections/abc=")]


# -- the hook -------------------------------------------------------------------------------


def enforced_client(service: str, policies: Policies, endpoint: str = "http://127.0.0.1:9") -> tuple[object, Enforcement]:
    session = botocore.session.get_session()
    enforcement = Enforcement(Identity(ACCOUNT, "stack-PlaceBidFunctionRole", "PlaceBidFunction"), policies, WHERE)
    enforcement.install(session)
    client = session.create_client(service, region_name="us-east-1", endpoint_url=endpoint,
                                   aws_access_key_id="local", aws_secret_access_key="local",
                                   config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    return client, enforcement


def test_a_denied_dynamodb_call_fails_with_aws_s_access_denied_error_and_is_reported() -> None:
    client, enforcement = enforced_client("dynamodb", policy(
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE}))
    with pytest.raises(ClientError) as raised:
        client.put_item(TableName="BidsTable", Item={"PK": {"S": "LOT#1"}, "SK": {"S": "x"}})
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/stack-PlaceBidFunctionRole/PlaceBidFunction is not authorized "
        f"to perform: dynamodb:PutItem on resource: {TABLE} because no identity-based policy allows the "
        "dynamodb:PutItem action")
    report = enforcement.drain()
    assert [(d["action"], d["resource"]) for d in report["denied"]] == [("dynamodb:PutItem", TABLE)]
    assert report["used"] == []


def test_an_allowed_call_goes_out_and_its_use_is_recorded() -> None:
    client, enforcement = enforced_client("dynamodb", policy(
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE}))
    with pytest.raises(EndpointConnectionError):  # nothing listens there: the call was sent
        client.get_item(TableName="BidsTable", Key={"PK": {"S": "LOT#1"}, "SK": {"S": "x"}})
    assert enforcement.drain()["used"] == [["dynamodb:GetItem", TABLE]]


def test_a_denied_sqs_call_fails_with_sqs_s_access_denied() -> None:
    client, _ = enforced_client("sqs", policy({"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE}))
    with pytest.raises(ClientError) as raised:
        client.send_message(QueueUrl=f"http://127.0.0.1:9/{ACCOUNT}/ProcessBidQueue.fifo", MessageBody="{}")
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"sqs:sendmessage on resource: {QUEUE}" in raised.value.response["Error"]["Message"]


def test_a_denied_post_to_a_connection_is_a_403() -> None:
    client, _ = enforced_client("apigatewaymanagementapi", policy(), endpoint="http://127.0.0.1:3000/prod")
    with pytest.raises(ClientError) as raised:
        client.post_to_connection(ConnectionId="abc", Data=b"{}")
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert raised.value.response["Error"]["Message"].endswith(
        f"execute-api:ManageConnections on resource: arn:aws:execute-api:us-east-1:{ACCOUNT}:websocketapi/prod/POST/@connections/abc")


# -- the template's roles and the unused-permission report ----------------------------------


def test_the_template_s_policies_resolve_to_the_local_resources_arns() -> None:
    template = SamTemplate.load(REPO / "template.yaml")
    app = template.resolve(LocalEndpoints.placeholder("us-east-1", ACCOUNT))
    place_bid = next(f for f in app.functions if f.logical_id == "PlaceBidFunction")
    policies = Policies(place_bid.policies)
    assert place_bid.role_name == "samsold-local-PlaceBidFunctionRole"
    assert policies.decide("sqs:SendMessage", QUEUE) == "allow"
    assert policies.decide("dynamodb:PutItem", TABLE) == "allow"
    assert policies.decide("dynamodb:DeleteItem", TABLE) == "implicit_deny"


def sam_function_template(policies: object) -> dict:
    return {"Transform": "AWS::Serverless-2016-10-31", "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Fn": {"Type": "AWS::Serverless::Function", "Properties": {
            "Handler": "m.handler", "Runtime": "python3.12", "CodeUri": ".", "Policies": policies}}}}


def test_sam_policy_templates_are_expanded_as_sam_expands_them(tmp_path: Path) -> None:
    document = sam_function_template([{"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["Queue", "QueueName"]}}}])
    (tmp_path / "template.yaml").write_text(json.dumps(document))
    app = SamTemplate.load(tmp_path / "template.yaml").resolve(LocalEndpoints.placeholder("us-east-1", ACCOUNT))
    policies = Policies(app.functions[0].policies)
    assert policies.decide("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:Queue") == "allow"
    assert policies.decide("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:Queue") == "implicit_deny"


def test_an_unknown_managed_policy_is_refused_with_its_place_named(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(json.dumps(sam_function_template(["AmazonDynamoDBFullAccess"])))
    with pytest.raises(TemplateError, match=r"Resources\.Fn\.Properties\.Policies\[0\].*AmazonDynamoDBFullAccess"):
        SamTemplate.load(tmp_path / "template.yaml")


def test_the_report_lists_each_allowed_pair_no_call_used(tmp_path: Path) -> None:
    policies = {"Fn": policy({"Sid": "Ledger", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                              "Resource": [TABLE, f"{TABLE}/index/*"]})}
    usage = IamUsage()
    usage.record("Fn", {"used": [["dynamodb:GetItem", TABLE], ["dynamodb:PutItem", TABLE],
                                 ["dynamodb:GetItem", f"{TABLE}/index/ByTime"]], "denied": []})
    usage.save(tmp_path / "iam-usage.json")
    IamUsage().save(tmp_path / "iam-usage.json")  # a later run with no calls keeps what was recorded
    unused = unused_permissions(policies, IamUsage.load(tmp_path / "iam-usage.json").used)
    assert [(u.function, u.sid, u.action, u.resource) for u in unused] == [
        ("Fn", "Ledger", "dynamodb:PutItem", f"{TABLE}/index/*")]


def test_connection_uses_are_recorded_with_the_connection_as_a_wildcard() -> None:
    from local.iam.calls import recorded_resource

    arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:websocketapi/prod/POST/@connections/abc="
    assert recorded_resource(arn) == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:websocketapi/prod/POST/@connections/*"
    assert recorded_resource(TABLE) == TABLE


def test_a_reason_inside_a_statement_keeps_it_and_one_elsewhere_does_not() -> None:
    from samsold_cli.iam import kept_statements

    template = """Resources:
  FanOutFunction:
    Properties:
      Policies:
        # Kept unused: above the statement, so it belongs to none
        - Statement:
            - Sid: FindAndDropSubscribers
              # Kept unused: a gone watcher is dropped here
              Action: dynamodb:DeleteItem
            - Sid: PostToConnections
              Action: execute-api:ManageConnections
  ConnectFunction:
    Properties: {}
"""
    assert kept_statements(template) == {("FanOutFunction", "FindAndDropSubscribers"): "a gone watcher is dropped here"}


def test_place_bid_may_write_only_bid_items() -> None:
    """PlaceBid records bid requests (BID#...); its role refuses a put of any other item,
    such as a lot's snapshot or event, by the dynamodb:LeadingKeys condition."""
    app = SamTemplate.load(REPO / "template.yaml").resolve(LocalEndpoints.placeholder("us-east-1", ACCOUNT))
    place_bid = Policies(next(f for f in app.functions if f.logical_id == "PlaceBidFunction").policies)

    def put(partition_key: str) -> str:
        return place_bid.decide("dynamodb:PutItem", TABLE, {"dynamodb:LeadingKeys": [partition_key]})

    assert put("BID#alice-1") == "allow" and put("QUOTA#alice") == "allow"  # its bid requests and its quota records
    for other in ("LOT#rolex", "PARKED#m1", "BIDDER#sub", "SALE#s1", "bid#lower"):
        assert put(other) == "implicit_deny", other
    assert place_bid.decide("dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": ["LOT#rolex"]}) == "allow"


# -- the queue policy ------------------------------------------------------------------------


def template_queue_policies() -> tuple[object, dict]:
    from local.iam.policy import ResourcePolicy

    app = SamTemplate.load(REPO / "template.yaml").resolve(LocalEndpoints.placeholder("us-east-1", ACCOUNT))
    return app, {arn: ResourcePolicy(documents) for arn, documents in app.queue_policies.items()}


def test_a_forged_send_from_a_function_the_queue_policy_does_not_name_is_refused() -> None:
    """A function whose own role may send to ProcessBidQueue (a policy added by mistake, a
    compromised dependency) is still refused, as AWS refuses it: the queue's policy denies
    SendMessage to every role but the three that queue commands."""
    app, queue_policies = template_queue_policies()
    assert set(queue_policies) == {QUEUE}
    may_send = policy({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE})
    url = f"http://127.0.0.1:9/{ACCOUNT}/ProcessBidQueue.fifo"

    def send_as(function: str) -> None:
        session = botocore.session.get_session()
        identity = Identity(ACCOUNT, f"samsold-local-{function}Role", function)
        Enforcement(identity, may_send, WHERE, queue_policies).install(session)
        client = session.create_client("sqs", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                                       aws_access_key_id="local", aws_secret_access_key="local",
                                       config=Config(retries={"max_attempts": 1}, connect_timeout=1))
        client.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="lot", MessageDeduplicationId="d")

    for forger in ("LotApiFunction", "ProcessBidFunction", "ConnectFunction"):
        with pytest.raises(ClientError) as raised:
            send_as(forger)
        assert raised.value.response["Error"]["Code"] == "AccessDenied"
        assert raised.value.response["Error"]["Message"].endswith(
            f"sqs:sendmessage on resource: {QUEUE} with an explicit deny in a resource-based policy")
    for sender in ("PlaceBidFunction", "CloseDueLotsFunction", "CloseTimerFunction"):
        with pytest.raises(EndpointConnectionError):  # allowed: the call was sent (nothing listens there)
            send_as(sender)


def test_the_queue_policy_denies_only_sends_and_only_to_its_queue() -> None:
    _, queue_policies = template_queue_policies()
    queue = queue_policies[QUEUE]
    role = f"arn:aws:iam::{ACCOUNT}:role/samsold-local-LotApiFunctionRole"
    assert queue.decide_for(role, "sqs:SendMessage", QUEUE) == "explicit_deny"
    assert queue.decide_for(role, "sqs:ReceiveMessage", QUEUE) == "implicit_deny"
    place_bid = f"arn:aws:iam::{ACCOUNT}:role/samsold-local-PlaceBidFunctionRole"
    assert queue.decide_for(place_bid, "sqs:SendMessage", QUEUE) == "implicit_deny"
