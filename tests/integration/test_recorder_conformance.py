"""The eventsourcing library's own recorder test suite, against DynamoDB Local,
with the recorder built the library's usual way (PERSISTENCE_MODULE)."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import AggregateRecorder, InfrastructureFactory
from eventsourcing.tests.persistence import AggregateRecorderTestCase
from eventsourcing.utils import Environment

from ledger.dynamodb import DynamoDBRecorder


class TestDynamoDBAggregateRecorder(AggregateRecorderTestCase):
    @pytest.fixture(autouse=True)
    def _dynamodb(self, dynamodb_endpoint, bids_table):
        self.env = Environment(
            "SamSold",
            {
                "PERSISTENCE_MODULE": "ledger.dynamodb",
                "BIDS_TABLE": bids_table,
                "CREATE_TABLE": "y",
                "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
            },
        )

    def new_originator_id(self) -> str:
        return f"conformance-{uuid.uuid4()}"

    def create_recorder(self) -> AggregateRecorder:
        recorder = InfrastructureFactory.construct(self.env).aggregate_recorder()
        assert isinstance(recorder, DynamoDBRecorder)
        return recorder
