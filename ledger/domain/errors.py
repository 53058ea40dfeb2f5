"""The ledger's errors: what a caller did wrong (4xx) versus what may pass (retry)."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of the ledger's own errors."""

    code = "LEDGER_ERROR"
    # The code this refusal had before it was renamed, answered beside it for one release.
    former_code: str | None = None

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidCommand(LedgerError):
    """The request is well-formed but breaks a rule (the lot's terms, its currency, the
    clock); nothing was written."""

    code = "RULE_BROKEN"
    former_code = "INVALID_COMMAND"


class LotNotFound(LedgerError):
    code = "LOT_NOT_FOUND"


class VersionNotFound(LotNotFound):
    """Time travel to a version the lot has not reached (past its latest event)."""

    code = "VERSION_NOT_FOUND"


class LotAlreadyExists(LedgerError):
    code = "LOT_ALREADY_EXISTS"


class BidIdReused(LedgerError):
    """A bid id (idempotency key) came back with another lot, bidder or amount."""

    code = "IDEMPOTENCY_KEY_REUSED"


class BidNotFound(LedgerError):
    """No such bid (of this bidder), or none decided yet where a decision is needed."""

    code = "BID_NOT_FOUND"


class SnapshotChanged(LedgerError):
    """A snapshot was to be replaced at a version it is no longer at: another writer
    moved the lot on since it was compared. Compare again."""

    code = "SNAPSHOT_CHANGED"


class NotAllowed(LedgerError):
    """The caller may not do this to this lot."""

    code = "FORBIDDEN"


class LotIdReserved(NotAllowed):
    """A lot id outside the seller's own (`{handle}-...`, `ledger.domain.sellers`); nothing was written."""

    code = "LOT_ID_RESERVED"


class InvalidState(LedgerError):
    """The lot's state does not allow the command (e.g. cancelling a closed lot)."""

    code = "INVALID_STATE"


class LotUnreadable(LedgerError):
    """A stored item of the lot (its snapshot or an event) cannot be read back: a data
    problem on the server's side, not the caller's, and confined to this one lot.
    Retrying cannot help; an operator must look (`samsold verify` / `replay` name it).

    `message` and `details` may be shown to anyone; `problem` says what is wrong with the
    item and may quote what it holds (a hidden reserve, a bidder), so it is for operators
    only: logs, parked messages, verify and replay (`str(error)` includes it)."""

    code = "LOT_UNREADABLE"

    def __init__(self, lot_id: str, item: str, problem: str, version: int | None = None) -> None:
        super().__init__(f"the {item} of lot {lot_id!r} cannot be read", {"lot_id": lot_id, "version": version})
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.message}: {self.problem}"


class TransientError(LedgerError):
    """Worth retrying later: conflicts kept winning, throttling, timeouts."""

    code = "TRANSIENT"


class ConfirmationRequired(LedgerError):
    """A bid far above the minimum next bid (ledger.domain.rules.needs_confirmation) was sent
    without the bidder's confirmation; nothing was recorded or queued. Sending it again
    with the confirmation places it."""

    code = "CONFIRMATION_REQUIRED"


class BelowMinimum(LedgerError):
    """A bid the API can already see is below the lot's minimum next bid
    (ledger.domain.rules.surely_below_minimum): refused before anything is recorded or
    queued, with the minimum. The processor would only reject it BELOW_MINIMUM."""

    code = "BELOW_MINIMUM"


# Refusals of a retraction (`ledger.domain.rules.retractable_bid`): the lot's state does not allow it.
class LotNotOpen(InvalidState):
    """Bids are retracted only while the lot is open (not before it opens, not once its
    close time has passed, not when closed or cancelled)."""

    code = "LOT_NOT_OPEN"


class LotEnded(InvalidState):
    """A bid on a lot that is closed or cancelled: refused at the API, before anything is
    recorded or queued, with the reason code the processor would reject it with
    (LOT_CLOSED or LOT_CANCELLED) as its code."""

    code = "LOT_CLOSED"

    def __init__(self, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, {"reason": reason, **(details or {})})
        self.code = reason


class BidNotAccepted(InvalidState):
    """The bid was rejected: there is nothing standing to retract."""

    code = "BID_NOT_ACCEPTED"


class BidAlreadyRetracted(InvalidState):
    code = "BID_ALREADY_RETRACTED"


class BuyNowRefused(LedgerError):
    """A purchase at the buy-now price that the lot plainly does not offer when it is asked
    (ledger.domain.rules.buy_now_refusal): refused before anything is recorded or queued. The code
    is the reason a queued purchase would be rejected with: BUY_NOW_NOT_OFFERED (no buy-now
    price, or a bid was accepted or the reserve met first), LOT_CLOSED, LOT_CANCELLED,
    LOT_NOT_OPEN or SELLER_CANNOT_BID."""

    code = "BUY_NOW_NOT_OFFERED"

    def __init__(self, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, {"reason": reason, **(details or {})})
        self.code = reason


class SaleNotFound(LedgerError):
    code = "SALE_NOT_FOUND"


class SaleAlreadyExists(LedgerError):
    """A sale with this sale_id, or one of its lots' ids, exists already; nothing was written."""

    code = "SALE_ALREADY_EXISTS"


class SaleClosing(InvalidState):
    """Lots are added to a sale only before its first lot's close time."""

    code = "SALE_CLOSING"


class SaleFull(LedgerError):
    """A sale holds at most `MAX_SALE_LOTS` lots (`details` say how many more it takes); nothing was written."""

    code = "SALE_FULL"


class SaleUnreadable(LedgerError):
    """A sale's stored item cannot be read back: the server's problem, confined to that
    sale (its lots are still each readable on their own). `problem` is for operators."""

    code = "SALE_UNREADABLE"

    def __init__(self, sale_id: str, problem: str) -> None:
        super().__init__(f"the item of sale {sale_id!r} cannot be read", {"sale_id": sale_id})
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.message}: {self.problem}"


class RegistrationNotFound(LedgerError):
    """No such registration (of this bidder for this sale or lot)."""

    code = "REGISTRATION_NOT_FOUND"


class BidderRefused(LedgerError):
    """A bid the API can already see its bidder may not place (`ledger.domain.rules.registration_refusal`):
    refused before anything is recorded or queued, with the reason code a queued bid would be
    rejected with (NOT_REGISTERED, REGISTRATION_PENDING or BIDDER_BLOCKED) as its code."""

    code = "NOT_REGISTERED"

    def __init__(self, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, {"reason": reason, **(details or {})})
        self.code = reason


class QuotaExceeded(LedgerError):
    """The caller used up one of their quotas (`ledger.service.quotas`); nothing was written.
    `details["retry_after_s"]` says when asking again can succeed."""

    code = "QUOTA_EXCEEDED"

    @property
    def retry_after_s(self) -> int:
        return int(self.details.get("retry_after_s", 1))


class CheckpointNotFound(LedgerError):
    """No checkpoint of that size was published (or none yet)."""

    code = "CHECKPOINT_NOT_FOUND"


class NotInLog(LedgerError):
    """What was asked for is not in the public log (yet): a lot none of whose events are
    sequenced, or a size beyond the newest checkpoint."""

    code = "NOT_IN_LOG"


class LogBusy(TransientError):
    """Another sequencer holds the log's lease, or appended first: try again."""

    code = "LOG_BUSY"
