"""What the local runtime takes from a SAM template: plain data, no behaviour.

`local.sam.template` builds these from template.yaml; the queue, gateway and pollers
consume them. Names are the template's logical ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str  # "module.function", relative to code_uri
    code_uri: str  # directory the handler module is imported from
    environment: dict[str, str] = field(default_factory=dict)
    timeout_s: int = 3
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions; None: unreserved
    # The execution role's policy documents (Policies, SAM policy templates expanded,
    # intrinsics resolved to the local resources' ARNs) and the role's name.
    policies: list[dict[str, Any]] = field(default_factory=list)
    role_name: str = ""


@dataclass(frozen=True)
class RestRoute:
    method: str  # "GET", "POST", ... or "ANY"
    path: str  # "/lots/{lot_id}" as in the template
    function: str  # logical id
    auth_required: bool = False  # a Cognito (or other) authorizer guards it


@dataclass(frozen=True)
class GatewayResponse:
    """A response API Gateway gives by itself (no token, no route, too large, a failed
    function), as the template's GatewayResponses customise it."""

    status: int | None = None  # None: the usual status of that response type
    headers: dict[str, str] = field(default_factory=dict)
    template: str | None = None  # the application/json body, with $context.error.* in it


@dataclass(frozen=True)
class Throttle:
    """API Gateway's throttling of a route: a token bucket of `burst` requests, refilled
    at `rate` requests a second."""

    rate: float
    burst: int


@dataclass(frozen=True)
class RateRule:
    """A WAF web ACL's rate-based rule in front of the REST API: a client key (its address,
    or a request header's value) that made more than `limit` requests in the last `window_s`
    seconds is answered `status` with `headers` and `body` until its rate falls."""

    name: str
    limit: int
    window_s: int
    header: str | None  # None: the client's address (AggregateKeyType IP)
    status: int = 403
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


# A REST API's throttles by (method, resource path) as the stage's MethodSettings name them:
# ("*", "/*") for every method of the stage (each method its own bucket), ("POST", "/bid")
# for one. A WebSocket stage's by route key: "*" for DefaultRouteSettings, "$connect", ...
RestThrottles = dict[tuple[str, str], Throttle]


@dataclass(frozen=True)
class WebSocketApi:
    logical_id: str
    route_selection_expression: str  # "$request.body.action"
    routes: dict[str, str] = field(default_factory=dict)  # route key -> function logical id
    stage: str = "prod"
    throttles: dict[str, Throttle] = field(default_factory=dict)  # route key ("*": every route) -> throttle


@dataclass(frozen=True)
class SqsEventSource:
    function: str
    queue: str  # logical id of the queue
    batch_size: int = 10
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class StreamEventSource:
    function: str
    table: str  # logical id of the table
    batch_size: int = 100
    starting_position: str = "LATEST"
    filter_patterns: list[dict[str, Any]] = field(default_factory=list)  # parsed FilterCriteria patterns
    parallelization_factor: int = 1  # concurrent batches per shard, each partition key in one of them
    batching_window_s: float = 0.0  # MaximumBatchingWindowInSeconds: how long records gather before a batch


@dataclass(frozen=True)
class ScheduleEventSource:
    function: str
    rate_s: float  # from "rate(1 minute)"
    input: dict[str, Any] | None = None


@dataclass(frozen=True)
class Table:
    logical_id: str
    table_name: str  # resolved local name
    create_table_kwargs: dict[str, Any]  # boto3 dynamodb.create_table(**kwargs)
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class Queue:
    logical_id: str
    queue_name: str  # resolved, ends with ".fifo" for FIFO queues
    attributes: dict[str, str]  # SQS CreateQueue attributes (FifoQueue, RedrivePolicy with the DLQ's local ARN, ...)


# Invokes a function by logical id with a Lambda event; returns the handler's result
# or raises the handler's exception.
Invoke = Callable[[str, dict[str, Any]], Any]


@dataclass(frozen=True)
class LocalEndpoints:
    """Where the local services answer: what template references resolve to."""

    region: str
    account_id: str
    dynamodb: str
    sqs: str
    rest: str
    websocket: str
    websocket_management: str

    def queue_url(self, name: str) -> str:
        return f"{self.sqs}/{self.account_id}/{name}"  # SQS's URL form: endpoint/account/name

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    @classmethod
    def placeholder(cls, region: str, account_id: str) -> LocalEndpoints:
        base = "http://localhost.invalid"
        return cls(region, account_id, base, base, base, "ws://localhost.invalid", base)
