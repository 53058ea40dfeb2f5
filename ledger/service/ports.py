"""The queues the service sends to, as the service needs them: the AWS adapters
(`adapters.command_queue`, `adapters.close_timer_queue`) implement them, and tests may
give any object that does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from ledger.domain.commands import BuyNow, CloseLot, PlaceBid


class BidQueue(Protocol):
    """Where a recorded bid waits for the processor, in its lot's order."""

    def send_bid(self, command: PlaceBid | BuyNow, correlation_id: str | None = None) -> str: ...


class CloseQueue(Protocol):
    """Where a lot's CloseLot goes, behind the bids queued before it."""

    def send_close(self, command: CloseLot, closes_at: datetime, correlation_id: str | None = None) -> str: ...


class CommandQueue(BidQueue, CloseQueue, Protocol):
    """One queue for a lot's commands: bids and closes in one order."""


class CloseTimers(Protocol):
    """Where a lot's close timer waits until its deadline."""

    def arm(self, timers: Sequence[tuple[str, datetime, int]]) -> None:
        """A timer for each (lot id, close time, delay in seconds); raises when any was refused."""
        ...
