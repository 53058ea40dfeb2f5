"""A lot's commands go in as few transactions as DynamoDB's 100 items allow: the worst batch
SQS hands the processor (10 bids of 10 different bidders on a lot that needs approval, each
bidder with a limit, each bid taking the lead, the last one buying the lot) is one transaction
under the limit, counted on what is really written; larger batches are split only when the
next command would not fit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.commands import BuyNow, CreateSale, PlaceBid
from ledger.domain.values import format_time, utc_now
from ledger.persistence import TRANSACTION_LIMIT
from ledger.service.commands import COMMANDS_PER_TRANSACTION, transaction_batches, transaction_items
from tests.support.app import build_test_app

SQS_BATCH = 10


def _counting(app) -> list[tuple[int, int]]:
    """The receipts and the items of each transaction the app's recorder is asked to write
    (a try whose condition failed is decided again and counted again)."""
    counts: list[tuple[int, int]] = []
    insert = app.commands.store.insert_events

    def counted(stored_events, **parts: Any):
        counts.append((len(parts.get("receipts", ())), len(stored_events) + (parts.get("snapshot") is not None) + sum(
            len(value) for name, value in parts.items()
            if name not in ("snapshot", "expected_version", "expected_snapshot") and isinstance(value, (list, tuple)))))
        return insert(stored_events, **parts)

    app.commands.store.insert_events = counted
    return counts


def _bids(lot_id: str, bidders: list[str], buy_last: bool = False, first: int = 0) -> list[PlaceBid | BuyNow]:
    now = utc_now()
    bids: list[PlaceBid | BuyNow] = [PlaceBid(bid_id=f"b{i}", lot_id=lot_id, bidder=bidder, amount=f"{10 + 10 * i}.00", placed_at=now)
                                     for i, bidder in enumerate(bidders, start=first)]
    if buy_last:
        bids[-1] = BuyNow(bid_id="buy", lot_id=lot_id, bidder=bidders[-1], amount="500.00", placed_at=now)
    return bids


def test_the_worst_batch_sqs_hands_over_is_one_transaction_under_the_limit():
    app = build_test_app()
    made = app.sales.create_sale(CreateSale.model_validate({
        "title": "Estate", "interval_s": 60, "registration": "approval",
        "first_closes_at": format_time(utc_now() + timedelta(hours=1)),
        "lots": [{"title": "Jug", "currency": "EUR", "starting_price": "10.00", "reserve_price": "400.00",
                  "buy_now_price": "500.00", "buy_now_until": "reserve_met"}]}), seller="sam")
    scope = app.registrations.sale_scope(made.sale.sale_id)
    lot_id = made.lots[0].lot_id
    bidders = [f"bidder-{i}" for i in range(SQS_BATCH)]
    for bidder in bidders:
        app.registrations.register(scope, bidder)
        app.registrations.approve(scope, bidder, "sam", False, Decimal("10000.00"))
    app.commands.execute(lot_id, _bids(lot_id, [bidders[0]]))  # a leader to outbid
    counts = _counting(app)
    batch = _bids(lot_id, bidders[1:] + [bidders[0]], buy_last=True, first=1)
    results = app.commands.execute(lot_id, batch)
    assert [r.bid.status for r in results] == ["ACCEPTED"] * SQS_BATCH
    assert [receipts for receipts, _ in counts] == [SQS_BATCH]  # one transaction
    assert counts[0][1] <= transaction_items(batch, needs_approval=True) <= TRANSACTION_LIMIT
    assert COMMANDS_PER_TRANSACTION >= SQS_BATCH


def test_a_batch_is_split_only_when_the_next_command_would_not_fit():
    one_bidder = _bids("lot", ["alice"] * 40)
    for needs_approval in (False, True):
        batches = transaction_batches(one_bidder, needs_approval)
        assert [c for b in batches for c in b] == one_bidder
        for batch, after in zip(batches, batches[1:], strict=False):
            assert transaction_items(batch, needs_approval) <= TRANSACTION_LIMIT
            assert transaction_items([*batch, after[0]], needs_approval) > TRANSACTION_LIMIT
    # One bidder's bids on an open lot: 16 to a transaction; 10 bidders' on an approval lot: all 10.
    assert [len(b) for b in transaction_batches(one_bidder, False)] == [16, 16, 8]
    assert len(transaction_batches(_bids("lot", [f"b{i}" for i in range(SQS_BATCH)]), True)) == 1
