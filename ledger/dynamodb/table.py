"""The Bids table's shape: its keys, its sparse indexes, how it is created, and the client.

One table holds every record (the layout is in `ledger.dynamodb`'s docstring); this module
says how each record is keyed and which indexes list which items, so every concern's module
(events, bids, listings, bidders, sales, parking) writes and reads the same keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from ledger.domain.sales import DRAFT_ATTRIBUTE
from ledger.persistence import OPEN_STATUS, ended_at

# Open lots by close time, sharded: an open snapshot carries `open_shard` (one of
# OPEN_SHARDS values, by a hash of the lot id) and is sorted by its `closes_at`; neither
# changes on a bid that does not move the close time. The index projects keys only, so
# such a bid writes nothing to it (DynamoDB writes an index only when an item's index
# keys or projected attributes change), and the writes it does take (a lot opens,
# closes or is extended) spread over OPEN_SHARDS partitions. Readers merge the shards
# in close-key order (close time, then lot id).
OPEN_LOTS_INDEX = "OpenLotsByCloseTimeSharded"
OPEN_SHARDS = 8
# Ended lots by end time, sharded the same way: a CLOSED or CANCELLED snapshot carries
# `ended_shard` (by a hash of the lot id) and `ended_at` (its close or cancel time). Both
# are set once, when the lot ends, and never change after, so the index is written once
# per lot (a bid rejected after the close rewrites the snapshot with the same keys and
# writes nothing here). Readers merge the shards newest first (then lot id descending).
ENDED_LOTS_INDEX = "EndedLotsByTime"
# The bidders of a lot (for its won/lost news): a bidder's `BIDDER#{user}/MYBID#{lot}`
# record carries `bidder_lot` (its lot id), set once when the record is made, so later
# updates of the record write nothing here. Keys only; one partition per lot.
BIDDERS_BY_LOT_INDEX = "BiddersByLot"
# A lot's accepted bids and retractions (its public bid history) by version, however many
# rejections lie between them: their event items carry `bid_lot` (the lot id), written once
# with the event. Projects the event's topic and state; one partition per lot.
BIDS_BY_LOT_INDEX = "BidsByLot"
# A sale's (or lone lot's) registrations by status, then bidder: a registration's state record
# carries `reg_scope` (SALE#{sale_id} or LOT#{lot_id}) and `reg_rank` ("{status}#{user}"),
# written with the record (at registration rate, never on a bid's path); one partition per sale.
REGISTRATIONS_BY_SCOPE_INDEX = "RegistrationsByScope"
# A bidder's registrations: the record carries `reg_bidder` (the user), ordered by `reg_scope`.
REGISTRATIONS_BY_BIDDER_INDEX = "RegistrationsByBidder"
ENDED_PREFIX = "ENDED"
# The attributes that are keys (of the table or of an index), never part of a record as read.
KEY_ATTRIBUTES = ("PK", "SK", "open_shard", "ended_shard", "ended_at", "bidder_lot", "bid_lot", "reg_scope", "reg_rank",
                  "reg_bidder")
# BatchGetItem takes at most 100 keys.
BATCH_GET_LIMIT = 100
MAX_VERSION = 9_999_999_999

# The ledger's DynamoDB client. Fail fast and let the caller (SQS redelivery, the
# service's own retry) decide. No client-side parameter validation: the requests are
# built by this package, DynamoDB validates them anyway, and botocore's walk over a
# transaction's items cost about 4 ms of CPU per batch (samsold bench processor).
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32, parameter_validation=False)


def event_key(version: int) -> str:
    return f"EVENT#{version:010d}"


def disclosure_key(version: int) -> str:
    """An event's disclosures, under its lot's partition beside the event."""
    return f"DISCLOSURE#{version:010d}"


def bid_key(bid_id: str) -> str:
    """A bid's partition: its request, receipt and retraction."""
    return f"BID#{bid_id}"


def bidder_key(bidder: str) -> str:
    return f"BIDDER#{bidder}"


MY_BID_PREFIX = "MYBID#"


