"""CloudFormation in YAML: a loader for the short-form tags (`!Ref`, `!GetAtt`, `!Sub`, ...)
and a resolver of intrinsic functions, conditions and mappings to local values.

The resolver knows CloudFormation's functions, not resources: what a `Ref` or `GetAtt` of a
resource means locally is asked of the caller (`local.sam.template`). Only the values the
runtime needs are resolved, so an unsupported function elsewhere (in an IAM policy, say)
does not matter; where it does, the error names the place.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml


class TemplateError(ValueError):
    """The template asks for something the local runtime cannot do faithfully."""


NO_VALUE = object()  # AWS::NoValue: the property is removed

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_UNSUPPORTED = ("Fn::ImportValue", "Fn::GetAZs", "Fn::Cidr", "Fn::Transform", "Fn::Length", "Fn::ToJsonString")


class CloudFormationLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus the short forms: `!Sub x` reads as `{"Fn::Sub": x}`."""


def _construct_short_form(loader: CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)  # "Table.StreamArn" -> ["Table", "StreamArn"]
    key = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    return {key: value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_form)


def load_yaml(text: str) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise TemplateError(f"the template is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise TemplateError("the template is not a YAML mapping")
    return document


RefResolver = Callable[[str, str], Any]  # (logical id, path) -> value
GetAttResolver = Callable[[str, str, str], Any]  # (logical id, attribute, path) -> value


class Resolver:
    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo_parameters: Mapping[str, Any],
        conditions: Mapping[str, Any],
        mappings: Mapping[str, Any],
        ref: RefResolver,
        get_att: GetAttResolver,
    ) -> None:
        self._parameters = parameters
        self._pseudo = pseudo_parameters
        self._conditions = conditions
        self._mappings = mappings
        self._ref = ref
        self._get_att = get_att
        self._condition_values: dict[str, bool] = {}

    def resolve(self, value: Any, path: str) -> Any:
        """`value` with every intrinsic function replaced; NO_VALUE entries dropped."""
        if isinstance(value, list):
            items = (self.resolve(item, f"{path}[{i}]") for i, item in enumerate(value))
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._function(key, argument, f"{path}.{key}")
        entries = ((key, self.resolve(item, f"{path}.{key}")) for key, item in value.items())
        return {key: item for key, item in entries if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateError(f"Conditions.{name}: no such condition")
            self._condition_values[name] = self._truth(self._conditions[name], f"Conditions.{name}")
        return self._condition_values[name]

    def ref(self, name: str, path: str) -> Any:
        if name in self._parameters:
            return self._parameters[name]
        if name in self._pseudo:
            return self._pseudo[name]
        return self._ref(name, path)

    def _function(self, key: str, argument: Any, path: str) -> Any:
        if key == "Ref":
            return self.ref(self.resolve(argument, path), path)
        if key in _UNSUPPORTED:
            raise TemplateError(f"{path}: {key} is not supported locally")
        handler = _FUNCTIONS.get(key)
        if handler is None:
            raise TemplateError(f"{path}: unknown intrinsic function {key}")
        return handler(self, argument, path)

    def _get_att_of(self, argument: Any, path: str) -> Any:
        resolved = self.resolve(argument, path)
        if not isinstance(resolved, list) or len(resolved) != 2:
            raise TemplateError(f"{path}: Fn::GetAtt takes [LogicalId, Attribute]")
        return self._get_att(resolved[0], resolved[1], path)

    def _sub(self, argument: Any, path: str) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        variables = self.resolve(variables, path)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # "${!Literal}" writes "${Literal}"
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute, path))
            return str(self.ref(name, path))

        return _SUB_VARIABLE.sub(substitute, template)

    def _join(self, argument: Any, path: str) -> str:
        delimiter, items = self.resolve(argument, path)
        return str(delimiter).join(str(item) for item in items)

    def _select(self, argument: Any, path: str) -> Any:
        index, items = self.resolve(argument, path)
        return items[int(index)]

    def _split(self, argument: Any, path: str) -> list[str]:
        delimiter, text = self.resolve(argument, path)
        return str(text).split(delimiter)

    def _if(self, argument: Any, path: str) -> Any:
        name, when_true, when_false = argument
        chosen = when_true if self.condition(name) else when_false
        return self.resolve(chosen, path)

    def _find_in_map(self, argument: Any, path: str) -> Any:
        map_name, top, second = self.resolve(argument, path)
        try:
            return self._mappings[map_name][top][second]
        except KeyError:
            raise TemplateError(f"{path}: Mappings.{map_name}.{top}.{second} does not exist") from None

    def _truth(self, expression: Any, path: str) -> bool:
        if isinstance(expression, dict) and set(expression) == {"Condition"}:
            return self.condition(expression["Condition"])
        value = self.resolve(expression, path)
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise TemplateError(f"{path}: a condition must be true or false, got {value!r}")

    def _equals(self, argument: Any, path: str) -> bool:
        left, right = self.resolve(argument, path)
        return str(left) == str(right)

    def _and(self, argument: Any, path: str) -> bool:
        return all(self._truth(item, f"{path}[{i}]") for i, item in enumerate(argument))

    def _or(self, argument: Any, path: str) -> bool:
        return any(self._truth(item, f"{path}[{i}]") for i, item in enumerate(argument))

    def _not(self, argument: Any, path: str) -> bool:
        return not self._truth(argument[0], path)

    def _base64(self, argument: Any, path: str) -> str:
        return base64.b64encode(str(self.resolve(argument, path)).encode()).decode()


_FUNCTIONS: dict[str, Callable[[Resolver, Any, str], Any]] = {
    "Fn::GetAtt": Resolver._get_att_of,
    "Fn::Sub": Resolver._sub,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::If": Resolver._if,
    "Fn::FindInMap": Resolver._find_in_map,
    "Fn::Equals": Resolver._equals,
    "Fn::And": Resolver._and,
    "Fn::Or": Resolver._or,
    "Fn::Not": Resolver._not,
    "Fn::Base64": Resolver._base64,
}
