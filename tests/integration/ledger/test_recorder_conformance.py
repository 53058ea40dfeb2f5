"""The eventsourcing library's own recorder test suite, and each storage port's contract,
against DynamoDB Local, with the recorder built the library's usual way
(PERSISTENCE_MODULE). `tests/unit/ledger/test_memory_recorder.py` runs the same cases on the
in-memory recorder."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import AggregateRecorder, InfrastructureFactory
from eventsourcing.tests.persistence import AggregateRecorderTestCase, ApplicationRecorderTestCase
from eventsourcing.utils import Environment

from ledger.dynamodb import DynamoDBRecorder
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


def dynamodb_env(dynamodb_endpoint: str, bids_table: str) -> Environment:
    return Environment(
        "SamSold",
        {
            "PERSISTENCE_MODULE": "ledger.dynamodb",
            "BIDS_TABLE": bids_table,
            "CREATE_TABLE": "y",
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        },
    )


class TestDynamoDBAggregateRecorder(AggregateRecorderTestCase):
    @pytest.fixture(autouse=True)
    def _dynamodb(self, dynamodb_endpoint, bids_table):
        self.env = dynamodb_env(dynamodb_endpoint, bids_table)

    def new_originator_id(self) -> str:
        return f"conformance-{uuid.uuid4()}"

    def create_recorder(self) -> AggregateRecorder:
        recorder = InfrastructureFactory.construct(self.env).aggregate_recorder()
        assert isinstance(recorder, DynamoDBRecorder)
        return recorder


class DynamoDBLocalRecorder:
    """Each contract on the Bids table in DynamoDB Local, built from PERSISTENCE_MODULE."""

    @pytest.fixture
    def recorder(self, dynamodb_endpoint, bids_table) -> LotRecorder:
        recorder = InfrastructureFactory.construct(dynamodb_env(dynamodb_endpoint, bids_table)).application_recorder()
        assert isinstance(recorder, DynamoDBRecorder)
        return recorder


class TestDynamoDBLotEventStore(DynamoDBLocalRecorder, LotEventStoreContract):
    pass


class TestDynamoDBBidRecords(DynamoDBLocalRecorder, BidRecordsContract):
    pass


class TestDynamoDBLotListings(DynamoDBLocalRecorder, LotListingsContract):
    pass


class TestDynamoDBBidderRecords(DynamoDBLocalRecorder, BidderRecordsContract):
    pass


class TestDynamoDBSaleRecords(DynamoDBLocalRecorder, SaleRecordsContract):
    pass


class TestDynamoDBParkedMessages(DynamoDBLocalRecorder, ParkedMessagesContract):
    pass


class TestDynamoDBQuotaRecords(DynamoDBLocalRecorder, QuotaRecordsContract):
    pass


class TestDynamoDBErasureRecords(DynamoDBLocalRecorder, ErasureRecordsContract):
    pass


class TestDynamoDBRegistrationRecords(DynamoDBLocalRecorder, RegistrationRecordsContract):
    pass


def test_every_ports_contract_runs_here():
    here = [c for c in globals().values() if isinstance(c, type) and c.__name__.startswith("Test")]
    assert all(any(issubclass(c, contract) for c in here) for contract in PORT_CONTRACTS)


NO_NOTIFICATION_LOG = (
    "the Bids table keeps no global notification log (no sequence shared by all lots: that would "
    "be a hot partition on every bid); followers read its DynamoDB stream instead, so "
    "select_notifications, max_notification_id and subscribe are not implemented"
)


class TestDynamoDBApplicationRecorder(ApplicationRecorderTestCase[DynamoDBRecorder]):
    """The library's application-recorder cases are all about the notification log."""

    def create_recorder(self) -> DynamoDBRecorder:
        raise NotImplementedError(NO_NOTIFICATION_LOG)

    @pytest.mark.skip(reason=NO_NOTIFICATION_LOG)
    def test_insert_select(self) -> None: ...

    @pytest.mark.skip(reason=NO_NOTIFICATION_LOG)
    def test_performance(self) -> None: ...

    @pytest.mark.skip(reason=NO_NOTIFICATION_LOG)
    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None: ...

    @pytest.mark.skip(reason=NO_NOTIFICATION_LOG)
    def test_concurrent_throughput(self) -> None: ...
