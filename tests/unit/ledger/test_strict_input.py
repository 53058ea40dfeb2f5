"""Strict input: times within the documented range that round-trip through
storage, strings exactly as documented, the one strict JSON reader, and the OpenAPI
document listing what the routes answer."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from ledger.domain.commands import (
    POSITIVE_AMOUNT_PATTERN,
    TEXT_PATTERN,
    CreateLot,
    LotCommandMessage,
    PlaceBid,
    Title,
    is_identifier,
    positive_amount,
)
from ledger.domain.values import (
    EARLIEST_TIME,
    LATEST_TIME,
    TIME_PATTERN,
    UtcTime,
    format_time,
    parse_decimal,
    parse_time,
)
from ledger.domain.wire import MAX_DEPTH, MalformedJson, parse_json_object

UTC_TIME = TypeAdapter(UtcTime)
MS = timedelta(milliseconds=1)


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


instants = st.datetimes(
    min_value=EARLIEST_TIME.replace(tzinfo=None), max_value=LATEST_TIME.replace(tzinfo=None)
).map(lambda value: _ms(value).replace(tzinfo=UTC))
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


def written(instant: datetime, offset: timezone) -> str:
    """The instant as a client may write it: in some offset, with "Z" for UTC."""
    text = instant.astimezone(offset).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if offset.utcoffset(None) == timedelta(0) else text


# -- times -------------------------------------------------------------------------


@given(instant=instants, offset=offsets)
@example(instant=EARLIEST_TIME, offset=UTC)
@example(instant=LATEST_TIME, offset=UTC)
@example(instant=EARLIEST_TIME, offset=timezone(timedelta(hours=23, minutes=59)))
@example(instant=LATEST_TIME, offset=timezone(timedelta(hours=-23, minutes=-59)))
def test_every_accepted_time_round_trips_through_storage_and_the_model(instant, offset):
    text = written(instant, offset)
    # Within a day of the range's ends an offset may write the year as 1999 or 3000:
    # the published pattern (years 2000-2999 as written) refuses those.
    assume(2000 <= instant.astimezone(offset).year <= 2999)
    assert re.fullmatch(TIME_PATTERN, text)
    assert parse_time(text) == instant
    stored = format_time(parse_time(text))
    assert len(stored) == len("2026-11-23T21:37:03.120Z") and stored.endswith("Z")
    assert parse_time(stored) == instant and format_time(parse_time(stored)) == stored
    assert UTC_TIME.validate_python(text) == instant
    assert UTC_TIME.validate_json(json.dumps(text)) == instant
    assert UTC_TIME.dump_json(instant) == json.dumps(stored).encode()


def test_the_range_edges_are_accepted_exactly():
    assert format_time(parse_time("2000-01-01T00:00:00.000Z")) == "2000-01-01T00:00:00.000Z"
    assert format_time(parse_time("2999-12-31T23:59:59.999Z")) == "2999-12-31T23:59:59.999Z"
    assert format_time(parse_time("2000-01-01T01:00:00+01:00")) == "2000-01-01T00:00:00.000Z"
    assert format_time(parse_time("2999-12-31T18:59:59.999-05:00")) == "2999-12-31T23:59:59.999Z"


just_outside = st.one_of(
    st.integers(min_value=1, max_value=2 * 86_400_000).map(lambda ms: EARLIEST_TIME - ms * MS),
    st.integers(min_value=1, max_value=2 * 86_400_000).map(lambda ms: LATEST_TIME + ms * MS),
)


@given(instant=just_outside, offset=offsets)
@example(instant=EARLIEST_TIME - MS, offset=UTC)
@example(instant=LATEST_TIME + MS, offset=UTC)
def test_times_just_outside_the_range_are_refused(instant, offset):
    text = written(instant, offset)
    with pytest.raises(ValueError):
        parse_time(text)
    with pytest.raises(ValidationError):
        UTC_TIME.validate_python(text)
    with pytest.raises(ValueError):
        format_time(instant)


@pytest.mark.parametrize(
    "text",
    [
        "0999-01-01T00:00:00Z",  # the year the old strftime("%Y") wrote as "999"
        "9999-12-31T23:59:59-05:00",  # overflowed to OverflowError (a 502)
        "0001-01-01T00:00:00+05:00",
        "1999-12-31T23:59:59.999Z",
        "3000-01-01T00:00:00Z",
        "1999-12-31T23:00:00-01:00",  # in range in UTC, but written outside the published pattern
        "2000-01-01T00:30:00+01:00",  # written in range, but 1999 in UTC
        "2026-02-30T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T21:37:03Z\n",
        " 2026-11-23T21:37:03Z",
        "2026-11-23T21:37:03",  # naive
        "2026-11-23 21:37:03Z",
        "2026-11-23T21:37Z",
        "2026-11-23",
        "2026-13-01T00:00:00Z",
        "2026-11-23T21:37:03+24:00",
        "2026-11-23T21:37:03z",
        "٢٠٢٦-11-23T21:37:03Z",  # digits of another script
        "",
    ],
)
def test_times_not_as_documented_are_refused_with_a_value_error(text):
    with pytest.raises(ValueError):
        parse_time(text)
    with pytest.raises(ValidationError):
        UTC_TIME.validate_python(text)


@pytest.mark.parametrize("value", [1_900_000_000, 1.9e9, True, None, datetime(2026, 11, 23, 21, 37)])
def test_times_are_strings_or_aware_datetimes_never_epoch_numbers(value):
    with pytest.raises(ValidationError):
        UTC_TIME.validate_python(value)
    with pytest.raises(ValidationError):
        UTC_TIME.validate_json(json.dumps(value, default=str) if not isinstance(value, datetime) else '"2026-11-23T21:37:00"')


def test_format_time_always_writes_four_digit_years_or_refuses():
    assert format_time(datetime(2000, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "2000-01-02T03:04:05.006Z"
    with pytest.raises(ValueError):  # it used to write "999-01-01T00:00:00.000Z", which nothing read back
        format_time(datetime(999, 1, 1, tzinfo=UTC))


# -- strings -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["12.50\n", " 12.50", "12.50 ", "1e3", "-1", "+1", "1234567890123456789", "1.123456789", "１２"])
def test_amounts_are_exactly_a_plain_decimal(text):
    with pytest.raises(ValueError):
        parse_decimal(text)


@given(st.text(alphabet="0123456789.", max_size=30) | st.from_regex(POSITIVE_AMOUNT_PATTERN, fullmatch=True))
@example("0.00000001")
@example("123456789012345678.12345678")
@example("0.0")
def test_the_published_amount_pattern_is_exactly_what_the_server_takes(text):
    try:
        positive_amount(text)
        taken = True
    except ValueError:
        taken = False
    assert taken == bool(re.fullmatch(POSITIVE_AMOUNT_PATTERN, text))


@given(st.text(max_size=12))
@example(" a")
@example("a\u00a0")
@example("a\x00b")
@example("\ufeffa")
@example("a\u2028")
@example("a\x85")
def test_the_published_text_pattern_is_exactly_what_the_server_takes(text):
    adapter = TypeAdapter(Title)
    try:
        adapter.validate_python(text)
        taken = True
    except ValidationError:
        taken = False
    assert taken == (0 < len(text) <= 200 and bool(re.fullmatch(TEXT_PATTERN, text)))


@pytest.mark.parametrize("value", ["abc\n", " abc", "abc ", "", "a" * 65, "-abc", "ab/c", 7])
def test_identifiers_are_anchored_at_both_ends(value):
    assert not is_identifier(value)


TERMS = {"title": "Blue vase", "currency": "EUR", "starting_price": "10.00", "closes_at": "2030-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    "change",
    [
        {"soft_close_window_s": "120"},
        {"soft_close_window_s": True},
        {"soft_close_extension_s": 120.5},
        {"closes_at": 1_900_000_000},
        {"opens_at": "0999-01-01T00:00:00Z"},
        {"closes_at": "9999-12-31T23:59:59-05:00"},
        {"title": "Blue\x00vase"},
        {"title": "Blue vase\n"},
        {"title": " Blue vase"},
        {"starting_price": "12.50\n"},
        {"starting_price": 12.5},
        {"currency": "EUR\n"},
        {"lot_id": "lot\n"},
    ],
)
def test_lot_terms_take_no_coercion_and_no_stray_characters(change):
    CreateLot.model_validate(TERMS)
    with pytest.raises(ValidationError):
        CreateLot.model_validate(TERMS | change)


def test_integers_may_be_written_as_json_schema_integers():
    # JSON has one number type; JSON Schema (and so the OpenAPI document) counts 120.0 as an integer.
    assert CreateLot.model_validate_json(json.dumps(TERMS | {"soft_close_extension_s": 120.0})).soft_close_extension_s == 120


def test_queue_messages_still_carry_times_as_strings():
    bid = PlaceBid(bid_id="b1", lot_id="l1", bidder="alice", amount="10.00", placed_at=datetime(2026, 11, 23, tzinfo=UTC))
    body = LotCommandMessage(command=bid).model_dump_json()
    assert json.loads(body)["command"]["placed_at"] == "2026-11-23T00:00:00.000Z"
    assert LotCommandMessage.model_validate(parse_json_object(body)).command == bid
    assert LotCommandMessage.model_validate_json(body).command == bid


# -- the strict JSON reader --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'[{"lot_id": "x", "amount": "1.00"}]', "not_an_object"),
        (b'"text"', "not_an_object"),
        (b'{"amount": "1.00", "amount": "99.00"}', "duplicate_key"),
        (b'{"a": {"b": 1, "b": 2}}', "duplicate_key"),
        (b'{"amount": "\xff\xfe"}', "not_utf8"),
        ('{"a": "\\ud800"}', "lone_surrogate"),
        (b'{"a": NaN}', "non_finite_number"),
        (b'{"a": Infinity}', "non_finite_number"),
        (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too_deep"),
        (b'{"a": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", "too_deep"),
        (b'{"a": "' + b"x" * 20_000 + b'"}', "too_large"),
        (b'{"a": ' + b"1" * 5000 + b"}", "invalid_json"),
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        ("\ufeff{}", "invalid_json"),
    ],
)
def test_the_strict_reader_refuses_anything_but_one_plain_json_object(raw, problem):
    with pytest.raises(MalformedJson) as refused:
        parse_json_object(raw)
    assert refused.value.details["problem"] == problem


def test_the_strict_reader_takes_objects_up_to_its_limits():
    nested = b'{"a": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert parse_json_object(nested)["a"]
    assert parse_json_object(' {"title": "Vase \u00e9"} \n') == {"title": "Vase \u00e9"}


# -- what the OpenAPI document promises ------------------------------------------


def _error_shaped(body: object) -> bool:
    """The API's error shape as the document's Error schema states it."""
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return False
    error = body["error"]
    return (
        {"code", "message", "details"} <= set(error)
        and isinstance(error["code"], str)
        and isinstance(error["message"], str)
        and isinstance(error["details"], dict)
    )


def test_the_gateways_own_refusals_have_the_error_shape_of_the_document():
    """template.yaml's GatewayResponses: `details` is an object, as the Error schema says
    (it was null)."""
    from local.apigateway.rest import gateway_error
    from local.sam.template import LocalEndpoints, SamTemplate
    from tests.conftest import REPO

    app = SamTemplate.load(REPO / "template.yaml").resolve(LocalEndpoints.placeholder("us-east-1", "000000000000"))
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(app.gateway_responses)
    for status, response_type in ((401, "UNAUTHORIZED"), (403, "ACCESS_DENIED"), (413, "REQUEST_TOO_LARGE"), (504, "INTEGRATION_TIMEOUT")):
        response = gateway_error(status, "refused", response_type, app.gateway_responses)
        assert _error_shaped(json.loads(response.body)), response.body