def my_bid_key(lot_id: str) -> str:
    """A bidder's record of a lot: the sort key under their `BIDDER#` partition."""
    return f"{MY_BID_PREFIX}{lot_id}"


def parked_key(message_id: str) -> str:
    return f"PARKED#{message_id}"


def quota_key(user: str) -> str:
    return f"QUOTA#{user}"


def _shard_number(lot_id: str) -> int:
    return int.from_bytes(hashlib.sha256(lot_id.encode()).digest()[:4], "big") % OPEN_SHARDS


def open_shard(lot_id: str) -> str:
    """The index partition an open lot is listed under: stable, and spread evenly."""
    return f"{OPEN_STATUS}#{_shard_number(lot_id)}"


def ended_shard(lot_id: str) -> str:
    """The index partition an ended lot is listed under: stable, and spread evenly."""
    return f"{ENDED_PREFIX}#{_shard_number(lot_id)}"


def index_keys(lot_id: str, snapshot: Mapping[str, Any]) -> dict[str, str]:
    """The index attributes a snapshot carries for its status: an open lot's shard, or an
    ended lot's shard and end time (none for a lot that cannot say when it ended, nor for a
    draft of a sale's lots: it is listed once opened, `ledger.domain.sales`)."""
    if DRAFT_ATTRIBUTE in snapshot:
        return {}
    if snapshot.get("status") == OPEN_STATUS:
        return {"open_shard": open_shard(lot_id)}
    if (ended := ended_at(snapshot)) is not None:
        return {"ended_shard": ended_shard(lot_id), "ended_at": ended}
    return {}


def bids_table_definition(table_name: str) -> dict[str, Any]:
    """boto3 `create_table` arguments; template.yaml declares the same (a test checks)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
            {"AttributeName": "open_shard", "AttributeType": "S"},
            {"AttributeName": "closes_at", "AttributeType": "S"},
            {"AttributeName": "ended_shard", "AttributeType": "S"},
            {"AttributeName": "ended_at", "AttributeType": "S"},
            {"AttributeName": "bidder_lot", "AttributeType": "S"},
            {"AttributeName": "bid_lot", "AttributeType": "S"},
            {"AttributeName": "reg_scope", "AttributeType": "S"},
            {"AttributeName": "reg_rank", "AttributeType": "S"},
            {"AttributeName": "reg_bidder", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                # Sparse: only OPEN snapshots carry open_shard, so the sweep reads open lots only.
                "IndexName": OPEN_LOTS_INDEX,
                "KeySchema": [
                    {"AttributeName": "open_shard", "KeyType": "HASH"},
                    {"AttributeName": "closes_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                # Sparse: only ended snapshots carry ended_shard; written once per lot.
                "IndexName": ENDED_LOTS_INDEX,
                "KeySchema": [
                    {"AttributeName": "ended_shard", "KeyType": "HASH"},
                    {"AttributeName": "ended_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                # Sparse: only a bidder's record of a lot carries bidder_lot; written once per bidder and lot.
                "IndexName": BIDDERS_BY_LOT_INDEX,
                "KeySchema": [{"AttributeName": "bidder_lot", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                # Sparse: only an accepted bid's or a retraction's event carries bid_lot; written once per such event.
                "IndexName": BIDS_BY_LOT_INDEX,
                "KeySchema": [
                    {"AttributeName": "bid_lot", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["topic", "state"]},
            },
            {
                # Sparse: only a registration's state record carries reg_scope; written per registration event.
                "IndexName": REGISTRATIONS_BY_SCOPE_INDEX,
                "KeySchema": [
                    {"AttributeName": "reg_scope", "KeyType": "HASH"},
                    {"AttributeName": "reg_rank", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                # Sparse: only a registration's state record carries reg_bidder.
                "IndexName": REGISTRATIONS_BY_BIDDER_INDEX,
                "KeySchema": [
                    {"AttributeName": "reg_bidder", "KeyType": "HASH"},
                    {"AttributeName": "reg_scope", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def ensure_bids_table(client: Any, table_name: str) -> None:
    try:
        client.create_table(**bids_table_definition(table_name))
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
