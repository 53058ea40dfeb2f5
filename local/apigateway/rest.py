"""API Gateway REST API (v1) wire formats: route matching, the Lambda proxy event
(payload 1.0) and the mapping of a proxy result back to an HTTP response.

The event follows the "Input format of a Lambda function for proxy integration" in the
API Gateway developer guide and is checked in the tests against Powertools'
`APIGatewayProxyEventModel`, so `APIGatewayRestResolver` handlers run unchanged.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from local.apigateway.formats import clf_time, forwarded_headers, grouped, last_values, random_id
from local.sam.model import GatewayResponse, RestRoute

ACCOUNT_ID = "123456789012"
API_ID = "localrest01"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# The methods a REST API serves; ANY means these (TRACE, PROPFIND, ... match no route).
ANY_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    path: str  # decoded, without the query string
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]  # as received: original case, repeats kept
    body: bytes
    source_ip: str
    received_at: datetime

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        values = [value for key, value in self.headers if key.lower() == wanted]
        return values[-1] if values else None


@dataclass(frozen=True)
class MatchedRoute:
    route: RestRoute
    path_parameters: dict[str, str]


def gateway_error(
    status: int,
    message: str,
    response_type: str | None = None,
    customised: Mapping[str, GatewayResponse] | None = None,
) -> HttpResponse:
    """A response API Gateway itself produces: its `{"message": ...}` shape, or the
    template's GatewayResponses for that type (or DEFAULT_4XX / DEFAULT_5XX)."""
    headers = [("Content-Type", "application/json")]
    if status in _ERROR_TYPES:
        headers.append(("x-amzn-ErrorType", _ERROR_TYPES[status]))
    fallback = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
    custom = (customised or {}).get(response_type or fallback) or (customised or {}).get(fallback)
    if custom is None:
        return HttpResponse(status, headers, json.dumps({"message": message}).encode())
    body = json.dumps({"message": message})
    if custom.template is not None:
        body = (
            custom.template.replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message)
            .replace("$context.error.responseType", response_type or fallback)
        )
    return HttpResponse(custom.status or status, headers + list(custom.headers.items()), body.encode())


_ERROR_TYPES = {
    401: "UnauthorizedException",
    403: "MissingAuthenticationTokenException",
    429: "TooManyRequestsException",
    502: "InternalServerErrorException",
    504: "InternalServerErrorException",
}


class RouteTable:
    """Chooses a route the way API Gateway does: the most specific resource wins
    (literal segment over `{param}` over `{proxy+}`), and an exact method over ANY."""

    def __init__(self, routes: list[RestRoute]) -> None:
        self._routes = [(route, _segments(route.path)) for route in routes]

    def match(self, method: str, path: str) -> MatchedRoute | None:
        request_segments = _segments(path)
        candidates: list[tuple[tuple[int, ...], MatchedRoute]] = []
        for route, pattern in self._routes:
            if route.method != method and not (route.method == "ANY" and method in ANY_METHODS):
                continue
            parameters = _match_segments(pattern, request_segments)
            if parameters is None:
                continue
            rank = tuple(_specificity(segment) for segment in pattern) + (route.method != "ANY",)
            candidates.append((rank, MatchedRoute(route, parameters)))
        if not candidates:
            return None
        return max(candidates, key=lambda candidate: candidate[0])[1]


def _segments(path: str) -> list[str]:
    return [segment for segment in path.strip("/").split("/") if segment]


def _specificity(pattern_segment: str) -> int:
    if pattern_segment.endswith("+}"):
        return 0
    if pattern_segment.startswith("{"):
        return 1
    return 2


def _match_segments(pattern: list[str], segments: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for index, pattern_segment in enumerate(pattern):
        if pattern_segment.endswith("+}"):
            rest = segments[index:]
            if not rest:
                return None
            parameters[pattern_segment[1:-2]] = "/".join(rest)
            return parameters
        if index >= len(segments):
            return None
        if pattern_segment.startswith("{"):
            parameters[pattern_segment[1:-1]] = segments[index]
        elif pattern_segment != segments[index]:
            return None
    return parameters if len(pattern) == len(segments) else None


def rest_event(
    request: IncomingRequest,
    matched: MatchedRoute,
    *,
    stage: str,
    claims: dict[str, str] | None,
    request_id: str,
) -> dict[str, Any]:
    headers = forwarded_headers(request.headers, request.source_ip)
    body, is_base64 = _event_body(request.body)
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": request.header("Host") or "localhost",
        "domainPrefix": (request.header("Host") or "localhost").split(".")[0].split(":")[0],
        "extendedRequestId": random_id(6),
        "httpMethod": request.method,
        "identity": _identity(request),
        "path": f"/{stage}{request.path}",  # the execute-api host puts the stage first
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": clf_time(request.received_at),
        "requestTimeEpoch": int(request.received_at.timestamp() * 1000),
        "resourceId": _resource_id(matched.route),
        "resourcePath": matched.route.path,
        "stage": stage,
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": claims}
    return {
        "resource": matched.route.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": last_values(headers),
        "multiValueHeaders": grouped(headers),
        "queryStringParameters": last_values(request.query) or None,
        "multiValueQueryStringParameters": grouped(request.query) or None,
        "pathParameters": matched.path_parameters or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _event_body(raw: bytes) -> tuple[str | None, bool]:
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def _identity(request: IncomingRequest) -> dict[str, str | None]:
    unset = (
        "accessKey accountId apiKey apiKeyId caller cognitoAuthenticationProvider "
        "cognitoAuthenticationType cognitoIdentityId cognitoIdentityPoolId principalOrgId user userArn"
    ).split()
    identity: dict[str, str | None] = {name: None for name in unset}
    identity["sourceIp"] = request.source_ip
    identity["userAgent"] = request.header("User-Agent")
    return identity


def _resource_id(route: RestRoute) -> str:
    # Stable per resource, as API Gateway's are: 6 lowercase alphanumerics.
    return uuid.uuid5(uuid.NAMESPACE_URL, route.path).hex[:6]


def new_request_id() -> str:
    return str(uuid.uuid4())


def proxy_response(result: Any) -> HttpResponse:
    """The HTTP response for a proxy integration result; a result that is not a valid
    proxy response is a 502, as API Gateway answers ("Malformed Lambda proxy response")."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return gateway_error(502, "Internal server error")
    body = result.get("body") or ""
    if not isinstance(body, str):
        return gateway_error(502, "Internal server error")
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return HttpResponse(result["statusCode"], _response_headers(result), payload)


def _response_headers(result: dict[str, Any]) -> list[tuple[str, str]]:
    # API Gateway merges both maps; a name in multiValueHeaders wins over the same name in headers.
    multi = result.get("multiValueHeaders") or {}
    single = result.get("headers") or {}
    multi_names = {name.lower() for name in multi}
    merged = [(name, str(value)) for name, values in multi.items() for value in values]
    merged += [(name, str(value)) for name, value in single.items() if name.lower() not in multi_names]
    return merged
