"""One test class per storage port of `ledger.persistence`, for every implementation, the
way the eventsourcing library's `tests/persistence.py` holds each of its backends to the same
cases: subclass each (their names are not collected) and give a `recorder` fixture. A case
sets up what it checks through the other ports, so the fixture is a whole `LotRecorder`.

Ids are new in every test, so the cases also run on a table other tests share.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.domain.queued import BidRequestCheck
from ledger.domain.registration import ExposureChange, RegistrationCheck
from ledger.persistence import (
    BID_TOPICS,
    TRANSACTION_LIMIT,
    ConditionsFailed,
    LotRecorder,
    QuotaRecordChanged,
    SaleConditionsFailed,
    close_key,
    ended_at,
    ended_key,
)


def new_id(prefix: str = "lot") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def event(lot_id: str, version: int) -> StoredEvent:
    return StoredEvent(originator_id=lot_id, originator_version=version, topic="tests:Event", state=f'{{"v":{version}}}'.encode())


def snapshot(lot_id: str, version: int, status: str = "OPEN", closes_at: str = "2030-01-01T00:00:00.000Z") -> dict:
    return {"lot_id": lot_id, "version": version, "status": status, "closes_at": closes_at, "title": "Vase", "bid_count": version - 1}


def alias(lot_id: str, bidder: str, number: int, version: int = 2) -> dict:
    return {"lot_id": lot_id, "bidder": bidder, "alias": number, "version": version}


def disclosed(lot_id: str, version: int) -> dict:
    return {"lot_id": lot_id, "version": version, "disclosures": {"bidder": f"d-bidder-{version}", "amount": f"d-amount-{version}"}}


def receipt(bid_id: str, lot_id: str, version: int) -> dict:
    return {"bid_id": bid_id, "lot_id": lot_id, "status": "ACCEPTED", "reason": None, "version": version, "amount": "10.00"}


class RecorderContract:
    """What every port's contract is given: a whole recorder."""

    @pytest.fixture
    def recorder(self) -> LotRecorder:
        raise NotImplementedError("give a recorder")


