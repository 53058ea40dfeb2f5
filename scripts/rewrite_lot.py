"""Play an insider with write access to the Bids table: rewrite one bid's amount (its maximum) on the local
stack and recompute every later hash and the snapshot's head, so `samsold verify` (the hash
chain alone) still passes. The public log catches it: `samsold log verify LOT` and
`samsold log monitor` name the lot and the version (README, "Proving a lot's history to a
third party"; tests/e2e/test_public_log.py).

    python scripts/rewrite_lot.py LOT VERSION AMOUNT [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
from decimal import Decimal
from pathlib import Path

from ledger.domain import commitments
from ledger.dynamodb.items import put_event
from ledger.dynamodb.table import disclosure_key
from samsold_cli.target import resolve_target


def rewrite_amount(data_dir: Path | None, lot_id: str, version: int, amount: str) -> None:
    target = resolve_target(data_dir)
    service = target.app
    table = target.output("BidsTableName")
    events = list(service.queries.lot_events(lot_id))
    if not hasattr(events[version - 1], "amount"):
        raise SystemExit(f"version {version} of {lot_id} is not a bid")
    prev_hash = events[version - 2].hash
    client = service.commands.store.client  # type: ignore[attr-defined]
    for event in events[version - 1 :]:
        changes: dict[str, object] = {"prev_hash": prev_hash, "hash": ""}
        if event.version == version:
            changes["amount"] = Decimal(amount)
            if event.sealed:  # committed: a new disclosure beside the event, and its commitment in the event
                disclosure = commitments.disclose(lot_id, version, "amount", amount)
                changes["sealed"] = event.sealed | {"amount": commitments.commitment(disclosure)}
                client.update_item(TableName=table, Key={"PK": {"S": f"LOT#{lot_id}"}, "SK": {"S": disclosure_key(version)}},
                                   UpdateExpression="SET disclosures.amount = :d", ExpressionAttributeValues={":d": {"S": disclosure}})
        event = dataclasses.replace(event, **changes)  # type: ignore[arg-type]
        prev_hash = event.hash
        put = put_event(table, service.commands.mapper.to_stored_event(event))["Put"]
        client.put_item(TableName=put["TableName"], Item=put["Item"])  # over the stored event, unconditionally
    client.update_item(TableName=table, Key={"PK": {"S": f"LOT#{lot_id}"}, "SK": {"S": "SNAPSHOT"}},
                       UpdateExpression="SET head_hash = :h", ExpressionAttributeValues={":h": {"S": prev_hash}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lot_id")
    parser.add_argument("version", type=int)
    parser.add_argument("amount")
    parser.add_argument("--data-dir", type=Path)
    arguments = parser.parse_args()
    rewrite_amount(arguments.data_dir, arguments.lot_id, arguments.version, arguments.amount)
    print(f"lot {arguments.lot_id}: version {arguments.version} now bids {arguments.amount}; later hashes and the head recomputed")


if __name__ == "__main__":
    main()
