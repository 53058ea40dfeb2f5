"""The lot lists on the Bids table (the `LotListings` port), from two sparse, sharded,
keys-only indexes over the snapshots (`ledger.dynamodb.table`): open lots by close time,
ended lots by end time. Readers merge the shards in list order, then read the snapshots a
page (one BatchGetItem) at a time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.items import from_item
from ledger.dynamodb.table import (
    BATCH_GET_LIMIT,
    ENDED_LOTS_INDEX,
    ENDED_PREFIX,
    OPEN_LOTS_INDEX,
    OPEN_SHARDS,
    index_keys,
)
from ledger.persistence import OPEN_STATUS, LotListings, close_key, ended_at, ended_key, lot_key


class LotListingsTable(TableAccess, LotListings):
    """Lists open lots soonest to close first and ended lots most recently ended first."""

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

    def missing_index_keys(self, lot_id: str) -> list[str]:
        """The index attributes the stored snapshot lacks (or holds wrongly) for its status."""
        response = self._call(
            "missing_index_keys", self.client.get_item, TableName=self.table_name,
            Key={"PK": {"S": lot_key(lot_id)}, "SK": {"S": "SNAPSHOT"}}, ConsistentRead=True,
        )
        stored = from_item(response.get("Item") or {})
        if not stored:
            return []
        return [name for name, value in index_keys(lot_id, stored).items() if stored.get(name) != value]