class LotEventStoreContract(RecorderContract):
    """`LotEventStore`: a lot's events and snapshot, written together or not at all, and
    what deciding reads."""

    def test_events_snapshot_and_receipts_are_written_together(self, recorder: LotRecorder) -> None:
        lot_id, bid_id = new_id(), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                               receipts=[receipt(bid_id, lot_id, 2)])
        assert [e.originator_version for e in recorder.select_events(lot_id)] == [1, 2]
        assert recorder.select_events(lot_id)[1].state == b'{"v":2}'
        stored = recorder.get_snapshot(lot_id)
        assert stored == snapshot(lot_id, 2)
        assert isinstance(stored["version"], Decimal)  # numbers come back as DynamoDB gives them
        assert recorder.get_receipts([bid_id, "no-such-bid", bid_id]) == {bid_id: receipt(bid_id, lot_id, 2)}

    def test_an_event_version_taken_already_writes_nothing(self, recorder: LotRecorder) -> None:
        lot_id, bid_id = new_id(), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        with pytest.raises(IntegrityError):
            recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=1,
                                   receipts=[receipt(bid_id, lot_id, 1)])
        assert recorder.get_receipts([bid_id]) == {}
        assert recorder.get_snapshot(lot_id)["version"] == 1

    def test_a_snapshot_not_at_the_expected_version_writes_nothing(self, recorder: LotRecorder) -> None:
        lot_id, bid_id = new_id(), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        with pytest.raises(IntegrityError):  # another writer got to version 2 first
            recorder.insert_events([event(lot_id, 3)], snapshot=snapshot(lot_id, 3), expected_version=2,
                                   receipts=[receipt(bid_id, lot_id, 3)])
        with pytest.raises(IntegrityError):  # a lot that exists cannot be created again
            recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=None)
        assert [e.originator_version for e in recorder.select_events(lot_id)] == [1]
        assert recorder.get_receipts([bid_id]) == {}
        with pytest.raises(IntegrityError):  # no snapshot at all is not at any version
            recorder.insert_events([event(new_id(), 1)], snapshot=snapshot(new_id(), 1), expected_version=1)

    def test_a_bid_is_decided_once(self, recorder: LotRecorder) -> None:
        lot_id, bid_id = new_id(), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None,
                               receipts=[receipt(bid_id, lot_id, 1)])
        with pytest.raises(IntegrityError):
            recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                                   receipts=[receipt(bid_id, lot_id, 2)])
        with pytest.raises(IntegrityError):  # the same receipt twice in one transaction
            other = new_id("bid")
            recorder.insert_events([event(lot_id, 2)], receipts=[receipt(other, lot_id, 2), receipt(other, lot_id, 2)])
        assert recorder.get_receipts([bid_id])[bid_id]["version"] == 1
        assert [e.originator_version for e in recorder.select_events(lot_id)] == [1]

    def test_a_failed_receipt_condition_names_the_bids_decided_already(self, recorder: LotRecorder) -> None:
        lot_id, first, second, third = new_id(), new_id("bid"), new_id("bid"), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None,
                               receipts=[receipt(first, lot_id, 1), receipt(third, lot_id, 1)])
        with pytest.raises(ConditionsFailed) as failed:  # the snapshot is current: only receipts failed
            recorder.insert_events([event(lot_id, 2), event(lot_id, 3), event(lot_id, 4)], snapshot=snapshot(lot_id, 4),
                                   expected_version=1, receipts=[receipt(first, lot_id, 2), receipt(second, lot_id, 3),
                                                                 receipt(third, lot_id, 4)])
        assert failed.value.decided_bids == (first, third)
        assert not failed.value.snapshot_changed and not failed.value.events_exist
        assert failed.value.only_records_exist
        assert recorder.get_receipts([second]) == {}
        assert recorder.get_snapshot(lot_id)["version"] == 1

    def test_a_failed_snapshot_condition_is_told_apart(self, recorder: LotRecorder) -> None:
        lot_id, bid_id = new_id(), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1)
        with pytest.raises(ConditionsFailed) as failed:  # another writer moved it to version 2
            recorder.insert_events([event(lot_id, 3)], snapshot=snapshot(lot_id, 3), expected_version=1,
                                   receipts=[receipt(bid_id, lot_id, 3)])
        assert failed.value.snapshot_changed and not failed.value.only_records_exist
        assert failed.value.decided_bids == () and not failed.value.events_exist
        with pytest.raises(ConditionsFailed) as created:  # a lot that exists already
            recorder.insert_events([event(lot_id, 5)], snapshot=snapshot(lot_id, 5), expected_version=None)
        assert created.value.snapshot_changed and not created.value.only_records_exist

    def test_every_failed_condition_is_reported_together(self, recorder: LotRecorder) -> None:
        lot_id, bid_id = new_id(), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                               receipts=[receipt(bid_id, lot_id, 2)])
        with pytest.raises(ConditionsFailed) as failed:  # a writer that decided on version 1, the same bid
            recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                                   receipts=[receipt(bid_id, lot_id, 2)])
        assert failed.value.decided_bids == (bid_id,)
        assert failed.value.snapshot_changed and failed.value.events_exist
        assert not failed.value.only_records_exist
        assert recorder.get_receipts([bid_id])[bid_id]["version"] == 2

    def test_a_snapshot_changed_in_place_fails_the_whole_item_condition(self, recorder: LotRecorder) -> None:
        lot_id = new_id()
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        kept = recorder.get_snapshot(lot_id)
        assert kept is not None
        recorder.replace_snapshot(snapshot(lot_id, 1) | {"title": "Changed in place"}, expected_version=1)
        with pytest.raises(ConditionsFailed) as failed:  # the version matches, the item does not
            recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1, expected_snapshot=kept)
        assert failed.value.snapshot_changed and not failed.value.only_records_exist
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                               expected_snapshot=recorder.get_snapshot(lot_id))
        assert recorder.get_snapshot(lot_id) == snapshot(lot_id, 2)

    def test_a_transaction_holds_at_most_the_limit(self, recorder: LotRecorder) -> None:
        lot_id = new_id()
        with pytest.raises(ValueError, match="transaction limit"):
            recorder.insert_events([event(lot_id, v) for v in range(1, TRANSACTION_LIMIT + 2)])
        assert recorder.select_events(lot_id) == []

    def test_events_in_order_by_range_reversed_limited_and_paged(self, recorder: LotRecorder) -> None:
        lot_id = new_id()
        recorder.insert_events([event(lot_id, v) for v in range(1, 8)])

        def versions(**kwargs) -> list[int]:
            return [e.originator_version for e in recorder.iter_events(lot_id, **kwargs)]

        assert versions() == [1, 2, 3, 4, 5, 6, 7]
        assert versions(page_size=2) == [1, 2, 3, 4, 5, 6, 7]
        assert versions(gt=2, lte=5) == [3, 4, 5]
        assert versions(desc=True, limit=3) == [7, 6, 5]
        assert versions(gt=1, limit=2, page_size=1) == [2, 3]
        assert versions(limit=0) == [] and versions(gt=7) == [] and versions(gt=5, lte=3) == []
        assert recorder.select_events(new_id()) == []

    def test_a_lots_bid_events_read_past_its_other_events(self, recorder: LotRecorder) -> None:
        lot_id = new_id()
        placed, retracted = sorted(BID_TOPICS)
        topics = {2: placed, 40: placed, 41: retracted, 90: placed}  # the rest: other events (rejections)
        stored = [StoredEvent(originator_id=lot_id, originator_version=v, topic=topics.get(v, "tests:Event"), state=b"{}")
                  for v in range(1, 101)]
        recorder.insert_events(stored[:1], snapshot=snapshot(lot_id, 1), expected_version=None)
        for start in range(1, 100, 33):
            recorder.insert_events(stored[start : start + 33], snapshot=snapshot(lot_id, start + 33), expected_version=start)
        read = lambda lt, limit: [(e.originator_version, e.topic) for e in recorder.iter_bid_events(lot_id, lt=lt, limit=limit)]  # noqa: E731
        assert read(100, 10) == [(90, placed), (41, retracted), (40, placed), (2, placed)]
        assert read(90, 2) == [(41, retracted), (40, placed)]
        assert read(2, 10) == [] and list(recorder.iter_bid_events(new_id(), lt=50, limit=10)) == []

    def test_replacing_a_snapshot_only_over_the_version_compared(self, recorder: LotRecorder) -> None:
        lot_id = new_id()
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.replace_snapshot(snapshot(lot_id, 1) | {"title": "Repaired"}, expected_version=1)
        assert recorder.get_snapshot(lot_id)["title"] == "Repaired"
        with pytest.raises(IntegrityError):
            recorder.replace_snapshot(snapshot(lot_id, 1) | {"title": "Stale"}, expected_version=0)
        assert recorder.get_snapshot(lot_id)["title"] == "Repaired"
        assert recorder.get_snapshot(new_id()) is None


