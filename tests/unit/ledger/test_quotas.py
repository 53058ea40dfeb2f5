"""The service's per-user quotas on their own (`ledger.service.quotas`), over the in-memory
recorder with the bids' receipts given: what is counted, when it refuses, what it keeps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.domain.errors import QuotaExceeded
from ledger.memory import InMemoryLotRecorder
from ledger.service.quotas import QuotaLimits, Quotas

NOW = datetime(2030, 1, 1, 10, 15, tzinfo=UTC)


class Recorder(InMemoryLotRecorder):
    """Bids decided as the test says: `decided` maps a bid id to its status."""

    def __init__(self) -> None:
        super().__init__()
        self.decided: dict[str, str] = {}

    def get_receipts(self, bid_ids):  # type: ignore[no-untyped-def]
        return {bid: {"bid_id": bid, "status": self.decided[bid]} for bid in bid_ids if bid in self.decided}


def quotas(recorder: Recorder, **limits: int) -> Quotas:
    return Quotas(recorder, QuotaLimits(**limits), clock=lambda: NOW)


def admitted(quotas: Quotas, bids: list[str], bidder: str = "mallory") -> list[str]:
    taken = []
    for bid in bids:
        try:
            quotas.take_bid(bidder, "vase", bid)
        except QuotaExceeded:
            break
        taken.append(bid)
    return taken


def test_pending_bids_are_counted_up_to_the_limit_and_free_their_place_once_decided() -> None:
    recorder = Recorder()
    limited = quotas(recorder, pending_bids_per_lot=5)
    assert admitted(limited, [f"b{n}" for n in range(8)]) == ["b0", "b1", "b2", "b3", "b4"]
    with pytest.raises(QuotaExceeded) as refused:
        limited.take_bid("mallory", "vase", "b9")
    assert refused.value.details == {"quota": "pending_bids_per_lot", "limit": 5, "retry_after_s": 2, "lot_id": "vase"}
    limited.take_bid("mallory", "vase", "b4")  # a retry of a pending bid is no new one
    recorder.decided |= {"b0": "ACCEPTED", "b1": "ACCEPTED"}
    assert admitted(limited, ["c0", "c1", "c2"]) == ["c0", "c1"]
    assert admitted(limited, ["x0"], bidder="alice") == ["x0"]  # another bidder's quota is their own


def test_rejections_are_counted_in_the_hour_and_then_refuse_until_the_next() -> None:
    recorder = Recorder()
    limited = quotas(recorder, pending_bids_per_lot=5, rejected_bids_per_lot_per_hour=20)
    bids = [f"b{n}" for n in range(60)]
    recorder.decided = dict.fromkeys(bids, "REJECTED")  # each decided as soon as it is queued
    assert admitted(limited, bids) == bids[:20]
    with pytest.raises(QuotaExceeded) as refused:
        limited.take_bid("mallory", "vase", "late")
    assert refused.value.details["quota"] == "rejected_bids_per_lot_per_hour"
    assert refused.value.retry_after_s == 45 * 60  # to 11:00
    stored = recorder.get_quota("mallory", "LOT#vase")
    assert stored is not None and len(stored["pending"]) <= 5  # the record stays bounded


def test_without_a_pending_limit_the_record_still_keeps_few_ids() -> None:
    recorder = Recorder()
    limited = quotas(recorder, rejected_bids_per_lot_per_hour=1000)
    assert len(admitted(limited, [f"b{n}" for n in range(50)])) == 50
    stored = recorder.get_quota("mallory", "LOT#vase")
    assert stored is not None and len(stored["pending"]) <= 10


def test_lots_a_day_count_a_sales_lots_and_start_again_the_next_day() -> None:
    recorder = Recorder()
    limited = quotas(recorder, lots_per_day=10)
    limited.take_lots("sam", 9)
    with pytest.raises(QuotaExceeded) as refused:
        limited.take_lots("sam", 2)
    assert refused.value.retry_after_s == 13 * 3600 + 45 * 60 + 1  # to midnight UTC
    limited.take_lots("sam", 1)
    tomorrow = Quotas(recorder, QuotaLimits(lots_per_day=10), clock=lambda: NOW.replace(day=2))
    tomorrow.take_lots("sam", 10)
