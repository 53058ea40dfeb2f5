"""A SAM template read for the local runtime: functions, routes, the WebSocket API, event
sources, tables and queues as `local.sam.model` objects, with every value the runtime needs
resolved to local names and URLs.

    template = SamTemplate.load("template.yaml", {"Stage": "dev"})
    template.not_emulated      # features with no local meaning, to list once at start
    app = template.resolve(endpoints)   # once the local services have their URLs

Loading resolves the template once against placeholder endpoints, so anything that would
change behaviour and cannot be emulated stops the start there, with the resource and
property named (`TemplateError`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.cognito.user_pool import CLIENT_ID, ISSUER, JWKS_PATH
from local.lambda_.filters import FilterPatternError, parse_pattern
from local.sam.intrinsics import NO_VALUE, Resolver, TemplateError, load_yaml
from local.sam.model import (
    Function,
    GatewayResponse,
    Queue,
    RestRoute,
    ScheduleEventSource,
    SqsEventSource,
    StreamEventSource,
    Table,
    WebSocketApi,
)

__all__ = ["LocalApp", "LocalEndpoints", "SamTemplate", "TemplateError"]

IMPLICIT_REST_API = "ServerlessRestApi"  # the API SAM creates for Api events without RestApiId

# Resource types with no local meaning: listed once, otherwise ignored.
_NOT_EMULATED_TYPES = (
    "AWS::IAM::",
    "AWS::Logs::",
    "AWS::CloudWatch::",
    "AWS::Cognito::",
    "AWS::SNS::",
    "AWS::KMS::",
    "AWS::SSM::",
    "AWS::SQS::QueuePolicy",
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
}
_IGNORED_RESOURCE_KEYS = {"Type", "Properties", "Condition", "DependsOn", "Metadata"}

_FUNCTION_USED = {"Handler", "CodeUri", "Runtime", "Environment", "Timeout", "MemorySize", "Events",
                  "ReservedConcurrentExecutions"}
_FUNCTION_SILENT = {"Description", "FunctionName", "Tags", "Architectures"}
_FUNCTION_REFUSED = {
    "InlineCode": "inline code is not run locally; use CodeUri",
    "ImageUri": "container images are not run locally",
    "PackageType": "container images are not run locally",
}
_API_USED = {"StageName", "Auth", "Name", "Description", "GatewayResponses"}
_API_REFUSED = {
    "DefinitionBody": "routes defined in OpenAPI are not read locally; use function Api events",
    "DefinitionUri": "routes defined in OpenAPI are not read locally; use function Api events",
}
_TABLE_USED = {
    "TableName", "KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput",
    "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification", "TimeToLiveSpecification",
}
_TABLE_REFUSED = {"ImportSourceSpecification": "importing from S3 is not emulated"}
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection")
_QUEUE_ATTRIBUTES = (
    "FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
    "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds", "DeduplicationScope", "FifoThroughputLimit",
)
_QUEUE_USED = {*_QUEUE_ATTRIBUTES, "QueueName", "RedrivePolicy", "RedriveAllowPolicy"}
_EVENT_TYPES = ("Api", "SQS", "DynamoDB", "Schedule")
_SQS_EVENT_USED = {"Queue", "BatchSize", "FunctionResponseTypes", "Enabled"}
_SQS_EVENT_REFUSED = {"FilterCriteria": "filters on an SQS event source are not emulated"}
_STREAM_EVENT_USED = {"Stream", "BatchSize", "StartingPosition", "FilterCriteria", "Enabled"}
_STREAM_EVENT_REFUSED = {
    "FunctionResponseTypes": "partial batch responses on a stream are not emulated",
    "TumblingWindowInSeconds": "tumbling windows are not emulated",
}
_SCHEDULE_EVENT_USED = {"Schedule", "Input", "Enabled", "State", "Name", "Description"}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_LAMBDA_ARN_IN_URI = re.compile(r"functions/(arn:aws:lambda:[^/]+)/invocations")
_EXECUTE_API_URL = re.compile(r"^(https|wss)://([^./]+)\.execute-api\.[^./]+\.amazonaws\.com(?:\.cn)?(/[^/]*)?")


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
        self.parameters = _parameter_values(document.get("Parameters") or {}, dict(parameter_overrides or {}))
        self.not_emulated = self.resolve(LocalEndpoints.placeholder(region, account_id)).not_emulated

    @classmethod
    def load(cls, path: str | Path, parameter_overrides: Mapping[str, str] | None = None, **kwargs: Any) -> SamTemplate:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as error:
            raise TemplateError(f"cannot read the template {path}: {error.strerror}") from None
        return cls(load_yaml(text), path.resolve().parent, parameter_overrides, **kwargs)

    def resolve(self, endpoints: LocalEndpoints) -> LocalApp:
        return _Build(self, endpoints).app()


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


class _Build:
    """One resolution of the template against one set of endpoints."""

    def __init__(self, template: SamTemplate, endpoints: LocalEndpoints) -> None:
        self.template = template
        self.endpoints = endpoints
        document = template.document
        self.globals_function: dict[str, Any] = (document.get("Globals") or {}).get("Function") or {}
        self.globals_api: dict[str, Any] = (document.get("Globals") or {}).get("Api") or {}
        self.not_emulated: list[str] = []
        self.resolver = Resolver(
            parameters=template.parameters,
            pseudo_parameters={
                "AWS::Region": template.region,
                "AWS::AccountId": template.account_id,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackName": template.stack_name,
                "AWS::StackId": f"arn:aws:cloudformation:{template.region}:{template.account_id}:stack/"
                f"{template.stack_name}/local",
                "AWS::NotificationARNs": [],
                "AWS::NoValue": NO_VALUE,
            },
            conditions=document.get("Conditions") or {},
            mappings=document.get("Mappings") or {},
            ref=self._ref,
            get_att=self._get_att,
        )
        self.resources = self._resources_in_use(document.get("Resources") or {})

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
        routes, rest_stage = self._rest_routes(events)
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
        )

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

    def _resources_in_use(self, resources: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Resources whose Condition holds (a false Condition removes the resource)."""
        kept = {}
        for lid, resource in resources.items():
            condition = resource.get("Condition")
            if condition is None or self.resolver.condition(condition):
                kept[lid] = resource
        return kept

    def _ids_of(self, resource_type: str) -> list[str]:
        return [lid for lid, resource in self.resources.items() if resource.get("Type") == resource_type]

    def _type_of(self, lid: str, path: str) -> str:
        if lid == IMPLICIT_REST_API and self._uses_implicit_api():
            return "AWS::Serverless::Api"
        if lid not in self.resources:
            raise TemplateError(f"{path}: {lid} is not a resource, parameter or pseudo parameter")
        return self.resources[lid]["Type"]

    def _properties(self, lid: str) -> dict[str, Any]:
        if lid == IMPLICIT_REST_API and lid not in self.resources:
            return dict(self.globals_api)
        return self.resources[lid].get("Properties") or {}

    def _value(self, value: Any, path: str) -> Any:
        return self.resolver.resolve(value, path)

    def _note(self, what: str) -> None:
        if what not in self.not_emulated:
            self.not_emulated.append(what)

    def _check_properties(
        self, where: str, properties: Mapping[str, Any], used: Iterable[str],
        refused: Mapping[str, str] | None = None, silent: Iterable[str] = (),
    ) -> None:
        """Refuses what would change behaviour; lists the rest of what is not read."""
        for name in properties:
            if refused and name in refused:
                raise TemplateError(f"{where}.{name}: {refused[name]}")
            if name not in used and name not in silent:
                self._note(f"{where}.{name}")

    def _list_not_emulated_resources(self) -> None:
        self._check_properties("Globals.Function", self.globals_function, _FUNCTION_USED, _FUNCTION_REFUSED,
                               _FUNCTION_SILENT)
        self._check_properties("Globals.Api", self.globals_api, _API_USED, _API_REFUSED)
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
            return _api_id(lid)
        if resource_type in ("AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Route"):
            return lid
        if resource_type == "AWS::ApiGatewayV2::Stage":
            return self._value(self._properties(lid).get("StageName"), f"{lid}.StageName")
        if resource_type == "AWS::Cognito::UserPoolClient":
            return CLIENT_ID  # the development auth's app client: the `aud` of its ID tokens
        if resource_type.startswith("AWS::Cognito::"):
            return f"{self.template.region}_local{lid}"  # ids of a pool that exists nowhere
        raise TemplateError(f"{path}: Ref to {lid} ({resource_type}) has no local value")

    def _get_att(self, lid: str, attribute: str, path: str) -> Any:
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
            values = {"Arn": _function_arn(region, account, lid)}
        elif resource_type == "AWS::ApiGatewayV2::Api":
            values = {"ApiEndpoint": self.endpoints.websocket, "ApiId": _api_id(lid)}
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
        if api_id in {_api_id(lid) for lid in self._ids_of("AWS::ApiGatewayV2::Api")}:
            base = self.endpoints.websocket if scheme == "wss" else self.endpoints.websocket_management
            return base + rest
        if api_id in {_api_id(lid) for lid in self._rest_api_ids()}:
            return self.endpoints.rest + rest
        return value

    # -- functions ------------------------------------------------------------------------

    def _function_properties(self, lid: str) -> dict[str, Any]:
        """The function's properties over Globals.Function, merged as SAM merges them."""
        merged = dict(self.globals_function)
        for name, value in self._properties(lid).items():
            inherited = merged.get(name)
            if isinstance(inherited, dict) and isinstance(value, dict):
                merged[name] = _merge_maps(inherited, value)
            elif isinstance(inherited, list) and isinstance(value, list):
                merged[name] = inherited + value
            else:
                merged[name] = value
        return merged

    def _function(self, lid: str) -> Function:
        where = f"Resources.{lid}.Properties"
        self._check_properties(lid, self._properties(lid), _FUNCTION_USED, _FUNCTION_REFUSED, _FUNCTION_SILENT)
        properties = self._function_properties(lid)
        runtime = str(self._value(properties.get("Runtime", ""), f"{where}.Runtime"))
        if not runtime.startswith("python"):
            raise TemplateError(f"{where}.Runtime: {runtime or 'missing'}; only Python functions run locally")
        handler = self._value(properties.get("Handler"), f"{where}.Handler")
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{where}.Handler: expected module.function, got {handler!r}")
        code_uri = self._value(properties.get("CodeUri", "."), f"{where}.CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{where}.CodeUri: only a local directory runs locally")
        code_dir = (self.template.base_dir / code_uri).resolve()
        if not code_dir.is_dir():
            raise TemplateError(f"{where}.CodeUri: {code_dir} is not a directory")
        memory_mb = int(self._value(properties.get("MemorySize", 128), f"{where}.MemorySize"))
        environment = {
            **self._environment(properties.get("Environment") or {}, f"{where}.Environment"),
            # Lambda sets this one itself, from the template's MemorySize.
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        }
        reserved = self._value(properties.get("ReservedConcurrentExecutions", NO_VALUE),
                               f"{where}.ReservedConcurrentExecutions")
        return Function(
            logical_id=lid,
            handler=handler,
            code_uri=str(code_dir),
            environment=environment,
            timeout_s=int(float(self._value(properties.get("Timeout", 3), f"{where}.Timeout"))),
            reserved_concurrency=None if reserved is NO_VALUE else int(reserved),
        )

    def _environment(self, environment: Mapping[str, Any], where: str) -> dict[str, str]:
        variables = self._value(environment.get("Variables") or {}, f"{where}.Variables")
        return {name: self._local_url(_environment_string(value, f"{where}.Variables.{name}"))
                for name, value in variables.items()}

    # -- REST routes ----------------------------------------------------------------------

    def _uses_implicit_api(self) -> bool:
        return any(
            spec.get("Type") == "Api" and "RestApiId" not in (spec.get("Properties") or {})
            for lid in self._ids_of("AWS::Serverless::Function")
            for spec in (self._properties(lid).get("Events") or {}).values()
        )

    def _rest_api_ids(self) -> list[str]:
        implicit = [IMPLICIT_REST_API] if self._uses_implicit_api() else []
        return self._ids_of("AWS::Serverless::Api") + implicit

    def _rest_routes(self, events: list[tuple[str, str, dict[str, Any]]]) -> tuple[list[RestRoute], str]:
        routes: list[RestRoute] = []
        apis: set[str] = set()
        for lid, name, spec in events:
            if spec.get("Type") != "Api":
                continue
            where = f"Resources.{lid}.Properties.Events.{name}.Properties"
            properties = spec.get("Properties") or {}
            api = self._rest_api_of(properties, where)
            apis.add(api)
            method = str(self._value(properties.get("Method"), f"{where}.Method")).upper()
            path = str(self._value(properties.get("Path"), f"{where}.Path"))
            authorizer = self._route_authorizer(api, properties.get("Auth") or {}, where)
            routes.append(RestRoute(method=method, path=path, function=lid, auth_required=authorizer is not None))
        if len(apis) > 1:
            raise TemplateError(f"Api events use {len(apis)} REST APIs ({', '.join(sorted(apis))}); "
                                "the local gateway serves one")
        stage = "prod"
        for api in apis:
            self._check_properties(api, self._properties(api), _API_USED, _API_REFUSED)
            stage = str(self._value(self._properties(api).get("StageName", stage), f"Resources.{api}.StageName"))
        return routes, stage

    def _rest_api_of(self, properties: Mapping[str, Any], where: str) -> str:
        if "RestApiId" not in properties:
            return IMPLICIT_REST_API
        api_id = self._value(properties["RestApiId"], f"{where}.RestApiId")
        for lid in self._ids_of("AWS::Serverless::Api"):
            if _api_id(lid) == api_id:
                return lid
        raise TemplateError(f"{where}.RestApiId: {api_id!r} is not an AWS::Serverless::Api of this template")

    def _route_authorizer(self, api: str, route_auth: Mapping[str, Any], where: str) -> str | None:
        """The authorizer guarding a route, or None when it is public; only Cognito ones run."""
        api_auth = self._properties(api).get("Auth") or {}
        name = route_auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
        if name is None or name == "NONE":
            return None
        if name == "AWS_IAM":
            raise TemplateError(f"{where}.Auth: AWS_IAM authorization is not emulated")
        definition = (api_auth.get("Authorizers") or {}).get(name)
        if definition is None:
            raise TemplateError(f"{where}.Auth: authorizer {name} is not defined on {api}")
        if "UserPoolArn" not in definition:
            raise TemplateError(f"Resources.{api}.Properties.Auth.Authorizers.{name}: "
                                "only Cognito user-pool authorizers are emulated")
        if route_auth.get("AuthorizationScopes") or definition.get("AuthorizationScopes"):
            raise TemplateError(f"{where}.Auth: OAuth scopes are not emulated")
        return name

    # -- WebSocket API --------------------------------------------------------------------

    def _websocket_api(self) -> WebSocketApi | None:
        apis = self._ids_of("AWS::ApiGatewayV2::Api")
        for lid in apis:
            protocol = self._properties(lid).get("ProtocolType")
            if protocol != "WEBSOCKET":
                raise TemplateError(f"Resources.{lid}.Properties.ProtocolType: {protocol} APIs are not emulated")
        if not apis:
            return None
        if len(apis) > 1:
            raise TemplateError(f"{len(apis)} WebSocket APIs ({', '.join(apis)}); the local gateway serves one")
        api = apis[0]
        properties = self._properties(api)
        self._check_properties(api, properties, {"ProtocolType", "RouteSelectionExpression", "Name"},
                               silent={"Description", "ApiKeySelectionExpression", "Tags"})
        return WebSocketApi(
            logical_id=api,
            route_selection_expression=str(self._value(properties.get("RouteSelectionExpression"),
                                                       f"Resources.{api}.RouteSelectionExpression")),
            routes=self._websocket_routes(api),
            stage=self._websocket_stage(api),
        )

    def _websocket_routes(self, api: str) -> dict[str, str]:
        routes: dict[str, str] = {}
        for lid in self._ids_of("AWS::ApiGatewayV2::Route"):
            where = f"Resources.{lid}.Properties"
            properties = self._properties(lid)
            self._check_properties(lid, properties, {"ApiId", "RouteKey", "Target", "AuthorizationType"},
                                   silent={"OperationName", "RouteResponseSelectionExpression"})
            if properties.get("AuthorizationType", "NONE") != "NONE":
                raise TemplateError(f"{where}.AuthorizationType: only NONE is emulated for WebSocket routes")
            target = str(self._value(properties.get("Target"), f"{where}.Target"))
            integration = target.removeprefix("integrations/")
            if not target.startswith("integrations/") or integration not in self._ids_of(
                "AWS::ApiGatewayV2::Integration"
            ):
                raise TemplateError(f"{where}.Target: {target!r} names no integration of this template")
            route_key = str(self._value(properties.get("RouteKey"), f"{where}.RouteKey"))
            routes[route_key] = self._integration_function(integration)
        return routes

    def _integration_function(self, lid: str) -> str:
        where = f"Resources.{lid}.Properties"
        properties = self._properties(lid)
        self._check_properties(lid, properties, {"ApiId", "IntegrationType", "IntegrationUri"},
                               silent={"Description", "IntegrationMethod", "PayloadFormatVersion"})
        if properties.get("IntegrationType") != "AWS_PROXY":
            raise TemplateError(f"{where}.IntegrationType: only AWS_PROXY (Lambda proxy) is emulated")
        uri = str(self._value(properties.get("IntegrationUri"), f"{where}.IntegrationUri"))
        match = _LAMBDA_ARN_IN_URI.search(uri)
        region, account = self.template.region, self.template.account_id
        for function in self._ids_of("AWS::Serverless::Function"):
            if match and match.group(1) == _function_arn(region, account, function):
                return function
        raise TemplateError(f"{where}.IntegrationUri: {uri!r} invokes no function of this template")

    def _websocket_stage(self, api: str) -> str:
        for lid in self._ids_of("AWS::ApiGatewayV2::Stage"):
            properties = self._properties(lid)
            if self._value(properties.get("ApiId"), f"Resources.{lid}.ApiId") == _api_id(api):
                return str(self._value(properties.get("StageName"), f"Resources.{lid}.StageName"))
        return "prod"

    # -- event sources --------------------------------------------------------------------

    def _enabled(self, spec: Mapping[str, Any]) -> bool:
        properties = spec.get("Properties") or {}
        return _is_true(properties.get("Enabled", True)) and properties.get("State", "ENABLED") == "ENABLED"

    def _sqs_source(self, function: str, name: str, spec: Mapping[str, Any]) -> SqsEventSource:
        where = f"Resources.{function}.Properties.Events.{name}.Properties"
        properties = spec.get("Properties") or {}
        self._check_properties(f"{function}.Events.{name}", properties, _SQS_EVENT_USED, _SQS_EVENT_REFUSED)
        arn = self._value(properties.get("Queue"), f"{where}.Queue")
        queue = self._resource_with(arn, "AWS::SQS::Queue", "Arn", f"{where}.Queue")
        response_types = self._value(properties.get("FunctionResponseTypes") or [], f"{where}.FunctionResponseTypes")
        return SqsEventSource(
            function=function,
            queue=queue,
            batch_size=int(self._value(properties.get("BatchSize", 10), f"{where}.BatchSize")),
            report_batch_item_failures="ReportBatchItemFailures" in response_types,
        )

    def _stream_source(self, function: str, name: str, spec: Mapping[str, Any]) -> StreamEventSource:
        where = f"Resources.{function}.Properties.Events.{name}.Properties"
        properties = spec.get("Properties") or {}
        self._check_properties(f"{function}.Events.{name}", properties, _STREAM_EVENT_USED, _STREAM_EVENT_REFUSED)
        arn = self._value(properties.get("Stream"), f"{where}.Stream")
        table = self._resource_with(arn, "AWS::DynamoDB::Table", "StreamArn", f"{where}.Stream")
        if "StreamSpecification" not in self._properties(table):
            raise TemplateError(f"{where}.Stream: {table} has no StreamSpecification")
        starting_position = str(self._value(properties.get("StartingPosition"), f"{where}.StartingPosition"))
        if starting_position not in ("LATEST", "TRIM_HORIZON"):
            raise TemplateError(f"{where}.StartingPosition: {starting_position} is not emulated")
        return StreamEventSource(
            function=function,
            table=table,
            batch_size=int(self._value(properties.get("BatchSize", 100), f"{where}.BatchSize")),
            starting_position=starting_position,
            filter_patterns=self._filter_patterns(properties.get("FilterCriteria") or {}, f"{where}.FilterCriteria"),
        )

    def _filter_patterns(self, criteria: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
        patterns = []
        for index, entry in enumerate(self._value(criteria, where).get("Filters") or []):
            try:
                patterns.append(parse_pattern(entry["Pattern"]))
            except (FilterPatternError, KeyError, TypeError) as error:
                raise TemplateError(f"{where}.Filters[{index}].Pattern: {error}") from None
        return patterns

    def _schedule(self, function: str, name: str, spec: Mapping[str, Any]) -> ScheduleEventSource:
        where = f"Resources.{function}.Properties.Events.{name}.Properties"
        properties = spec.get("Properties") or {}
        self._check_properties(f"{function}.Events.{name}", properties, _SCHEDULE_EVENT_USED)
        expression = str(self._value(properties.get("Schedule"), f"{where}.Schedule"))
        given_input = self._value(properties.get("Input"), f"{where}.Input")
        try:
            event_input = json.loads(given_input) if given_input is not None else None
        except (json.JSONDecodeError, TypeError):
            raise TemplateError(f"{where}.Input: must be a JSON document in a string") from None
        return ScheduleEventSource(function=function, rate_s=_rate_seconds(expression, f"{where}.Schedule"),
                                   input=event_input)

    def _resource_with(self, arn: Any, resource_type: str, attribute: str, where: str) -> str:
        for lid in self._ids_of(resource_type):
            if self._get_att(lid, attribute, where) == arn:
                return lid
        raise TemplateError(f"{where}: {arn!r} is not the {attribute} of a {resource_type} in this template")

    # -- tables ---------------------------------------------------------------------------

    def _table_name(self, lid: str) -> str:
        name = self._properties(lid).get("TableName")
        return str(self._value(name, f"Resources.{lid}.Properties.TableName")) if name is not None else lid

    def _table(self, lid: str) -> Table:
        where = f"Resources.{lid}.Properties"
        properties = self._value(self._properties(lid), where)
        self._check_properties(lid, properties, _TABLE_USED, _TABLE_REFUSED)
        for required in ("KeySchema", "AttributeDefinitions"):
            if not properties.get(required):
                raise TemplateError(f"{where}.{required}: required")
        on_demand = properties.get("BillingMode", "PROVISIONED") == "PAY_PER_REQUEST"
        kwargs: dict[str, Any] = {
            "TableName": self._table_name(lid),
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": "PAY_PER_REQUEST" if on_demand else "PROVISIONED",
        }
        if not on_demand:
            kwargs["ProvisionedThroughput"] = _throughput(properties.get("ProvisionedThroughput"), f"{where}")
        for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if properties.get(indexes):
                kwargs[indexes] = [self._index(lid, index, on_demand, indexes, f"{where}.{indexes}[{i}]")
                                   for i, index in enumerate(properties[indexes])]
        stream = properties.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        ttl = properties.get("TimeToLiveSpecification") or {}
        return Table(
            logical_id=lid,
            table_name=kwargs["TableName"],
            create_table_kwargs=kwargs,
            ttl_attribute=ttl.get("AttributeName") if _is_true(ttl.get("Enabled")) else None,
        )

    def _index(self, lid: str, index: Mapping[str, Any], on_demand: bool, kind: str, where: str) -> dict[str, Any]:
        result = {key: index[key] for key in _INDEX_KEYS if key in index}
        if kind == "GlobalSecondaryIndexes" and not on_demand:
            result["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"), where)
        for key in index:
            if key not in _INDEX_KEYS and key != "ProvisionedThroughput":
                self._note(f"{lid}.{kind}.{index.get('IndexName')}.{key}")
        return result

    # -- queues ---------------------------------------------------------------------------

    def _queue_name(self, lid: str) -> str:
        properties = self._properties(lid)
        where = f"Resources.{lid}.Properties"
        if properties.get("QueueName") is not None:
            return str(self._value(properties["QueueName"], f"{where}.QueueName"))
        fifo = _is_true(self._value(properties.get("FifoQueue", False), f"{where}.FifoQueue"))
        return f"{lid}.fifo" if fifo else lid

    def _queue(self, lid: str) -> Queue:
        where = f"Resources.{lid}.Properties"
        properties = self._value(self._properties(lid), where)
        self._check_properties(lid, properties, _QUEUE_USED)
        attributes = {name: _attribute_string(properties[name]) for name in _QUEUE_ATTRIBUTES if name in properties}
        for policy in ("RedrivePolicy", "RedriveAllowPolicy"):
            if policy in properties:
                value = properties[policy]
                attributes[policy] = value if isinstance(value, str) else json.dumps(value)
        return Queue(logical_id=lid, queue_name=self._queue_name(lid), attributes=attributes)

    def _queues_dead_letter_first(self) -> list[Queue]:
        queues = {lid: self._queue(lid) for lid in self._ids_of("AWS::SQS::Queue")}
        by_arn = {self.endpoints.queue_arn(queue.queue_name): lid for lid, queue in queues.items()}
        ordered: list[Queue] = []

        def visit(lid: str, chain: tuple[str, ...]) -> None:
            if queues[lid] in ordered:
                return
            if lid in chain:
                raise TemplateError(f"Resources.{lid}.Properties.RedrivePolicy: the redrive policies form a cycle")
            redrive = queues[lid].attributes.get("RedrivePolicy")
            if redrive is not None:
                target = json.loads(redrive).get("deadLetterTargetArn")
                if target not in by_arn:
                    raise TemplateError(f"Resources.{lid}.Properties.RedrivePolicy.deadLetterTargetArn: "
                                        f"{target!r} is not a queue of this template")
                visit(by_arn[target], (*chain, lid))
            ordered.append(queues[lid])

        for lid in queues:
            visit(lid, ())
        return ordered


