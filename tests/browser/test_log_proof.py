"""The lot page checks the lot's public proof in the browser (web/js/proof-check.js: Web
Crypto's SHA-256 and ECDSA P-256, with the log's key from GET /log/key): a proof that holds
reads "History verified against the public log (size N, HH:MM UTC)"; a proof tampered on
its way (the route intercepted), a checkpoint whose signature was forged, or a lot not in the
log yet is said plainly."""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

from playwright.sync_api import Page, Route, expect
from typer.testing import CliRunner

from samsold_cli.main import app
from tests.e2e.helpers import Client, eventually

runner = CliRunner()


def _proven(app_stack, api: str, lot_id: str, versions: int) -> bool:
    """Whether the lot's proof has its events; if not, sequence them and sign a checkpoint now (as the schedule would)."""
    answer = Client(api).get(f"/lots/{lot_id}/proof")
    if answer.status_code == 200 and len(answer.json()["events"]) == versions:
        return True
    runner.invoke(app, ["log", "checkpoint", "--lot", lot_id, "--data-dir", str(app_stack.data_dir)])
    return False


def _serve(page: Page, lot_id: str, status: int, answer: dict[str, Any]) -> None:
    def fulfil(route: Route) -> None:
        route.fulfill(status=status, content_type="application/json", body=json.dumps(answer))

    page.route(re.compile(rf".*/lots/{lot_id}/proof$"), fulfil)


def _forged(note: str) -> str:
    """The checkpoint with one byte of its signature changed (its key ID kept)."""
    text, _, line = note.partition("\n\n")
    dash, origin, blob = line.rstrip("\n").split(" ")
    signature = bytearray(base64.b64decode(blob))
    signature[-1] ^= 0x01
    return f"{text}\n\n{dash} {origin} {base64.b64encode(bytes(signature)).decode()}\n"


def test_the_page_verifies_the_history_against_the_public_log_and_says_why_when_it_cannot(
    open_page, app_stack, seller, api
):
    lot = seller.create_lot(title="Silver teapot")["lot_id"]  # its history: one event, LotCreated
    eventually(lambda: _proven(app_stack, api, lot, 1), timeout=60, every=1)

    page = open_page(f"#/lots/{lot}")
    line = page.locator("#lot-log")
    expect(line).to_have_text(re.compile(r"^History verified against the public log \(size \d+, \d\d:\d\d UTC\)\.$"))
    expect(line).to_have_attribute("data-state", "verified")

    proof = Client(api).get(f"/lots/{lot}/proof").json()
    tampered = copy.deepcopy(proof)
    tampered["events"][0]["hash"] = "0" * 64  # another event than the one logged
    forged = copy.deepcopy(proof) | {"checkpoint": _forged(proof["checkpoint"])}
    other = open_page("#/")
    not_yet = {"error": {"code": "NOT_IN_LOG", "message": f"no event of lot {lot!r} is in the log at size 1"}}
    for status, served, says, state in [
        (200, tampered, "Could not verify the history: the proof does not match the public log (version 1: ", "failed"),
        (200, forged, "Could not verify the history: the public log's signature is not valid", "failed"),
        (404, not_yet, "Not in the public log yet: a lot's events join it within a minute of being written.", "pending"),
    ]:
        _serve(other, lot, status, served)  # the route registered last answers
        other.goto("/#/")
        other.goto(f"/#/lots/{lot}")  # a new lot page: a new check
        expect(other.locator("#lot-log")).to_contain_text(says)
        expect(other.locator("#lot-log")).to_have_attribute("data-state", state)
