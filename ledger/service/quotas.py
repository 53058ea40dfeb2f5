"""Per-user quotas the service enforces, so that one account cannot crowd out the rest:

    lots a day          lots a seller creates per UTC day (a sale counts each of its lots)
    pending bids        a bidder's bids on one lot not decided yet
    rejected bids       a bidder's bids on one lot rejected in one clock hour

(The WebSocket API's quotas, connections per user and subscriptions per connection, are
kept by the Connections store, `adapters.connections`, with its items; their limits are here.)

Each is kept in one record per seller, or per bidder and lot (`QuotaRecords`), so no key is
shared by users or lots, off the processor's path: written once per admitted bid (read only
before a refusal or a look-up of receipts: `Quotas.take_bid`), read and written once per new lot. A caller over a quota gets `QuotaExceeded` (429 with `Retry-After`) and
nothing of the bid or lot is written.

A bidder's record holds the ids of their pending bids on the lot (at most the limit) and the
hour's count of rejections. The pending ids are looked up (their receipts) only once the
list is full: the decided ones leave it, the rejected among them are counted. So rejections
are seen a few bids late, never missed; a bid id retried while pending counts once.

The limits come from the function's environment (`QuotaLimits.from_env`, set from
template.yaml's parameters); a variable left unset switches that quota off.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError

from ledger.domain.errors import QuotaExceeded
from ledger.persistence import QuotaRecordChanged
from ledger.service.cache import LruCache

LOTS_PER_DAY_VARIABLE = "QUOTA_LOTS_PER_DAY"
PENDING_BIDS_VARIABLE = "QUOTA_PENDING_BIDS_PER_LOT"
REJECTED_BIDS_VARIABLE = "QUOTA_REJECTED_BIDS_PER_LOT_PER_HOUR"
CONNECTIONS_VARIABLE = "QUOTA_CONNECTIONS_PER_USER"
SUBSCRIPTIONS_VARIABLE = "QUOTA_SUBSCRIPTIONS_PER_CONNECTION"
# A pending bid is usually decided within a second or two.
PENDING_RETRY_AFTER_S = 2
# How many pending ids a record keeps when only rejections are limited.
TRACKED_WITHOUT_PENDING_LIMIT = 10
# Racing writers of one record: read and try again this often, then ask the caller to.
WRITE_ATTEMPTS = 3
# Bidders' records (per bidder and lot) a container keeps as it wrote them last.
BID_RECORDS_KEPT = 4096
LOTS_RECORD = "LOTS"
# Sale requests a seller's lots record remembers (their ids, 64 characters each), so one sent again counts once.
REQUESTS_KEPT = 8
HOUR_S = 3600


@dataclass(frozen=True)
class QuotaLimits:
    """The limits; None switches a quota off."""

    lots_per_day: int | None = None
    pending_bids_per_lot: int | None = None
    rejected_bids_per_lot_per_hour: int | None = None
    connections_per_user: int | None = None
    subscriptions_per_connection: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QuotaLimits:
        """The limits the environment sets; ValueError naming the variable when one is not a
        whole number of at least 1 (read at start-up, so a wrong setting stops the function)."""
        names = (LOTS_PER_DAY_VARIABLE, PENDING_BIDS_VARIABLE, REJECTED_BIDS_VARIABLE, CONNECTIONS_VARIABLE,
                 SUBSCRIPTIONS_VARIABLE)
        return cls(*(_limit(env, name) for name in names))


def _limit(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name) or ""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{name}={text!r}: a quota is a whole number of at least 1 (unset: no quota)")
    return int(text)


class QuotaStore(Protocol):
    """What quotas read and write: their records (`QuotaRecords`), and bids' receipts (`BidRecords`)."""

    def get_quota(self, user: str, name: str) -> dict[str, Any] | None: ...

    def put_quota(self, user: str, name: str, record: Mapping[str, Any], expected_version: int) -> None: ...

    def get_receipts(self, bid_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...


class Quotas:
    def __init__(self, store: QuotaStore, limits: QuotaLimits, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock
        # The bidders' records this container wrote last, by (bidder, record name): the next
        # bid's write goes out on one unread (`take_bid`).
        self._bid_records: LruCache[tuple[str, str], Mapping[str, Any]] = LruCache(BID_RECORDS_KEPT)

    def take_lots(self, seller: str, count: int, request: str | None = None) -> None:
        """Count `count` new lots of `seller` today, or QuotaExceeded (retry after midnight UTC).
        A `request` counted already today (the same sale request sent again) counts nothing."""
        limit = self.limits.lots_per_day
        if limit is None:
            return
        for _ in range(WRITE_ATTEMPTS):
            now = self.clock()
            day = now.date().isoformat()
            record = self.store.get_quota(seller, LOTS_RECORD) or {}
            used = int(record.get("count", 0)) if record.get("day") == day else 0
            counted = [str(r) for r in record.get("requests", [])] if record.get("day") == day else []
            if request is not None and request in counted:
                return
            if used + count > limit:
                midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
                raise QuotaExceeded(
                    f"you may create {limit} lots a day and have {limit - used} left today",
                    _details("lots_per_day", limit, int((midnight - now).total_seconds()) + 1, used=used, asked=count),
                )
            new: dict[str, object] = {"day": day, "count": used + count}
            if request is not None:  # bounded: the latest REQUESTS_KEPT
                new["requests"] = [*counted[-(REQUESTS_KEPT - 1):], request]
            if self._written(seller, LOTS_RECORD, new, record):
                return
        raise _busy("lots_per_day", limit)

    def take_bid(self, bidder: str, lot_id: str, bid_id: str) -> None:
        """Count a new pending bid of `bidder` on the lot, or QuotaExceeded: too many of their
        bids on it are pending (retry in a moment), or were rejected this hour (retry next hour).

        One request in the common case: the write goes out on the record as this container
        last wrote it (none: the bidder's first bid on the lot here), unread; a write refused
        because the record is not that returns the record as stored, and the bid is counted
        on it. Receipts are looked up, and a bid refused, only on the record as stored."""
        pending_limit, rejected_limit = self.limits.pending_bids_per_lot, self.limits.rejected_bids_per_lot_per_hour
        if pending_limit is None and rejected_limit is None:
            return
        name = f"LOT#{lot_id}"
        record: Mapping[str, Any] = self._bid_records.get((bidder, name)) or {}
        stored = False  # whether `record` is as stored now, not as this container wrote it last
        writes = 0
        while writes < WRITE_ATTEMPTS:
            now_s = int(self.clock().timestamp())
            hour = now_s // HOUR_S
            pending = [str(bid) for bid in record.get("pending", [])]
            if bid_id in pending:
                return  # a retry of a bid counted already
            rejected = int(record.get("rejected", 0)) if record.get("hour") == hour else 0
            tracked = pending_limit or TRACKED_WITHOUT_PENDING_LIMIT
            if not stored and (len(pending) >= tracked or (rejected_limit is not None and rejected >= rejected_limit)):
                record, stored = self.store.get_quota(bidder, name) or {}, True
                continue
            if len(pending) >= tracked:
                receipts = self.store.get_receipts(pending)
                rejected += sum(1 for bid in pending if receipts.get(bid, {}).get("status") == "REJECTED")
                pending = [bid for bid in pending if bid not in receipts]
            if rejected_limit is not None and rejected >= rejected_limit:
                raise QuotaExceeded(
                    f"{rejected} of your bids on lot {lot_id!r} were rejected this hour; you may bid on it again next hour",
                    _details("rejected_bids_per_lot_per_hour", rejected_limit, (hour + 1) * HOUR_S - now_s, lot_id=lot_id),
                )
            if pending_limit is not None and len(pending) >= pending_limit:
                raise QuotaExceeded(
                    f"{len(pending)} of your bids on lot {lot_id!r} are still pending; bid again once they are decided",
                    _details("pending_bids_per_lot", pending_limit, PENDING_RETRY_AFTER_S, lot_id=lot_id),
                )
            kept = [*pending[max(0, len(pending) + 1 - tracked):], bid_id]  # bounded: only without a pending limit is any dropped
            new: dict[str, Any] = {"pending": kept, "rejected": rejected, "hour": hour}
            version = int(str(record.get("version", 0)))
            writes += 1
            try:
                self.store.put_quota(bidder, name, new, expected_version=version)
            except QuotaRecordChanged as changed:
                record, stored = changed.stored or {}, True  # the record as stored: count on it
                continue
            self._bid_records.put((bidder, name), {**new, "version": version + 1})
            return
        raise _busy("pending_bids_per_lot", pending_limit or rejected_limit or 0)

    def _written(self, user: str, name: str, new: dict[str, object], read: Mapping[str, object]) -> bool:
        try:
            self.store.put_quota(user, name, new, expected_version=int(str(read.get("version", 0))))
        except IntegrityError:
            return False  # another request of this user counted meanwhile: read again
        return True


def _details(quota: str, limit: int, retry_after_s: int, **more: object) -> dict[str, object]:
    return {"quota": quota, "limit": limit, "retry_after_s": max(1, retry_after_s), **more}


def _busy(quota: str, limit: int) -> QuotaExceeded:
    return QuotaExceeded("too many of your requests at once; send this one again in a moment", _details(quota, limit, 1))
