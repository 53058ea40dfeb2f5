"""The template's APIs: REST routes from function Api events (one REST API, its stage,
Cognito authorizers), and the WebSocket API (routes, integrations, stage)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from local.sam.intrinsics import TemplateError
from local.sam.model import RestRoute, RestThrottles, Throttle, WebSocketApi
from local.sam.resources import IMPLICIT_REST_API, Resources, function_arn, local_api_id

API_USED = {"StageName", "Auth", "Name", "Description", "GatewayResponses", "MethodSettings"}
API_REFUSED = {
    "DefinitionBody": "routes defined in OpenAPI are not read locally; use function Api events",
    "DefinitionUri": "routes defined in OpenAPI are not read locally; use function Api events",
}
_LAMBDA_ARN_IN_URI = re.compile(r"functions/(arn:aws:lambda:[^/]+)/invocations")


class Routes(Resources):
    def _rest_routes(self, events: list[tuple[str, str, dict[str, Any]]]) -> tuple[list[RestRoute], str, RestThrottles]:
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
        throttles: RestThrottles = {}
        for api in apis:
            self._check_properties(api, self._properties(api), API_USED, API_REFUSED)
            stage = str(self._value(self._properties(api).get("StageName", stage), f"Resources.{api}.StageName"))
            throttles = self._rest_throttles(api)
        return routes, stage, throttles

    def _rest_api_of(self, properties: Mapping[str, Any], where: str) -> str:
        if "RestApiId" not in properties:
            return IMPLICIT_REST_API
        api_id = self._value(properties["RestApiId"], f"{where}.RestApiId")
        for lid in self._ids_of("AWS::Serverless::Api"):
            if local_api_id(lid) == api_id:
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
            throttles=self._websocket_throttles(api),
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
            if match and match.group(1) == function_arn(region, account, function):
                return function
        raise TemplateError(f"{where}.IntegrationUri: {uri!r} invokes no function of this template")

    def _websocket_stage(self, api: str) -> str:
        for lid in self._ids_of("AWS::ApiGatewayV2::Stage"):
            properties = self._properties(lid)
            if self._value(properties.get("ApiId"), f"Resources.{lid}.ApiId") == local_api_id(api):
                return str(self._value(properties.get("StageName"), f"Resources.{lid}.StageName"))
        return "prod"

    # -- throttling -------------------------------------------------------------------------

    def _rest_throttles(self, api: str) -> RestThrottles:
        """The stage's MethodSettings that throttle: ResourcePath as API Gateway writes it
        ("/*", or "/~1bid" for /bid: "~1" is an escaped "/"), HttpMethod ("*" or one)."""
        where = f"Resources.{api}.Properties.MethodSettings"
        throttles: RestThrottles = {}
        for index, setting in enumerate(self._value(self._properties(api).get("MethodSettings") or [], where)):
            throttle = _throttle(setting, f"{where}[{index}]")
            if throttle is None:
                continue
            written = str(setting.get("ResourcePath", "/*"))
            # "/" then the resource path with its slashes escaped: "/~1lots~1{lot_id}" is /lots/{lot_id}.
            path = written if written in ("/*", "/") else written.removeprefix("/").replace("~1", "/").replace("~0", "~")
            throttles[(str(setting.get("HttpMethod", "*")).upper(), path)] = throttle
        return throttles

    def _websocket_throttles(self, api: str) -> dict[str, Throttle]:
        throttles: dict[str, Throttle] = {}
        for lid in self._ids_of("AWS::ApiGatewayV2::Stage"):
            properties = self._properties(lid)
            if self._value(properties.get("ApiId"), f"Resources.{lid}.ApiId") != local_api_id(api):
                continue
            where = f"Resources.{lid}.Properties"
            default = _throttle(self._value(properties.get("DefaultRouteSettings") or {}, f"{where}.DefaultRouteSettings"),
                                f"{where}.DefaultRouteSettings")
            if default is not None:
                throttles["*"] = default
            for key, setting in (self._value(properties.get("RouteSettings") or {}, f"{where}.RouteSettings")).items():
                if (throttle := _throttle(setting, f"{where}.RouteSettings.{key}")) is not None:
                    throttles[key] = throttle
        return throttles


def _throttle(setting: dict[str, Any], where: str) -> Throttle | None:
    rate, burst = setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
    if rate is None and burst is None:
        return None
    if rate is None or burst is None:
        raise TemplateError(f"{where}: set ThrottlingRateLimit and ThrottlingBurstLimit together to throttle")
    try:
        return Throttle(rate=float(rate), burst=int(burst))
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: throttling limits are numbers, not {rate!r} and {burst!r}") from None
