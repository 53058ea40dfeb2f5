"""The in-memory recorder (`ledger.memory`) held to each storage port's contract and to
the eventsourcing library's own recorder test cases, as every backend of the library is.
No DynamoDB, no Java: `tests/integration/ledger/test_recorder_conformance.py` runs the same
contracts on DynamoDB Local."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.tests.persistence import AggregateRecorderTestCase, ApplicationRecorderTestCase
from eventsourcing.utils import Environment

from ledger.memory import InMemoryApplicationLotRecorder, InMemoryLotRecorder
from ledger.persistence import LotRecorder
from tests.support.recorder_contract import (
    PORT_CONTRACTS,
    BidderRecordsContract,
    BidRecordsContract,
    ErasureRecordsContract,
    LotEventStoreContract,
    LotListingsContract,
    ParkedMessagesContract,
    QuotaRecordsContract,
    RegistrationRecordsContract,
    SaleRecordsContract,
)

ENV = Environment("SamSold", {"PERSISTENCE_MODULE": "ledger.memory"})


def construct_recorder() -> InMemoryApplicationLotRecorder:
    """Built the library's way, from PERSISTENCE_MODULE (the service's recorder)."""
    recorder = InfrastructureFactory.construct(ENV).application_recorder()
    assert isinstance(recorder, InMemoryApplicationLotRecorder)
    return recorder


class InMemoryRecorder:
    """Each contract on both in-memory recorders: the aggregate and the application one."""

    @pytest.fixture(params=["aggregate", "application"])
    def recorder(self, request) -> LotRecorder:
        if request.param == "aggregate":
            return InfrastructureFactory.construct(ENV).aggregate_recorder()
        return construct_recorder()


class TestInMemoryLotEventStore(InMemoryRecorder, LotEventStoreContract):
    pass


class TestInMemoryBidRecords(InMemoryRecorder, BidRecordsContract):
    pass


class TestInMemoryLotListings(InMemoryRecorder, LotListingsContract):
    pass


class TestInMemoryBidderRecords(InMemoryRecorder, BidderRecordsContract):
    pass


class TestInMemorySaleRecords(InMemoryRecorder, SaleRecordsContract):
    pass


class TestInMemoryParkedMessages(InMemoryRecorder, ParkedMessagesContract):
    pass


class TestInMemoryQuotaRecords(InMemoryRecorder, QuotaRecordsContract):
    pass


class TestInMemoryErasureRecords(InMemoryRecorder, ErasureRecordsContract):
    pass


class TestInMemoryRegistrationRecords(InMemoryRecorder, RegistrationRecordsContract):
    pass


def test_every_port_has_its_contract_and_each_runs_here():
    """A port added to `LotRecorder` without a contract, or a contract not run on this
    backend, fails here (`test_recorder_conformance.py` checks the same for DynamoDB)."""
    assert [c.__name__.removesuffix("Contract") for c in PORT_CONTRACTS] == [p.__name__ for p in LotRecorder.__bases__]
    here = [c for c in globals().values() if isinstance(c, type) and c.__name__.startswith("Test")]
    assert all(any(issubclass(c, contract) for c in here) for contract in PORT_CONTRACTS)


class TestInMemoryAggregateRecorder(AggregateRecorderTestCase):
    def new_originator_id(self) -> str:
        return f"conformance-{uuid.uuid4()}"

    def create_recorder(self) -> InMemoryLotRecorder:
        recorder = InfrastructureFactory.construct(ENV).aggregate_recorder()
        assert isinstance(recorder, InMemoryLotRecorder)
        return recorder


class TestInMemoryApplicationRecorder(ApplicationRecorderTestCase[InMemoryApplicationLotRecorder]):
    """The in-memory recorder keeps the library's global notification log (it is built on
    `eventsourcing.popo`'s application recorder), so all of these cases apply."""

    def new_originator_id(self) -> str:
        return f"conformance-{uuid.uuid4()}"

    def create_recorder(self) -> InMemoryApplicationLotRecorder:
        return construct_recorder()
