"""A SAM template read for the local runtime: functions, routes, the WebSocket API, event
sources, tables and queues as `local.sam.model` objects, with every value the runtime needs
resolved to local names and URLs.

    template = SamTemplate.load("template.yaml", {"Stage": "dev"})
    template.not_emulated      # features with no local meaning, to list once at start
    app = template.resolve(endpoints)   # once the local services have their URLs

Loading resolves the template once against placeholder endpoints, so anything that would
change behaviour and cannot be emulated stops the start there, with the resource and
property named (`TemplateError`).

Reading is split by part: `resources` (the base every part shares: resources in use,
properties, resolved values, what is not emulated), `functions`, `routes` (REST and
WebSocket), `event_sources`, `storage` (tables and queues); `_Build` here joins them and
answers what refers across them (Ref, GetAtt, Outputs, local URLs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cognito.user_pool import CLIENT_ID, ISSUER, JWKS_PATH
from local.sam.event_sources import EventSources
from local.sam.functions import FUNCTION_REFUSED, FUNCTION_SILENT, FUNCTION_USED, Functions
from local.sam.intrinsics import TemplateError, load_yaml
from local.sam.model import (
    Function,
    GatewayResponse,
    LocalEndpoints,
    Queue,
    RateRule,
    RestRoute,
    RestThrottles,
    ScheduleEventSource,
    SqsEventSource,
    StreamEventSource,
    Table,
    WebSocketApi,
)
from local.sam.resources import IMPLICIT_REST_API, function_arn, local_api_id, role_name
from local.sam.routes import API_REFUSED, API_USED, Routes
from local.sam.storage import Storage
from local.sam.waf import WebAcls

__all__ = ["IMPLICIT_REST_API", "LocalApp", "LocalEndpoints", "SamTemplate", "TemplateError"]


# Resource types with no local meaning: listed once, otherwise ignored.
_NOT_EMULATED_TYPES = (
    "AWS::IAM::",
    "AWS::Logs::",
    "AWS::CloudWatch::",
    "AWS::Cognito::",
    "AWS::SNS::",
    "AWS::KMS::",
    "AWS::SSM::",
    "AWS::Lambda::Permission",
    "AWS::Lambda::LayerVersion",
    "AWS::Serverless::LayerVersion",
    "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGateway::Account",
    "AWS::S3::Bucket",
    "AWS::CloudFront::",
)
_SUPPORTED_TYPES = {
    "AWS::Serverless::Function",
    "AWS::Serverless::Api",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::RouteResponse",  # the gateway sends a route's reply body back
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",  # evaluated by local/iam with each function's own policies
    "AWS::WAFv2::WebACL",  # its rate-based rules, on the REST API (local/sam/waf.py)
    "AWS::WAFv2::WebACLAssociation",
}
_IGNORED_RESOURCE_KEYS = {"Type", "Properties", "Condition", "DependsOn", "Metadata"}

_EVENT_TYPES = ("Api", "SQS", "DynamoDB", "Schedule")
_EXECUTE_API_URL = re.compile(r"^(https|wss)://([^./]+)\.execute-api\.[^./]+\.amazonaws\.com(?:\.cn)?(/[^/]*)?")


@dataclass(frozen=True)
class LocalApp:
    functions: list[Function]
    rest_routes: list[RestRoute]
    rest_stage: str
    websocket: WebSocketApi | None
    sqs_sources: list[SqsEventSource]
    stream_sources: list[StreamEventSource]
    schedules: list[ScheduleEventSource]
    tables: list[Table]  # in template order
    queues: list[Queue]  # dead-letter queues before the queues that redrive to them
    not_emulated: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # the stack's Outputs, resolved locally
    gateway_responses: dict[str, GatewayResponse] = field(default_factory=dict)  # by response type
    rest_throttles: RestThrottles = field(default_factory=dict)  # the REST stage's MethodSettings that throttle
    rate_rules: list[RateRule] = field(default_factory=list)  # a WAF web ACL's rate-based rules on the REST API
    # Each queue's policy documents (AWS::SQS::QueuePolicy), by the queue's ARN.
    queue_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


# The template parameter naming the one origin browsers may call the REST API from.
ORIGIN_PARAMETER = "AllowedOrigin"


class SamTemplate:
    def __init__(
        self,
        document: dict[str, Any],
        base_dir: Path,
        parameter_overrides: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        stack_name: str = "samsold-local",
    ) -> None:
        self.document = document
        self.base_dir = base_dir
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        declared = document.get("Parameters") or {}
        overrides = dict(parameter_overrides or {})
        # Locally the page is served by the gateway itself: until the runtime knows the
        # gateway's origin (set_own_origin), the REST API's CORS origin is localhost.
        self.own_origin = ORIGIN_PARAMETER in declared and ORIGIN_PARAMETER not in overrides
        if self.own_origin:
            overrides[ORIGIN_PARAMETER] = "http://localhost"
        self.parameters = _parameter_values(declared, overrides)
        self.not_emulated = self.resolve(LocalEndpoints.placeholder(region, account_id)).not_emulated

    @classmethod
    def load(cls, path: str | os.PathLike[str], parameter_overrides: Mapping[str, str] | None = None, **kwargs: Any) -> SamTemplate:
        path = Path(path)
        return cls(_read(path), path.resolve().parent, parameter_overrides, **kwargs)

    def set_own_origin(self, origin: str) -> None:
        """The origin the local gateway serves the page from, for the CORS origin parameter
        unless it was given."""
        if self.own_origin:
            self.parameters[ORIGIN_PARAMETER] = origin

    def resolve(self, endpoints: LocalEndpoints) -> LocalApp:
        return _Build(self, endpoints).app()


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as error:
        raise TemplateError(f"cannot read the template {path}: {error.strerror}") from None
    return load_yaml(text)


def _parameter_values(declared: Mapping[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"parameter overrides name no template parameter: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"Parameters.{name}: no Default; pass it with --parameter-overrides {name}=...")
        allowed = spec.get("AllowedValues")
        if allowed is not None and str(value) not in [str(item) for item in allowed]:
            raise TemplateError(f"Parameters.{name}: {value!r} is not one of {allowed}")
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        values[name] = value
    return values


class _Build(Functions, Routes, EventSources, Storage, WebAcls):
    """One resolution of the template against one set of endpoints: the parts joined, and
    what refers across them (Ref, GetAtt, the stack's Outputs, local URLs)."""

    # -- the whole app --------------------------------------------------------------------

    def app(self) -> LocalApp:
        self._list_not_emulated_resources()
        functions = [self._function(lid) for lid in self._ids_of("AWS::Serverless::Function")]
        events = [(lid, name, spec) for lid in self._ids_of("AWS::Serverless::Function")
                  for name, spec in (self._properties(lid).get("Events") or {}).items()]
        for lid, name, spec in events:
            if spec.get("Type") not in _EVENT_TYPES:
                raise TemplateError(f"Resources.{lid}.Properties.Events.{name}: event type {spec.get('Type')} "
                                    f"is not emulated (only {', '.join(_EVENT_TYPES)})")
        routes, rest_stage, rest_throttles = self._rest_routes(events)
        return LocalApp(
            functions=functions,
            rest_routes=routes,
            rest_stage=rest_stage,
            websocket=self._websocket_api(),
            sqs_sources=[self._sqs_source(lid, name, spec) for lid, name, spec in events
                         if spec.get("Type") == "SQS" and self._enabled(spec)],
            stream_sources=[self._stream_source(lid, name, spec) for lid, name, spec in events
                            if spec.get("Type") == "DynamoDB" and self._enabled(spec)],
            schedules=[self._schedule(lid, name, spec) for lid, name, spec in events
                       if spec.get("Type") == "Schedule" and self._enabled(spec)],
            tables=[self._table(lid) for lid in self._ids_of("AWS::DynamoDB::Table")],
            queues=self._queues_dead_letter_first(),
            not_emulated=self.not_emulated,
            outputs=self._outputs(),
            gateway_responses=self._gateway_responses(),
            rest_throttles=rest_throttles,
            rate_rules=self._rate_rules(),
            queue_policies=self._queue_policies(),
        )

    def _queue_policies(self) -> dict[str, list[dict[str, Any]]]:
        policies: dict[str, list[dict[str, Any]]] = {}
        for lid in self._ids_of("AWS::SQS::QueuePolicy"):
            where = f"Resources.{lid}.Properties"
            properties = self._properties(lid)
            document = self._value(properties.get("PolicyDocument"), f"{where}.PolicyDocument")
            for url in self._value(properties.get("Queues") or [], f"{where}.Queues"):
                policies.setdefault(self.endpoints.queue_arn(str(url).rstrip("/").rsplit("/", 1)[-1]), []).append(document)
        return policies

    def _gateway_responses(self) -> dict[str, GatewayResponse]:
        responses: dict[str, GatewayResponse] = {}
        for api in self._ids_of("AWS::Serverless::Api"):
            where = f"Resources.{api}.Properties.GatewayResponses"
            for response_type, spec in (self._value(self._properties(api).get("GatewayResponses") or {}, where)).items():
                headers = (spec.get("ResponseParameters") or {}).get("Headers") or {}
                status = spec.get("StatusCode")
                responses[response_type] = GatewayResponse(
                    status=int(status) if status is not None else None,
                    # SAM writes header values as quoted literals: "'*'".
                    headers={name: str(value).strip("'") for name, value in headers.items()},
                    template=(spec.get("ResponseTemplates") or {}).get("application/json"),
                )
        return responses

    def _outputs(self) -> dict[str, str]:
        """Outputs as a deployed stack would list them, for tools that read them."""
        outputs = {}
        for name, output in (self.template.document.get("Outputs") or {}).items():
            condition = output.get("Condition")
            if condition is not None and not self.resolver.condition(condition):
                continue
            value = self._value(output.get("Value"), f"Outputs.{name}.Value")
            outputs[name] = self._local_url(str(value))
        return outputs

    def _list_not_emulated_resources(self) -> None:
        self._check_properties("Globals.Function", self.globals_function, FUNCTION_USED, FUNCTION_REFUSED,
                               FUNCTION_SILENT)
        self._check_properties("Globals.Api", self.globals_api, API_USED, API_REFUSED)
        for section in (self.template.document.get("Globals") or {}):
            if section not in ("Function", "Api"):
                self._note(f"Globals.{section}")
        for lid, resource in self.resources.items():
            resource_type = resource.get("Type", "")
            if resource_type in _SUPPORTED_TYPES:
                for key in resource:
                    if key not in _IGNORED_RESOURCE_KEYS:
                        self._note(f"{lid}.{key}")  # DeletionPolicy, UpdateReplacePolicy
            elif resource_type.startswith(_NOT_EMULATED_TYPES):
                self._note(f"{lid} ({resource_type})")
            else:
                raise TemplateError(f"Resources.{lid}: type {resource_type} is not emulated locally")

    # -- Ref and GetAtt of resources ------------------------------------------------------------

    def _ref(self, lid: str, path: str) -> Any:
        resource_type = self._type_of(lid, path)
        if resource_type == "AWS::DynamoDB::Table":
            return self._table_name(lid)
        if resource_type == "AWS::SQS::Queue":
            return self.endpoints.queue_url(self._queue_name(lid))
        if resource_type == "AWS::Serverless::Function":
            return lid
        if resource_type in ("AWS::Serverless::Api", "AWS::ApiGatewayV2::Api"):
            return local_api_id(lid)
        if resource_type in ("AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Route"):
            return lid
        if resource_type == "AWS::ApiGatewayV2::Stage":
            return self._value(self._properties(lid).get("StageName"), f"{lid}.StageName")
        if resource_type == "AWS::Cognito::UserPoolClient":
            return CLIENT_ID  # the development auth's app client: the `aud` of its ID tokens
        if resource_type.startswith("AWS::Cognito::"):
            return f"{self.template.region}_local{lid}"  # ids of a pool that exists nowhere
        if resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
            return self._stand_in_name(lid)
        raise TemplateError(f"{path}: Ref to {lid} ({resource_type}) has no local value")

    def _stand_in_name(self, lid: str) -> str:
        """A bucket's or a key's local name: a bucket is a folder `s3/<name>` and a KMS key a key
        file `kms/<name>.pem` of the data directory's `aws/` (SAMSOLD_LOCAL_AWS_DIR)."""
        given = self._properties(lid).get("BucketName")
        return str(self._value(given, f"{lid}.BucketName")) if given else f"{self.template.stack_name}-{lid}".lower()

    def _get_att(self, lid: str, attribute: str, path: str) -> Any:
        function = lid.removesuffix("Role")
        if (lid not in self.resources and attribute == "Arn" and function != lid
                and function in self._ids_of("AWS::Serverless::Function")):
            # The role SAM creates for a function.
            return f"arn:aws:iam::{self.template.account_id}:role/{role_name(self.template.stack_name, function)}"
        resource_type = self._type_of(lid, path)
        region, account = self.template.region, self.template.account_id
        values: dict[str, Any] = {}
        if resource_type == "AWS::DynamoDB::Table":
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{self._table_name(lid)}"
            values = {"Arn": arn, "StreamArn": f"{arn}/stream/local"}
        elif resource_type == "AWS::SQS::Queue":
            name = self._queue_name(lid)
            values = {"Arn": self.endpoints.queue_arn(name), "QueueName": name,
                      "QueueUrl": self.endpoints.queue_url(name)}
        elif resource_type == "AWS::Serverless::Function":
            values = {"Arn": function_arn(region, account, lid)}
        elif resource_type == "AWS::ApiGatewayV2::Api":
            values = {"ApiEndpoint": self.endpoints.websocket, "ApiId": local_api_id(lid)}
        elif resource_type == "AWS::S3::Bucket":
            values = {"Arn": f"arn:aws:s3:::{self._stand_in_name(lid)}"}
        elif resource_type == "AWS::KMS::Key":
            values = {"Arn": f"arn:aws:kms:{region}:{account}:key/{self._stand_in_name(lid)}",
                      "KeyId": self._stand_in_name(lid)}
        elif resource_type.startswith("AWS::Cognito::"):
            # The local user pool is the development auth: its issuer, and its keys on the gateway.
            values = {"Arn": f"arn:aws:cognito-idp:{region}:{account}:userpool/{region}_local{lid}",
                      "ProviderURL": ISSUER.removeprefix("https://"), "ProviderName": ISSUER.removeprefix("https://")}
        if attribute not in values:
            raise TemplateError(f"{path}: GetAtt {lid}.{attribute} ({resource_type}) has no local value")
        return values[attribute]

    def _local_url(self, value: str) -> str:
        """An execute-api URL of this template's APIs, as the local gateway serves it; the
        user pool's key set, as the gateway publishes the development key."""
        if value == ISSUER + JWKS_PATH:
            return self.endpoints.rest + JWKS_PATH
        match = _EXECUTE_API_URL.match(value)
        if match is None:
            return value
        scheme, api_id, rest = match.group(1), match.group(2), value[match.end():]
        if api_id in {local_api_id(lid) for lid in self._ids_of("AWS::ApiGatewayV2::Api")}:
            base = self.endpoints.websocket if scheme == "wss" else self.endpoints.websocket_management
            return base + rest
        if api_id in {local_api_id(lid) for lid in self._rest_api_ids()}:
            return self.endpoints.rest + rest
        return value