class BidRecordsContract(RecorderContract):
    """`BidRecords`: a bid's request, recorded once, and its receipt and retraction."""

    def test_a_bid_request_is_recorded_once(self, recorder: LotRecorder) -> None:
        bid_id = new_id("bid")
        first = {"bid_id": bid_id, "lot_id": "lot-1", "bidder": "alice", "amount": "10.00"}
        assert recorder.record_bid_request(first) is None
        assert recorder.record_bid_request(first | {"amount": "99.00"}) == first
        assert recorder.get_bid_request(bid_id) == first
        assert recorder.get_bid_request(new_id("bid")) is None

    def test_a_retraction_record_is_written_once_with_the_events(self, recorder: LotRecorder) -> None:
        lot_id, bid_id = new_id(), new_id("bid")
        record = {"bid_id": bid_id, "lot_id": lot_id, "bidder": "alice", "reason": "shill bidding", "retracted_by": "root",
                  "retracted_at": "2030-01-01T00:00:00.000Z", "version": 3}
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1, receipts=[receipt(bid_id, lot_id, 2)])
        assert recorder.get_retraction(bid_id) is None
        recorder.insert_events([event(lot_id, 3)], snapshot=snapshot(lot_id, 3), expected_version=2, retractions=[record])
        assert recorder.get_retraction(bid_id) == record
        assert recorder.get_receipts([bid_id]) == {bid_id: receipt(bid_id, lot_id, 2)}  # the receipt stays as written
        # A second retraction of the bid writes nothing, and says: decide again on fresh state.
        with pytest.raises(ConditionsFailed) as failed:
            recorder.insert_events([event(lot_id, 4)], snapshot=snapshot(lot_id, 4), expected_version=3,
                                   retractions=[record | {"version": 4, "reason": "again"}])
        assert failed.value.snapshot_changed and not failed.value.only_records_exist
        assert [e.originator_version for e in recorder.select_events(lot_id)] == [1, 2, 3]
        assert recorder.get_retraction(bid_id) == record


    def test_a_decision_is_written_only_when_its_bid_requests_are_stored_as_checked(self, recorder: LotRecorder) -> None:
        lot_id, admitted, old, forged = new_id(), new_id("bid"), new_id("bid"), new_id("bid")
        request = {"bid_id": admitted, "lot_id": lot_id, "bidder": "alice", "amount": "10.00",
                   "placed_at": "2030-01-01T00:00:00.000Z", "type": "PlaceBid", "confirmed": True}
        recorder.record_bid_request(request)
        # A request recorded before `type` and `confirmed` were: they read as PlaceBid, unconfirmed.
        recorder.record_bid_request({k: v for k, v in request.items() if k not in ("type", "confirmed")} | {"bid_id": old})
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)

        def check(bid_id: str, **changes: object) -> BidRequestCheck:
            fields = {k: v for k, v in request.items() if k != "bid_id"} | changes
            return BidRequestCheck(bid_id, fields, frozenset({"type", "confirmed"} - changes.keys() - {"confirmed"}))

        with pytest.raises(ConditionsFailed) as failed:  # no request at all, another amount, another confirmation
            recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                                   requests=[check(forged), check(admitted, amount="99.00"), check(old, confirmed=True)])
        assert failed.value.unmatched_requests == (forged, admitted, old)
        assert failed.value.only_records_exist and failed.value.decided_bids == ()
        assert [e.originator_version for e in recorder.select_events(lot_id)] == [1]
        old_check = BidRequestCheck(old, check(old).fields | {"confirmed": False}, frozenset({"type", "confirmed"}))
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                               requests=[check(admitted), old_check], receipts=[receipt(admitted, lot_id, 2)])
        assert [e.originator_version for e in recorder.select_events(lot_id)] == [1, 2]


