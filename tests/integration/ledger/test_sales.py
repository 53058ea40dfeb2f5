"""Staggered sales on DynamoDB Local: a sale of as many lots as one transaction holds is
written in one TransactWriteItems with its SALE# item (after one GetItem of the sale id), a conflict on any lot writes
nothing, and `GET /sales/{id}`'s read is the sale item and one BatchGetItem."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from ledger.domain import rules
from ledger.domain.commands import MAX_SALE_LOTS, CreateLot, CreateSale, PlaceBid
from ledger.domain.errors import LotAlreadyExists, SaleAlreadyExists, SaleNotFound
from ledger.domain.sellers import ListedAs
from ledger.domain.values import format_time
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


def test_the_largest_sale_is_one_transaction_and_reads_back_in_order(service, clock):
    command = a_sale(clock, MAX_SALE_LOTS)
    counter = counted(service)
    sale, lots = service.sales.create_sale(command, seller="sam")
    if counter is not None:
        # A read of the sale id (the same request sent again is answered with its sale), one write.
        assert dict(counter.calls) == {"GetItem": 1, "TransactWriteItems": 1}
        counter.reset()
    again, stored = service.sales.get_sale(sale.sale_id)
    if counter is not None:
        assert dict(counter.calls) == {"GetItem": 1, "BatchGetItem": 1}
    assert again == sale
    assert [lot.lot_id for lot in stored] == sale.lot_ids == [terms.lot_id for terms in command.lots]
    assert [lot.closes_at for lot in stored] == rules.sale_close_times(command.first_closes_at, 60, MAX_SALE_LOTS)
    for lot_id in (sale.lot_ids[0], sale.lot_ids[-1]):
        assert verify(service.queries, lot_id).ok and not replay(service.queries, lot_id).drifted
    # Each lot is an ordinary open lot: the sweep's index lists it.
    assert set(sale.lot_ids) <= {lot.lot_id for lot in service.queries.open_lots(closing_by=stored[-1].closes_at).lots}


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
    sale, _ = service.sales.create_sale(CreateSale.model_validate(command.model_dump(mode="json") | {"lots": lots}), seller="sam")
    assert len(service.sales.get_sale(sale.sale_id)[1]) == 3


def test_a_sale_id_is_created_once(service, clock):
    command = a_sale(clock, 2)
    service.sales.create_sale(command, seller="sam")
    with pytest.raises(SaleAlreadyExists):
        service.sales.create_sale(a_sale(clock, 2, sale_id=command.sale_id), seller="sam")


def test_a_late_bid_moves_only_its_own_lots_close(service, clock):
    sale, lots = service.sales.create_sale(a_sale(clock, 3), seller="sam")
    clock.now = lots[1].closes_at - timedelta(seconds=30)
    execute_one(service.commands, PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lots[1].lot_id, bidder="alice", amount="10.00",
                               placed_at=clock.now))
    _, after = service.sales.get_sale(sale.sale_id)
    assert [lot.closes_at for lot in after] == [lots[0].closes_at, clock.now + timedelta(seconds=120), lots[2].closes_at]
    assert [lot.extension_count for lot in after] == [0, 1, 0]


def test_the_largest_sale_item_prices_at_most_five_write_units(dynamodb_client, bids_table, service, clock):
    """Ids of 64 characters and a title of 200 four-byte characters: DynamoDB prices a copy."""
    long_id = lambda n: f"{uuid.uuid4().hex}{n:02d}".ljust(64, "x")  # noqa: E731
    lots = [{"lot_id": long_id(n), "title": "Lot", "currency": "EUR", "starting_price": "1.00"} for n in range(MAX_SALE_LOTS)]
    sale_id = f"{uuid.uuid4().hex}"  # 32 characters, the longest
    sale, _ = service.sales.create_sale(a_sale(clock, 1, sale_id=sale_id, title="\U0001d11e" * 200, lots=lots), seller="u" * 128,
                                       listed_as=ListedAs("s" * 24, any_lot_id=True))  # the longest handle too
    key = {"PK": {"S": sale_key(sale.sale_id)}, "SK": {"S": "SALE"}}
    item = dynamodb_client.get_item(TableName=bids_table, Key=key, ConsistentRead=True)["Item"]
    copy = item | {"PK": {"S": sale_key(sale.sale_id + "-copy")}}
    consumed = dynamodb_client.put_item(TableName=bids_table, Item=copy, ReturnConsumedCapacity="TOTAL")["ConsumedCapacity"]
    dynamodb_client.delete_item(TableName=bids_table, Key={"PK": copy["PK"], "SK": copy["SK"]})
    assert consumed["CapacityUnits"] <= 5.0
