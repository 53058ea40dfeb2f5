"""Lints every function's IAM policy in template.yaml with parliament, as a security team
would read them: `make lint` runs it with the scan tools' Python (.cache/scan-tools, made
by scripts/install-aws-tools.sh), which has parliament.

    .cache/scan-tools/bin/python scripts/lint_policies.py [template.yaml]

Each function's inline policy documents (its Policies over Globals.Function's) are read
with the template's intrinsic functions resolved to placeholder ARNs of the right shape
(parliament checks each action against the resource types it names), and analysed with
parliament's own and community auditors. A finding fails the run unless ALLOWED holds it
with its reason; an ALLOWED entry no finding matches fails too, so none outlives its cause.
SAM policy templates (`DynamoDBCrudPolicy: ...`) are not expanded here: a function using
one stops the run, named, rather than being passed unread. AWS managed policies (names or
ARNs) are listed as not linted: parliament has no text of them.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local.sam.intrinsics import Resolver, TemplateError, load_yaml  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "samsold",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/samsold/placeholder",
}


@dataclass(frozen=True)
class Allowed:
    """A finding kept on purpose: parliament's issue code, where (function and statement
    Sid), and why."""

    issue: str
    function: str
    sid: str
    reason: str


# Findings kept, each with its reason. Empty while the policies lint clean.
ALLOWED: tuple[Allowed, ...] = ()


def placeholder_ref(resources: Mapping[str, Any]):
    """What `!Ref Resource` yields in AWS, in a shape parliament accepts."""

    def ref(name: str, path: str) -> str:
        resource = resources.get(name)
        if resource is None:
            raise TemplateError(f"{path}: Ref to {name}, which is neither a parameter nor a resource")
        kind = resource["Type"]
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if kind in ("AWS::ApiGatewayV2::Api", "AWS::Serverless::Api"):
            return name.lower()  # an API id
        if kind == "AWS::ApiGatewayV2::Stage":
            return "prod"
        if kind == "AWS::S3::Bucket":
            return name.lower()  # bucket names are lower case
        return name  # tables, functions, log groups, keys: their physical names

    return ref


def placeholder_get_att(resources: Mapping[str, Any]):
    """What `!GetAtt Resource.Attribute` yields in AWS, in a shape parliament accepts."""

    def get_att(name: str, attribute: str, path: str) -> str:
        kind = (resources.get(name) or {}).get("Type")
        arns = {
            ("AWS::DynamoDB::Table", "Arn"): f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
            ("AWS::DynamoDB::Table", "StreamArn"):
                f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}/stream/2026-01-01T00:00:00.000",
            ("AWS::SQS::Queue", "Arn"): f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            ("AWS::SQS::Queue", "QueueName"): name,
            ("AWS::Serverless::Function", "Arn"): f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            ("AWS::Cognito::UserPool", "Arn"): f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_placeholder",
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{name.lower()}",
        }
        if (kind, attribute) not in arns:
            raise TemplateError(f"{path}: no placeholder for {name}.{attribute} ({kind}); add one to {Path(__file__).name}")
        return arns[(kind, attribute)]

    return get_att


def resolver_for(template: Mapping[str, Any]) -> Resolver:
    resources = template.get("Resources") or {}
    parameters = {name: spec.get("Default", "") for name, spec in (template.get("Parameters") or {}).items()}
    return Resolver(parameters=parameters, pseudo_parameters=PSEUDO_PARAMETERS,
                    conditions=template.get("Conditions") or {}, mappings=template.get("Mappings") or {},
                    ref=placeholder_ref(resources), get_att=placeholder_get_att(resources))


def function_policies(template: Mapping[str, Any]) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Per function, its inline policy documents resolved; and the managed policies not linted."""
    resolver = resolver_for(template)
    global_policies = ((template.get("Globals") or {}).get("Function") or {}).get("Policies") or []
    documents: dict[str, list[dict[str, Any]]] = {}
    not_linted: list[str] = []
    for lid, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        policies = (resource.get("Properties") or {}).get("Policies") or []
        policies = [policies] if isinstance(policies, (str, dict)) else policies
        documents[lid] = []
        for index, policy in enumerate([*global_policies, *policies]):
            where = f"Resources.{lid}.Properties.Policies[{index}]"
            if isinstance(policy, str):
                not_linted.append(f"{lid}: managed policy {policy}")
            elif isinstance(policy, dict) and "Statement" in policy:
                documents[lid].append(resolver.resolve(policy, where))
            else:
                name = next(iter(policy)) if isinstance(policy, dict) and policy else repr(policy)
                raise TemplateError(f"{where}: {name} is not an inline policy document; write its statements "
                                    "inline (Version and Statement), which this lint reads")
    return documents, not_linted


def statement_at(text: str, policy: Mapping[str, Any], column: Any) -> str:
    """The Sid (or index) of the statement at a finding's column of the one-line JSON `text`."""
    statements = policy.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    start = 0
    for index, statement in enumerate(statements):
        piece = json.dumps(statement)
        start = text.find(piece, start)
        if isinstance(column, int) and start <= column - 1 < start + len(piece):
            return str(statement.get("Sid") or f"Statement[{index}]")
        start += len(piece)
    return "-"  # the document as a whole


def lint(template_path: Path) -> int:
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    from parliament import analyze_policy_string, enhance_finding  # only in the scan tools' venv

    documents, not_linted = function_policies(load_yaml(template_path.read_text()))
    findings: list[tuple[str, str, str, str, Any]] = []  # (function, sid, issue, title, detail)
    for lid, policies in documents.items():
        for policy in policies:
            text = json.dumps(policy)
            analysed = analyze_policy_string(text, lid, include_community_auditors=True)
            for finding in map(enhance_finding, analysed.findings):
                sid = statement_at(text, policy, finding.location.get("column"))
                findings.append((lid, sid, finding.issue, finding.title, finding.detail))
    used: set[Allowed] = set()
    failed = 0
    for lid, sid, issue, title, detail in findings:
        allowed = next((a for a in ALLOWED if (a.issue, a.function, a.sid) == (issue, lid, sid)), None)
        if allowed is not None:
            used.add(allowed)
            print(f"allowed   {lid} {sid}: {issue} ({title}): {allowed.reason}")
            continue
        failed += 1
        print(f"FINDING   {lid} {sid}: {issue} ({title}) {json.dumps(detail, default=str) if detail else ''}")
    for allowed in ALLOWED:
        if allowed not in used:
            failed += 1
            print(f"STALE     {allowed.function} {allowed.sid}: {allowed.issue} is allowed but no longer found; remove it from ALLOWED")
    for line in not_linted:
        print(f"not linted {line}")
    count = sum(len(p) for p in documents.values())
    print(f"parliament: {count} policy documents of {len(documents)} functions, "
          f"{len(findings)} findings, {failed} not allowed")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    template_path = Path(argv[1]) if len(argv) > 1 else ROOT / "template.yaml"
    try:
        return lint(template_path)
    except TemplateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