class LotListingsContract(RecorderContract):
    """`LotListings`: open lots by close time, ended lots most recently ended first, paged."""

    def test_open_lots_by_close_time_due_by_a_time(self, recorder: LotRecorder) -> None:
        late, early, closed = new_id(), new_id(), new_id()
        recorder.insert_events([event(late, 1)], snapshot=snapshot(late, 1, closes_at="2031-01-01T00:00:00.000Z"))
        recorder.insert_events([event(early, 1)], snapshot=snapshot(early, 1, closes_at="2001-01-01T00:00:00.000Z"))
        recorder.insert_events([event(closed, 1)], snapshot=snapshot(closed, 1, closes_at="2001-01-01T00:00:00.000Z"))
        recorder.insert_events([event(closed, 2)], snapshot=snapshot(closed, 2, status="CLOSED"), expected_version=1)
        mine = {late, early, closed}
        listed = [(lot_id, item) for lot_id, item in recorder.open_lots() if lot_id in mine]
        assert [lot_id for lot_id, _ in listed] == [early, late]
        assert listed[0][1] == snapshot(early, 1, closes_at="2001-01-01T00:00:00.000Z")  # no index attributes
        due = [lot_id for lot_id, _ in recorder.open_lots(closing_by="2002-01-01T00:00:00.000Z") if lot_id in mine]
        assert due == [early]
        assert len(list(recorder.open_lots(limit=1))) == 1
        assert mine <= set(recorder.lot_ids())

    def test_open_lots_page_on_after_a_close_key_ties_by_lot_id(self, recorder: LotRecorder) -> None:
        # Many lots closing at one instant (a sale ending together): ties go by lot id, and
        # paging by the last close key neither repeats nor skips a lot, whatever shard each is in.
        closes_at = "2000-06-0" + str(uuid.uuid4().int % 9 + 1) + "T12:00:00.000Z"  # apart from other tests' lots
        mine = sorted(new_id() for _ in range(12))
        for lot_id in mine:
            recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1, closes_at=closes_at))
        due = [lot_id for lot_id, _ in recorder.open_lots(closing_by=closes_at) if lot_id in set(mine)]
        assert due == mine
        pages: list[str] = []
        after = close_key("2000-06-01T00:00:00.000Z", "a")
        while True:
            page = [lot_id for lot_id, _ in recorder.open_lots(closing_by="2000-06-30T00:00:00.000Z", limit=5, after=after)]
            pages += [lot_id for lot_id in page if lot_id in set(mine)]
            if len(page) < 5:
                break
            after = close_key(str(recorder.get_snapshot(page[-1])["closes_at"]), page[-1])
        assert pages == mine

    def test_ended_lots_most_recently_ended_first(self, recorder: LotRecorder) -> None:
        day = "2000-07-" + f"{uuid.uuid4().int % 28 + 1:02d}"  # apart from other tests' lots
        still_open, closed, cancelled, closed_later = new_id(), new_id(), new_id(), new_id()
        ends = {closed: f"{day}T10:00:00.000Z", cancelled: f"{day}T11:00:00.000Z", closed_later: f"{day}T12:00:00.000Z"}
        for lot_id in (closed, cancelled, closed_later):
            recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1, closes_at=f"{day}T09:00:00.000Z"))
        # Open, so never in the ended list; closing last of all lots, so it pushes no other
        # test's open lot off the first page of the shared table's open list.
        recorder.insert_events([event(still_open, 1)], snapshot=snapshot(still_open, 1, closes_at="2999-12-31T23:59:59.999Z"))
        for lot_id in (closed, closed_later):
            ended = snapshot(lot_id, 2, status="CLOSED", closes_at=f"{day}T09:00:00.000Z") | {"closed_at": ends[lot_id]}
            recorder.insert_events([event(lot_id, 2)], snapshot=ended, expected_version=1)
        ended = snapshot(cancelled, 2, status="CANCELLED", closes_at=f"{day}T09:00:00.000Z") | {"cancelled_at": ends[cancelled]}
        recorder.insert_events([event(cancelled, 2)], snapshot=ended, expected_version=1)
        # A bid rejected after the close rewrites the snapshot: the lot keeps its place.
        rejected = recorder.get_snapshot(closed) | {"version": 3, "rejected_count": 1}
        recorder.insert_events([event(closed, 3)], snapshot=rejected, expected_version=2)

        start = ended_key(f"{day}T23:59:59.999Z", "~")
        mine = {still_open, closed, cancelled, closed_later}
        listed = [(lot_id, item) for lot_id, item in recorder.ended_lots(after=start) if lot_id in mine]
        assert [lot_id for lot_id, _ in listed] == [closed_later, cancelled, closed]
        assert listed[2][1] == rejected  # as stored, without index attributes
        assert recorder.get_snapshot(closed) == rejected
        after_cancelled = [lot_id for lot_id, _ in recorder.ended_lots(limit=1, after=ended_key(ends[cancelled], cancelled))]
        assert after_cancelled == [closed]
        assert len(list(recorder.ended_lots(limit=2))) == 2

    def test_ended_lots_page_on_after_an_end_key_ties_by_lot_id(self, recorder: LotRecorder) -> None:
        # Lots ending at one instant: ties go by lot id (descending, the reverse of the key
        # order), and paging by the last end key neither repeats nor skips a lot.
        end = "2000-08-" + f"{uuid.uuid4().int % 28 + 1:02d}" + "T12:00:00.000Z"
        mine = sorted((new_id() for _ in range(12)), reverse=True)
        for lot_id in mine:
            recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1, status="CLOSED") | {"closed_at": end})
        pages: list[str] = []
        after = ended_key(end[:10] + "T23:59:59.999Z", "~")
        while True:
            page = [(lot_id, str(ended_at(item))) for lot_id, item in recorder.ended_lots(limit=5, after=after)]
            pages += [lot_id for lot_id, _ in page if lot_id in set(mine)]
            if len(page) < 5 or page[-1][1] < end:
                break
            after = ended_key(page[-1][1], page[-1][0])
        assert pages == mine


