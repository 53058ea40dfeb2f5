"""Lambda event filtering (EventBridge patterns) as local.lambda_.filters applies it."""

from __future__ import annotations

import pytest

from local.lambda_.filters import FilterPatternError, matches, matches_any, parse_pattern

LOT_MODIFY = '{"eventName": ["MODIFY"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "LOT#"}]}}}}'


def stream_record(event_name: str, pk: str, **new_image: dict) -> dict:
    return {
        "eventID": "1",
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"PK": {"S": pk}, "SK": {"S": "SNAPSHOT"}}, "NewImage": new_image},
    }


def test_the_lot_modify_filter_passes_only_modified_lot_items():
    pattern = parse_pattern(LOT_MODIFY)
    assert matches(pattern, stream_record("MODIFY", "LOT#42"))
    assert not matches(pattern, stream_record("INSERT", "LOT#42"))
    assert not matches(pattern, stream_record("REMOVE", "LOT#42"))
    assert not matches(pattern, stream_record("MODIFY", "BID#42"))


def test_a_list_of_values_matches_any_of_them():
    pattern = {"eventName": ["INSERT", "MODIFY"]}
    assert matches(pattern, {"eventName": "INSERT"})
    assert matches(pattern, {"eventName": "MODIFY"})
    assert not matches(pattern, {"eventName": "REMOVE"})


def test_several_filters_are_ored_and_none_lets_everything_through():
    patterns = [{"eventName": ["INSERT"]}, {"eventName": ["REMOVE"]}]
    assert matches_any(patterns, {"eventName": "REMOVE"})
    assert not matches_any(patterns, {"eventName": "MODIFY"})
    assert matches_any([], {"eventName": "MODIFY"})


def test_exists_tells_present_from_absent_fields_even_under_a_missing_parent():
    present = {"dynamodb": {"NewImage": {"status": [{"exists": True}]}}}
    absent = {"dynamodb": {"NewImage": {"status": [{"exists": False}]}}}
    with_status = stream_record("MODIFY", "LOT#1", status={"S": "OPEN"})
    without_status = stream_record("MODIFY", "LOT#1")
    assert matches(present, with_status) and not matches(present, without_status)
    assert matches(absent, without_status) and not matches(absent, with_status)
    assert matches({"missing": {"deeper": [{"exists": False}]}}, {})


def test_anything_but_a_value_a_list_or_a_prefix():
    assert matches({"status": [{"anything-but": "CLOSED"}]}, {"status": "OPEN"})
    assert not matches({"status": [{"anything-but": ["CLOSED", "CANCELLED"]}]}, {"status": "CANCELLED"})
    assert matches({"pk": [{"anything-but": {"prefix": "BID#"}}]}, {"pk": "LOT#1"})
    assert not matches({"pk": [{"anything-but": {"prefix": "BID#"}}]}, {"pk": "BID#1"})
    assert not matches({"status": [{"anything-but": "CLOSED"}]}, {}), "a missing field is not 'anything but'"


def test_numeric_ranges_and_equality_apply_to_numbers_only():
    pattern = {"n": [{"numeric": [">", 0, "<=", 5]}]}
    assert matches(pattern, {"n": 5}) and matches(pattern, {"n": 0.5})
    assert not matches(pattern, {"n": 0}) and not matches(pattern, {"n": 6})
    assert not matches(pattern, {"n": "3"}), "a string is not a number"
    assert matches({"n": [{"numeric": ["=", 3]}]}, {"n": 3.0})
    assert matches({"n": [3]}, {"n": 3.0})


def test_literals_compare_by_type():
    assert not matches({"flag": ["true"]}, {"flag": True})
    assert matches({"flag": [True]}, {"flag": True})
    assert not matches({"n": [1]}, {"n": True})
    assert matches({"v": [None]}, {"v": None})


def test_prefix_suffix_and_ignoring_case():
    assert matches({"pk": [{"prefix": "LOT#"}]}, {"pk": "LOT#7"})
    assert not matches({"pk": [{"prefix": "LOT#"}]}, {"pk": 7})
    assert matches({"file": [{"suffix": ".png"}]}, {"file": "a.png"})
    assert matches({"name": [{"equals-ignore-case": "alice"}]}, {"name": "ALICE"})


def test_an_array_in_the_record_matches_when_any_element_does():
    assert matches({"tags": ["red"]}, {"tags": ["blue", "red"]})
    assert not matches({"tags": ["green"]}, {"tags": ["blue", "red"]})


def test_or_combines_alternative_sub_patterns():
    pattern = {"$or": [{"eventName": ["INSERT"]}, {"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "LOT#"}]}}}}]}
    assert matches(pattern, stream_record("INSERT", "BID#1"))
    assert matches(pattern, stream_record("MODIFY", "LOT#1"))
    assert not matches(pattern, stream_record("MODIFY", "BID#1"))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        '{"eventName": "MODIFY"}',  # a leaf must be an array
        '{"n": [{"numeric": [">>", 1]}]}',
        '{"n": [{"numeric": [">", "1"]}]}',
        '{"pk": [{"wildcard": "LOT#*"}]}',
        '{"pk": [{"prefix": 1}]}',
        '{"pk": [{"exists": "yes"}]}',
        '{"pk": [{"prefix": "a", "suffix": "b"}]}',
        '{"$or": [{"a": ["b"]}]}',
    ],
)
def test_patterns_lambda_would_refuse_are_refused(text):
    with pytest.raises(FilterPatternError):
        parse_pattern(text)
