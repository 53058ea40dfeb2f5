"""The `@connections` management API's authentication: as in AWS, a call must be signed
with Signature Version 4 (service `execute-api`) by a key the gateway knows. Locally that
key is made per run and given only to the functions' workers (their
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`), so nobody else reaching the gateway can
push a message to a connection or close it.

The signature is recomputed with botocore's own signer over the headers the caller says
it signed, and compared in constant time; a request dated more than five minutes away from
now is refused, as AWS refuses it.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from local.apigateway.rest import IncomingRequest

MAX_CLOCK_SKEW_S = 300
SERVICE = "execute-api"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = ""

    @classmethod
    def generate(cls) -> Credentials:
        return cls(f"LOCAL{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30))

    def __repr__(self) -> str:  # never the secret in a log line
        return f"Credentials({self.access_key_id!r}, ...)"


def signature_problem(request: IncomingRequest, raw_path: str, credentials: Credentials) -> str | None:
    """None when `request` is signed by `credentials`; otherwise AWS's message for why not."""
    authorization = request.header("Authorization")
    if not authorization:
        return "Missing Authentication Token"
    found = _AUTHORIZATION.match(authorization.strip())
    if found is None or found["service"] != SERVICE:
        return "Authorization header requires a valid AWS4-HMAC-SHA256 signature"
    if not hmac.compare_digest(found["key"], credentials.access_key_id):
        return "The security token included in the request is invalid."
    try:
        signed_at = datetime.strptime(request.header("X-Amz-Date") or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "Authorization header requires a valid X-Amz-Date"
    if abs((request.received_at - signed_at).total_seconds()) > MAX_CLOCK_SKEW_S:
        return "Signature expired"
    if signed_at.strftime("%Y%m%d") != found["day"]:
        return "Credential should be scoped to a valid date"
    signed_names = found["headers"].split(";")
    if "host" not in signed_names:
        return "Host must be signed"
    query = f"?{urlencode(request.query)}" if request.query else ""
    signed = AWSRequest(
        method=request.method,
        url=f"http://{request.header('Host')}{raw_path}{query}",
        data=request.body,
        headers={name: request.header(name) or "" for name in signed_names},
    )
    signed.context["timestamp"] = request.header("X-Amz-Date")
    signer = SigV4Auth(BotocoreCredentials(credentials.access_key_id, credentials.secret_access_key),
                       SERVICE, found["region"])
    expected = signer.signature(signer.string_to_sign(signed, signer.canonical_request(signed)), signed)
    if not hmac.compare_digest(expected, found["signature"]):
        return "The request signature we calculated does not match the signature you provided."
    return None
