"""Staggered sales end to end on the local runtime: `POST /sales`, `GET /sales/{id}`, a
late bid on lot 2 that extends lot 2 alone, the lots closing one after another by the
sweep, and `samsold sales create|show`."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from ledger.domain.values import format_time, parse_time, utc_now
from samsold_cli.main import app
from tests.e2e.helpers import Client, eventually

runner = CliRunner(env={"COLUMNS": "80"})


@pytest.fixture(scope="module")
def sally(api, dev_auth):
    return Client(api, dev_auth.mint("sally", seller=True, handle="sally"))


def sale_body(interval_s: int, first_closes_in_s: int) -> dict:
    prefix = uuid.uuid4().hex[:8]
    lots = [{"lot_id": f"sally-{prefix}-{n}", "title": title, "currency": "EUR", "starting_price": "10.00"}
            for n, title in ((1, "Blue vase"), (2, "Brass lamp"), (3, "Oak chair"))]
    return {"sale_id": f"sale-{prefix}", "title": "Spring sale", "interval_s": interval_s,
            "first_closes_at": format_time(utc_now() + timedelta(seconds=first_closes_in_s)), "lots": lots}


def closes(sale: dict) -> list[str]:
    return [lot["closes_at"] for lot in sale["lots"]]


def test_a_sale_staggers_its_lots_and_a_late_bid_extends_only_its_own(api, sally, alice):
    body = sale_body(interval_s=4, first_closes_in_s=8)
    created = sally.post("/sales", body)
    assert created.status_code == 201, created.text
    sale_id, lot_ids = body["sale_id"], [lot["lot_id"] for lot in body["lots"]]
    assert [lot["lot_id"] for lot in created.json()["lots"]] == lot_ids
    first = parse_time(body["first_closes_at"])
    scheduled = [format_time(first + timedelta(seconds=4 * i)) for i in range(3)]
    sale = Client(api).get(f"/sales/{sale_id}").json()  # public: no token
    assert (sale["sale_id"], sale["title"], sale["interval_s"], closes(sale)) == (sale_id, "Spring sale", 4, scheduled)
    assert [(lot["status"], lot["sale_id"]) for lot in sale["lots"]] == [("OPEN", sale_id)] * 3
    assert Client(api).get(f"/lots/{lot_ids[1]}").json()["sale_id"] == sale_id
    retried = sally.post("/sales", body)  # the same request again (a lost answer): the same sale
    assert (retried.status_code, closes(retried.json())) == (201, scheduled)

    # A bid on lot 2 inside its soft-close window (120 s by default) moves lot 2's close only.
    outcome = alice.wait_for_outcome(alice.bid(lot_ids[1], "10.00")["bid_id"])
    assert outcome["status"] == "ACCEPTED", outcome
    sale = Client(api).get(f"/sales/{sale_id}").json()
    assert closes(sale)[0] == scheduled[0] and closes(sale)[2] == scheduled[2]
    assert closes(sale)[1] > scheduled[1] and sale["lots"][1]["extension_count"] == 1

    # The sweep closes lots 1 and 3 at their own times, one after the other; lot 2 runs on.
    def ended() -> dict | None:
        now = Client(api).get(f"/sales/{sale_id}").json()
        return now if now["lots"][0]["status"] == now["lots"][2]["status"] == "CLOSED" else None

    sale = eventually(ended, timeout=60, every=0.5)
    assert [lot["outcome"] for lot in sale["lots"]] == ["UNSOLD", None, "UNSOLD"]
    assert sale["lots"][1]["status"] == "OPEN"
    assert sale["lots"][0]["ended_at"] < sale["lots"][2]["ended_at"]
    assert scheduled[0] < sale["lots"][0]["ended_at"] and scheduled[2] < sale["lots"][2]["ended_at"]


def test_refusals_write_nothing(api, sally):
    body = sale_body(interval_s=60, first_closes_in_s=600)
    assert sally.post("/sales", body | {"interval_s": "60"}).status_code == 400
    assert Client(api).post("/sales", body).status_code == 401
    existing = sally.create_lot(lot_id=body["lots"][2]["lot_id"])
    refused = sally.post("/sales", body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "LOT_ALREADY_EXISTS")
    assert refused.json()["error"]["details"] == {"lot_ids": [existing["lot_id"]]}
    assert Client(api).get(f"/sales/{body['sale_id']}").status_code == 404
    assert Client(api).get(f"/lots/{body['lots'][0]['lot_id']}").status_code == 404


def test_the_cli_creates_and_shows_a_sale_in_80_columns(app_stack, tmp_path):
    body = sale_body(interval_s=60, first_closes_in_s=600)
    file = tmp_path / "sale.json"
    file.write_text(json.dumps(body))
    data_dir = ["--data-dir", str(app_stack.data_dir)]
    created = runner.invoke(app, ["sales", "create", str(file), "--first-closes-in", "300", "--as", "sally", *data_dir])
    assert created.exit_code == 0, created.output
    shown = runner.invoke(app, ["sales", "show", body["sale_id"], *data_dir])
    assert shown.exit_code == 0, shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80
    for lot in body["lots"]:
        assert lot["lot_id"] in shown.output and lot["title"] in shown.output
    assert "3 lots, closing 60 s apart" in shown.output
    missing = runner.invoke(app, ["sales", "show", "no-such-sale", *data_dir])
    assert missing.exit_code == 1 and "SALE_NOT_FOUND" in missing.output


def test_bench_sale_creates_adds_and_reads_back_a_sale_and_writes_its_json(api, dev_auth, tmp_path):
    """`samsold-bench sale`'s run, small (60 lots, then 60 more: drafts in two transactions
    each), on this package's stack: every lot read back in order, and its JSON consistent
    (the seconds are the benchmark's to show, never a timed test)."""
    from samsold_bench.harness import write_results
    from samsold_bench.sale import run_sale, sale_document

    results = run_sale(api, dev_auth.mint("bench-seller", seller=True, handle="sale"), 60, 60, 10)
    output = tmp_path / "sale.json"
    write_results(sale_document(results, {"first": 60, "added": 60, "interval_s": 10}, (0.0, 0.0, 0.0)), output)
    document = json.loads(output.read_text())
    assert {"benchmark", "stack", "measured_from", "machine", "options", "goal", "lots", "seconds", "answered_lots",
            "pages_read", "read_back_in_order", "within_goal"} <= set(document)
    assert (document["lots"], document["answered_lots"], document["pages_read"]) == (120, {"create": 60, "add": 60}, 2)
    assert document["read_back_in_order"] is True
    assert set(document["seconds"]) == {"create", "add", "create_and_add", "read_all_pages"}