def _api_id(lid: str) -> str:
    """The local stand-in for a generated API id: the logical id, as a host name label."""
    return lid.lower()


def _function_arn(region: str, account: str, lid: str) -> str:
    # Locally a function's name is its logical id (the pool names it so too).
    return f"arn:aws:lambda:{region}:{account}:function:{lid}"


def _merge_maps(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        inherited = merged.get(key)
        merged[key] = _merge_maps(inherited, value) if isinstance(inherited, dict) and isinstance(value, dict) else value
    return merged


def _environment_string(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TemplateError(f"{where}: an environment variable must be a string, got {type(value).__name__}")


def _attribute_string(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _throughput(value: Any, where: str) -> dict[str, int]:
    if not value:
        raise TemplateError(f"{where}.ProvisionedThroughput: required unless BillingMode is PAY_PER_REQUEST")
    return {key: int(value[key]) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _rate_seconds(expression: str, where: str) -> float:
    if expression.startswith("cron("):
        raise TemplateError(f"{where}: {expression} - cron schedules are not emulated; use rate(...)")
    match = _RATE.match(expression)
    if match is None:
        raise TemplateError(f"{where}: {expression!r} is not a rate expression such as rate(1 minute)")
    amount, unit = int(match.group(1)), match.group(2)
    if amount < 1 or (amount == 1) != (not unit.endswith("s")):
        raise TemplateError(f"{where}: {expression!r}: use a singular unit for 1 and a plural one otherwise")
    return float(amount * _RATE_UNIT_S[unit.rstrip("s")])

