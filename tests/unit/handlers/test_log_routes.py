"""The public log's routes on the in-memory recorder: public, text/plain checkpoints, strict
sizes, a bid's receipt for its bidder alone, and the ledger's refusals as statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlers import lot_api
from ledger.domain.commands import PlaceBid
from ledger.domain.values import utc_now
from tests.support.app import build_test_app, execute_one
from tests.support.events import FakeContext, rest_event
from tests.support.public_log import memory_log
from tests.support.rest_calls import APP, api, create_lot
from tlog import checkpoint


@pytest.fixture(autouse=True)
def app(tmp_path: Path):
    built = build_test_app()
    built.given["public_log"] = memory_log(built, tmp_path)
    APP["app"] = built
    yield built
    APP.clear()


def test_before_any_checkpoint_the_log_answers_404(app) -> None:
    assert api("GET", "/log/checkpoint")[0] == 404
    assert api("GET", "/log/key")[0] == 404


def test_checkpoints_are_signed_notes_in_text_and_proofs_json(app) -> None:
    lot = create_lot()["lot_id"]
    app.public_log.sequence([lot])
    note = app.public_log.publish()
    response = lot_api.handler(rest_event("GET", "/log/checkpoint"), FakeContext(), app)
    assert response["statusCode"] == 200 and response["body"] == note
    assert response["multiValueHeaders"]["Content-Type"][0].startswith("text/plain")
    status, key = api("GET", "/log/key")
    assert status == 200 and checkpoint.verify(note, checkpoint.load_public_key(key["public_key_pem"].encode()))
    by_size = lot_api.handler(rest_event("GET", "/log/checkpoints/1", path_parameters={"size": "1"}), FakeContext(), app)
    assert by_size["statusCode"] == 200 and by_size["body"] == note
    assert api("GET", "/log/checkpoints/2", path_parameters={"size": "2"})[0] == 404
    assert api("GET", "/log/checkpoints/01", path_parameters={"size": "01"})[0] == 400
    status, proof = api("GET", f"/lots/{lot}/proof", path_parameters={"lot_id": lot})
    assert status == 200 and proof["lot_id"] == lot and json.loads(json.dumps(proof)) == proof


@pytest.mark.parametrize("query, status", [
    ({"from": "2", "to": "1"}, 422), ({"from": "0", "to": "1"}, 400), ({"from": "1"}, 400),
    ({"from": "01", "to": "1"}, 400), ({"from": "1", "to": "5"}, 404),
])
def test_consistency_takes_two_published_sizes_strictly(app, query, status) -> None:
    lot = create_lot()["lot_id"]
    app.public_log.sequence([lot])
    app.public_log.publish()
    assert api("GET", "/log/consistency", query=query)[0] == status


def test_a_lot_not_in_the_log_yet_is_404(app) -> None:
    first = create_lot()["lot_id"]
    app.public_log.sequence([first])
    app.public_log.publish()
    lot = create_lot()["lot_id"]
    status, body = api("GET", f"/lots/{lot}/proof", path_parameters={"lot_id": lot})
    assert status == 404 and body["error"]["code"] == "NOT_IN_LOG"


def test_a_receipt_is_for_its_bidder_alone_and_waits_for_the_log(app) -> None:
    lot = create_lot()["lot_id"]
    execute_one(app.commands, PlaceBid(bid_id="b1", lot_id=lot, bidder="alice", amount="20.00", placed_at=utc_now()))
    receipt = {"path_parameters": {"bid_id": "b1"}}
    status, body = api("GET", "/bids/b1/receipt", claims={"sub": "alice"}, **receipt)
    assert (status, body["error"]["code"]) == (404, "CHECKPOINT_NOT_FOUND")
    app.public_log.sequence([create_lot()["lot_id"]])
    app.public_log.publish()
    status, body = api("GET", "/bids/b1/receipt", claims={"sub": "alice"}, **receipt)
    assert (status, body["error"]["code"]) == (404, "NOT_IN_LOG")
    app.public_log.sequence([lot])
    app.public_log.publish()
    status, body = api("GET", "/bids/b1/receipt", claims={"sub": "alice"}, **receipt)
    assert status == 200 and body["version"] == 2 and len(body["proof"]["disclosures"]) == 3
    for claims in ({"sub": "bob"}, None):
        assert api("GET", "/bids/b1/receipt", claims=claims, **receipt)[0] == (404 if claims else 401)
    assert api("GET", "/bids/no-such/receipt", claims={"sub": "alice"}, path_parameters={"bid_id": "no-such"})[0] == 404
    assert api("GET", "/bids/bad id!/receipt", claims={"sub": "alice"}, path_parameters={"bid_id": "bad id!"})[0] == 400
