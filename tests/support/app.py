"""The application for tests on the in-memory recorder (no DynamoDB, no Java), the way
Cosmic Python's `bootstrap_test_app` builds its own: the production wiring, with the
storage chosen by PERSISTENCE_MODULE and any part given as an argument."""

from __future__ import annotations

from typing import Any

from bootstrap import App, build
from ledger.domain.commands import CommandResult
from ledger.service.commands import LotCommand, LotCommands

IN_MEMORY = {"PERSISTENCE_MODULE": "ledger.memory"}


def build_test_app(**overrides: Any) -> App:
    """`bootstrap.build` on a fresh in-memory recorder."""
    return build(IN_MEMORY, **overrides)


def execute_one(commands: LotCommands, command: LotCommand) -> CommandResult:
    """One command decided by the command loop, as the processor decides a batch of one."""
    return commands.execute(command.lot_id, [command])[0]