class BidderRecordsContract(RecorderContract):
    """`BidderRecords`: bidders' aliases, written once, and their records of lots, newest kept."""

    def test_alias_records_are_written_once_with_the_events_and_read_in_one_request(self, recorder: LotRecorder) -> None:
        lot_id, other_lot, bid_id = new_id(), new_id(), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                               receipts=[receipt(bid_id, lot_id, 2)], bidders=[alias(lot_id, "alice", 1)])
        assert recorder.get_aliases(lot_id, ["alice", "bob", "alice"]) == {"alice": 1}
        assert recorder.get_aliases(other_lot, ["alice"]) == {}  # per lot
        records = recorder.load_lot(lot_id, [bid_id, new_id("bid")], ["alice", "bob"])
        assert records.snapshot == snapshot(lot_id, 2)
        assert records.receipts == {bid_id: receipt(bid_id, lot_id, 2)}
        assert records.aliases == {"alice": 1}
        assert recorder.load_lot(new_id(), [], []).snapshot is None
        with pytest.raises(ConditionsFailed) as failed:  # alice has an alias already: nothing is written
            recorder.insert_events([event(lot_id, 3)], snapshot=snapshot(lot_id, 3), expected_version=2,
                                   bidders=[alias(lot_id, "bob", 2, 3), alias(lot_id, "alice", 3, 3)])
        assert failed.value.known_bidders == ("alice",) and failed.value.only_records_exist
        assert recorder.get_aliases(lot_id, ["alice", "bob"]) == {"alice": 1}
        assert recorder.get_snapshot(lot_id)["version"] == 2

    def test_bidders_records_of_lots_keep_the_newest_and_page_by_lot(self, recorder: LotRecorder) -> None:
        bidder, lots = new_id("bidder"), sorted(new_id() for _ in range(3))
        for lot_id in lots:
            recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        record = {"lot_id": lots[0], "bidder": bidder, "last_bid": "12.00", "last_bid_id": "b-2", "version": 2, "maximum": "12.00"}
        recorder.update_bidder_lots([record])
        # An older record (a stream delivery that comes late) changes nothing; a newer one does,
        # and keeps the maximum when it brings none (a rejected bid).
        recorder.update_bidder_lots([record | {"last_bid": "11.00", "version": 1}])
        recorder.update_bidder_lots([{k: v for k, v in record.items() if k != "maximum"} | {"last_bid": "9.00", "version": 3}])
        stored = recorder.get_bidder_lot(bidder, lots[0])
        assert stored is not None
        assert (stored["last_bid"], stored["maximum"], stored["version"]) == ("9.00", "12.00", 3)
        assert recorder.get_bidder_lot(bidder, lots[1]) is None
        recorder.update_bidder_lots([record | {"lot_id": lot_id} for lot_id in lots[1:]])
        first, after = recorder.bidder_lots(bidder, 2)
        assert [r["lot_id"] for r in first] == lots[:2] and after == lots[1]
        rest, end = recorder.bidder_lots(bidder, 2, after)
        assert [r["lot_id"] for r in rest] == lots[2:] and end is None
        assert list(recorder.lot_bidders(lots[0])) == [bidder]
        assert set(recorder.get_snapshots([*lots, new_id()])) == set(lots)

    def test_a_retraction_lowers_or_clears_a_bidders_maximum_and_keeps_their_last_bid(self, recorder: LotRecorder) -> None:
        bidder, lot_id = new_id("bidder"), new_id()
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.update_bidder_lots([{"lot_id": lot_id, "bidder": bidder, "last_bid": "30.00", "last_bid_id": "b-3",
                                      "version": 3, "maximum": "30.00"}])
        recorder.update_bidder_lots([{"lot_id": lot_id, "bidder": bidder, "version": 4, "maximum": "20.00"}])
        stored = recorder.get_bidder_lot(bidder, lot_id)
        assert stored is not None
        assert (stored["last_bid"], stored["last_bid_id"], stored["maximum"], stored["version"]) == ("30.00", "b-3", "20.00", 4)
        recorder.update_bidder_lots([{"lot_id": lot_id, "bidder": bidder, "version": 5, "maximum": None}])
        stored = recorder.get_bidder_lot(bidder, lot_id)
        assert stored is not None and "maximum" not in stored and (stored["last_bid"], stored["version"]) == ("30.00", 5)


def a_sale(sale_id: str, **fields: object) -> dict:
    return {"sale_id": sale_id, "title": "Spring sale", "first_closes_at": "2030-01-01T00:00:00.000Z", "lot_ids": [],
            "reserved": 2, "lot_count": 0} | fields


def a_batch(first: int, lot_ids: list[str], request: str = "r-1") -> dict:
    return {"first": first, "request_id": request, "lot_ids": lot_ids, "committed": False}


def a_draft(lot_id: str, first: int = 0) -> dict:
    return snapshot(lot_id, 1) | {"sale_id": "s", "draft": f"{first:04d}"}


