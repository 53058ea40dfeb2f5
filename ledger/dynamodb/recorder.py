"""The Bids-table recorder, composed of one part per port, and the library's factory for it.

`DynamoDBRecorder` is what `PERSISTENCE_MODULE=ledger.dynamodb` builds: every storage port
of `ledger.persistence`, each from its own module, over one client and one table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    Notification,
    ProcessRecorder,
    Subscription,
    TrackingRecorder,
)
from eventsourcing.utils import strtobool

from ledger.dynamodb.bidders import BidderRecordsTable
from ledger.dynamodb.bids import BidsTable
from ledger.dynamodb.erasures import ErasuresTable
from ledger.dynamodb.events import LotEventsTable
from ledger.dynamodb.listings import LotListingsTable
from ledger.dynamodb.parking import ParkedMessagesTable
from ledger.dynamodb.quotas import QuotaRecordsTable
from ledger.dynamodb.registrations import RegistrationRecordsTable
from ledger.dynamodb.sales import SalesTable
from ledger.dynamodb.table import CLIENT_CONFIG, ensure_bids_table
from ledger.persistence import LotRecorder


class DynamoDBRecorder(
    LotEventsTable,
    BidsTable,
    LotListingsTable,
    BidderRecordsTable,
    SalesTable,
    ParkedMessagesTable,
    QuotaRecordsTable,
    ErasuresTable,
    RegistrationRecordsTable,
    LotRecorder,
    ApplicationRecorder,
):
    """Appends and reads a lot's events, and keeps its snapshot and bid receipts
    in the same transaction as the events that changed them.

    An ApplicationRecorder for the library's `Application`, without its global
    notification log: the Bids table has no global sequence (its stream is the feed)."""

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> Sequence[Notification]:
        raise NotImplementedError("the Bids table keeps no global notification log; read its DynamoDB stream")

    def max_notification_id(self) -> int | None:
        raise NotImplementedError("the Bids table keeps no global notification log; read its DynamoDB stream")

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[Any]:
        raise NotImplementedError("the Bids table keeps no global notification log; read its DynamoDB stream")


class Factory(InfrastructureFactory[TrackingRecorder]):
    """eventsourcing infrastructure factory for the Bids table."""

    BIDS_TABLE = "BIDS_TABLE"
    CREATE_TABLE = "CREATE_TABLE"
    ENDPOINT_URL = "AWS_ENDPOINT_URL_DYNAMODB"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        table_name = self.env.get(self.BIDS_TABLE)
        if not table_name:
            raise OSError(f"set {self.BIDS_TABLE} to the name of the Bids table")
        self.table_name: str = table_name
        self.client = boto3.client("dynamodb", endpoint_url=self.env.get(self.ENDPOINT_URL) or None, config=CLIENT_CONFIG)
        if strtobool(self.env.get(self.CREATE_TABLE, "n") or "n"):
            ensure_bids_table(self.client, self.table_name)

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        if purpose != "events":
            raise NotImplementedError("lot snapshots are LOT#/SNAPSHOT items written with the events")
        return DynamoDBRecorder(self.client, self.table_name)

    def application_recorder(self) -> DynamoDBRecorder:
        return DynamoDBRecorder(self.client, self.table_name)

    def tracking_recorder(self, tracking_recorder_class: type[TrackingRecorder] | None = None) -> TrackingRecorder:
        raise NotImplementedError("SamSold's followers read DynamoDB Streams, not tracking records")

    def process_recorder(self) -> ProcessRecorder:
        raise NotImplementedError("SamSold's followers read DynamoDB Streams, not tracking records")
