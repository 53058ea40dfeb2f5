"""What IAM authorizes for an AWS API call: the action(s) and resource ARN(s) AWS checks,
from the call's service, operation and parameters.

    authorizations("dynamodb", "PutItem", {"TableName": "BidsTable", ...}, where)
    -> [Authorization("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:000000000000:table/BidsTable", {...})]

As AWS documents them: DynamoDB's batch calls are authorized once per table, as their own
action; TransactWriteItems and TransactGetItems have no action of their own, each part is
authorized as its item action on its table; a Query or Scan of an index is authorized on
`table/<name>/index/<index>`. SQS's batch calls are authorized as their single action
(SendMessageBatch as sqs:SendMessage). The WebSocket management API's calls are
`execute-api:ManageConnections` on `<api-id>/<stage>/<METHOD>/@connections/<id>`.
A service not listed here is authorized as `<service>:<Operation>` on `*`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

# botocore's service ids (as in its events) -> IAM's service prefixes.
_PREFIXES = {"dynamodb": "dynamodb", "dynamodb-streams": "dynamodb", "sqs": "sqs",
             "apigatewaymanagementapi": "execute-api"}
_TRANSACT_PARTS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
_SQS_BATCHES = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
_MANAGEMENT_METHODS = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}


@dataclass(frozen=True)
class Authorization:
    action: str  # "dynamodb:PutItem"
    resource: str  # an ARN, or "*"
    context: Mapping[str, Sequence[str]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Where:
    """Where the calls go: the region and account of the ARNs, and which local endpoint
    serves which WebSocket API's @connections (base URL -> API id)."""

    region: str
    account_id: str
    management_apis: Mapping[str, str] = field(default_factory=dict)
    partition_keys: Mapping[str, str] = field(default_factory=dict)  # table name -> its partition key attribute


def authorizations(service_id: str, operation: str, params: Mapping[str, Any], where: Where,
                   url: str = "") -> list[Authorization]:
    service = service_id.lower().replace(" ", "")
    if service == "dynamodb":
        return _dynamodb(operation, params, where)
    if service == "sqs":
        return _sqs(operation, params, where)
    if service == "apigatewaymanagementapi":
        return [_management(operation, params, where, url)]
    prefix = _PREFIXES.get(service, service)
    return [Authorization(f"{prefix}:{operation}", "*", {"aws:RequestedRegion": [where.region]})]


def recorded_resource(resource: str) -> str:
    """The resource as usage is recorded: a connection's ARN with its id as `*` (each
    connection is new, and a policy names them with a wildcard)."""
    head, separator, _ = resource.partition("/@connections/")
    return f"{head}{separator}*" if separator and resource.startswith("arn:aws:execute-api:") else resource


def table_arn(where: Where, table: str) -> str:
    if table.startswith("arn:"):
        return table  # DynamoDB takes a table's ARN as its name too
    return f"arn:aws:dynamodb:{where.region}:{where.account_id}:table/{table}"


def _dynamodb(operation: str, params: Mapping[str, Any], where: Where) -> list[Authorization]:
    region = {"aws:RequestedRegion": [where.region]}
    if operation in ("TransactWriteItems", "TransactGetItems"):
        found = []
        for part in params.get("TransactItems") or []:
            for kind, body in part.items():
                action = _TRANSACT_PARTS.get(kind, kind)
                found.append(Authorization(f"dynamodb:{action}", table_arn(where, body.get("TableName", "")),
                                           {**region, **_leading_keys(body, where)}))
        return found
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Authorization(f"dynamodb:{operation}", table_arn(where, table), region)
                for table in (params.get("RequestItems") or {})]
    table = params.get("TableName")
    if not isinstance(table, str):
        return [Authorization(f"dynamodb:{operation}", "*", region)]
    resource = table_arn(where, table)
    if params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    return [Authorization(f"dynamodb:{operation}", resource, {**region, **_leading_keys(params, where)})]


def _leading_keys(params: Mapping[str, Any], where: Where) -> dict[str, list[str]]:
    """dynamodb:LeadingKeys: the partition key value an item call names (Key or Item);
    absent for the other calls (a Query's key condition is not parsed)."""
    key_name = where.partition_keys.get(str(params.get("TableName", "")).rsplit("/", 1)[-1])
    if key_name is None:
        return {}
    source = params.get("Key") or params.get("Item")
    if isinstance(source, Mapping) and isinstance(source.get(key_name), Mapping):
        value = source[key_name].get("S")
        return {"dynamodb:LeadingKeys": [value]} if isinstance(value, str) else {}
    return {}


def queue_arn(where: Where, queue_url: str) -> str:
    """An SQS queue's ARN from its URL (`<endpoint>/<account>/<name>`)."""
    parts = urlsplit(queue_url).path.strip("/").split("/")
    account, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (where.account_id, parts[-1])
    return f"arn:aws:sqs:{where.region}:{account}:{name}"


def _sqs(operation: str, params: Mapping[str, Any], where: Where) -> list[Authorization]:
    action = f"sqs:{_SQS_BATCHES.get(operation, operation)}"
    region = {"aws:RequestedRegion": [where.region]}
    if isinstance(params.get("QueueUrl"), str):
        return [Authorization(action, queue_arn(where, params["QueueUrl"]), region)]
    if operation == "GetQueueUrl" and isinstance(params.get("QueueName"), str):
        account = params.get("QueueOwnerAWSAccountId") or where.account_id
        return [Authorization(action, f"arn:aws:sqs:{where.region}:{account}:{params['QueueName']}", region)]
    return [Authorization(action, "*", region)]


def _management(operation: str, params: Mapping[str, Any], where: Where, url: str) -> Authorization:
    """`arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/@connections/<id>`;
    the API id is the one the local endpoint serves, the stage the endpoint's path."""
    base, _, _ = url.partition("/@connections")
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    api_id = next((api for endpoint, api in where.management_apis.items()
                   if endpoint.rstrip("/") in (origin, base.rstrip("/"))), parts.netloc.split(".")[0])
    stage = unquote(parts.path.strip("/").split("/")[0]) if parts.path.strip("/") else "$default"
    method = _MANAGEMENT_METHODS.get(operation, "POST")
    connection = params.get("ConnectionId", "*")
    return Authorization("execute-api:ManageConnections",
                         f"arn:aws:execute-api:{where.region}:{where.account_id}:{api_id}/{stage}/{method}/@connections/{connection}",
                         {"aws:RequestedRegion": [where.region]})
