"""A lot's events and its snapshot on the Bids table (the `LotEventStore` port).

    LOT#{lot_id}  EVENT#{version:010d}  an event: topic, state (bytes); written once; an accepted
                                        bid's or a retraction's also `bid_lot` (the `BidsByLot` index)
    LOT#{lot_id}  SNAPSHOT              the lot's folded state; the only item updated

The events of a decision, its receipts, its bidders' new aliases, its retractions, its
bidders' records of the lot and the lot's new snapshot go in one TransactWriteItems; `load_lot` reads what deciding needs in one
BatchGetItem.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from eventsourcing.persistence import StoredEvent

from ledger.domain.errors import LotUnreadable
from ledger.domain.queued import BidRequestCheck
from ledger.domain.registration import ExposureChange, RegistrationCheck
from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.errors import raise_conditions_failed, raise_for
from ledger.dynamodb.items import (
    check_registration,
    check_request,
    from_item,
    put_bidder,
    put_disclosures,
    put_event,
    put_receipt,
    put_retraction,
    put_snapshot,
    update_bidder_lot,
    update_exposure,
)
from ledger.dynamodb.table import BIDS_BY_LOT_INDEX, MAX_VERSION, bid_key, bidder_key, disclosure_key, event_key
from ledger.persistence import TRANSACTION_LIMIT, LotEventStore, LotRecords, lot_key


class LotEventsTable(TableAccess, LotEventStore):
    """Appends and reads a lot's events, and keeps its snapshot, bid receipts, bidders'
    aliases and retractions in the same transaction as the events that changed them."""

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
        bidder_lots: Sequence[Mapping[str, Any]] = (),
        requests: Sequence[BidRequestCheck] = (),
        disclosures: Sequence[Mapping[str, Any]] = (),
        registrations: Sequence[RegistrationCheck] = (),
        exposures: Sequence[ExposureChange] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        """Write the events (and their `disclosures`), and with them the lot's new snapshot (conditional on the
        stored one still being at `expected_version`, None: there is none yet; given
        `expected_snapshot`, on every one of its attributes being as stored), the bid
        receipts, the new bidders' alias records, the retraction records and the bidders'
        records of the lot (Updates, unconditional: the snapshot's condition orders them),
        all or nothing; and only when each bid request of `requests` is stored as it says
        (a ConditionCheck), and each registration of `registrations` is as it says (another)."""
        items = [put_event(self.table_name, e) for e in stored_events]
        items += [put_receipt(self.table_name, r) for r in receipts]
        items += [put_bidder(self.table_name, b) for b in bidders]
        items += [put_retraction(self.table_name, r) for r in retractions]
        items += [{"Update": update_bidder_lot(self.table_name, r)} for r in bidder_lots]
        items += [put_disclosures(self.table_name, d) for d in disclosures]
        items += [check_request(self.table_name, r) for r in requests]
        items += [check_registration(self.table_name, r) for r in registrations]
        items += [update_exposure(self.table_name, e) for e in exposures]
        if snapshot is not None:
            items.append(put_snapshot(self.table_name, snapshot, expected_version, expected_snapshot))
        if not items:
            return None
        if len(items) > TRANSACTION_LIMIT:
            raise ValueError(f"{len(items)} items exceed DynamoDB's transaction limit of {TRANSACTION_LIMIT}")
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            raise_conditions_failed(error, stored_events, receipts, bidders, snapshot is not None, retractions,
                                    requests, unconditional=len(bidder_lots) + len(disclosures),
                                    registrations=registrations, exposures=exposures)
            raise_for(error, "insert_events")
        except BotoCoreError as error:
            raise_for(error, "insert_events")
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

    def iter_bid_events(self, lot_id: str, *, lt: int, limit: int) -> Iterator[StoredEvent]:
        """One Query of the `BidsByLot` index (eventually consistent): the lot's bid events
        only, so rejections between them cost nothing."""
        if lt <= 1 or limit <= 0:
            return
        items = self._pages(
            "iter_bid_events",
            "query",
            {"MaxItems": limit, "PageSize": limit},
            TableName=self.table_name,
            IndexName=BIDS_BY_LOT_INDEX,
            KeyConditionExpression="bid_lot = :lot AND SK < :before",
            ExpressionAttributeValues={":lot": {"S": lot_id}, ":before": {"S": event_key(lt)}},
            ScanIndexForward=False,
        )
        for item in items:
            yield StoredEvent(originator_id=lot_id, originator_version=int(item["SK"]["S"].removeprefix("EVENT#")),
                              topic=item["topic"]["S"], state=bytes(item["state"]["B"]))

    def get_disclosures(self, lot_id: str, versions: Sequence[int]) -> dict[int, dict[str, str]]:
        """The disclosures still stored of these events, by version: one Query of their range when
        they lie close together (a page of events), else BatchGetItem of each (a lot's bids
        among many rejections)."""
        if not versions:
            return {}
        low, high = min(versions), max(versions)
        if high - low + 1 <= 2 * len(versions):
            items = self._pages(
                "get_disclosures", "query", {},
                TableName=self.table_name,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :low AND :high",
                ExpressionAttributeValues={":pk": {"S": lot_key(lot_id)}, ":low": {"S": disclosure_key(low)},
                                           ":high": {"S": disclosure_key(high)}},
                ConsistentRead=True,
            )
            found = ((item["SK"]["S"], from_item(item)) for item in items)
        else:
            keys = [(lot_key(lot_id), disclosure_key(v)) for v in dict.fromkeys(versions)]
            found = ((sort_key, item) for _, sort_key, item in self._batch_get("get_disclosures", keys))
        wanted = set(versions)
        disclosed: dict[int, dict[str, str]] = {}
        for sort_key, record in found:
            version = int(sort_key.removeprefix("DISCLOSURE#"))
            if version in wanted:
                disclosed[version] = {str(k): str(v) for k, v in record.get("disclosures", {}).items()}
        return disclosed

    def get_snapshot(self, lot_id: str) -> dict[str, Any] | None:
        return self._get_item("get_snapshot", lot_key(lot_id), "SNAPSHOT")

    def get_snapshots(self, lot_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The snapshots of those lots that exist, by lot id (eventually consistent: for lists)."""
        keys = [(lot_key(lot_id), "SNAPSHOT") for lot_id in dict.fromkeys(lot_ids)]
        return {pk.removeprefix("LOT#"): item for pk, _, item in self._batch_get("get_snapshots", keys, consistent=False)}

    def load_lot(self, lot_id: str, bid_ids: Sequence[str], bidders: Sequence[str]) -> LotRecords:
        """The snapshot, receipts and aliases a batch needs: one BatchGetItem (for up to 100 keys)."""
        keys = [(lot_key(lot_id), "SNAPSHOT")]
        keys += [(bid_key(b), "RECEIPT") for b in dict.fromkeys(bid_ids)]
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

    def replace_snapshot(self, snapshot: Mapping[str, Any], expected_version: int) -> None:
        """Overwrite a drifted snapshot, only if it is still the one that was compared
        (a live writer that moved it on since is never overwritten)."""
        put = put_snapshot(self.table_name, snapshot, expected_version)["Put"]
        try:
            self.client.put_item(**put)
        except (ClientError, BotoCoreError) as error:
            raise_for(error, "replace_snapshot")

    def lot_ids(self) -> Iterator[str]:
        """Every lot that has a snapshot (a scan: for operators' tools, not hot paths)."""
        items = self._pages(
            "lot_ids", "scan", {}, TableName=self.table_name, FilterExpression="SK = :snapshot",
            ExpressionAttributeValues={":snapshot": {"S": "SNAPSHOT"}}, ProjectionExpression="PK",
        )
        for item in items:
            yield item["PK"]["S"].removeprefix("LOT#")
