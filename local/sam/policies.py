"""A function's execution role as SAM builds it from `Policies`: inline policy documents,
SAM policy templates (expanded by aws-sam-translator, as `sam deploy` expands them) and
AWS managed policies, with intrinsic functions resolved to the local resources' ARNs.

A managed policy's content is not in the template: the few that grant only logging and
tracing are known here (their calls go nowhere locally); any other is refused, since the
local stack could not enforce it faithfully. A function with its own `Role` is refused for
the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from local.sam.intrinsics import TemplateError

# Managed policies that only let a function write its logs and traces (SAM adds the first
# to every role it creates): statements that matter to no local call.
_LOGS_AND_TRACES = {
    "AWSLambdaBasicExecutionRole": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "AWSXrayWriteOnlyAccess": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                               "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"],
    "AWSXRayDaemonWriteAccess": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                                 "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"],
}


@lru_cache(maxsize=1)
def _policy_templates() -> Any:
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    return PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


def role_policies(policies: Any, where: str, resolve: Callable[[Any, str], Any]) -> list[dict[str, Any]]:
    """The policy documents of a function's `Policies` (a string, a map or a list of them),
    resolved with `resolve(value, path)`."""
    if policies is None:
        return [managed_policy("AWSLambdaBasicExecutionRole", where)]
    items = policies if isinstance(policies, list) else [policies]
    documents = [managed_policy("AWSLambdaBasicExecutionRole", where)]  # SAM's default, always attached
    for i, item in enumerate(items):
        path = f"{where}[{i}]"
        if isinstance(item, dict) and len(item) == 1 and _is_template_name(next(iter(item))):
            documents.append(_expanded_template(item, path, resolve))
            continue
        value = resolve(item, path)
        if isinstance(value, str):
            documents.append(managed_policy(value, path))
        elif isinstance(value, dict) and "Statement" in value:
            documents.append(value)
        else:
            raise TemplateError(f"{path}: expected a policy document, a SAM policy template or a managed policy")
    return documents


def _is_template_name(key: str) -> bool:
    return key not in ("Ref", "Condition") and not key.startswith("Fn::") and key != "Statement"


def managed_policy(name: str, where: str) -> dict[str, Any]:
    short = name.rsplit("/", 1)[-1]
    actions = _LOGS_AND_TRACES.get(short)
    if actions is None:
        raise TemplateError(f"{where}: the managed policy {name} is not known locally, so IAM cannot be "
                            "enforced faithfully; write its statements into Policies")
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def _expanded_template(item: dict[str, Any], where: str, resolve: Callable[[Any, str], Any]) -> dict[str, Any]:
    (name, parameters), = item.items()
    processor = _policy_templates()
    if not processor.has(name):
        raise TemplateError(f"{where}: {name} is neither a policy document nor a SAM policy template")
    try:
        expanded = processor.convert(name, resolve(parameters or {}, f"{where}.{name}"))
    except Exception as error:  # samtranslator's errors name what is missing
        raise TemplateError(f"{where}.{name}: {error}") from None
    return dict(resolve(expanded, f"{where}.{name}"))
