"""DynamoDB's failures as eventsourcing's errors, in one place.

A failed condition means another writer won (`IntegrityError`, or `ConditionsFailed` saying
which conditions); the rest may pass (`OperationalError`), DynamoDB out of reach included.
Every request of the recorder goes through `raise_for`, so the service sees the library's
errors whatever the operation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from ledger.domain.queued import BidRequestCheck
from ledger.domain.registration import ExposureChange, RegistrationCheck
from ledger.persistence import ConditionsFailed


def raise_for(error: ClientError | BotoCoreError, what: str) -> NoReturn:
    """Map DynamoDB failures onto eventsourcing's errors: a failed condition means
    another writer won (IntegrityError); the rest may pass (OperationalError), DynamoDB
    out of reach (a refused connection, a timeout) included."""
    if not isinstance(error, ClientError):
        raise OperationalError(f"{what}: DynamoDB out of reach: {error}") from error
    code = error.response["Error"]["Code"]
    message = error.response["Error"].get("Message", "")
    if code == "TransactionCanceledException":
        reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" in reasons or "ConditionalCheckFailed" in message:
            raise IntegrityError(f"{what}: a condition failed ({reasons or message})") from error
        raise OperationalError(f"{what}: transaction cancelled ({reasons or message})") from error
    if code == "ConditionalCheckFailedException":
        raise IntegrityError(f"{what}: {message}") from error
    if code == "ValidationException" and "multiple operations on one item" in message:
        raise IntegrityError(f"{what}: the same item twice in one transaction") from error
    raise OperationalError(f"{what}: {code}: {message}") from error


def raise_conditions_failed(
    error: ClientError,
    stored_events: Sequence[StoredEvent],
    receipts: Sequence[Mapping[str, Any]],
    bidders: Sequence[Mapping[str, Any]],
    has_snapshot: bool,
    retractions: Sequence[Mapping[str, Any]] = (),
    requests: Sequence[BidRequestCheck] = (),
    *,
    unconditional: int = 0,
    registrations: Sequence[RegistrationCheck] = (),
    exposures: Sequence[ExposureChange] = (),
) -> None:
    """A cancelled transaction whose conditions failed, as `ConditionsFailed` saying which:
    CancellationReasons is index-aligned with TransactItems (events, receipts, bidders,
    retractions, `unconditional` items that never fail a condition, request checks, registration
    checks, exposure changes, snapshot).
    A retraction recorded already counts as a changed snapshot
    (the retraction is decided again on fresh state, which refuses it).
    Returns when the cancellation was for another reason."""
    if error.response["Error"]["Code"] != "TransactionCanceledException":
        return
    reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
    failed = [code == "ConditionalCheckFailed" for code in reasons]
    if not any(failed):
        return
    items = (len(stored_events) + len(receipts) + len(bidders) + len(retractions) + unconditional + len(requests)
             + len(registrations) + len(exposures) + has_snapshot)
    if len(failed) != items:
        # Reasons that do not line up with the items: say the least (reload everything).
        raise ConditionsFailed(f"insert_events: a condition failed ({reasons})", snapshot_changed=True) from error
    events, rest = failed[: len(stored_events)], failed[len(stored_events) :]
    decided = [str(r["bid_id"]) for r, hit in zip(receipts, rest[: len(receipts)], strict=True) if hit]
    rest = rest[len(receipts) :]
    known = [str(b["bidder"]) for b, hit in zip(bidders, rest[: len(bidders)], strict=True) if hit]
    rest = rest[len(bidders) :]
    retracted = any(rest[: len(retractions)])
    rest = rest[len(retractions) + unconditional :]
    unmatched = [r.bid_id for r, hit in zip(requests, rest[: len(requests)], strict=True) if hit]
    rest = rest[len(requests) :]
    changed = [r.registration_id for r, hit in zip(registrations, rest[: len(registrations)], strict=True) if hit]
    rest = rest[len(registrations) :]
    exposed = [e.registration_id for e, hit in zip(exposures, rest[: len(exposures)], strict=True) if hit]
    raise ConditionsFailed(
        f"insert_events: conditions failed ({reasons})",
        decided_bids=decided,
        known_bidders=known,
        unmatched_requests=unmatched,
        changed_registrations=changed,
        changed_exposures=exposed,
        snapshot_changed=(has_snapshot and failed[-1]) or retracted,
        events_exist=any(events),
    ) from error
