"""A counting proxy for a boto3 client: every API call still goes to the real client
(DynamoDB Local in tests), and is counted by operation name. Counting, not mocking."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any


class CountingClient:
    """Wraps a boto3 client; `calls` counts its API calls by operation (`TransactWriteItems`...).
    `before` (when set) runs before each call with the operation's name: a test uses it to let
    a competing writer in at an exact point."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._operations: dict[str, str] = dict(client.meta.method_to_api_mapping)
        self.calls: Counter[str] = Counter()
        self.before: Callable[[str], None] | None = None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "get_paginator":  # paginated reads count once per paginator
            return self._counted("Paginate", attribute)
        operation = self._operations.get(name)
        return attribute if operation is None else self._counted(operation, attribute)

    def _counted(self, operation: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[operation] += 1
            if self.before is not None:
                self.before(operation)
            return method(*args, **kwargs)

        return call

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()
