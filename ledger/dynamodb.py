"""eventsourcing persistence for DynamoDB: the only code that writes the Bids table,
and one implementation of the storage port `ledger.persistence.LotRecorder`.

Selected the library's usual way: PERSISTENCE_MODULE=ledger.dynamodb, with BIDS_TABLE
naming the table, boto3's AWS_ENDPOINT_URL_DYNAMODB pointing at DynamoDB Local when
set, and CREATE_TABLE=y creating the table as template.yaml declares it.

Single-table layout (docs/ARCHITECTURE.md, "The Bids table"):
    LOT#{lot_id}  EVENT#{version:010d}  an event: topic, state (bytes); written once
    LOT#{lot_id}  SNAPSHOT              the lot's folded state; the only item updated
    BID#{bid_id}  REQUEST               a bid as the API took it (PENDING); written once
    BID#{bid_id}  RECEIPT               how a bid was decided; written once
    BID#{bid_id}  RETRACTION            an accepted bid's retraction by an administrator; written once
    BIDDER#{user} LOT#{lot_id}          a bidder's alias on a lot; written once, with their first accepted bid
    BIDDER#{user} MYBID#{lot_id}        a bidder's record of a lot (their maximum, their last bid): from the stream
    PARKED#{id}   MESSAGE               a message that could not be parsed, kept for inspection
    SALE#{sale_id} SALE                 a staggered sale: its lots in closing order; written once, with them
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn
from uuid import UUID

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Notification,
    OperationalError,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    TrackingRecorder,
)
from eventsourcing.utils import strtobool

from ledger.domain.errors import LotUnreadable
from ledger.persistence import (
    OPEN_STATUS,
    TRANSACTION_LIMIT,
    ConditionsFailed,
    LotRecorder,
    LotRecords,
    SaleConditionsFailed,
    close_key,
    ended_at,
    ended_key,
    lot_key,
    sale_key,
)

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
ENDED_PREFIX = "ENDED"
# BatchGetItem takes at most 100 keys.
BATCH_GET_LIMIT = 100
MAX_VERSION = 9_999_999_999
_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
}

# The ledger's DynamoDB client. Fail fast and let the caller (SQS redelivery, the
# service's own retry) decide. No client-side parameter validation: the requests are
# built by this module, DynamoDB validates them anyway, and botocore's walk over a
# transaction's items cost about 4 ms of CPU per batch (samsold bench processor).
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32, parameter_validation=False)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def event_key(version: int) -> str:
    return f"EVENT#{version:010d}"


def bidder_key(bidder: str) -> str:
    return f"BIDDER#{bidder}"


MY_BID_PREFIX = "MYBID#"


def my_bid_key(lot_id: str) -> str:
    """A bidder's record of a lot: the sort key under their `BIDDER#` partition."""
    return f"{MY_BID_PREFIX}{lot_id}"


def _shard_number(lot_id: str) -> int:
    return int.from_bytes(hashlib.sha256(lot_id.encode()).digest()[:4], "big") % OPEN_SHARDS


def open_shard(lot_id: str) -> str:
    """The index partition an open lot is listed under: stable, and spread evenly."""
    return f"{OPEN_STATUS}#{_shard_number(lot_id)}"


def ended_shard(lot_id: str) -> str:
    """The index partition an ended lot is listed under: stable, and spread evenly."""
    return f"{ENDED_PREFIX}#{_shard_number(lot_id)}"


