"""Private fields as commitments on the in-memory recorder: new events store commitments and
no private value, the fold reads the values back from the disclosures, proofs show the
bodies and check disclosures, a bidder's receipt opens their own fields, an erasure leaves
every hash, proof and replay whole, and events stored before commitments keep their rule."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from bootstrap import App
from ledger.domain import commitments
from ledger.domain.commands import CloseLot, CreateLot, PlaceBid, RetractBid
from ledger.domain.errors import BidNotFound, InvalidState, NotAllowed
from ledger.domain.events import GENESIS_HASH, BidPlaced, BidRetracted, LotClosed, LotEvent
from ledger.domain.state import fold
from ledger.service.public_log import LogMonitor, PublicLog, disclose_all
from ledger.snapshot_item import snapshot_to_item
from projections.audit import replay, verify
from tests.support.app import build_test_app, execute_one
from tests.support.public_log import memory_log
from tlog.proof import LotProofError, check_lot_proof

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "ledger" / "lots_before_commitments.json"


@pytest.fixture
def clock() -> list[datetime]:
    return [START]


@pytest.fixture
def app(clock: list[datetime]) -> App:
    return build_test_app(clock=lambda: clock[0])


@pytest.fixture
def log(app: App, tmp_path: Path) -> PublicLog:
    return memory_log(app, tmp_path)


def bid(app: App, lot_id: str, bid_id: str, bidder: str, amount: str, minute: int = 1) -> None:
    execute_one(app.commands, PlaceBid(bid_id=bid_id, lot_id=lot_id, bidder=bidder, amount=amount,
                                       placed_at=START + timedelta(minutes=minute)))


def auction(app: App, clock: list[datetime], lot_id: str = "jug", close: bool = True) -> str:
    """alice leads with a maximum of 40.00 over bob's 20.00; dave's 61.00 is retracted; closed: sold to alice."""
    app.lots.create_lot(CreateLot(lot_id=lot_id, title="Jug", currency="EUR", starting_price="10.00", opens_at=START,
                                  closes_at=START + timedelta(minutes=30)), seller="sam")
    bid(app, lot_id, "b1", "alice", "40.00", 1)
    bid(app, lot_id, "b2", "bob", "20.00", 2)
    bid(app, lot_id, "b3", "dave", "61.00", 3)
    app.commands.retract_bid(RetractBid(lot_id=lot_id, bid_id="b3", retracted_by="admin", reason="Placed by mistake",
                                        requested_at=START + timedelta(minutes=4)), is_admin=True)
    if close:
        clock[0] = START + timedelta(minutes=40)
        execute_one(app.commands, CloseLot(lot_id=lot_id, requested_at=clock[0]))
    return lot_id


def key(log: PublicLog) -> bytes:
    assert log.signer is not None
    return log.signer.public_key_der()


def published(app: App, log: PublicLog, lot_id: str) -> None:
    log.sequence([lot_id])
    log.publish()


def test_a_new_event_stores_commitments_and_no_private_value(app: App, clock: list[datetime]) -> None:
    lot_id = auction(app, clock)
    stored = list(app.commands.store.iter_events(lot_id))
    everything = b"".join(event.state for event in stored)
    for private in (b"alice", b"bob", b"dave", b"40.00", b"61.00", b"Placed by mistake"):
        assert private not in everything
    events = [app.queries.read_event(event) for event in stored]
    placed = next(e for e in events if isinstance(e, BidPlaced) and e.bid_id == "b1")
    assert placed.sealed is not None and sorted(placed.sealed) == ["amount", "bidder", "leader_maximum"]
    body = json.loads(placed.body())
    assert body["committed"] == ["amount", "bidder", "leader_maximum"]
    assert body["bidder"] == placed.sealed["bidder"] and body["bid_id"] == "b1"
    disclosed = app.commands.store.get_disclosures(lot_id, [placed.version])[placed.version]
    assert commitments.commitment(disclosed["bidder"]) == body["bidder"]
    salt, path, value = commitments.read_disclosure(disclosed["amount"])
    assert (len(commitments.unb64url(salt)), path, value) == (16, f"{lot_id}/{placed.version}/amount", "40.00")
    previous = GENESIS_HASH
    for event in events:  # the chain holds as stored, without any disclosure
        assert event.prev_hash == previous and event.compute_hash() == event.hash
        previous = event.hash


def test_the_fold_reads_the_disclosed_values_back(app: App, clock: list[datetime]) -> None:
    lot_id = auction(app, clock)
    events = list(app.queries.lot_events(lot_id))
    placed = next(e for e in events if isinstance(e, BidPlaced) and e.bid_id == "b1")
    assert (placed.bidder, placed.amount) == ("alice", Decimal("40.00"))
    closed = events[-1]
    assert isinstance(closed, LotClosed) and closed.winner == "alice"
    retracted = next(e for e in events if isinstance(e, BidRetracted))
    assert (retracted.bidder, retracted.reason, retracted.leader) == ("dave", "Placed by mistake", "alice")
    state = fold(events)
    assert state is not None and (state.leader, state.leader_maximum) == ("alice", Decimal("40.00"))
    assert replay(app.queries, lot_id).ok and verify(app.queries, lot_id).ok


def test_a_disclosure_that_does_not_open_its_commitment_makes_the_event_unreadable(app: App, clock: list[datetime]) -> None:
    lot_id = auction(app, clock, close=False)
    forged = commitments.disclose(lot_id, 2, "bidder", "mallory")
    app.commands.store._disclosures[(lot_id, 2)]["bidder"] = forged  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="does not open its commitment"):
        list(app.queries.lot_events(lot_id))
    report = verify(app.queries, lot_id)  # the chain holds; the disclosure is named as unreadable
    assert report.first_bad_version == 2 and "does not open its commitment" in str(report.problem)


def test_the_public_proof_shows_bodies_and_the_private_one_every_disclosure(
    app: App, clock: list[datetime], log: PublicLog, tmp_path: Path
) -> None:
    lot_id = auction(app, clock)
    published(app, log, lot_id)
    public = log.lot_proof(lot_id)
    # A LotCreated holds the seller and the hidden reserve in its body: only its hash is public.
    assert "disclosures" not in public and [e["body"] is None for e in public["events"]] == [True] + [False] * 5
    assert b"alice" not in json.dumps(public).encode()
    private = log.lot_proof(lot_id, disclose=disclose_all)
    checked = check_lot_proof(private, key(log))
    assert checked.disclosed[(2, "bidder")] == "alice" and checked.disclosed[(2, "amount")] == "40.00"
    assert checked.disclosed[(5, "reason")] == "Placed by mistake" and checked.disclosed[(6, "winner")] == "alice"
    # The standalone checker (the standard library and cryptography only) agrees, and refuses a forged value.
    (tmp_path / "key.pem").write_text(log.key()["public_key_pem"])
    (tmp_path / "proof.json").write_text(json.dumps(private))
    ok = subprocess.run([sys.executable, str(REPO / "tools" / "check_proof.py"), str(tmp_path / "proof.json"),
                         str(tmp_path / "key.pem")], capture_output=True, text=True)
    assert ok.returncode == 0 and 'version 2 bidder: "alice"' in ok.stdout
    forged = dict(private, disclosures=[commitments.disclose(lot_id, 2, "bidder", "mallory")])
    with pytest.raises(LotProofError, match="version 2: the disclosure of bidder does not open"):
        check_lot_proof(forged, key(log))
    (tmp_path / "proof.json").write_text(json.dumps(forged))
    refused = subprocess.run([sys.executable, str(REPO / "tools" / "check_proof.py"), str(tmp_path / "proof.json"),
                              str(tmp_path / "key.pem")], capture_output=True, text=True)
    assert refused.returncode == 1 and "version 2: the disclosure of bidder does not open" in refused.stderr


def test_a_receipt_opens_only_its_bidders_own_fields_and_only_for_them(app: App, clock: list[datetime], log: PublicLog) -> None:
    lot_id = auction(app, clock)
    published(app, log, lot_id)
    receipt = log.bid_receipt("b2", "bob")
    assert (receipt["lot_id"], receipt["version"], receipt["status"]) == (lot_id, 3, "ACCEPTED")
    checked = check_lot_proof(receipt["proof"], key(log))
    assert set(checked.disclosed) == {(3, "amount"), (3, "bidder")}  # the maximum that answered it is Alice's
    assert checked.disclosed[(3, "bidder")] == "bob"
    for stranger, bid_id in (("alice", "b2"), ("bob", "no-such-bid")):
        with pytest.raises(BidNotFound):
            log.bid_receipt(bid_id, stranger)


def test_an_erasure_deletes_the_bidders_data_and_leaves_every_check_whole(
    app: App, clock: list[datetime], log: PublicLog, tmp_path: Path
) -> None:
    lot_id = auction(app, clock)
    published(app, log, lot_id)
    trusted = log.checkpoint()
    with pytest.raises(NotAllowed):
        app.erasure.erase_bidder("alice", is_admin=False)
    erased = app.erasure.erase_bidder("alice", is_admin=True)
    # Hers: her bid (bidder, amount, leader_maximum), her maximum that answered Bob's bid, the lead
    # the retraction gave back (leader, leader_maximum) and the win; her receipt, alias and record of the lot.
    assert (erased.lots, erased.disclosures, erased.snapshots, erased.records) == (1, 7, 1, 3)
    assert "alice" not in erased.model_dump_json()
    store = app.commands.store
    assert store.get_receipts(["b1"]) == {}
    assert store.get_bidder_lot("alice", lot_id) is None and store.get_aliases(lot_id, ["alice"]) == {}
    left = store.get_disclosures(lot_id, list(range(1, 8)))
    opened = [commitments.read_disclosure(d)[2] for fields in left.values() for d in fields.values()]
    assert "alice" not in opened and "40.00" not in opened and "bob" in opened  # another bidder's stay
    assert "alice" not in json.dumps(store.get_snapshot(lot_id), default=str)
    events = list(app.queries.lot_events(lot_id))
    assert [e.bidder for e in events if isinstance(e, BidPlaced)] == [None, "bob", "dave"]
    assert isinstance(events[-1], LotClosed) and events[-1].winner is None and events[-1].outcome == "SOLD"
    assert verify(app.queries, lot_id).ok and replay(app.queries, lot_id).ok
    assert check_lot_proof(log.lot_proof(lot_id, disclose=disclose_all), key(log), trusted).disclosed[(3, "bidder")] == "bob"
    assert LogMonitor(log, key(log)).check(trusted).ok
    assert app.queries.lot_as_of(lot_id, version=2).leader is None
    with pytest.raises(BidNotFound):
        log.bid_receipt("b1", "alice")
    assert app.erasure.erase_bidder("alice", is_admin=True).disclosures == 0  # again: nothing left


def test_a_bidder_on_an_open_lot_is_not_erased(app: App, clock: list[datetime]) -> None:
    lot_id = auction(app, clock, close=False)
    with pytest.raises(InvalidState) as refused:
        app.erasure.erase_bidder("bob", is_admin=True)
    assert refused.value.details == {"lots": [lot_id]}
    assert app.commands.store.get_receipts(["b2"]) != {}


def load_fixture(app: App) -> list[LotEvent]:
    doc = json.loads(FIXTURE.read_text())
    stored = [StoredEvent(originator_id=e["originator_id"], originator_version=e["originator_version"], topic=e["topic"],
                          state=json.dumps(e["state"]).encode()) for e in doc["events"]]
    return [app.queries.read_event(event) for event in stored]


def test_events_stored_before_commitments_read_fold_and_verify_under_their_own_rule(app: App) -> None:
    events = load_fixture(app)
    assert events and all(event.sealed is None for event in events)
    lots: dict[str, list[LotEvent]] = {}
    for event in events:
        lots.setdefault(event.lot_id, []).append(event)
    for lot_events in lots.values():
        previous = GENESIS_HASH
        for event in lot_events:
            assert event.prev_hash == previous and event.compute_hash() == event.hash
            previous = event.hash
    sold = fold(lots["before-commitments"])
    assert sold is not None and (sold.status, sold.outcome, sold.leader) == ("CLOSED", "SOLD", "alice")
    cancelled = fold(lots["cancelled-before-commitments"])
    assert cancelled is not None and cancelled.status == "CANCELLED"


def test_a_lot_stored_before_commitments_proves_with_hashes_and_null_bodies(app: App, log: PublicLog) -> None:
    doc = json.loads(FIXTURE.read_text())
    stored = [StoredEvent(originator_id=e["originator_id"], originator_version=e["originator_version"], topic=e["topic"],
                          state=json.dumps(e["state"]).encode()) for e in doc["events"] if e["originator_id"] == "before-commitments"]
    state = fold(app.queries.read_event(event) for event in stored)
    assert state is not None
    app.commands.store.insert_events(stored, snapshot=snapshot_to_item(state), expected_version=None)
    published(app, log, "before-commitments")
    proof = log.lot_proof("before-commitments", disclose=disclose_all)
    assert [e["body"] for e in proof["events"]] == [None] * len(stored) and proof["disclosures"] == []
    assert check_lot_proof(proof, key(log)).versions == len(stored)
    assert verify(app.queries, "before-commitments").ok
