"""IAM's identity-policy evaluation for one principal, as AWS documents it: an explicit
Deny wins; otherwise an Allow is needed; otherwise the request is implicitly denied.

    policies = Policies([{"Version": "2012-10-17", "Statement": [...]}])
    policies.decide("dynamodb:PutItem", "arn:aws:dynamodb:...:table/BidsTable")  # "allow" | "explicit_deny" | "implicit_deny"

Evaluated: Effect Allow/Deny; Action/NotAction and Resource/NotResource, each a string or a
list, with `*` and `?` wildcards (actions case-insensitively, resources case-sensitively,
as IAM matches them); Condition with the string operators (StringEquals, StringNotEquals,
StringLike, StringNotLike and their IgnoreCase forms), the set prefixes ForAllValues: and
ForAnyValue:, and the `...IfExists` suffix, against the keys the caller passes (the call
mapping passes `dynamodb:LeadingKeys` and `aws:RequestedRegion`).

A resource-based policy (a queue's) is read by `ResourcePolicy`: its statements name a
Principal (`*`, or `{"AWS": ARNs}`), and the Arn operators (ArnEquals, ArnLike and their Not
forms, matched with wildcards as IAM matches ARNs) compare keys such as `aws:PrincipalArn`.

Not evaluated: permission boundaries, session policies and SCPs (the local stack has none);
policy variables such as `${aws:username}` in a Resource; operators other than the string
and Arn ones (numeric, date, Bool, IpAddress): a statement using one is refused when the
policies load (`PolicyError`), so it cannot silently allow or deny.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

Decision = Literal["allow", "explicit_deny", "implicit_deny"]

_STRING_OPERATORS = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                     "StringLike", "StringNotLike", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike"}


class PolicyError(ValueError):
    """A policy the local evaluator cannot evaluate faithfully."""


@lru_cache(maxsize=4096)
def _pattern(wildcard: str, ignore_case: bool) -> re.Pattern[str]:
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wildcard)
    return re.compile(f"^{expression}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(wildcard: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters, `?` any one character."""
    return _pattern(wildcard, ignore_case).match(value) is not None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise PolicyError(f"{where}: expected a string or a list of strings, got {value!r}")
    return tuple(items)


@dataclass(frozen=True)
class Condition:
    operator: str  # "StringLike"
    set_operator: str | None  # "ForAllValues", "ForAnyValue" or None
    if_exists: bool
    key: str
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, Sequence[str]]) -> bool:
        present = self.key in context
        if not present:
            if self.set_operator == "ForAllValues":
                return True  # vacuously: no value fails
            return self.if_exists or self.operator.startswith(("StringNot", "ArnNot"))
        values = list(context[self.key])
        if self.set_operator == "ForAllValues":
            return all(self._one(value) for value in values)
        if self.set_operator == "ForAnyValue":
            return any(self._one(value) for value in values)
        return any(self._one(value) for value in values) if values else False

    def _one(self, value: str) -> bool:
        negated = self.operator.startswith(("StringNot", "ArnNot"))
        base = self.operator.replace("Not", "", 1) if negated else self.operator
        if base in ("StringLike", "ArnLike", "ArnEquals"):  # ARNs match with wildcards either way
            hit = any(matches(pattern, value) for pattern in self.values)
        elif base == "StringEqualsIgnoreCase":
            hit = value.lower() in {pattern.lower() for pattern in self.values}
        else:
            hit = value in self.values
        return hit != negated


@dataclass(frozen=True)
class Statement:
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    not_actions: bool  # NotAction: every action but these
    resources: tuple[str, ...]
    not_resources: bool
    conditions: tuple[Condition, ...]
    sid: str | None = None
    principals: tuple[str, ...] = ()  # a resource policy's: "*" or principal ARNs

    def applies(self, action: str, resource: str, context: Mapping[str, Sequence[str]]) -> bool:
        action_hit = any(matches(pattern, action, ignore_case=True) for pattern in self.actions)
        if action_hit == self.not_actions:
            return False
        resource_hit = any(matches(pattern, resource) for pattern in self.resources)
        if resource_hit == self.not_resources:
            return False
        return all(condition.holds(context) for condition in self.conditions)


