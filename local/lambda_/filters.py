"""Lambda event filtering: the EventBridge pattern syntax that an event source mapping's
`FilterCriteria` uses, matched against a record as Lambda sees it.

A pattern is a JSON object whose leaves are arrays of matchers; a record matches when
every key of the pattern matches (AND), a leaf matches when any of its matchers matches
(OR), and a list of patterns matches when any pattern does. Supported matchers: literal
values, `prefix`, `suffix`, `equals-ignore-case`, `exists`, `anything-but` (a value, a
list, or `{"prefix": ...}`), `numeric` (ranges such as `[">", 0, "<=", 5]`), and `$or`.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Pattern = Mapping[str, Any]

_MISSING = object()  # a field the record does not have
_NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MATCHER_KEYS = {"prefix", "suffix", "equals-ignore-case", "exists", "anything-but", "numeric"}


class FilterPatternError(ValueError):
    """A pattern Lambda would refuse when the event source mapping is created."""


def parse_pattern(text: str) -> dict[str, Any]:
    """A `FilterCriteria.Filters[].Pattern` (a JSON string), checked."""
    try:
        pattern = json.loads(text)
    except json.JSONDecodeError as error:
        raise FilterPatternError(f"pattern is not JSON: {error}") from None
    validate_pattern(pattern)
    return pattern


def validate_pattern(pattern: Any, path: str = "") -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise FilterPatternError(f"{path or 'pattern'}: must be a non-empty JSON object")
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterPatternError(f"{where}: must be a list of at least two patterns")
            for alternative in value:
                validate_pattern(alternative, where)
        elif isinstance(value, dict):
            validate_pattern(value, where)
        elif isinstance(value, list):
            for matcher in value:
                _validate_matcher(matcher, where)
        else:
            raise FilterPatternError(f"{where}: a pattern leaf must be an array of values or matchers")


def matches_any(patterns: Iterable[Pattern], record: Mapping[str, Any]) -> bool:
    """Several filters are OR-ed; no filters let everything through."""
    patterns = list(patterns)
    return not patterns or any(matches(pattern, record) for pattern in patterns)


def matches(pattern: Pattern, record: Any) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(alternative, record) for alternative in expected):
                return False
            continue
        actual = record.get(key, _MISSING) if isinstance(record, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not _matches_object(expected, actual):
                return False
        elif not _matches_leaf(expected, actual):
            return False
    return True


def _matches_object(expected: Pattern, actual: Any) -> bool:
    # A missing object is matched as an empty one, so `exists: false` below it holds.
    if actual is _MISSING:
        actual = {}
    if isinstance(actual, list):
        return any(matches(expected, item) for item in actual)
    return matches(expected, actual)


def _matches_leaf(matchers: list[Any], actual: Any) -> bool:
    # An array in the record matches when any of its elements does; `exists` asks about the field.
    values = actual if isinstance(actual, list) else [actual]
    return any(
        _matches_value(matcher, actual) if _is_exists(matcher) else any(_matches_value(matcher, v) for v in values)
        for matcher in matchers
    )


def _matches_value(matcher: Any, actual: Any) -> bool:
    if not isinstance(matcher, dict):
        return actual is not _MISSING and _equal(matcher, actual)
    (kind, argument), = matcher.items()
    if kind == "exists":
        return (actual is not _MISSING) == argument
    if actual is _MISSING:
        return False
    if kind == "prefix":
        return isinstance(actual, str) and actual.startswith(argument)
    if kind == "suffix":
        return isinstance(actual, str) and actual.endswith(argument)
    if kind == "equals-ignore-case":
        return isinstance(actual, str) and actual.casefold() == argument.casefold()
    if kind == "anything-but":
        return not _anything_but_excludes(argument, actual)
    return _numeric(argument, actual)  # validated: the only kind left


def _anything_but_excludes(argument: Any, actual: Any) -> bool:
    if isinstance(argument, dict):
        (kind, value), = argument.items()
        return isinstance(actual, str) and (actual.startswith(value) if kind == "prefix" else actual.endswith(value))
    excluded = argument if isinstance(argument, list) else [argument]
    return any(_equal(value, actual) for value in excluded)


def _numeric(conditions: list[Any], actual: Any) -> bool:
    # Numeric matching applies to JSON numbers only, as in EventBridge.
    if isinstance(actual, bool) or not isinstance(actual, (int, float)):
        return False
    pairs = zip(conditions[::2], conditions[1::2], strict=False)
    return all(_NUMERIC_OPERATORS[op](actual, bound) for op, bound in pairs)


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and expected == actual


def _is_exists(matcher: Any) -> bool:
    return isinstance(matcher, dict) and "exists" in matcher


def _validate_matcher(matcher: Any, where: str) -> None:
    if matcher is None or isinstance(matcher, (str, int, float, bool)):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise FilterPatternError(f"{where}: {json.dumps(matcher)} is not a value or a single-key matcher")
    (kind, argument), = matcher.items()
    if kind not in _MATCHER_KEYS:
        raise FilterPatternError(f"{where}: unsupported matcher {kind!r}")
    if kind in ("prefix", "suffix", "equals-ignore-case") and not isinstance(argument, str):
        raise FilterPatternError(f"{where}: {kind} takes a string")
    if kind == "exists" and not isinstance(argument, bool):
        raise FilterPatternError(f"{where}: exists takes true or false")
    if kind == "anything-but":
        _validate_anything_but(argument, where)
    if kind == "numeric":
        _validate_numeric(argument, where)


def _validate_anything_but(argument: Any, where: str) -> None:
    if isinstance(argument, dict):
        if len(argument) != 1 or next(iter(argument)) not in ("prefix", "suffix"):
            raise FilterPatternError(f"{where}: anything-but takes a value, a list, or {{prefix|suffix: ...}}")
        if not isinstance(next(iter(argument.values())), str):
            raise FilterPatternError(f"{where}: anything-but prefix/suffix takes a string")
        return
    values = argument if isinstance(argument, list) else [argument]
    if not values or any(isinstance(value, (dict, list)) for value in values):
        raise FilterPatternError(f"{where}: anything-but takes a value, a list, or {{prefix|suffix: ...}}")


def _validate_numeric(argument: Any, where: str) -> None:
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise FilterPatternError(f"{where}: numeric takes [op, number] or [op, number, op, number]")
    for op, bound in zip(argument[::2], argument[1::2], strict=False):
        if op not in _NUMERIC_OPERATORS:
            raise FilterPatternError(f"{where}: unknown numeric operator {op!r}")
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise FilterPatternError(f"{where}: numeric bounds must be numbers")
