"""What the processor believes of a command that reaches it through the queue, in one place.

The queue is not a door into the ledger: any principal allowed to send to it could write a
command. So the processor takes two things from a queued command only as far as it can check
them:

- its time: a bid's `placed_at` and a close's `requested_at` are never later than the
  processor's own clock (`in_processor_time`), so no command is decided as of the future
  (a `CloseLot` "requested" in 2099 closes only a lot that is due now);
- a bid or purchase: it is decided only when the bid-request record the API wrote when it
  admitted it (`BID#{bid_id}` / `REQUEST`) holds the same lot, bidder, amount, `placed_at`,
  kind and confirmation (`request_check`). Storage checks that record in the decision's own
  transaction (so it costs no extra read); a command without such a record is not decided
  but parked with `NO_MATCHING_REQUEST` and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from ledger.domain.commands import BuyNow, CloseLot, PlaceBid
from ledger.domain.values import format_time

# Why a queued bid or purchase was parked instead of decided.
NO_MATCHING_REQUEST = "NO_MATCHING_REQUEST"
# Fields of a bid-request record written before they existed read as these values.
_DEFAULTS: dict[str, Any] = {"type": "PlaceBid", "confirmed": False}


@dataclass(frozen=True)
class BidRequestCheck:
    """The bid-request record a queued bid must have: every one of `fields` stored with this
    value; a field named in `or_absent` may also be missing (a record written before the
    field existed, whose value then is the one given)."""

    bid_id: str
    fields: Mapping[str, Any]
    or_absent: frozenset[str]

    def matches(self, record: Mapping[str, Any] | None) -> bool:
        """Whether a stored request record (None: there is none) is the one checked for."""
        if record is None:
            return False
        return all(
            record[name] == value if name in record else name in self.or_absent for name, value in self.fields.items()
        )


def request_check(command: PlaceBid | BuyNow) -> BidRequestCheck:
    """What the bid-request record of a queued bid or purchase must hold for it to be decided."""
    fields = {
        "lot_id": command.lot_id,
        "bidder": command.bidder,
        "amount": command.amount,
        "placed_at": format_time(command.placed_at),
        "type": command.type,
        "confirmed": isinstance(command, PlaceBid) and command.confirmed,
    }
    return BidRequestCheck(
        command.bid_id, fields, frozenset(name for name, default in _DEFAULTS.items() if fields[name] == default)
    )


QueuedCommand = PlaceBid | BuyNow | CloseLot
Queued = TypeVar("Queued", bound=PlaceBid | BuyNow | CloseLot)


def in_processor_time(command: Queued, now: datetime) -> Queued:
    """The command with its time no later than `now` (the processor's clock)."""
    field = "requested_at" if isinstance(command, CloseLot) else "placed_at"
    return command if getattr(command, field) <= now else cast(Queued, command.model_copy(update={field: now}))
