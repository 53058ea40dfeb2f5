"""Private fields as commitments on DynamoDB Local: disclosures written in the event's
transaction, read back by range or one by one, opened by a private proof, and erased with a
bidder, after which none of the lot's or their items holds their id and every check still passes."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from bootstrap import App
from ledger.domain.commands import CloseLot, CreateLot, PlaceBid
from ledger.domain.events import BidPlaced
from ledger.service.public_log import LogMonitor, disclose_all
from projections.audit import replay, verify
from tests.support.app import execute_one
from tests.support.public_log import dynamodb_log_app
from tlog.proof import check_lot_proof


@pytest.fixture
def app(ledger_env, dynamodb_client, clock, tmp_path: Path) -> App:
    return dynamodb_log_app(ledger_env, dynamodb_client, clock, tmp_path)


def test_a_bidder_erased_leaves_no_item_of_theirs_and_every_proof_whole(app: App, clock, dynamodb_client, ledger_env) -> None:
    lot, alice, bob = f"lot-{uuid.uuid4().hex[:8]}", f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    start = clock()
    app.lots.create_lot(CreateLot(lot_id=lot, title="Vase", currency="EUR", starting_price="10.00", opens_at=start,
                                  closes_at=start + timedelta(minutes=10)), seller="sam")
    bids = [(alice, "40.00"), (bob, "5.00"), (bob, "6.00"), (bob, "7.00"), (bob, "20.00")]
    for i, (who, amount) in enumerate(bids):
        execute_one(app.commands, PlaceBid(bid_id=f"{lot}-{i}", lot_id=lot, bidder=who, amount=amount, placed_at=start))
    clock.advance(minutes=20)
    execute_one(app.commands, CloseLot(lot_id=lot, requested_at=clock()))
    store = app.commands.store
    event = dynamodb_client.get_item(TableName=ledger_env["BIDS_TABLE"], Key={"PK": {"S": f"LOT#{lot}"}, "SK": {"S": "EVENT#0000000002"}})
    assert alice.encode() not in event["Item"]["state"]["B"]
    assert store.get_disclosures(lot, [2, 6]).keys() == {2, 6}  # far apart: one by one
    assert store.get_disclosures(lot, [2, 3, 4]).keys() == {2, 3, 4}  # together: one range
    placed = [e for e in app.queries.lot_events(lot) if isinstance(e, BidPlaced)]
    assert [e.bidder for e in placed] == [alice, bob]

    log = app.public_log
    log.sequence([lot])
    trusted = log.publish()
    assert log.signer is not None
    checked = check_lot_proof(log.lot_proof(lot, disclose=disclose_all), log.signer.public_key_der())
    assert checked.disclosed[(2, "bidder")] == alice and checked.disclosed[(7, "winner")] == alice

    erased = app.erasure.erase_bidder(alice, is_admin=True)
    assert (erased.lots, erased.snapshots) == (1, 1) and erased.disclosures == 5  # her bid's 3, her answer to Bob's, her win
    assert store.get_disclosures(lot, [2, 7]) == {} and store.get_disclosures(lot, [6]).keys() == {6}
    # The lot's partition (events, disclosures, snapshot), hers, and her bid's.
    items = [item for pk in (f"LOT#{lot}", f"BIDDER#{alice}", f"QUOTA#{alice}", f"BID#{lot}-0", f"BIDDER#{bob}")
             for item in dynamodb_client.query(TableName=ledger_env["BIDS_TABLE"], KeyConditionExpression="PK = :pk",
                                               ExpressionAttributeValues={":pk": {"S": pk}})["Items"]]
    everything = json.dumps(items, default=lambda b: b.decode(errors="replace"))
    assert alice not in everything and bob in everything
    assert verify(app.queries, lot).ok and replay(app.queries, lot).ok
    proof = log.lot_proof(lot, disclose=disclose_all)
    assert (2, "bidder") not in check_lot_proof(proof, log.signer.public_key_der(), trusted).disclosed
    assert LogMonitor(log, log.signer.public_key_der()).check(trusted).ok
