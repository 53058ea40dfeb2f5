"""`samsold dev` as a developer runs it in a terminal: quiet while it serves (the
functions' metrics and warnings go to the data directory's functions.log), and Ctrl-C with
pages open ends it cleanly: every WebSocket connection is closed and its row removed
($disconnect runs before DynamoDB Local stops), exit 0, no traceback.

A stack of its own: the test is about starting and stopping one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from websockets.exceptions import ConnectionClosed

from local.cognito.user_pool import DevAuth
from local.dynamodb.launcher import DynamoDBLocal
from local.runtime import read_endpoints
from tests.e2e.helpers import Client, Watcher, eventually

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMSOLD = Path(sys.executable).parent / "samsold"


def connection_rows(dynamodb_url: str, table: str) -> list[dict]:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_url, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    return client.scan(TableName=table)["Items"]


def test_samsold_dev_is_quiet_and_ctrl_c_with_pages_open_removes_their_connections(tmp_path):
    data_dir, log = tmp_path / "data", tmp_path / "dev.log"
    with open(log, "wb") as output:
        # A session of its own, as a terminal gives it: Ctrl-C signals the whole group.
        dev = subprocess.Popen([str(SAMSOLD), "dev", "--data-dir", str(data_dir), "--port", "0"], cwd=REPO,
                               stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        endpoints = eventually(lambda: dev.poll() is None and read_endpoints(data_dir), timeout=120)
        eventually(lambda: b"ready" in log.read_bytes())
        auth = DevAuth(data_dir)
        lot = Client(endpoints["rest"], auth.mint("sally", seller=True)).create_lot()
        alice = Client(endpoints["rest"], auth.mint("alice"))
        alice.wait_for_outcome(alice.bid(lot["lot_id"], "12.00")["bid_id"])  # functions ran: metrics were written
        url = f"{endpoints['websocket']}/?lot_id={lot['lot_id']}"
        pages = [Watcher(url), Watcher(url, auth.mint("bob"))]
        table = endpoints["outputs"]["ConnectionsTableName"]
        eventually(lambda: len(connection_rows(endpoints["dynamodb"], table)) >= 2)

        os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C in the terminal
        assert dev.wait(60) == 0
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()

    for page in pages:  # closed by the server: what it sent before, then the close
        with pytest.raises(ConnectionClosed):
            for _ in range(100):
                page.socket.recv(timeout=5)
    text = log.read_text()
    assert "Traceback" not in text and "Error" not in text, text
    # The start's summary and "stopping...": no metrics, no Powertools warnings, no request lines.
    assert "_aws" not in text and "metrics" not in text.lower(), text
    assert text.split("Ctrl-C stops it")[1].splitlines()[1:] == ["stopping..."], text  # nothing between
    assert "BidsQueued" in (data_dir / "functions.log").read_text()
    with DynamoDBLocal(db_path=data_dir / "dynamodb") as database:
        assert connection_rows(database.endpoint_url, table) == []
