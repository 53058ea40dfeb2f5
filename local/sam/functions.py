"""The template's functions: handler, code, environment (execute-api URLs and the user
pool's key set rewritten to local ones), timeout, memory, reserved concurrency and the
execution role's policies (local.sam.policies), over Globals.Function as SAM merges them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local.sam.intrinsics import NO_VALUE, TemplateError
from local.sam.model import Function
from local.sam.policies import role_policies
from local.sam.resources import Resources, role_name

FUNCTION_USED = {"Handler", "CodeUri", "Runtime", "Environment", "Timeout", "MemorySize", "Events",
                 "ReservedConcurrentExecutions", "Policies"}
FUNCTION_SILENT = {"Description", "FunctionName", "Tags", "Architectures"}
FUNCTION_REFUSED = {
    "InlineCode": "inline code is not run locally; use CodeUri",
    "ImageUri": "container images are not run locally",
    "PackageType": "container images are not run locally",
    "Role": "an existing role's policies are not known locally, so IAM cannot be enforced; use Policies",
}


class Functions(Resources):
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
        self._check_properties(lid, self._properties(lid), FUNCTION_USED, FUNCTION_REFUSED, FUNCTION_SILENT)
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
            policies=role_policies(properties.get("Policies"), f"{where}.Policies", self._value),
            role_name=role_name(self.template.stack_name, lid),
        )

    def _environment(self, environment: Mapping[str, Any], where: str) -> dict[str, str]:
        variables = self._value(environment.get("Variables") or {}, f"{where}.Variables")
        return {name: self._local_url(_environment_string(value, f"{where}.Variables.{name}"))
                for name, value in variables.items()}


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
