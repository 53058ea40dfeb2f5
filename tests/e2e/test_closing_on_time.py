"""Closing on time on the local stack: lots are closed by their close
timers (POST /lots arms one, CloseTimerFunction closes the lot or re-arms at a moved close
time) through the local standard queue's per-message delays. This stack's sweep runs once an
hour, so every close seen here came from a timer, not from the every-minute safety net."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.domain.values import format_time, parse_time, utc_now
from local.cognito.user_pool import DevAuth
from local.runtime import LocalStack
from samsold_cli.dev_site import WEB_DIR, dev_site
from tests.conftest import REPO
from tests.e2e.helpers import Client, Watcher

GRACE_S = 3
SWEEP_EVERY_S = 3600.0  # never within these tests


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(REPO / "template.yaml", tmp_path_factory.mktemp("closing-data"), port=0,
                    parameter_overrides={"CloseGraceSeconds": str(GRACE_S)}, schedule_every=SWEEP_EVERY_S,
                    static_dir=WEB_DIR, site=dev_site, dynamodb_in_memory=True) as running:
        yield running


@pytest.fixture(scope="module")
def admin(stack):
    return Client(stack.endpoints["rest"], DevAuth(stack.data_dir).mint("ada", admin=True))


@pytest.fixture(scope="module")
def alice(stack):
    return Client(stack.endpoints["rest"], DevAuth(stack.data_dir).mint("alice"))


def events_of(admin: Client, lot_id: str) -> list[dict[str, Any]]:
    response = admin.get(f"/lots/{lot_id}/events")
    assert response.status_code == 200, response.text
    return response.json()["events"]


def closed_update(watcher: Watcher, timeout: float = 60) -> dict[str, Any]:
    watcher.until(lambda _: any(u["status"] == "CLOSED" for u in watcher.lot_updates()), timeout)
    return next(u for u in watcher.lot_updates() if u["status"] == "CLOSED")


def test_a_lot_closing_seconds_after_creation_is_closed_by_its_timer(stack, admin):
    lot = admin.create_lot(closes_at=format_time(utc_now() + timedelta(seconds=5)))
    with Watcher(f"{stack.endpoints['websocket']}/?lot_id={lot['lot_id']}") as watcher:
        closed = closed_update(watcher)
    assert (closed["status"], closed["outcome"], closed["closes_at"]) == ("CLOSED", "UNSOLD", lot["closes_at"])

    [lot_closed] = [e for e in events_of(admin, lot["lot_id"]) if e["type"] == "LotClosed"]
    # Not before the close time plus the grace: bids placed in time were queued ahead of it.
    assert parse_time(lot_closed["data"]["requested_at"]) >= parse_time(lot["closes_at"]) + timedelta(seconds=GRACE_S)


def test_a_lot_extended_by_a_late_bid_closes_at_its_new_time_not_the_old_one(stack, admin, alice):
    lot = admin.create_lot(closes_at=format_time(utc_now() + timedelta(seconds=8)),
                           soft_close_window_s=30, soft_close_extension_s=10)
    with Watcher(f"{stack.endpoints['websocket']}/?lot_id={lot['lot_id']}") as watcher:
        bid = alice.bid(lot["lot_id"], "10.00")
        assert alice.wait_for_outcome(bid["bid_id"])["status"] == "ACCEPTED"
        watcher.until(lambda _: any(u["closes_at"] != lot["closes_at"] for u in watcher.lot_updates()))
        extended = next(u for u in watcher.lot_updates() if u["closes_at"] != lot["closes_at"])
        assert parse_time(extended["closes_at"]) > parse_time(lot["closes_at"])
        closed = closed_update(watcher)
    # The timer armed at creation arrived at the old deadline, found the lot extended and armed
    # itself again: the lot closed at its new close time, sold to the late bidder.
    assert (closed["status"], closed["outcome"], closed["closes_at"]) == ("CLOSED", "SOLD", extended["closes_at"])
    assert not any(u["status"] == "CLOSED" and u["closes_at"] == lot["closes_at"] for u in watcher.lot_updates())
    [lot_closed] = [e for e in events_of(admin, lot["lot_id"]) if e["type"] == "LotClosed"]
    assert parse_time(lot_closed["data"]["requested_at"]) >= parse_time(extended["closes_at"]) + timedelta(seconds=GRACE_S)