class SaleRecordsContract(RecorderContract):
    """`SaleRecords`: a request's positions reserved with its record and batch, its lots as
    drafts listed nowhere, one commit, and the drafts opened."""

    def test_a_request_is_reserved_drafted_committed_and_opened(self, recorder: LotRecorder) -> None:
        sale_id, lots = new_id("sale"), [new_id() for _ in range(2)]
        recorder.reserve_sale_lots(sale_id, a_sale(sale_id), 0, "2029-01-01T00:00:00.000Z", a_batch(0, lots))
        assert recorder.get_sale_request(sale_id, "r-1") == {"request_id": "r-1", "first": Decimal(0)}
        assert recorder.get_sale_batch(sale_id, 0) == a_batch(0, lots) | {"first": Decimal(0)}
        recorder.insert_lot_drafts([event(lot, 1) for lot in lots], [a_draft(lot) for lot in lots])
        assert recorder.get_snapshots(lots) == {lot: a_draft(lot) for lot in lots}
        assert not {lot for lot, _ in recorder.open_lots()} & set(lots)  # drafts are listed nowhere
        assert recorder.commit_sale_batch(sale_id, 0, 2) is True
        assert recorder.commit_sale_batch(sale_id, 0, 2) is False  # once
        stored = recorder.get_sale(sale_id)
        assert stored is not None and stored["lot_count"] == 2
        assert [b["committed"] for b in recorder.sale_batches(sale_id, 0)] == [True]
        recorder.open_drafts([a_draft(lot) for lot in lots])
        assert recorder.get_snapshots(lots) == {lot: snapshot(lot, 1) | {"sale_id": "s"} for lot in lots}
        assert set(lots) <= {lot for lot, _ in recorder.open_lots()}

    def test_a_reservation_is_taken_once_and_only_over_the_positions_read(self, recorder: LotRecorder) -> None:
        sale_id = new_id("sale")
        recorder.reserve_sale_lots(sale_id, a_sale(sale_id), 0, "2029-01-01T00:00:00.000Z", a_batch(0, ["a", "b"]))
        with pytest.raises(SaleConditionsFailed) as failed:
            recorder.reserve_sale_lots(sale_id, a_sale(sale_id), 0, "2029-01-01T00:00:00.000Z", a_batch(0, ["c"], "r-2"))
        assert failed.value.sale_exists
        with pytest.raises(SaleConditionsFailed) as failed:  # positions 0-1 are taken: 2 is next
            recorder.reserve_sale_lots(sale_id, None, 1, "2029-01-01T00:00:00.000Z", a_batch(1, ["c"], "r-2"))
        assert failed.value.sale_changed
        with pytest.raises(SaleConditionsFailed) as failed:  # its first close has passed
            recorder.reserve_sale_lots(sale_id, None, 2, "2030-01-01T00:00:00.000Z", a_batch(2, ["c"], "r-2"))
        assert failed.value.sale_changed
        with pytest.raises(SaleConditionsFailed) as failed:
            recorder.reserve_sale_lots(sale_id, None, 2, "2029-01-01T00:00:00.000Z", a_batch(2, ["c"]))
        assert failed.value.request_exists
        recorder.reserve_sale_lots(sale_id, None, 2, "2029-01-01T00:00:00.000Z", a_batch(2, ["c"], "r-2"))
        stored = recorder.get_sale(sale_id)
        assert stored is not None and stored["reserved"] == 3
        assert [b["first"] for b in recorder.sale_batches(sale_id, 1)] == [2]

    def test_drafts_whose_lot_exists_write_nothing_and_name_the_lot(self, recorder: LotRecorder) -> None:
        taken = new_id()
        recorder.insert_events([event(taken, 1)], snapshot=snapshot(taken, 1), expected_version=None)
        fresh = new_id()
        with pytest.raises(SaleConditionsFailed) as failed:
            recorder.insert_lot_drafts([event(fresh, 1), event(taken, 1)], [a_draft(fresh), a_draft(taken)])
        assert failed.value.lots_exist == (taken,)
        assert recorder.get_snapshot(fresh) is None and recorder.select_events(fresh) == []

    def test_a_draft_a_decision_replaced_is_left_as_it_is(self, recorder: LotRecorder) -> None:
        lot = new_id()
        recorder.insert_lot_drafts([event(lot, 1)], [a_draft(lot)])
        recorder.insert_events([event(lot, 2)], snapshot=snapshot(lot, 2, status="CLOSED"), expected_version=1)
        recorder.open_drafts([a_draft(lot)])
        assert recorder.get_snapshot(lot) == snapshot(lot, 2, status="CLOSED")
        assert lot not in {lot_id for lot_id, _ in recorder.open_lots()}


class ParkedMessagesContract(RecorderContract):
    """`ParkedMessages`: a message that can never be processed, kept once."""

    def test_parked_messages_are_kept(self, recorder: LotRecorder) -> None:
        message_id = new_id("message")
        recorder.park(message_id, "not json", "not a lot command", {"MessageGroupId": "lot-1"})
        recorder.park(message_id, "not json", "not a lot command", {"MessageGroupId": "lot-1"})
        parked = recorder.get_parked(message_id)
        assert parked is not None
        assert (parked["body"], parked["error"], parked["attributes"]) == ("not json", "not a lot command", {"MessageGroupId": "lot-1"})
        assert isinstance(parked["parked_at"], Decimal)
        assert recorder.get_parked(new_id("message")) is None


class QuotaRecordsContract(RecorderContract):
    """`QuotaRecords`: a user's record, written only over the version read."""

    def test_a_quota_record_is_written_over_the_version_read_only(self, recorder: LotRecorder) -> None:
        user = new_id("user")
        assert recorder.get_quota(user, "LOTS") is None
        recorder.put_quota(user, "LOTS", {"day": "2030-01-01", "count": 3}, expected_version=0)
        with pytest.raises(IntegrityError):
            recorder.put_quota(user, "LOTS", {"day": "2030-01-01", "count": 9}, expected_version=0)
        recorder.put_quota(user, "LOTS", {"day": "2030-01-01", "count": 4}, expected_version=1)
        with pytest.raises(IntegrityError):
            recorder.put_quota(user, "LOTS", {"day": "2030-01-01", "count": 9}, expected_version=1)
        assert recorder.get_quota(user, "LOTS") == {"day": "2030-01-01", "count": Decimal(4), "version": Decimal(2)}
        recorder.put_quota(user, "LOT#vase", {"pending": ["bid-1"]}, expected_version=0)
        assert recorder.get_quota(user, "LOT#vase") == {"pending": ["bid-1"], "version": Decimal(1)}
        assert recorder.get_quota(new_id("user"), "LOTS") is None

    def test_a_refused_quota_write_gives_the_record_as_stored(self, recorder: LotRecorder) -> None:
        # So a writer that wrote on a guess tries again without reading the record.
        user = new_id("user")
        recorder.put_quota(user, "LOT#vase", {"pending": ["bid-1"]}, expected_version=0)
        with pytest.raises(QuotaRecordChanged) as refused:
            recorder.put_quota(user, "LOT#vase", {"pending": ["bid-2"]}, expected_version=0)
        assert refused.value.stored == {"pending": ["bid-1"], "version": Decimal(1)}
        with pytest.raises(QuotaRecordChanged) as refused:
            recorder.put_quota(new_id("user"), "LOT#vase", {"pending": ["bid-3"]}, expected_version=4)
        assert refused.value.stored is None


