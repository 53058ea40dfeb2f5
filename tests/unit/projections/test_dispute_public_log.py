"""The dispute report and the public log (in memory): the report cites the signed checkpoint
covering the bid's event, its size and when it was signed, with the event's inclusion proof,
which checks against that checkpoint; before the log has the event it says so and by when it
will; a stored event rewritten after it was logged is said to differ from the log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bootstrap import App
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.domain.values import format_time
from ledger.service.public_log import COVERED_WITHIN, PublicLog
from projections.dispute import dispute_markdown, dispute_report
from tests.support.app import build_test_app, execute_one
from tests.support.public_log import memory_log
from tests.support.rewrite import rewrite_bid_amount
from tlog import checkpoint, merkle
from tlog.proof import leaf, unb64

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app() -> App:
    return build_test_app(clock=lambda: START)


@pytest.fixture
def log(app: App, tmp_path: Path) -> PublicLog:
    return memory_log(app, tmp_path)


def lot_with_bids(app: App) -> tuple[str, str]:
    """A lot with two accepted bids; the second's bid id."""
    lot_id = f"lot-{uuid.uuid4().hex[:8]}"
    app.lots.create_lot(CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="10.00", opens_at=START,
                                  closes_at=START + timedelta(minutes=10)), seller="sam")
    bid_ids = [uuid.uuid4().hex, uuid.uuid4().hex]
    for bid_id, (bidder, amount) in zip(bid_ids, [("alice", "20.00"), ("bob", "30.00")], strict=True):
        execute_one(app.commands, PlaceBid(bid_id=bid_id, lot_id=lot_id, bidder=bidder, amount=amount,
                                           placed_at=START + timedelta(minutes=1)))
    return lot_id, bid_ids[1]


@pytest.mark.parametrize("auditor", [False, True])
def test_the_report_cites_the_checkpoint_covering_the_bid_and_carries_its_proof(app: App, log: PublicLog, auditor: bool) -> None:
    lot_id, bid_id = lot_with_bids(app)
    log.sequence([lot_id])
    note = log.publish()
    assert note is not None
    cited = dispute_report(app.queries, bid_id, auditor=auditor, log=log)["public_log"]
    assert cited["status"] == "IN_LOG" and (cited["lot_id"], cited["version"]) == (lot_id, 3)
    assert cited["checkpoint"] == {"origin": log.origin, "size": 3, "published_at": log.index.head().checkpoint_at,
                                   "note": note}
    assert cited["checkpoint"]["published_at"] is not None
    # What a third party checks: the checkpoint's signature, then the event's leaf up to its root.
    signed = checkpoint.verify(note, log.signer.public_key_der(), log.origin)  # type: ignore[union-attr]
    merkle.verify_inclusion(merkle.leaf_hash(leaf(lot_id, 3, cited["hash"])), cited["log_index"], signed.size,
                            unb64(cited["inclusion"], "inclusion"), signed.root)
    markdown = dispute_markdown(dispute_report(app.queries, bid_id, auditor=auditor, log=log))
    assert (f"is leaf {cited['log_index']} of the public log `{log.origin}`, under its checkpoint of size 3 "
            f"(signed at {cited['checkpoint']['published_at']})") in markdown
    assert note.split("\n")[2] in markdown and f"`GET /lots/{lot_id}/proof?size=3`" in markdown


def test_a_bid_not_in_the_log_yet_is_said_so_with_when_it_will_be(app: App, log: PublicLog) -> None:
    lot_id, bid_id = lot_with_bids(app)
    log.sequence([lot_id])
    log.publish()  # covers the lot's events so far ...
    execute_one(app.commands, PlaceBid(bid_id="late", lot_id=lot_id, bidder="carol", amount="50.00", placed_at=START))
    report = dispute_report(app.queries, "late", log=log)  # ... not this one
    event = list(app.queries.lot_events(lot_id))[-1]
    expected_by = format_time(event.timestamp + COVERED_WITHIN)
    assert report["public_log"] == {"status": "NOT_YET_IN_LOG", "lot_id": lot_id, "version": 4, "hash": event.hash,
                                    "expected_by": expected_by, "overdue": report["public_log"]["overdue"]}
    assert "is not in the public log yet" in dispute_markdown(report) and f"by {expected_by}." in dispute_markdown(report)
    # A log that never signed a checkpoint has nothing covering it either.
    other = memory_log(app, Path(log.signer.path).parent / "other")  # type: ignore[union-attr]
    assert dispute_report(app.queries, bid_id, log=other)["public_log"]["status"] == "NOT_YET_IN_LOG"


def test_a_bid_rewritten_after_it_was_logged_differs_from_the_log(app: App, log: PublicLog) -> None:
    lot_id, bid_id = lot_with_bids(app)
    log.sequence([lot_id])
    log.publish()
    rewrite_bid_amount(app, lot_id, 3, "31.00")
    report = dispute_report(app.queries, bid_id, auditor=True, log=log)
    assert report["verification"]["chain_ok"]  # the chain alone sees nothing
    assert report["public_log"]["status"] == "DIFFERS_FROM_LOG"
    assert "is NOT the event the public log" in dispute_markdown(report)


def test_without_the_log_the_report_says_it_was_not_asked(app: App) -> None:
    _, bid_id = lot_with_bids(app)
    report = dispute_report(app.queries, bid_id)
    assert report["public_log"] is None and "made without the public log" in dispute_markdown(report)


def test_a_proof_under_the_newest_checkpoint_says_when_the_log_signed_it(app: App, log: PublicLog) -> None:
    lot_id, _ = lot_with_bids(app)
    log.sequence([lot_id])
    log.publish()
    assert log.lot_proof(lot_id)["checkpoint_published_at"] == log.index.head().checkpoint_at is not None
    assert "checkpoint_published_at" not in log.lot_proof(lot_id, size=3)  # an older one's time is not kept