def to_item(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in attributes.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


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


def _raise_for(error: ClientError | BotoCoreError, what: str) -> NoReturn:
    """Map DynamoDB failures onto eventsourcing's errors: a failed condition means
    another writer won (IntegrityError); the rest may pass (OperationalError), DynamoDB
    out of reach (a refused connection, a timeout) included."""
    if not isinstance(error, ClientError):
        raise OperationalError(f"{what}: DynamoDB out of reach: {error}") from error
    code = error.response["Error"]["Code"]
    message = error.response["Error"].get("Message", "")
    if code == "TransactionCanceledException":
        reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" in reasons or "ConditionalCheckFailed" in message:
            raise IntegrityError(f"{what}: a condition failed ({reasons or message})") from error
        raise OperationalError(f"{what}: transaction cancelled ({reasons or message})") from error
    if code == "ConditionalCheckFailedException":
        raise IntegrityError(f"{what}: {message}") from error
    if code == "ValidationException" and "multiple operations on one item" in message:
        raise IntegrityError(f"{what}: the same item twice in one transaction") from error
    raise OperationalError(f"{what}: {code}: {message}") from error


def _raise_conditions_failed(
    error: ClientError,
    stored_events: Sequence[StoredEvent],
    receipts: Sequence[Mapping[str, Any]],
    bidders: Sequence[Mapping[str, Any]],
    has_snapshot: bool,
    retractions: Sequence[Mapping[str, Any]] = (),
) -> None:
    """A cancelled transaction whose conditions failed, as `ConditionsFailed` saying which:
    CancellationReasons is index-aligned with TransactItems (events, receipts, bidders,
    retractions, snapshot). A retraction recorded already counts as a changed snapshot
    (the retraction is decided again on fresh state, which refuses it).
    Returns when the cancellation was for another reason."""
    if error.response["Error"]["Code"] != "TransactionCanceledException":
        return
    reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
    failed = [code == "ConditionalCheckFailed" for code in reasons]
    if not any(failed):
        return
    items = len(stored_events) + len(receipts) + len(bidders) + len(retractions) + has_snapshot
    if len(failed) != items:
        # Reasons that do not line up with the items: say the least (reload everything).
        raise ConditionsFailed(f"insert_events: a condition failed ({reasons})", snapshot_changed=True) from error
    events, rest = failed[: len(stored_events)], failed[len(stored_events) :]
    decided = [str(r["bid_id"]) for r, hit in zip(receipts, rest[: len(receipts)], strict=True) if hit]
    rest = rest[len(receipts) :]
    known = [str(b["bidder"]) for b, hit in zip(bidders, rest[: len(bidders)], strict=True) if hit]
    retracted = any(rest[len(bidders) : len(bidders) + len(retractions)])
    raise ConditionsFailed(
        f"insert_events: conditions failed ({reasons})",
        decided_bids=decided,
        known_bidders=known,
        snapshot_changed=(has_snapshot and failed[-1]) or retracted,
        events_exist=any(events),
    ) from error


class DynamoDBRecorder(LotRecorder, ApplicationRecorder):
    """Appends and reads a lot's events, and keeps its snapshot and bid receipts
    in the same transaction as the events that changed them.

    An ApplicationRecorder for the library's `Application`, without its global
    notification log: the Bids table has no global sequence (its stream is the feed)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    # --- eventsourcing's AggregateRecorder -------------------------------------------

    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        snapshot: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        receipts: Sequence[Mapping[str, Any]] = (),
        expected_snapshot: Mapping[str, Any] | None = None,
        bidders: Sequence[Mapping[str, Any]] = (),
        retractions: Sequence[Mapping[str, Any]] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Write the events, and with them the lot's new snapshot (conditional on the
        stored one still being at `expected_version`, None: there is none yet; given
        `expected_snapshot`, on every one of its attributes being as stored), the bid
        receipts, the new bidders' alias records and the retraction records, all or nothing."""
        items = [self._put_event(e) for e in stored_events]
        items += [self._put_receipt(r) for r in receipts]
        items += [self._put_bidder(b) for b in bidders]
        items += [self._put_retraction(r) for r in retractions]
        if snapshot is not None:
            items.append(self._put_snapshot(snapshot, expected_version, expected_snapshot))
        if not items:
            return None
        if len(items) > TRANSACTION_LIMIT:
            raise ValueError(f"{len(items)} items exceed DynamoDB's transaction limit of {TRANSACTION_LIMIT}")
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            _raise_conditions_failed(error, stored_events, receipts, bidders, snapshot is not None, retractions)
            _raise_for(error, "insert_events")
        except BotoCoreError as error:
            _raise_for(error, "insert_events")
        return None

    def iter_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[StoredEvent]:
        """Events in version order, read page by page (strongly consistent)."""
        lowest = 0 if gt is None else gt + 1
        highest = MAX_VERSION if lte is None else lte
        if lowest > highest or limit == 0:
            return
        items = self._pages(
            "select_events",
            "query",
            {"MaxItems": limit, "PageSize": page_size},
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": lot_key(str(originator_id))},
                ":low": {"S": event_key(max(lowest, 0))},
                ":high": {"S": event_key(highest)},
            },
            ScanIndexForward=not desc,
            ConsistentRead=True,
        )
        for item in items:
            sort_key = item["SK"]["S"]
            version_text = sort_key.removeprefix("EVENT#")
            topic, state = item.get("topic", {}).get("S"), item.get("state", {}).get("B")
            if not version_text.isdigit() or topic is None or state is None:
                raise LotUnreadable(
                    str(originator_id),
                    f"event {int(version_text)}" if version_text.isdigit() else f"item {sort_key}",
                    "an event item needs a key EVENT#{version}, a topic (a string) and a state (bytes)",
                    int(version_text) if version_text.isdigit() else None,
                )
            version = int(version_text)
            yield StoredEvent(originator_id=originator_id, originator_version=version, topic=topic, state=bytes(state))

    # --- ApplicationRecorder: no global sequence in this table ----------------------

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> Sequence[Notification]:
        raise NotImplementedError("the Bids table keeps no global notification log; read its DynamoDB stream")

    def max_notification_id(self) -> int | None:
        raise NotImplementedError("the Bids table keeps no global notification log; read its DynamoDB stream")

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[Any]:
        raise NotImplementedError("the Bids table keeps no global notification log; read its DynamoDB stream")

    # --- the lot's snapshot, receipts and parked messages ---------------------------

    def get_snapshot(self, lot_id: str) -> dict[str, Any] | None:
        return self._get_item("get_snapshot", lot_key(lot_id), "SNAPSHOT")

    def replace_snapshot(self, snapshot: Mapping[str, Any], expected_version: int) -> None:
        """Overwrite a drifted snapshot, only if it is still the one that was compared
        (a live writer that moved it on since is never overwritten)."""
        put = self._put_snapshot(snapshot, expected_version)["Put"]
        try:
            self.client.put_item(**put)
        except (ClientError, BotoCoreError) as error:
            _raise_for(error, "replace_snapshot")

    def get_receipts(self, bid_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Receipts of the bids decided already, by bid id (strongly consistent)."""
        keys = [(f"BID#{b}", "RECEIPT") for b in dict.fromkeys(bid_ids)]
        return {str(item["bid_id"]): item for _, _, item in self._batch_get("get_receipts", keys)}

    def get_retraction(self, bid_id: str) -> dict[str, Any] | None:
        return self._get_item("get_retraction", f"BID#{bid_id}", "RETRACTION")

    def get_aliases(self, lot_id: str, bidders: Sequence[str]) -> dict[str, int]:
        keys = [(bidder_key(b), lot_key(lot_id)) for b in dict.fromkeys(bidders)]
        return {str(item["bidder"]): int(item["alias"]) for _, _, item in self._batch_get("get_aliases", keys)}

    def load_lot(self, lot_id: str, bid_ids: Sequence[str], bidders: Sequence[str]) -> LotRecords:
        """The snapshot, receipts and aliases a batch needs: one BatchGetItem (for up to 100 keys)."""
        keys = [(lot_key(lot_id), "SNAPSHOT")]
        keys += [(f"BID#{b}", "RECEIPT") for b in dict.fromkeys(bid_ids)]
        keys += [(bidder_key(b), lot_key(lot_id)) for b in dict.fromkeys(bidders)]
        records = LotRecords(snapshot=None)
        for _, sort_key, item in self._batch_get("load_lot", keys):
            if sort_key == "SNAPSHOT":
                records.snapshot = item
            elif sort_key == "RECEIPT":
                records.receipts[str(item["bid_id"])] = item
            else:
                records.aliases[str(item["bidder"])] = int(item["alias"])
        return records

    def _batch_get(
        self, what: str, keys: Sequence[tuple[str, str]], consistent: bool = True
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(PK, SK, attributes) of the items found among `keys`, in any order, through
        BatchGetItem (100 keys a request; unprocessed keys asked again)."""
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            chunk = [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in keys[start : start + BATCH_GET_LIMIT]]
            request: dict[str, Any] = {self.table_name: {"Keys": chunk, "ConsistentRead": consistent}}
            while request:
                response = self._call(what, self.client.batch_get_item, RequestItems=request)
                for item in response["Responses"].get(self.table_name, []):
                    pk, sk = item["PK"]["S"], item["SK"]["S"]
                    yield pk, sk, self._strip_keys(from_item(item))
                request = response.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(0.05)

    def record_bid_request(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record a bid as the API took it, once. Returns the request recorded before
        under the same bid id, or None when this one is new."""
        item = {"PK": f"BID#{request['bid_id']}", "SK": "REQUEST", **request}
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(PK)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except BotoCoreError as error:
            _raise_for(error, "record_bid_request")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                _raise_for(error, "record_bid_request")
            old = error.response.get("Item")
            return self._strip_keys(from_item(old)) if old else self.get_bid_request(str(request["bid_id"]))

    def get_bid_request(self, bid_id: str) -> dict[str, Any] | None:
        return self._get_item("get_bid_request", f"BID#{bid_id}", "REQUEST")

    def open_lots(
        self, closing_by: str | None = None, limit: int | None = None, after: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Lot ids and snapshot items of OPEN lots by close time (then lot id): the index's
        shards merged in close-key order, then the snapshots read a page at a time (the
        index projects keys only). With `closing_by` (a time string), only those whose close
        time is not after it; with `after` (a close key), only those after it."""
        shards = [self._open_shard_keys(f"{OPEN_STATUS}#{n}", closing_by, limit, after) for n in range(OPEN_SHARDS)]
        # The index lags the table a little: a lot closed since is left out here.
        yield from self._snapshots_in_order(
            "open_lots", heapq.merge(*shards), limit, lambda item: item.get("status") == OPEN_STATUS
        )

    def _snapshots_in_order(
        self, what: str, keys: Iterator[tuple[str, str]], limit: int | None, still: Callable[[dict[str, Any]], bool]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Lot ids and snapshots for (index key, PK) pairs in list order, read a page (one
        BatchGetItem) at a time, up to `limit`; a snapshot that is `still` not in the list
        (the index lags the table) is left out."""
        listed = 0
        while limit is None or listed < limit:
            page = list(itertools.islice(keys, BATCH_GET_LIMIT if limit is None else min(BATCH_GET_LIMIT, limit - listed)))
            if not page:
                return
            found = {pk: item for pk, _, item in self._batch_get(what, [(pk, "SNAPSHOT") for _, pk in page], consistent=False)}
            for _, pk in page:
                item = found.get(pk)
                if item is not None and still(item):
                    listed += 1
                    yield pk.removeprefix("LOT#"), item

    def _open_shard_keys(
        self, shard: str, closing_by: str | None, limit: int | None, after: str | None
    ) -> Iterator[tuple[str, str]]:
        """(close key, PK) of one shard's open lots in close-key order, page by page. The
        index sorts by close time only, so lots that close at the same time are gathered
        and put in lot-id order before they are passed on."""
        after_at = None if after is None else after.partition("#")[0]
        values: dict[str, Any] = {":shard": {"S": shard}}
        condition = "open_shard = :shard"
        if closing_by is not None and after_at is not None:
            condition += " AND closes_at BETWEEN :after AND :by"
            values |= {":after": {"S": after_at}, ":by": {"S": closing_by}}
        elif closing_by is not None:
            condition += " AND closes_at <= :by"
            values[":by"] = {"S": closing_by}
        elif after_at is not None:
            condition += " AND closes_at >= :after"
            values[":after"] = {"S": after_at}
        items = self._pages(
            "open_lots", "query", {"PageSize": limit}, TableName=self.table_name, IndexName=OPEN_LOTS_INDEX,
            KeyConditionExpression=condition, ExpressionAttributeValues=values,
        )
        tied: list[tuple[str, str]] = []  # the lots closing at `tied_at`, as read
        tied_at = None
        for item in items:
            pk, closes_at = item["PK"]["S"], item["closes_at"]["S"]
            key = close_key(closes_at, pk.removeprefix("LOT#"))
            if after is not None and key <= after:
                continue
            if closes_at != tied_at:
                yield from sorted(tied)
                tied, tied_at = [], closes_at
            tied.append((key, pk))
        yield from sorted(tied)

    def ended_lots(self, limit: int | None = None, after: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Lot ids and snapshot items of ended lots, the most recently ended first (then lot
        id descending): the ended index's shards merged in reverse end-key order, then the
        snapshots read a page at a time. With `after` (an end key), only those before it."""
        shards = [self._ended_shard_keys(f"{ENDED_PREFIX}#{n}", limit, after) for n in range(OPEN_SHARDS)]
        yield from self._snapshots_in_order(
            "ended_lots", heapq.merge(*shards, reverse=True), limit, lambda item: ended_at(item) is not None
        )

    def _ended_shard_keys(self, shard: str, limit: int | None, after: str | None) -> Iterator[tuple[str, str]]:
        """(end key, PK) of one shard's ended lots in reverse end-key order, page by page;
        lots that ended at the same time are gathered and put in reverse lot-id order."""
        values: dict[str, Any] = {":shard": {"S": shard}}
        condition = "ended_shard = :shard"
        if after is not None:
            condition += " AND ended_at <= :after"
            values[":after"] = {"S": after.partition("#")[0]}
        items = self._pages(
            "ended_lots", "query", {"PageSize": limit}, TableName=self.table_name, IndexName=ENDED_LOTS_INDEX,
            KeyConditionExpression=condition, ExpressionAttributeValues=values, ScanIndexForward=False,
        )
        tied: list[tuple[str, str]] = []  # the lots that ended at `tied_at`, as read
        tied_at = None
        for item in items:
            pk, at = item["PK"]["S"], item["ended_at"]["S"]
            key = ended_key(at, pk.removeprefix("LOT#"))
            if after is not None and key >= after:
                continue
            if at != tied_at:
                yield from sorted(tied, reverse=True)
                tied, tied_at = [], at
            tied.append((key, pk))
        yield from sorted(tied, reverse=True)

    def lot_ids(self) -> Iterator[str]:
        """Every lot that has a snapshot (a scan: for operators' tools, not hot paths)."""
        items = self._pages(
            "lot_ids", "scan", {}, TableName=self.table_name, FilterExpression="SK = :snapshot",
            ExpressionAttributeValues={":snapshot": {"S": "SNAPSHOT"}}, ProjectionExpression="PK",
        )
        for item in items:
            yield item["PK"]["S"].removeprefix("LOT#")

    def get_parked(self, message_id: str) -> dict[str, Any] | None:
        return self._get_item("get_parked", f"PARKED#{message_id}", "MESSAGE")

    # --- staggered sales ------------------------------------------------------------

    def insert_sale(
        self, sale: Mapping[str, Any], stored_events: Sequence[StoredEvent], snapshots: Sequence[Mapping[str, Any]]
    ) -> None:
        """The sale item, then each lot's events, then each lot's snapshot: one
        TransactWriteItems, every Put conditional on its item being new."""
        items = [{
            "Put": {
                "TableName": self.table_name,
                "Item": to_item({"PK": sale_key(str(sale["sale_id"])), "SK": "SALE", **sale}),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }]
        items += [self._put_event(e) for e in stored_events]
        items += [self._put_snapshot(snapshot, None) for snapshot in snapshots]
        if len(items) > TRANSACTION_LIMIT:
            raise ValueError(f"{len(items)} items exceed DynamoDB's transaction limit of {TRANSACTION_LIMIT}")
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if error.response["Error"]["Code"] == "TransactionCanceledException" and len(reasons) == len(items):
                # CancellationReasons is index-aligned with the items: say which existed.
                failed = [code == "ConditionalCheckFailed" for code in reasons]
                lot_ids = [str(e.originator_id) for e in stored_events] + [str(s["lot_id"]) for s in snapshots]
                if any(failed):
                    raise SaleConditionsFailed(
                        f"insert_sale: conditions failed ({reasons})",
                        sale_exists=failed[0],
                        lots_exist=list(dict.fromkeys(lot for lot, hit in zip(lot_ids, failed[1:], strict=True) if hit)),
                    ) from error
            _raise_for(error, "insert_sale")
        except BotoCoreError as error:
            _raise_for(error, "insert_sale")

    def get_sale(self, sale_id: str) -> dict[str, Any] | None:
        return self._get_item("get_sale", sale_key(sale_id), "SALE")

    def park(self, message_id: str, body: str, error: str, attributes: Mapping[str, Any]) -> None:
        """Keep a message that can never be processed, for inspection (idempotent)."""
        item = {
            "PK": f"PARKED#{message_id}",
            "SK": "MESSAGE",
            "body": body,
            "error": error,
            "attributes": dict(attributes),
            "parked_at": int(time.time() * 1000),
        }
        self._call("park", self.client.put_item, TableName=self.table_name, Item=to_item(item))

    # --- items ----------------------------------------------------------------------

    def _put_event(self, stored_event: StoredEvent) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {
                    "PK": {"S": lot_key(str(stored_event.originator_id))},
                    "SK": {"S": event_key(stored_event.originator_version)},
                    "topic": {"S": stored_event.topic},
                    "state": {"B": stored_event.state},
                },
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _put_receipt(self, receipt: Mapping[str, Any]) -> dict[str, Any]:
        item = {"PK": f"BID#{receipt['bid_id']}", "SK": "RECEIPT", **receipt}
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _put_retraction(self, retraction: Mapping[str, Any]) -> dict[str, Any]:
        item = {"PK": f"BID#{retraction['bid_id']}", "SK": "RETRACTION", **retraction}
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _put_bidder(self, bidder: Mapping[str, Any]) -> dict[str, Any]:
        item = {"PK": bidder_key(str(bidder["bidder"])), "SK": lot_key(str(bidder["lot_id"])), **bidder}
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _put_snapshot(
        self, snapshot: Mapping[str, Any], expected_version: int | None, expected_snapshot: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        lot_id = str(snapshot["lot_id"])
        # The key says which lot: `lot_id` is not stored again (the item stays under 2 KB), and
        # is put back from the key whenever a snapshot is read (`_strip_keys`).
        attributes = {name: value for name, value in snapshot.items() if name != "lot_id"}
        item = {"PK": lot_key(lot_id), "SK": "SNAPSHOT", **attributes, **self._index_keys(lot_id, snapshot)}
        put: dict[str, Any] = {"TableName": self.table_name, "Item": to_item(item)}
        if expected_version is None:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
            if expected_snapshot is not None:
                # Every stored attribute as decided on (maps and lists compare whole, numbers by value).
                expected = {name: value for name, value in expected_snapshot.items() if name != "lot_id"}
                names = {f"#s{i}": name for i, name in enumerate(expected)}
                put["ConditionExpression"] += "".join(f" AND #s{i} = :s{i}" for i in range(len(names)))
                put["ExpressionAttributeNames"] = names
                put["ExpressionAttributeValues"] |= {
                    f":s{i}": _serializer.serialize(value) for i, value in enumerate(expected.values())
                }
        return {"Put": put}

    def update_bidder_lots(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write bidders' records of lots, each only over an older one (stream deliveries may repeat)."""
        for record in records:
            values = {":lot": record["lot_id"], ":bidder": record["bidder"], ":v": record["version"]}
            update = "SET lot_id = :lot, bidder = :bidder, bidder_lot = :lot, version = :v"
            # A retraction's record brings no last bid (it keeps the one there), and may clear the maximum.
            if "last_bid" in record:
                update += ", last_bid = :last, last_bid_id = :last_id"
                values |= {":last": record["last_bid"], ":last_id": record["last_bid_id"]}
            if record.get("maximum") is not None:
                update += ", maximum = :max"
                values[":max"] = record["maximum"]
            elif "maximum" in record:
                update += " REMOVE maximum"
            try:
                self.client.update_item(
                    TableName=self.table_name,
                    Key={"PK": {"S": bidder_key(str(record["bidder"]))}, "SK": {"S": my_bid_key(str(record["lot_id"]))}},
                    UpdateExpression=update,
                    ConditionExpression="attribute_not_exists(version) OR version < :v",
                    ExpressionAttributeValues=to_item(values),
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    _raise_for(error, "update_bidder_lots")  # a newer record is kept as it is
            except BotoCoreError as error:
                _raise_for(error, "update_bidder_lots")

    def bidder_lots(self, bidder: str, limit: int, after: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the bidder's records of lots, by lot id, after the lot `after`; and the
        lot to read on from (None: no more)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :mine)",
            "ExpressionAttributeValues": {":pk": {"S": bidder_key(bidder)}, ":mine": {"S": MY_BID_PREFIX}},
            "Limit": limit + 1,  # one more says whether there is a next page
        }
        if after is not None:
            request["ExclusiveStartKey"] = {"PK": {"S": bidder_key(bidder)}, "SK": {"S": my_bid_key(after)}}
        response = self._call("bidder_lots", self.client.query, **request)
        records = [self._strip_keys(from_item(item)) for item in response["Items"]]
        return records[:limit], (str(records[limit - 1]["lot_id"]) if len(records) > limit else None)

    def get_bidder_lot(self, bidder: str, lot_id: str) -> dict[str, Any] | None:
        return self._get_item("get_bidder_lot", bidder_key(bidder), my_bid_key(lot_id))

    def lot_bidders(self, lot_id: str) -> Iterator[str]:
        """Every bidder with a record of the lot (from the keys-only index)."""
        items = self._pages(
            "lot_bidders", "query", {}, TableName=self.table_name, IndexName=BIDDERS_BY_LOT_INDEX,
            KeyConditionExpression="bidder_lot = :lot", ExpressionAttributeValues={":lot": {"S": lot_id}},
        )
        for item in items:
            yield item["PK"]["S"].removeprefix("BIDDER#")

    def get_snapshots(self, lot_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The snapshots of those lots that exist, by lot id (eventually consistent: for lists)."""
        keys = [(lot_key(lot_id), "SNAPSHOT") for lot_id in dict.fromkeys(lot_ids)]
        return {pk.removeprefix("LOT#"): item for pk, _, item in self._batch_get("get_snapshots", keys, consistent=False)}

    @staticmethod
    def _index_keys(lot_id: str, snapshot: Mapping[str, Any]) -> dict[str, str]:
        """The index attributes a snapshot carries for its status: an open lot's shard, or an
        ended lot's shard and end time (none for a lot that cannot say when it ended)."""
        if snapshot.get("status") == OPEN_STATUS:
            return {"open_shard": open_shard(lot_id)}
        if (ended := ended_at(snapshot)) is not None:
            return {"ended_shard": ended_shard(lot_id), "ended_at": ended}
        return {}

    def missing_index_keys(self, lot_id: str) -> list[str]:
        """The index attributes the stored snapshot lacks (or holds wrongly) for its status."""
        response = self._call(
            "missing_index_keys", self.client.get_item, TableName=self.table_name,
            Key={"PK": {"S": lot_key(lot_id)}, "SK": {"S": "SNAPSHOT"}}, ConsistentRead=True,
        )
        stored = from_item(response.get("Item") or {})
        if not stored:
            return []
        return [name for name, value in self._index_keys(lot_id, stored).items() if stored.get(name) != value]

    def _get_item(self, what: str, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._call(
            what, self.client.get_item, TableName=self.table_name, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else self._strip_keys(from_item(item))

    def _pages(self, what: str, operation: str, pagination: dict[str, int | None], **request: Any) -> Iterator[dict[str, Any]]:
        """Items of a Query or Scan, page by page, through boto3's paginator."""
        config = {name: value for name, value in pagination.items() if value is not None}
        try:
            for page in self.client.get_paginator(operation).paginate(PaginationConfig=config, **request):
                yield from page["Items"]
        except (ClientError, BotoCoreError) as error:
            _raise_for(error, what)

    @staticmethod
    def _strip_keys(attributes: dict[str, Any]) -> dict[str, Any]:
        if attributes.get("SK") == "SNAPSHOT" and isinstance(attributes.get("PK"), str):
            attributes.setdefault("lot_id", attributes["PK"].removeprefix("LOT#"))  # not stored again
        for key in ("PK", "SK", "open_shard", "ended_shard", "ended_at", "bidder_lot"):
            attributes.pop(key, None)
        return attributes

    @staticmethod
    def _call(what: str, operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except (ClientError, BotoCoreError) as error:
            _raise_for(error, what)


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
