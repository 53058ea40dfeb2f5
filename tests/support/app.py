"""The application for tests on the in-memory recorder (no DynamoDB, no Java), the way
Cosmic Python's `bootstrap_test_app` builds its own: the production wiring, with the
storage chosen by PERSISTENCE_MODULE and any part given as an argument."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bootstrap import App, build
from ledger.domain.commands import CommandResult
from ledger.domain.values import utc_now
from ledger.service.commands import LotCommand, LotCommands

IN_MEMORY = {"PERSISTENCE_MODULE": "ledger.memory"}


def build_test_app(**overrides: Any) -> App:
    """`bootstrap.build` on a fresh in-memory recorder."""
    return build(IN_MEMORY, **overrides)


def execute_one(commands: LotCommands, command: LotCommand) -> CommandResult:
    """One command decided by the command loop, as the processor decides a batch of one."""
    return commands.execute(command.lot_id, [command])[0]


@dataclass
class LaggingClock:
    """A clock `behind` the real one (lots created "an hour ago" can be due already), caught
    up by setting `behind` to zero: the processor closes as of its own clock, never later."""

    behind: timedelta = timedelta(hours=1)

    def __call__(self) -> datetime:
        return utc_now() - self.behind
