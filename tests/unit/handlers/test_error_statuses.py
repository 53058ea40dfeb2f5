"""Every refusal of the ledger has one HTTP status (handlers/rest.py STATUS_OF) and one
CLI exit code (samsold_cli/shared.py): a new LedgerError class without a status fails here."""

from __future__ import annotations

import importlib
import pkgutil

import ledger
from handlers.rest import STATUS_OF, status_of
from ledger.domain.errors import BidNotFound, LedgerError, LotNotFound, LotUnreadable, NotAllowed, SnapshotChanged
from samsold_cli.shared import USAGE_ERROR, exit_code_of


def every_ledger_error() -> set[type[LedgerError]]:
    for module in pkgutil.iter_modules(ledger.__path__):
        importlib.import_module(f"ledger.{module.name}")
    found: set[type[LedgerError]] = set()
    pending = [LedgerError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.add(subclass)
            pending.append(subclass)
    return found


def test_every_ledger_error_has_its_own_status():
    errors = every_ledger_error()
    assert errors, "no LedgerError classes found"
    assert errors - set(STATUS_OF) == set()


def test_statuses_of_the_refusals_that_moved_into_the_ledger():
    assert status_of(BidNotFound("no bid")) == 404
    assert status_of(NotAllowed("admins only")) == 403
    assert status_of(SnapshotChanged("moved on")) == 409
    assert status_of(LotUnreadable("lot-1", "snapshot", "bad", 1)) == 500


def test_every_ledger_error_has_an_exit_code():
    for error_class in every_ledger_error() | {LedgerError}:
        code = exit_code_of(error_class.__new__(error_class))
        assert code in (1, USAGE_ERROR)
    assert exit_code_of(LotNotFound("no lot")) == 1
