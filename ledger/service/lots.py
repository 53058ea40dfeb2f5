"""Creating a lot, and arming the close timers of new lots whose deadline is nearer than
the sweep's next look (`ledger.domain.closing`): so a short lot closes on time, not up to a
minute late. A timer that cannot be armed never fails the creation: the lot exists either
way, and the every-minute sweep arms or closes it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from eventsourcing.persistence import IntegrityError

from ledger.domain.closing import timer_delay
from ledger.domain.commands import CreateLot
from ledger.domain.errors import LotAlreadyExists
from ledger.domain.lot import Lot
from ledger.domain.sellers import ListedAs
from ledger.domain.state import LotSnapshot
from ledger.domain.values import utc_now
from ledger.service.commands import LotCommands
from ledger.service.ports import CloseTimers
from ledger.service.quotas import QuotaLimits, Quotas
from ledger.snapshot_item import snapshot_to_item

log = logging.getLogger(__name__)


def log_timers_not_armed(lot_ids: list[str], error: Exception) -> None:
    log.warning("close timers not armed; the sweep will arm them", extra={"lot_ids": lot_ids, "error": str(error)})


class Lots:
    """New lots: written, kept by the command loop for their first command, and given
    their close timers. `timers_not_armed` hears of timers that could not be armed (the
    composition root logs and counts them)."""

    def __init__(
        self,
        commands: LotCommands,
        close_timers: CloseTimers,
        close_grace_seconds: int,
        timers_not_armed: Callable[[list[str], Exception], None] = log_timers_not_armed,
        quotas: Quotas | None = None,
    ) -> None:
        self.commands = commands
        self.quotas = quotas or Quotas(commands.store, QuotaLimits(), clock=commands.clock)
        self.close_timers = close_timers
        self.close_grace_seconds = close_grace_seconds
        self.timers_not_armed = timers_not_armed

    def create_lot(self, command: CreateLot, seller: str, listed_as: ListedAs | None = None) -> LotSnapshot:
        """Write the lot (LotAlreadyExists when its id is taken; QuotaExceeded, nothing
        written, past the seller's lots a day), then arm its close timer
        when it closes before the sweep's next look. Listed under the seller's handle
        (`listed_as`: its id theirs, LotIdReserved otherwise), or under none."""
        if listed_as is not None:
            command = listed_as.lot_terms(command)
        lot = Lot.create(command, seller, self.commands.clock(), seller_handle=None if listed_as is None else listed_as.handle)
        # A taken id is refused before the day's count moves (one read), so a 409 costs no lot of
        # the seller's day; the save's condition still refuses one taken in between.
        if self.commands.store.get_snapshot(command.lot_id) is not None:
            raise LotAlreadyExists(f"lot {command.lot_id!r} exists already", {"lot_id": command.lot_id})
        self.quotas.take_lots(seller, 1)
        try:
            self.commands.save(lot, snapshot=snapshot_to_item(lot.state), expected_version=None)
        except IntegrityError:
            raise LotAlreadyExists(f"lot {command.lot_id!r} exists already", {"lot_id": command.lot_id}) from None
        self.commands.remember(lot.state.model_copy(deep=True), snapshot_to_item(lot.state))
        self.arm_close_timers([(lot.state.lot_id, lot.state.closes_at)])
        return lot.state

    def arm_close_timers(self, lots: Sequence[tuple[str, datetime]]) -> int:
        """Arm the close timers of new lots (lot id, close time) whose deadline is nearer
        than the next sweep's lookahead; how many it armed. Never raises: a timer that could
        not be armed is the sweep's to arm (reported to `timers_not_armed`)."""
        # A timer's delay is real time on the queue, whatever clock decides the lots.
        now = utc_now()
        timers = [(lot_id, closes_at, delay_s) for lot_id, closes_at in lots
                  if (delay_s := timer_delay(closes_at, now, self.close_grace_seconds)) is not None]
        if not timers:
            return 0
        try:
            self.close_timers.arm(timers)
        except Exception as error:  # any failure: SQS, its client, or a missing queue setting
            self.timers_not_armed([lot_id for lot_id, _, _ in timers], error)
            return 0
        return len(timers)
