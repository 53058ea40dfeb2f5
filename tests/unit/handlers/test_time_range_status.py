"""A time the published pattern allows whose offset takes it outside the range in UTC is
a rule the schema cannot state: 422, as the fuzzer (tests/e2e/test_fuzz.py) expects of
schema-valid data; a time the pattern refuses stays 400."""

from __future__ import annotations

import json

from handlers import lot_api
from tests.support.app import build_test_app
from tests.support.events import FakeContext, rest_event


def _post_lot(hard_close_at: str) -> tuple[int, dict]:
    body = {"title": "Vase", "currency": "EUR", "starting_price": "10.00", "closes_at": "2030-01-01T00:00:00Z",
            "hard_close_at": hard_close_at}
    response = lot_api.handler(rest_event("POST", "/lots", body=body, claims={"sub": "sam"}), FakeContext(), build_test_app())
    return response["statusCode"], json.loads(response["body"])


def test_an_offset_that_takes_a_time_out_of_range_is_422():
    status, answer = _post_lot("2000-01-01T00:00:00.0+01:06")
    # 400 is for malformed requests only: this one is well-formed and breaks a rule.
    assert (status, answer["error"]["code"], answer["error"]["former_code"]) == (422, "RULE_BROKEN", "INVALID_REQUEST")
    assert answer["error"]["details"]["errors"][0]["field"] == "hard_close_at"


def test_a_time_outside_the_pattern_is_400():
    assert _post_lot("1999-12-31T23:00:00Z")[0] == 400
    assert _post_lot("2030-01-01T00:00:00")[0] == 400
