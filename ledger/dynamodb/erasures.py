"""Erasing a bidder on the Bids table (the `ErasureRecords` port).

    LOT#{lot_id}       DISCLOSURE#{version:010d}  an event's disclosures: written with it (`events`),
                                                  a bidder's fields removed by their erasure
    ERASURE#{day}      {erased_at}#{erasure_id}   the record of an erasure: when, and how much; no personal data

An erasure is an administrator's rare act, never on a bid's path: its record's partition is
the day's, so each holds a day's erasures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ledger.dynamodb.access import TableAccess
from ledger.dynamodb.errors import raise_for
from ledger.dynamodb.items import from_item, to_item
from ledger.dynamodb.table import REGISTRATIONS_BY_BIDDER_INDEX, bid_key, bidder_key, disclosure_key, quota_key
from ledger.persistence import ErasureRecords, lot_key

BID_RECORDS = ("REQUEST", "RECEIPT", "RETRACTION")


class ErasuresTable(TableAccess, ErasureRecords):
    def delete_disclosures(self, lot_id: str, version: int, fields: Sequence[str]) -> None:
        """Remove the fields from the event's disclosures (one UpdateItem), and the item when it is left empty."""
        if not fields:
            return
        key = {"PK": {"S": lot_key(lot_id)}, "SK": {"S": disclosure_key(version)}}
        names = {"#d": "disclosures"} | {f"#f{i}": name for i, name in enumerate(fields)}
        try:
            response = self.client.update_item(
                TableName=self.table_name, Key=key, ConditionExpression="attribute_exists(PK)",
                UpdateExpression="REMOVE " + ", ".join(f"#d.#f{i}" for i in range(len(fields))),
                ExpressionAttributeNames=names, ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return  # nothing disclosed there any more
            raise_for(error, "delete_disclosures")
        except BotoCoreError as error:
            raise_for(error, "delete_disclosures")
        if not response.get("Attributes", {}).get("disclosures", {}).get("M"):
            self._call("delete_disclosures", self.client.delete_item, TableName=self.table_name, Key=key,
                       ConditionExpression="size(#d) = :none",  # unless a field was disclosed again since
                       ExpressionAttributeNames={"#d": "disclosures"}, ExpressionAttributeValues={":none": {"N": "0"}})

    def delete_user_records(self, user: str, bid_ids: Sequence[str]) -> int:
        """Query the user's two partitions (`BIDDER#`, `QUOTA#`) and their registrations' (found
        by the registrations' bidder index), read which of the bids' records exist
        (BatchGetItem), and delete them all (BatchWriteItem, 25 at a time)."""
        keys: list[tuple[str, str]] = []
        pending: list[str] = []
        registrations = [item["PK"]["S"] for item in self._pages(
            "delete_user_records", "query", {}, TableName=self.table_name, IndexName=REGISTRATIONS_BY_BIDDER_INDEX,
            KeyConditionExpression="reg_bidder = :user", ExpressionAttributeValues={":user": {"S": user}})]
        for partition in (bidder_key(user), quota_key(user), *registrations):
            for item in self._pages("delete_user_records", "query", {}, TableName=self.table_name,
                                    KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": partition}}):
                keys.append((item["PK"]["S"], item["SK"]["S"]))
                pending += [str(b) for b in from_item(item).get("pending", [])]
        bids = [(bid_key(b), sk) for b in dict.fromkeys([*bid_ids, *pending]) for sk in BID_RECORDS]
        keys += [(pk, sk) for pk, sk, _ in self._batch_get("delete_user_records", bids)]
        self._batch_delete("delete_user_records", keys)
        return len(keys)

    def record_erasure(self, record: Mapping[str, Any]) -> None:
        erased_at = str(record["erased_at"])
        item = {"PK": f"ERASURE#{erased_at[:10]}", "SK": f"{erased_at}#{record['erasure_id']}", **record}
        self._call("record_erasure", self.client.put_item, TableName=self.table_name, Item=to_item(item),
                   ConditionExpression="attribute_not_exists(PK)")
