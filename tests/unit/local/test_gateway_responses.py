"""API Gateway's own responses, as the template's GatewayResponses customise them."""

from __future__ import annotations

import json

from local.apigateway.rest import gateway_error
from local.sam.model import GatewayResponse

CUSTOM = {
    "UNAUTHORIZED": GatewayResponse(
        status=401,
        headers={"Access-Control-Allow-Origin": "*"},
        template='{"error": {"code": "UNAUTHORIZED", "message": $context.error.messageString}}',
    ),
    "DEFAULT_4XX": GatewayResponse(template='{"error": {"code": "$context.error.responseType"}}'),
}


def test_a_customised_response_type_is_rendered_with_its_headers():
    response = gateway_error(401, "Unauthorized", "UNAUTHORIZED", CUSTOM)
    assert response.status == 401
    assert json.loads(response.body) == {"error": {"code": "UNAUTHORIZED", "message": "Unauthorized"}}
    assert ("Access-Control-Allow-Origin", "*") in response.headers


def test_other_4xx_fall_back_to_default_4xx_and_without_any_to_api_gateways_shape():
    too_large = gateway_error(413, "too large", "REQUEST_TOO_LARGE", CUSTOM)
    assert json.loads(too_large.body) == {"error": {"code": "REQUEST_TOO_LARGE"}}
    assert json.loads(gateway_error(502, "Internal server error", "INTEGRATION_FAILURE", CUSTOM).body) == {
        "message": "Internal server error"
    }
    assert json.loads(gateway_error(401, "Unauthorized").body) == {"message": "Unauthorized"}
