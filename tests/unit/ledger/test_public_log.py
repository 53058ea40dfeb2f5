"""The public log on the in-memory recorder: sequencing, checkpoints, lot proofs, the monitor,
what the hash chain alone cannot catch, and the dispute report's citation of the log (the
checkpoint covering the bid, its size and when it was signed, the event's inclusion proof; or,
before the log has it, by when it will)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bootstrap import App
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.domain.errors import CheckpointNotFound, LogBusy, NotInLog
from ledger.domain.values import format_time
from ledger.service.public_log import COVERED_WITHIN, LogMonitor, PublicLog
from projections.audit import verify
from projections.dispute import dispute_markdown, dispute_report
from tests.support.app import build_test_app, execute_one
from tests.support.public_log import memory_log
from tests.support.rewrite import rewrite_bid_amount
from tlog import checkpoint, merkle, tiles
from tlog.proof import LotProofError, check_lot_proof, leaf, unb64

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def app() -> App:
    return build_test_app(clock=lambda: START)


@pytest.fixture
def log(app: App, tmp_path: Path) -> PublicLog:
    return memory_log(app, tmp_path)


def new_lot(app: App, bids: int = 2) -> str:
    lot_id = f"lot-{uuid.uuid4().hex[:8]}"
    app.lots.create_lot(CreateLot(lot_id=lot_id, title="Vase", currency="EUR", starting_price="10.00", opens_at=START,
                                  closes_at=START + timedelta(minutes=10)), seller="sam")
    for i in range(bids):
        execute_one(app.commands, PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder=f"b{i}", amount=f"{20 + 10 * i}.00",
                                           placed_at=START + timedelta(minutes=1)))
    return lot_id


def key(log: PublicLog) -> bytes:
    assert log.signer is not None
    return log.signer.public_key_der()


def test_each_lot_enters_in_version_order_and_a_lot_sequenced_twice_adds_nothing(app: App, log: PublicLog) -> None:
    first, second = new_lot(app), new_lot(app, bids=1)
    assert log.sequence([second, first, first]) == 5
    assert log.sequence([first]) == 0
    execute_one(app.commands, PlaceBid(bid_id="late", lot_id=first, bidder="b9", amount="90.00", placed_at=START))
    assert log.sequence([first]) == 1
    entries = tiles.TreeReader(log.tiles, 6).entries(0, 6)
    versions = {first: ["1", "2", "3"], second: ["1", "2"]}
    expected = [[lot, v] for lot in sorted(versions) for v in versions[lot]] + [[first, "4"]]
    assert [e.decode().split(" ")[1:3] for e in entries] == expected
    event = next(app.queries.lot_events(min(first, second)))
    assert entries[0] == f"samsold/event/v1 {event.lot_id} 1 {event.hash}\n".encode() == leaf(event.lot_id, 1, event.hash)


def test_a_checkpoint_is_signed_only_when_the_tree_grew_and_kept_by_size(app: App, log: PublicLog, tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFound):
        log.checkpoint()
    log.sequence([new_lot(app)])
    note = log.publish()
    assert note is not None and log.publish() == note == log.checkpoint() == log.checkpoint(3)
    assert (tmp_path / "archive" / "checkpoints" / "3").read_text() == note
    assert checkpoint.verify(note, key(log), log.origin).size == 3
    log.sequence([new_lot(app, bids=0)])
    assert log.publish() != note and log.checkpoint(3) == note
    assert log.key()["key_id"] == checkpoint.key_id(key(log)).hex()


def test_a_second_sequencer_waits_for_the_lease(app: App, log: PublicLog) -> None:
    log.index.take_lease("other", 60)
    with pytest.raises(LogBusy):
        log.sequence([new_lot(app)])


def two_checkpoints(app: App, log: PublicLog) -> tuple[str, str]:
    """A lot of 3 events beside another of 3 under a first checkpoint (size 6), and its fourth
    event under a second (size 7): the lot, and the first checkpoint."""
    lot = new_lot(app)
    log.sequence([lot, new_lot(app)])
    old = log.publish()
    assert old is not None
    execute_one(app.commands, PlaceBid(bid_id="late", lot_id=lot, bidder="b9", amount="90.00", placed_at=START))
    log.sequence([lot])
    log.publish()
    return lot, old


def test_a_lot_proof_checks_and_extends_a_trusted_earlier_checkpoint(app: App, log: PublicLog) -> None:
    lot, old = two_checkpoints(app, log)
    proof = json.loads(json.dumps(log.lot_proof(lot, from_size=6)))
    checked = check_lot_proof(proof, key(log), trusted_checkpoint=old)
    assert checked.versions == 4 and checked.checkpoint.size == 7
    assert len(json.dumps(proof)) < 4000
    # At the older size the proof holds the first three events.
    assert len(log.lot_proof(lot, size=6)["events"]) == 3
    with pytest.raises(NotInLog):
        log.lot_proof(new_lot(app))


@pytest.mark.parametrize("tamper, message", [
    (lambda p: p["events"][1].update(hash="0" * 64), "lot L version 2"),
    (lambda p: p["events"].pop(1), "expected version 2"),
    (lambda p: p["events"].__setitem__(slice(0, 2), [p["events"][1], p["events"][0]]), "expected version 1"),
    (lambda p: p["events"][2]["inclusion"].pop(), "version 3: not in the log"),
    (lambda p: p.update(checkpoint=p["checkpoint"].split("\n\n")[0] + "\n"), "checkpoint refused"),
    (lambda p: p.update(checkpoint=p["checkpoint"].replace("\n7\n", "\n8\n")), "checkpoint refused"),
    (lambda p: p["events"][0].update(body="{}"), "version 1: the body does not hash"),
    (lambda p: p["consistency"]["proof"].pop(), "not an extension"),
])
def test_a_tampered_proof_is_refused_naming_what(app: App, log: PublicLog, tamper, message) -> None:
    lot, old = two_checkpoints(app, log)
    proof = copy.deepcopy(log.lot_proof(lot, from_size=6))
    tamper(proof)
    with pytest.raises(LotProofError, match=message.replace("L", lot)):
        check_lot_proof(proof, key(log), trusted_checkpoint=old)


def test_a_proof_whose_later_history_was_cut_off_fails_against_a_newer_trusted_checkpoint(app: App, log: PublicLog) -> None:
    lot = new_lot(app)
    log.sequence([lot])
    log.publish()
    cut = log.lot_proof(lot)
    execute_one(app.commands, PlaceBid(bid_id="late", lot_id=lot, bidder="b9", amount="90.00", placed_at=START))
    log.sequence([lot])
    newer = log.publish()
    with pytest.raises(LotProofError, match="cut off"):
        check_lot_proof(cut, key(log), trusted_checkpoint=newer)


def test_a_consistent_rewrite_passes_the_chain_but_not_the_log(app: App, log: PublicLog) -> None:
    lot = new_lot(app, bids=3)
    log.sequence([lot])
    earlier = log.publish()
    assert earlier is not None
    monitor = LogMonitor(log, key(log))
    accepted = monitor.check(None)
    assert accepted.ok and accepted.size == 4

    rewrite_bid_amount(app, lot, 3, "31.00")
    assert verify(app.queries, lot).ok  # the chain alone sees nothing

    assert log.lot_against_log(lot) is not None and log.lot_against_log(lot)[0] == 3  # type: ignore[index]
    with pytest.raises(LotProofError, match=f"lot {lot} version 3"):
        check_lot_proof(log.lot_proof(lot, size=4), key(log), trusted_checkpoint=earlier)
    # The sequencer appends nothing for versions it logged; a new checkpoint's entries are re-hashed by the monitor.
    execute_one(app.commands, PlaceBid(bid_id="late", lot_id=lot, bidder="b9", amount="99.00", placed_at=START))
    log.sequence([lot])
    log.publish()
    result = monitor.check(accepted.checkpoint)
    assert not result.ok and result.first_bad == (lot, 3)


def test_the_monitor_names_a_rewritten_event_among_the_new_entries(app: App, log: PublicLog) -> None:
    first = log.sequence([new_lot(app)]) and log.publish()
    monitor = LogMonitor(log, key(log))
    accepted = monitor.check(None)
    assert accepted.ok and accepted.checkpoint == first
    lot = new_lot(app, bids=3)
    log.sequence([lot])
    log.publish()
    rewrite_bid_amount(app, lot, 2, "25.00")
    result = monitor.check(accepted.checkpoint)
    assert not result.ok and result.first_bad == (lot, 2)
    assert f"lot {lot} version 2" in result.problems[0]
    assert result.checkpoint == accepted.checkpoint  # not accepted


def test_the_monitor_refuses_a_forged_or_inconsistent_checkpoint(app: App, log: PublicLog, tmp_path: Path) -> None:
    log.sequence([new_lot(app)])
    log.publish()
    accepted = LogMonitor(log, key(log)).check(None)
    log.sequence([new_lot(app)])
    log.publish()
    from adapters.log_signers import KeyFileSigner

    other = KeyFileSigner(tmp_path / "other.pem")
    assert not LogMonitor(log, other.public_key_der()).check(None).ok
    # A checkpoint of another tree, signed by the log's key: not consistent with the accepted one.
    assert log.signer is not None
    forked = checkpoint.sign(checkpoint.Checkpoint(log.origin, 3, merkle.leaf_hash(b"fork")), log.signer)
    result = LogMonitor(log, key(log)).check(forked)
    assert not result.ok and "not consistent" in result.problems[0]
    assert LogMonitor(log, key(log)).check(accepted.checkpoint).ok


@pytest.mark.parametrize("fault", ["missing", "duplicated", "out of order"])
def test_the_monitor_names_a_leaf_missing_duplicated_or_out_of_order(app: App, log: PublicLog, fault: str) -> None:
    lot = new_lot(app, bids=2)
    hashes = [e.hash for e in app.queries.lot_events(lot)]
    leaves = [leaf(lot, v, h) for v, h in enumerate(hashes, start=1)]
    leaves = {"missing": [leaves[0], leaves[2]], "duplicated": [leaves[0], leaves[1], leaves[1], leaves[2]],
              "out of order": [leaves[0], leaves[2], leaves[1]]}[fault]
    # A sequencer gone wrong: the leaves written straight into the tree.
    root = tiles.append(log.tiles, 0, leaves)
    log.index.take_lease("bad", 1)
    log.index.append("bad", 0, len(leaves), root, [])
    log.index.release_lease("bad")
    log.publish()
    result = LogMonitor(log, key(log)).check(None)
    assert not result.ok and f"lot {lot} version" in result.problems[0] and result.first_bad is not None


# --- where people look: the dispute report cites the log -----------------------------


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
