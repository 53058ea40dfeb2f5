"""The base of reading a SAM template: the resources in use (a false Condition removes
one), their types and properties, values resolved through the intrinsics, and the list of
what is not emulated. The parts (`functions`, `routes`, `event_sources`, `storage`) build
on it; `template._Build` joins them and answers Ref and GetAtt."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from local.sam.intrinsics import NO_VALUE, Resolver, TemplateError
from local.sam.model import LocalEndpoints

IMPLICIT_REST_API = "ServerlessRestApi"  # the API SAM creates for Api events without RestApiId


class TemplateSource(Protocol):
    """What reading needs of a SamTemplate."""

    document: dict[str, Any]
    base_dir: Path
    region: str
    account_id: str
    stack_name: str
    parameters: dict[str, Any]


class Resources:
    """One resolution of the template against one set of endpoints: what every part shares."""

    def __init__(self, template: TemplateSource, endpoints: LocalEndpoints) -> None:
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

    def _ref(self, lid: str, path: str) -> Any:
        raise NotImplementedError

    def _get_att(self, lid: str, attribute: str, path: str) -> Any:
        raise NotImplementedError

    def _local_url(self, value: str) -> str:
        raise NotImplementedError

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

    def _uses_implicit_api(self) -> bool:
        return any(
            spec.get("Type") == "Api" and "RestApiId" not in (spec.get("Properties") or {})
            for lid in self._ids_of("AWS::Serverless::Function")
            for spec in (self._properties(lid).get("Events") or {}).values()
        )

    def _rest_api_ids(self) -> list[str]:
        implicit = [IMPLICIT_REST_API] if self._uses_implicit_api() else []
        return self._ids_of("AWS::Serverless::Api") + implicit


def local_api_id(lid: str) -> str:
    """The local stand-in for a generated API id: the logical id, as a host name label."""
    return lid.lower()


def function_arn(region: str, account: str, lid: str) -> str:
    # Locally a function's name is its logical id (the pool names it so too).
    return f"arn:aws:lambda:{region}:{account}:function:{lid}"


def role_name(stack_name: str, function_lid: str) -> str:
    # SAM names the role it creates <FunctionId>Role; CloudFormation prefixes the stack.
    return f"{stack_name}-{function_lid}Role"


def is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