def parse_statement(raw: Mapping[str, Any], where: str, resource_policy: bool = False) -> Statement:
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"{where}.Effect: Allow or Deny, not {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{where}: exactly one of Action and NotAction")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise PolicyError(f"{where}: exactly one of Resource and NotResource")
    if "NotPrincipal" in raw:
        raise PolicyError(f"{where}: NotPrincipal is not evaluated locally")
    if ("Principal" in raw) != resource_policy:
        raise PolicyError(f"{where}: " + ("a resource policy names its Principal" if resource_policy
                                          else "an identity policy names no Principal"))
    principals = _principals(raw["Principal"], f"{where}.Principal") if resource_policy else ()
    action_key = "Action" if "Action" in raw else "NotAction"
    resource_key = "Resource" if "Resource" in raw else "NotResource"
    resources = _strings(raw[resource_key], f"{where}.{resource_key}")
    for resource in resources:
        if "${" in resource:
            raise PolicyError(f"{where}.{resource_key}: policy variables ({resource}) are not evaluated locally")
    return Statement(
        effect=effect,
        actions=_strings(raw[action_key], f"{where}.{action_key}"),
        not_actions=action_key == "NotAction",
        resources=resources,
        not_resources=resource_key == "NotResource",
        conditions=_conditions(raw.get("Condition") or {}, f"{where}.Condition"),
        sid=raw.get("Sid"),
        principals=principals,
    )


def _principals(raw: Any, where: str) -> tuple[str, ...]:
    """`"*"` or `{"AWS": ARN or [ARNs]}`, as principal ARNs (or "*")."""
    if raw == "*":
        return ("*",)
    if isinstance(raw, Mapping) and set(raw) == {"AWS"}:
        return _strings(raw["AWS"], f"{where}.AWS")
    raise PolicyError(f"{where}: only \"*\" and {{\"AWS\": ...}} principals are evaluated locally")


def _conditions(raw: Mapping[str, Any], where: str) -> tuple[Condition, ...]:
    conditions = []
    for full_operator, keys in raw.items():
        set_operator, _, operator = full_operator.rpartition(":")
        if set_operator not in ("", "ForAllValues", "ForAnyValue"):
            raise PolicyError(f"{where}.{full_operator}: unknown set operator {set_operator}")
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        if operator not in _STRING_OPERATORS:
            raise PolicyError(f"{where}.{full_operator}: only the String operators are evaluated locally")
        if not isinstance(keys, Mapping):
            raise PolicyError(f"{where}.{full_operator}: expected a map of condition keys")
        for key, values in keys.items():
            conditions.append(Condition(operator, set_operator or None, if_exists, key,
                                        _strings(values, f"{where}.{full_operator}.{key}")))
    return tuple(conditions)


class Policies:
    """A principal's identity policies (policy documents, as in a role)."""

    RESOURCE_POLICY = False

    def __init__(self, documents: Iterable[Mapping[str, Any]], where: str = "Policies") -> None:
        self.statements: list[Statement] = []
        for d, document in enumerate(documents):
            raw = document.get("Statement")
            raw_statements = [raw] if isinstance(raw, Mapping) else raw
            if not isinstance(raw_statements, list):
                raise PolicyError(f"{where}[{d}].Statement: expected a statement or a list of them")
            self.statements += [parse_statement(statement, f"{where}[{d}].Statement[{s}]", self.RESOURCE_POLICY)
                                for s, statement in enumerate(raw_statements)]

    def decide(self, action: str, resource: str, context: Mapping[str, Sequence[str]] | None = None) -> Decision:
        context = context or {}
        applying = [statement for statement in self.statements if statement.applies(action, resource, context)]
        if any(statement.effect == "Deny" for statement in applying):
            return "explicit_deny"
        if any(statement.effect == "Allow" for statement in applying):
            return "allow"
        return "implicit_deny"


class ResourcePolicy(Policies):
    """A resource's policies (a queue's), deciding for one principal: a statement applies to
    those its Principal names, with `aws:PrincipalArn` the principal's ARN in its conditions."""

    RESOURCE_POLICY = True

    def decide_for(self, principal_arn: str, action: str, resource: str,
                   context: Mapping[str, Sequence[str]] | None = None) -> Decision:
        context = {**(context or {}), "aws:PrincipalArn": [principal_arn]}
        applying = [statement for statement in self.statements
                    if any(p == "*" or matches(p, principal_arn) for p in statement.principals)
                    and statement.applies(action, resource, context)]
        if any(statement.effect == "Deny" for statement in applying):
            return "explicit_deny"
        if any(statement.effect == "Allow" for statement in applying):
            return "allow"
        return "implicit_deny"
