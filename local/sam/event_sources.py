"""The template's event sources: SQS (batch size, partial batch responses), DynamoDB
streams (batch size, starting position, FilterCriteria, ParallelizationFactor,
MaximumBatchingWindowInSeconds) and rate schedules, each tied to its queue, table or
function."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from local.lambda_.filters import FilterPatternError, parse_pattern
from local.sam.intrinsics import TemplateError
from local.sam.model import ScheduleEventSource, SqsEventSource, StreamEventSource
from local.sam.resources import Resources, is_true

_SQS_EVENT_USED = {"Queue", "BatchSize", "FunctionResponseTypes", "Enabled"}
_SQS_EVENT_REFUSED = {"FilterCriteria": "filters on an SQS event source are not emulated"}
_STREAM_EVENT_USED = {"Stream", "BatchSize", "StartingPosition", "FilterCriteria", "Enabled", "ParallelizationFactor",
                      "MaximumBatchingWindowInSeconds"}
_STREAM_EVENT_REFUSED = {
    "FunctionResponseTypes": "partial batch responses on a stream are not emulated",
    "TumblingWindowInSeconds": "tumbling windows are not emulated",
}
# Lambda's limits on a stream event source mapping's numbers.
_STREAM_LIMITS = {"BatchSize": (1, 10000), "ParallelizationFactor": (1, 10), "MaximumBatchingWindowInSeconds": (0, 300)}
_SCHEDULE_EVENT_USED = {"Schedule", "Input", "Enabled", "State", "Name", "Description"}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


class EventSources(Resources):
    def _enabled(self, spec: Mapping[str, Any]) -> bool:
        properties = spec.get("Properties") or {}
        return is_true(properties.get("Enabled", True)) and properties.get("State", "ENABLED") == "ENABLED"

    def _sqs_source(self, function: str, name: str, spec: Mapping[str, Any]) -> SqsEventSource:
        where = f"Resources.{function}.Properties.Events.{name}.Properties"
        properties = spec.get("Properties") or {}
        self._check_properties(f"{function}.Events.{name}", properties, _SQS_EVENT_USED, _SQS_EVENT_REFUSED)
        arn = self._value(properties.get("Queue"), f"{where}.Queue")
        queue = self._resource_with(arn, "AWS::SQS::Queue", "Arn", f"{where}.Queue")
        response_types = self._value(properties.get("FunctionResponseTypes") or [], f"{where}.FunctionResponseTypes")
        return SqsEventSource(
            function=function,
            queue=queue,
            batch_size=int(self._value(properties.get("BatchSize", 10), f"{where}.BatchSize")),
            report_batch_item_failures="ReportBatchItemFailures" in response_types,
        )

    def _stream_source(self, function: str, name: str, spec: Mapping[str, Any]) -> StreamEventSource:
        where = f"Resources.{function}.Properties.Events.{name}.Properties"
        properties = spec.get("Properties") or {}
        self._check_properties(f"{function}.Events.{name}", properties, _STREAM_EVENT_USED, _STREAM_EVENT_REFUSED)
        arn = self._value(properties.get("Stream"), f"{where}.Stream")
        table = self._resource_with(arn, "AWS::DynamoDB::Table", "StreamArn", f"{where}.Stream")
        if "StreamSpecification" not in self._properties(table):
            raise TemplateError(f"{where}.Stream: {table} has no StreamSpecification")
        starting_position = str(self._value(properties.get("StartingPosition"), f"{where}.StartingPosition"))
        if starting_position not in ("LATEST", "TRIM_HORIZON"):
            raise TemplateError(f"{where}.StartingPosition: {starting_position} is not emulated")
        numbers = {name: self._stream_number(properties, name, default, where)
                   for name, default in (("BatchSize", 100), ("ParallelizationFactor", 1),
                                         ("MaximumBatchingWindowInSeconds", 0))}
        return StreamEventSource(
            function=function,
            table=table,
            batch_size=numbers["BatchSize"],
            starting_position=starting_position,
            filter_patterns=self._filter_patterns(properties.get("FilterCriteria") or {}, f"{where}.FilterCriteria"),
            parallelization_factor=numbers["ParallelizationFactor"],
            batching_window_s=float(numbers["MaximumBatchingWindowInSeconds"]),
        )

    def _stream_number(self, properties: Mapping[str, Any], name: str, default: int, where: str) -> int:
        """A whole number within Lambda's limits for the property, as Lambda refuses any other."""
        value = self._value(properties.get(name, default), f"{where}.{name}")
        if isinstance(value, str) and value.isdecimal():  # a Number parameter resolves to a string
            value = int(value)
        low, high = _STREAM_LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise TemplateError(f"{where}.{name}: {value!r} is not a whole number from {low} to {high}")
        return value

    def _filter_patterns(self, criteria: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
        patterns = []
        for index, entry in enumerate(self._value(criteria, where).get("Filters") or []):
            try:
                patterns.append(parse_pattern(entry["Pattern"]))
            except (FilterPatternError, KeyError, TypeError) as error:
                raise TemplateError(f"{where}.Filters[{index}].Pattern: {error}") from None
        return patterns

    def _schedule(self, function: str, name: str, spec: Mapping[str, Any]) -> ScheduleEventSource:
        where = f"Resources.{function}.Properties.Events.{name}.Properties"
        properties = spec.get("Properties") or {}
        self._check_properties(f"{function}.Events.{name}", properties, _SCHEDULE_EVENT_USED)
        expression = str(self._value(properties.get("Schedule"), f"{where}.Schedule"))
        given_input = self._value(properties.get("Input"), f"{where}.Input")
        try:
            event_input = json.loads(given_input) if given_input is not None else None
        except (json.JSONDecodeError, TypeError):
            raise TemplateError(f"{where}.Input: must be a JSON document in a string") from None
        return ScheduleEventSource(function=function, rate_s=_rate_seconds(expression, f"{where}.Schedule"),
                                   input=event_input)

    def _resource_with(self, arn: Any, resource_type: str, attribute: str, where: str) -> str:
        for lid in self._ids_of(resource_type):
            if self._get_att(lid, attribute, where) == arn:
                return lid
        raise TemplateError(f"{where}: {arn!r} is not the {attribute} of a {resource_type} in this template")


def _rate_seconds(expression: str, where: str) -> float:
    if expression.startswith("cron("):
        raise TemplateError(f"{where}: {expression} - cron schedules are not emulated; use rate(...)")
    match = _RATE.match(expression)
    if match is None:
        raise TemplateError(f"{where}: {expression!r} is not a rate expression such as rate(1 minute)")
    amount, unit = int(match.group(1)), match.group(2)
    if amount < 1 or (amount == 1) != (not unit.endswith("s")):
        raise TemplateError(f"{where}: {expression!r}: use a singular unit for 1 and a plural one otherwise")
    return float(amount * _RATE_UNIT_S[unit.rstrip("s")])