class ErasureRecordsContract(RecorderContract):
    """`ErasureRecords` (with the disclosures `LotEventStore` writes beside their events): a
    bidder's disclosures, records keyed by them and their bids' records deleted; others kept."""

    def test_disclosures_are_written_with_their_events_and_read_by_version(self, recorder: LotRecorder) -> None:
        lot_id = new_id()
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.insert_events([event(lot_id, v) for v in (2, 3, 4)], snapshot=snapshot(lot_id, 4), expected_version=1,
                               disclosures=[disclosed(lot_id, v) for v in (2, 3, 4)])
        with pytest.raises(IntegrityError):  # with an event that exists, its disclosures are not written either
            recorder.insert_events([event(lot_id, 4), event(lot_id, 9)], disclosures=[disclosed(lot_id, 9)])
        assert recorder.get_disclosures(lot_id, [2, 3]) == {2: disclosed(lot_id, 2)["disclosures"], 3: disclosed(lot_id, 3)["disclosures"]}
        assert recorder.get_disclosures(lot_id, [1, 4, 9]) == {4: disclosed(lot_id, 4)["disclosures"]}
        assert recorder.get_disclosures(lot_id, []) == {}

    def test_a_bidders_disclosures_and_records_are_deleted_and_the_erasure_kept(self, recorder: LotRecorder) -> None:
        lot_id, user, other, bid_id, pending = new_id(), new_id("user"), new_id("user"), new_id("bid"), new_id("bid")
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None)
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                               receipts=[receipt(bid_id, lot_id, 2)], bidders=[alias(lot_id, user, 1), alias(lot_id, other, 2)],
                               disclosures=[disclosed(lot_id, 2)])
        recorder.update_bidder_lots([{"bidder": user, "lot_id": lot_id, "version": 2, "last_bid": "10.00",
                                      "last_bid_id": bid_id, "maximum": "10.00"}])
        recorder.record_bid_request({"bid_id": pending, "lot_id": lot_id, "bidder": user, "amount": "11.00"})
        recorder.put_quota(user, f"LOT#{lot_id}", {"pending": [pending]}, expected_version=0)
        recorder.delete_disclosures(lot_id, 2, ["bidder"])
        assert recorder.get_disclosures(lot_id, [2]) == {2: {"amount": disclosed(lot_id, 2)["disclosures"]["amount"]}}
        recorder.delete_disclosures(lot_id, 2, ["amount"])
        recorder.delete_disclosures(lot_id, 7, ["amount"])  # none there: nothing to do
        assert recorder.get_disclosures(lot_id, [2]) == {}
        # Its alias and record of the lot, its quota record, the bid's receipt and the pending bid's request.
        assert recorder.delete_user_records(user, [bid_id]) == 5
        assert recorder.get_receipts([bid_id]) == {} and recorder.get_bid_request(pending) is None
        assert recorder.get_aliases(lot_id, [user, other]) == {other: 2} and recorder.get_quota(user, f"LOT#{lot_id}") is None
        assert recorder.get_bidder_lot(user, lot_id) is None and recorder.delete_user_records(user, [bid_id]) == 0
        recorder.record_erasure({"erasure_id": new_id("erasure"), "erased_at": "2030-01-01T00:00:00.000Z", "disclosures": 2})


def registration(scope: str, user: str, version: int, status: str = "PENDING", **more: object) -> dict:
    return {"registration_id": f"{scope}#{user}", "scope": scope, "user_id": user, "status": status,
            "requested_at": "2030-01-01T00:00:00.000Z", "updated_at": "2030-01-01T00:00:00.000Z", "version": version,
            "head_hash": "0" * 64, **more}


def registration_event(registration_id: str, version: int) -> StoredEvent:
    return StoredEvent(originator_id=registration_id, originator_version=version, topic="tests:Event",
                       state=f'{{"v":{version}}}'.encode())


