"""What admitting a bid costs in DynamoDB requests, with the bidders' quotas on: the lot's
read (skipped for a lot the container read moments before), the quota record's write, unread,
and the bid request's write. A quota record another container wrote since is counted on as
the refused write returns it, without a read. Counted by a proxy at the boto3 boundary:
every call still reaches DynamoDB Local (see docs/CAPACITY.md, "Limits and quotas")."""

from __future__ import annotations

import uuid
from datetime import timedelta

from bootstrap import App, build
from ledger.domain.commands import CreateLot, PlaceBid
from tests.support.counting import CountingClient

QUOTAS = {"QUOTA_PENDING_BIDS_PER_LOT": "5", "QUOTA_REJECTED_BIDS_PER_LOT_PER_HOUR": "20"}


def counted(service: App) -> CountingClient:
    store = service.commands.store
    store.client = CountingClient(store.client)
    return store.client


def admitted(service: App, counter: CountingClient, lot_id: str, amount: str, at) -> dict[str, int]:
    """The requests one admitted bid of alice's made."""
    counter.reset()
    service.admission.submit_bid(PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot_id, bidder="alice", amount=amount,
                                          placed_at=at))
    return dict(counter.calls)


def test_an_admitted_bid_writes_its_quota_record_unread(ledger_env, clock):
    service = build(ledger_env | QUOTAS, clock=clock)
    lot_id = f"lot-{uuid.uuid4().hex[:10]}"
    service.lots.create_lot(CreateLot(lot_id=lot_id, title="Blue vase", currency="EUR", starting_price="10.00",
                                      closes_at=clock.now + timedelta(minutes=30)), seller="sam")
    counter = counted(service)

    # The lot, the quota record (alice's first bid on it), the request: no read of the record;
    # and, for who may bid, alice's standing (a BatchGetItem each bid).
    assert admitted(service, counter, lot_id, "10.00", clock.now) == {"GetItem": 1, "PutItem": 2, "BatchGetItem": 1}
    # The lot as read a moment ago; the record as this container wrote it.
    assert admitted(service, counter, lot_id, "11.00", clock.now) == {"PutItem": 2, "BatchGetItem": 1}

    # Another container never wrote alice's record: its write on none is refused and returns
    # the record, and the bid is counted on that, still without a read.
    other = build(ledger_env | QUOTAS, clock=clock)
    assert admitted(other, counted(other), lot_id, "12.00", clock.now) == {"GetItem": 1, "PutItem": 3, "BatchGetItem": 1}
    record = service.commands.store.get_quota("alice", f"LOT#{lot_id}")
    assert record is not None and len(record["pending"]) == 3 and record["version"] == 3
