"""The fan-out queue's messages: one page of a lot's watchers by its bounds, with the
update to post, small whatever the audience; sent 10 (and at most 256 KiB) per request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.connections import WatcherPage
from adapters.fan_out_queue import (
    MAX_UPDATE_BYTES,
    SQS_MAX_BYTES,
    FanOutPage,
    FanOutQueue,
    FanOutRefused,
    fits_a_message,
)

UPDATE = json.dumps({"type": "lot.updated", "lot": {"lot_id": "vase", "version": 7, "title": "Blue vase"}}).encode()


class RecordingSqs:
    """send_message_batch only: records each request, refuses the entries named in `refuse`."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.requests: list[list[dict[str, str]]] = []
        self.refuse = refuse

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.requests.append(Entries)
        failed = [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries if e["Id"] in self.refuse]
        return {"Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in self.refuse], "Failed": failed}


def test_a_page_message_names_the_lot_the_update_and_the_bounds_and_reads_back():
    page = FanOutPage.of(WatcherPage("vase", "c-0009", "c-0019"), 7, UPDATE)

    body = json.loads(page.model_dump_json())

    assert body == {"lot_id": "vase", "version": 7, "update": UPDATE.decode(), "after": "c-0009", "through": "c-0019"}
    again = FanOutPage.model_validate(body)
    assert again.watchers() == WatcherPage("vase", "c-0009", "c-0019")
    assert again.data() == UPDATE


def test_the_last_page_is_open_ended_and_the_message_does_not_grow_with_the_audience():
    last = FanOutPage.of(WatcherPage("vase", "c-0019", None), 7, UPDATE)
    assert json.loads(last.model_dump_json())["through"] is None
    # Bounds, not connection ids: a page of 10 or of 10,000 watchers is the same message.
    assert len(last.model_dump_json()) < len(UPDATE) + 200


@pytest.mark.parametrize("body", [
    {"lot_id": "vase", "version": "7", "update": "{}", "after": None, "through": None},  # no coercion
    {"lot_id": "vase", "version": 0, "update": "{}", "after": None, "through": None},
    {"lot_id": "", "version": 7, "update": "{}", "after": None, "through": None},
    {"lot_id": "vase", "version": 7, "update": "{}", "after": None},
    {"lot_id": "vase", "version": 7, "update": "{}", "after": None, "through": None, "connections": []},
])
def test_anything_else_is_not_a_page(body):
    with pytest.raises(ValidationError):
        FanOutPage.model_validate(body)


def test_an_update_fits_a_message_up_to_sqs_s_limit_less_the_page_s_own_fields():
    assert fits_a_message(UPDATE)
    assert not fits_a_message(b"x" * (MAX_UPDATE_BYTES + 1))
    largest = FanOutPage.of(WatcherPage("l" * 128, "c" * 128, "d" * 128), 2**31, b"x" * MAX_UPDATE_BYTES)
    assert len(largest.model_dump_json().encode()) <= SQS_MAX_BYTES


def test_pages_go_ten_to_a_request_and_never_over_256_kib_per_request():
    sqs = RecordingSqs()
    small = [FanOutPage.of(WatcherPage("vase", f"c-{i:04}", None), 7, UPDATE) for i in range(23)]
    FanOutQueue(sqs, "url").hand_off(small)
    assert [len(entries) for entries in sqs.requests] == [10, 10, 3]

    sqs = RecordingSqs()
    large = [FanOutPage.of(WatcherPage("vase", f"c-{i:04}", None), 7, b"x" * 100_000) for i in range(5)]
    FanOutQueue(sqs, "url").hand_off(large)
    assert [len(entries) for entries in sqs.requests] == [2, 2, 1]
    assert all(sum(len(e["MessageBody"].encode()) for e in entries) <= SQS_MAX_BYTES for entries in sqs.requests)


def test_a_page_sqs_refused_fails_the_hand_off():
    with pytest.raises(FanOutRefused):
        FanOutQueue(RecordingSqs(refuse=frozenset({"1"})), "url").hand_off(
            [FanOutPage.of(WatcherPage("vase", f"c-{i}", None), 7, UPDATE) for i in range(3)])