class RegistrationRecordsContract(RecorderContract):
    """`RegistrationRecords`: a registration's events and state together, on its version; the
    paddle counter moved in the same write; a sale's and a bidder's lists, paged; and the
    checks a lot's transaction puts on registrations."""

    def test_events_and_state_are_written_together_on_the_version_read(self, recorder: LotRecorder) -> None:
        scope, user = f"SALE#{new_id('sale')}", new_id("user")
        record = registration(scope, user, 1)
        recorder.insert_registration([registration_event(record["registration_id"], 1)], record, None)
        with pytest.raises(IntegrityError):  # a registration that exists is not created again
            recorder.insert_registration([registration_event(record["registration_id"], 1)], record, None)
        approved = registration(scope, user, 2, "APPROVED", paddle=1)
        with pytest.raises(IntegrityError):  # not at version 2
            recorder.insert_registration([registration_event(record["registration_id"], 3)], approved, 2)
        recorder.insert_registration([registration_event(record["registration_id"], 2)], approved, 1, paddles=(scope, 0))
        assert recorder.get_registrations([record["registration_id"], "SALE#none#x"]) == {record["registration_id"]: approved}
        assert [e.originator_version for e in recorder.iter_registration_events(record["registration_id"])] == [1, 2]
        assert [e.originator_version for e in recorder.iter_registration_events(record["registration_id"], lte=1)] == [1]
        assert recorder.last_paddle(scope) == 1

    def test_the_paddle_counter_moves_on_from_the_number_read_only(self, recorder: LotRecorder) -> None:
        scope, first, second = f"SALE#{new_id('sale')}", new_id("user"), new_id("user")
        for user in (first, second):
            recorder.insert_registration([], registration(scope, user, 1), None)
        recorder.insert_registration([], registration(scope, first, 2, "APPROVED", paddle=1), 1, paddles=(scope, 0))
        with pytest.raises(IntegrityError):  # a reviewer who read 0 too: nothing written
            recorder.insert_registration([], registration(scope, second, 2, "APPROVED", paddle=1), 1, paddles=(scope, 0))
        assert recorder.get_registrations([f"{scope}#{second}"])[f"{scope}#{second}"]["status"] == "PENDING"
        recorder.insert_registration([], registration(scope, second, 2, "APPROVED", paddle=2), 1, paddles=(scope, 1))
        assert recorder.last_paddle(scope) == 2
        assert recorder.last_paddle(f"SALE#{new_id('sale')}") == 0

    def test_a_sales_registrations_by_status_then_bidder_and_a_bidders_by_sale(self, recorder: LotRecorder) -> None:
        scope, other = f"SALE#{new_id('sale')}", f"LOT#{new_id('lot')}"
        users = sorted(new_id("user") for _ in range(3))
        for user in users:
            recorder.insert_registration([], registration(scope, user, 1), None)
        recorder.insert_registration([], registration(scope, users[1], 2, "APPROVED", paddle=1), 1)
        recorder.insert_registration([], registration(other, users[0], 1), None)
        recorder.insert_registration([], {"registration_id": f"BIDDER#{users[0]}", "user_id": users[0], "blocked": True,
                                          "updated_at": "2030-01-01T00:00:00.000Z", "version": 1, "head_hash": "0" * 64}, None)
        page, cursor = recorder.scope_registrations(scope, None, 2)
        assert [(r["status"], r["user_id"]) for r in page] == [("APPROVED", users[1]), ("PENDING", users[0])]
        rest, last = recorder.scope_registrations(scope, None, 2, cursor)
        assert [r["user_id"] for r in rest] == [users[2]] and last is None
        pending, _ = recorder.scope_registrations(scope, "PENDING", 10)
        assert [r["user_id"] for r in pending] == [users[0], users[2]]
        assert recorder.scope_registrations(scope, "SUSPENDED", 10) == ([], None)
        mine, cursor = recorder.bidder_registrations(users[0], 1)
        assert [r["scope"] for r in mine] == [other] and cursor is not None  # "LOT#..." sorts before "SALE#..."
        more, last = recorder.bidder_registrations(users[0], 1, cursor)
        assert [r["scope"] for r in more] == [scope] and last is None

    def test_erasing_a_bidder_deletes_their_registrations_and_keeps_their_standing(self, recorder: LotRecorder) -> None:
        scope, user, other, lot_id = f"SALE#{new_id('sale')}", new_id("user"), new_id("user"), new_id()
        standing = {"registration_id": f"BIDDER#{user}", "user_id": user, "blocked": True,
                    "updated_at": "2030-01-01T00:00:00.000Z", "version": 1, "head_hash": "0" * 64}
        recorder.insert_registration([registration_event(standing["registration_id"], 1)], standing, None)
        for bidder in (user, other):
            recorder.insert_registration([registration_event(f"{scope}#{bidder}", 1)], registration(scope, bidder, 1), None)
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None,
                               exposures=[ExposureChange(f"{scope}#{user}", Decimal("10.00"), None)])
        assert recorder.delete_user_records(user, []) == 3  # the registration's event, state and exposure
        assert recorder.get_registrations([f"{scope}#{user}", f"{scope}#{other}", f"BIDDER#{user}"]).keys() == {
            f"{scope}#{other}", f"BIDDER#{user}"}
        assert list(recorder.iter_registration_events(f"{scope}#{user}")) == []
        assert recorder.get_exposures([f"{scope}#{user}"]) == {}

    def test_a_lots_transaction_checks_registrations_and_says_which_changed(self, recorder: LotRecorder) -> None:
        lot_id, scope, user, blocked = new_id(), f"SALE#{new_id('sale')}", new_id("user"), new_id("user")
        reg_id = f"{scope}#{user}"
        recorder.insert_registration([], registration(scope, user, 2, "APPROVED", paddle=1), None)
        recorder.insert_registration([], {"registration_id": f"BIDDER#{blocked}", "user_id": blocked, "blocked": True,
                                          "updated_at": "2030-01-01T00:00:00.000Z", "version": 1, "head_hash": "0" * 64}, None)
        recorder.insert_events([event(lot_id, 1)], snapshot=snapshot(lot_id, 1), expected_version=None,
                               registrations=[RegistrationCheck(reg_id, 2), RegistrationCheck(f"BIDDER#{user}", None, True)])
        with pytest.raises(ConditionsFailed) as failed:
            recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                                   registrations=[RegistrationCheck(reg_id, 1), RegistrationCheck(f"BIDDER#{blocked}", None, True),
                                                  RegistrationCheck(f"{scope}#{blocked}", None)])
        assert failed.value.changed_registrations == (reg_id, f"BIDDER#{blocked}")
        assert failed.value.only_records_exist
        assert recorder.get_snapshot(lot_id)["version"] == 1
        recorder.insert_events([event(lot_id, 2)], snapshot=snapshot(lot_id, 2), expected_version=1,
                               registrations=[RegistrationCheck(f"BIDDER#{blocked}", 1), RegistrationCheck(f"{scope}#{blocked}", None)])
        assert recorder.get_snapshot(lot_id)["version"] == 2


# Every port's contract, for a backend's test module to subclass each of.
PORT_CONTRACTS = (
    LotEventStoreContract,
    BidRecordsContract,
    LotListingsContract,
    BidderRecordsContract,
    SaleRecordsContract,
    ParkedMessagesContract,
    QuotaRecordsContract,
    ErasureRecordsContract,
    RegistrationRecordsContract,
)
