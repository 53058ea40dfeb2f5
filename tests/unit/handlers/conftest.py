"""The handlers on the in-memory recorder, with an in-memory FIFO queue behind PlaceBid."""

from __future__ import annotations

import pytest

from adapters.command_queue import CommandQueue
from bootstrap import App
from tests.support.app import build_test_app
from tests.support.queue import QUEUE_URL, InMemorySqs


@pytest.fixture
def sqs() -> InMemorySqs:
    return InMemorySqs()


@pytest.fixture
def app(sqs: InMemorySqs) -> App:
    return build_test_app(command_queue=CommandQueue(sqs, QUEUE_URL), close_grace_seconds=0)
