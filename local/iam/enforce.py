"""IAM enforced inside a function's worker process: every AWS call the handler makes
through boto3 is authorized against the function's policies before it leaves, and a call
not allowed fails as AWS fails it.

    enforcement = Enforcement(identity, policies, where)
    enforcement.install()          # before the handler is imported
    ...                            # the handler's calls
    enforcement.drain()            # {"used": [[action, resource], ...], "denied": [...]}

A call the role allows is still refused when the resource's own policy (a queue policy)
denies it to this role, as AWS refuses it.

The hook is botocore's: `before-parameter-build` keeps the call's parameters and
`before-call` decides, answering a denied call itself (no request is sent) with AWS's
error: DynamoDB's 400 `AccessDeniedException`, SQS's 403 `AccessDenied`, the WebSocket
management API's 403 `AccessDeniedException`, each with IAM's message naming the role
session, the action and the resource. It is installed in botocore's list of built-in
handlers, so every session and client the process creates afterwards carries it.
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.iam.calls import Authorization, Where, authorizations, recorded_resource
from local.iam.policy import Decision, Policies, ResourcePolicy

log = logging.getLogger("samsold.local.iam")

_PARAMS_KEY = "samsold_iam_params"


@dataclass(frozen=True)
class Identity:
    """The function's execution role, as its calls are signed: a role session named after
    the function."""

    account_id: str
    role_name: str
    session_name: str

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account_id}:assumed-role/{self.role_name}/{self.session_name}"

    @property
    def role_arn(self) -> str:
        """The role's ARN: what `aws:PrincipalArn` is for its sessions."""
        return f"arn:aws:iam::{self.account_id}:role/{self.role_name}"


def denial_message(identity: Identity, authorization: Authorization, decision: str, service: str) -> str:
    """IAM's wording of a refusal (SQS writes its actions in lower case)."""
    action = authorization.action.lower() if service == "sqs" else authorization.action
    message = f"User: {identity.arn} is not authorized to perform: {action} on resource: {authorization.resource}"
    if service == "apigatewaymanagementapi":
        return message
    reason = {"explicit_deny": "with an explicit deny in an identity-based policy",
              "resource_deny": "with an explicit deny in a resource-based policy"}.get(
        decision, f"because no identity-based policy allows the {action} action")
    return f"{message} {reason}"


def denial_error(service: str, message: str) -> tuple[int, str]:
    """The HTTP status and error code AWS answers a refused call of `service` with."""
    if service == "sqs":
        return 403, "AccessDenied"
    if service == "apigatewaymanagementapi":
        return 403, "AccessDeniedException"
    return 400, "AccessDeniedException"


class Enforcement:
    def __init__(self, identity: Identity, policies: Policies, where: Where,
                 resource_policies: Mapping[str, ResourcePolicy] | None = None) -> None:
        self.identity = identity
        self.policies = policies
        self.where = where
        self.resource_policies = dict(resource_policies or {})  # resource ARN -> its policy
        self._lock = threading.Lock()
        self._used: set[tuple[str, str]] = set()
        self._denied: list[dict[str, str]] = []

    def install(self, session: Any = None) -> None:
        """On every botocore session created from now on in this process (a worker's), or
        on `session` only."""
        if session is not None:
            session.register("before-parameter-build", self._keep_params)
            session.register("before-call", self._before_call)
            return
        import botocore.handlers

        botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", self._keep_params))
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", self._before_call))

    def _keep_params(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS_KEY] = dict(params)

    def _before_call(self, model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> Any:
        service = model.service_model.service_id.hyphenize()
        wanted = authorizations(service, model.name, context.get(_PARAMS_KEY, {}), self.where,
                                url=str(params.get("url", "")))
        for authorization in wanted:
            decision = self._decide(authorization)
            if decision != "allow":
                return self._deny(service, authorization, decision, str(params.get("url", "")))
        with self._lock:
            self._used.update((authorization.action, recorded_resource(authorization.resource))
                              for authorization in wanted)
        return None

    def _decide(self, authorization: Authorization) -> Decision | str:
        """The role's policies' decision, and then (in one account, an Allow of either is
        enough) an explicit Deny of the resource's own policy."""
        decision = self.policies.decide(authorization.action, authorization.resource, authorization.context)
        resource_policy = self.resource_policies.get(authorization.resource)
        if resource_policy is None or decision == "explicit_deny":
            return decision
        resource_decision = resource_policy.decide_for(self.identity.role_arn, authorization.action,
                                                       authorization.resource, authorization.context)
        if resource_decision == "explicit_deny":
            return "resource_deny"
        return "allow" if "allow" in (decision, resource_decision) else decision

    def _deny(self, service: str, authorization: Authorization, decision: str, url: str) -> tuple[Any, dict[str, Any]]:
        from botocore.awsrequest import AWSResponse

        message = denial_message(self.identity, authorization, decision, service)
        status, code = denial_error(service, message)
        with self._lock:
            self._denied.append({"action": authorization.action, "resource": authorization.resource,
                                 "code": code, "message": message})
        print(f"IAM denied {self.identity.session_name}: {authorization.action} on {authorization.resource}",
              file=sys.stderr, flush=True)
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-RequestId": request_id}
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": status, "HTTPHeaders": headers,
                                 "RetryAttempts": 0},
        }
        return AWSResponse(url, status, headers, None), parsed

    def drain(self) -> dict[str, Any]:
        """What was used and denied since the last drain."""
        with self._lock:
            used, self._used = self._used, set()
            denied, self._denied = self._denied, []
        return {"used": sorted([action, resource] for action, resource in used), "denied": denied}
