"""Staggered sales on DynamoDB Local: a request of more lots than one transaction holds is
reserved, drafted a transaction per 50 lots and committed in one TransactWriteItems, a
conflict on any lot writes nothing, a request stopped half way (a write made to fail) shows
nothing until it is sent again, and `GET /sales/{id}`'s page is the sale item, one Query of
its batches and one BatchGetItem."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from ledger.domain import rules
from ledger.domain.commands import MAX_SALE_LOTS, MAX_SALE_REQUEST_LOTS, CreateLot, CreateSale, PlaceBid
from ledger.domain.errors import LotAlreadyExists, SaleAlreadyExists, SaleNotFound
from ledger.domain.sales import SaleBatch, SaleRecord
from ledger.domain.values import format_time, utc_now
from ledger.dynamodb import DynamoDBRecorder, sale_key
from projections.audit import replay, verify
from tests.support.app import execute_one
from tests.support.counting import CountingClient


def a_sale(clock, count: int, **fields):
    prefix = uuid.uuid4().hex[:8]
    lots = [{"lot_id": f"{prefix}-{n}", "title": f"Lot {n}", "currency": "EUR", "starting_price": "10.00"}
            for n in range(1, count + 1)]
    return CreateSale.model_validate({"sale_id": f"sale-{prefix}", "title": "Spring sale", "interval_s": 60,
                                      "first_closes_at": format_time(clock.now + timedelta(minutes=5)), "lots": lots}
                                     | fields)


def counted(service) -> CountingClient | None:
    store = service.commands.store
    if not isinstance(store, DynamoDBRecorder):
        return None
    store.client = CountingClient(store.client)
    return store.client


def test_a_request_of_120_lots_is_seven_transactions_and_reads_back_in_order(service, clock):
    command = a_sale(clock, 120)
    counter = counted(service)
    page = service.sales.create_sale(command, seller="sam")
    if counter is not None:
        # Read the request and the sale id, check the ids free, reserve, three draft
        # transactions, the commit, open the drafts 100 a transaction, read the sale back.
        assert dict(counter.calls) == {"GetItem": 3, "BatchGetItem": 2, "TransactWriteItems": 7}
        counter.reset()
    again = service.sales.get_sale(command.sale_id, limit=100)
    if counter is not None:
        assert dict(counter.calls) == {"GetItem": 1, "Paginate": 1, "BatchGetItem": 1}
    assert again.sale == page.sale and again.next_position == 100
    assert [lot.lot_id for lot in page.lots] == [terms.lot_id for terms in command.lots]  # type: ignore[attr-defined]
    assert again.lots == page.lots[:100]
    assert [lot.closes_at for lot in page.lots] == rules.sale_close_times(command.first_closes_at, 60, 120)
    for lot in (page.lots[0], page.lots[-1]):
        assert verify(service.queries, lot.lot_id).ok and not replay(service.queries, lot.lot_id).drifted
    # Each lot is an ordinary open lot: the sweep's index lists it.
    listed = {lot.lot_id for lot in service.queries.open_lots(closing_by=page.lots[-1].closes_at).lots}
    assert {lot.lot_id for lot in page.lots} <= listed


def test_a_request_stopped_half_way_shows_nothing_until_sent_again(service, clock):
    command = a_sale(clock, 120)
    counter = counted(service)
    if counter is None:
        pytest.skip("fails a DynamoDB call")
    writes = 0

    def fail_the_third_write(operation: str) -> None:
        nonlocal writes
        if operation == "TransactWriteItems":
            writes += 1
            if writes == 3:  # the reservation and a draft transaction made, this one not
                raise RuntimeError("the function stopped (injected)")

    counter.before = fail_the_third_write
    with pytest.raises(RuntimeError, match="injected"):
        service.sales.create_sale(command, seller="sam")
    counter.before = None
    lot_ids = [terms.lot_id for terms in command.lots]  # type: ignore[attr-defined]
    assert [lot_id for lot_id in lot_ids if service.queries.find_lot(lot_id) is not None] == []
    assert not {lot.lot_id for lot in service.queries.open_lots().lots} & set(lot_ids)
    with pytest.raises(SaleNotFound):
        service.sales.get_sale(command.sale_id)
    page = service.sales.create_sale(command, seller="sam")  # sent again: completed
    assert [lot.lot_id for lot in page.lots] == lot_ids
    assert all(service.queries.find_lot(lot_id) is not None for lot_id in lot_ids)
    assert all(not replay(service.queries, lot_id).drifted for lot_id in (lot_ids[0], lot_ids[-1]))


def test_a_sale_with_a_taken_lot_id_writes_nothing(service, clock):
    command = a_sale(clock, 3)
    taken = command.lots[1].lot_id  # type: ignore[attr-defined]
    service.lots.create_lot(CreateLot(lot_id=taken, title="Mine", currency="EUR", starting_price="1.00",
                                 closes_at=clock.now + timedelta(hours=1)), seller="sam")
    with pytest.raises(LotAlreadyExists) as refused:
        service.sales.create_sale(command, seller="sam")
    assert refused.value.details == {"lot_ids": [taken]}
    with pytest.raises(SaleNotFound):
        service.sales.get_sale(command.sale_id)
    assert service.queries.find_lot(command.lots[0].lot_id) is None  # type: ignore[attr-defined]
    assert list(service.queries.stored_events(command.lots[2].lot_id)) == []  # type: ignore[attr-defined]
    # Once the clash is gone (another id), the same sale is created whole.
    lots = [terms.model_dump(mode="json") for terms in command.lots]
    lots[1]["lot_id"] += "-b"
    page = service.sales.create_sale(CreateSale.model_validate(command.model_dump(mode="json") | {"lots": lots}), seller="sam")
    assert len(service.sales.get_sale(page.sale.sale_id).lots) == 3


def test_a_sale_id_is_created_once(service, clock):
    command = a_sale(clock, 2)
    service.sales.create_sale(command, seller="sam")
    with pytest.raises(SaleAlreadyExists):
        service.sales.create_sale(a_sale(clock, 2, sale_id=command.sale_id), seller="sam")


def test_a_late_bid_moves_only_its_own_lots_close(service, clock):
    made = service.sales.create_sale(a_sale(clock, 3), seller="sam")
    sale, lots = made.sale, made.lots
    clock.now = lots[1].closes_at - timedelta(seconds=30)
    execute_one(service.commands, PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lots[1].lot_id, bidder="alice", amount="10.00",
                               placed_at=clock.now))
    after = service.sales.get_sale(sale.sale_id).lots
    assert [lot.closes_at for lot in after] == [lots[0].closes_at, clock.now + timedelta(seconds=120), lots[2].closes_at]
    assert [lot.extension_count for lot in after] == [0, 1, 0]


def test_the_largest_batch_item_prices_at_most_34_write_units(dynamodb_client, bids_table, service):
    """500 ids of 64 characters: DynamoDB prices a copy; the sale's own item (its longest title) at most 2."""
    if not isinstance(service.commands.store, DynamoDBRecorder):
        pytest.skip("DynamoDB prices its items")
    sale_id = f"{uuid.uuid4().hex}"  # 32 characters, the longest
    lot_ids = [f"{uuid.uuid4().hex}{n:03d}".ljust(64, "x") for n in range(MAX_SALE_REQUEST_LOTS)]
    sale = SaleRecord(sale_id=sale_id, title="\U0001d11e" * 200, seller="u" * 128, seller_handle="s" * 24, interval_s=3600,
                      first_closes_at=utc_now() + timedelta(hours=1), created_at=utc_now(), request_hash="f" * 64,
                      reserved=MAX_SALE_REQUEST_LOTS, lot_count=MAX_SALE_LOTS)
    batch = SaleBatch(first=0, request_id="f" * 64, lot_ids=lot_ids)
    service.commands.store.reserve_sale_lots(sale_id, sale.to_item(), 0, format_time(utc_now()), batch.model_dump(mode="json"))
    for sort_key, most in (("BATCH#0000", 34.0), ("SALE", 2.0)):
        key = {"PK": {"S": sale_key(sale_id)}, "SK": {"S": sort_key}}
        item = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
        copy = item | {"PK": {"S": sale_key(sale_id + "-copy")}}
        consumed = dynamodb_client.put_item(TableName=bids_table, Item=copy, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
        dynamodb_client.delete_item(TableName=bids_table, Key={"PK": copy["PK"], "SK": copy["SK"]})
        assert consumed["CapacityUnits"] <= most, sort_key
