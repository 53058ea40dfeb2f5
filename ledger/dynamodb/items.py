"""The DynamoDB item encoding: how each record becomes a Bids-table item, and back.

Records are JSON-like dicts (`ledger.persistence`); an item is the same attributes in
DynamoDB's typed form under the record's keys (`ledger.dynamodb.table`). Every record is
written once, conditional on its item being new, except the snapshot, the one item
overwritten (conditional on the version decided on). Read back, the keys are stripped, so
a record comes back as it was given, numbers as `Decimal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from eventsourcing.persistence import StoredEvent

from ledger.domain.queued import BidRequestCheck
from ledger.domain.registration import ExposureChange, RegistrationCheck
from ledger.dynamodb.table import KEY_ATTRIBUTES, bid_key, bidder_key, disclosure_key, event_key, index_keys, my_bid_key
from ledger.persistence import BID_TOPICS, lot_key, registration_key

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in attributes.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def strip_keys(attributes: dict[str, Any]) -> dict[str, Any]:
    """A record as it was given: without the table's and the indexes' keys; a snapshot gets
    its `lot_id` back from its key (it is not stored again)."""
    if attributes.get("SK") == "SNAPSHOT" and isinstance(attributes.get("PK"), str):
        attributes.setdefault("lot_id", attributes["PK"].removeprefix("LOT#"))  # not stored again
    for key in KEY_ATTRIBUTES:
        attributes.pop(key, None)
    return attributes


def put_new(table_name: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction's Put of a record written once: only if its item is new."""
    return {
        "Put": {
            "TableName": table_name,
            "Item": to_item(item),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def put_event(table_name: str, stored_event: StoredEvent) -> dict[str, Any]:
    item = {
        "PK": {"S": lot_key(str(stored_event.originator_id))},
        "SK": {"S": event_key(stored_event.originator_version)},
        "topic": {"S": stored_event.topic},
        "state": {"B": stored_event.state},
    }
    if stored_event.topic in BID_TOPICS:
        item["bid_lot"] = {"S": str(stored_event.originator_id)}  # into the BidsByLot index
    return {
        "Put": {
            "TableName": table_name,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def put_disclosures(table_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A transaction's Put of an event's disclosures (`LOT#{lot}`/`DISCLOSURE#{version}`): without a
    condition of its own, as the event's Put beside it is conditional on being new."""
    item = {"PK": lot_key(str(record["lot_id"])), "SK": disclosure_key(int(record["version"])),
            "disclosures": dict(record["disclosures"])}
    return {"Put": {"TableName": table_name, "Item": to_item(item)}}


def put_receipt(table_name: str, receipt: Mapping[str, Any]) -> dict[str, Any]:
    return put_new(table_name, {"PK": bid_key(str(receipt["bid_id"])), "SK": "RECEIPT", **receipt})


def put_retraction(table_name: str, retraction: Mapping[str, Any]) -> dict[str, Any]:
    return put_new(table_name, {"PK": bid_key(str(retraction["bid_id"])), "SK": "RETRACTION", **retraction})


def check_request(table_name: str, check: BidRequestCheck) -> dict[str, Any]:
    """A transaction's ConditionCheck that the bid's request record holds what `check` says."""
    names = {f"#r{i}": name for i, name in enumerate(check.fields)}
    values = {f":r{i}": _serializer.serialize(value) for i, value in enumerate(check.fields.values())}
    conditions = ["attribute_exists(PK)"] + [
        f"(attribute_not_exists(#r{i}) OR #r{i} = :r{i})" if name in check.or_absent else f"#r{i} = :r{i}"
        for i, name in enumerate(check.fields)
    ]
    return {
        "ConditionCheck": {
            "TableName": table_name,
            "Key": {"PK": {"S": bid_key(check.bid_id)}, "SK": {"S": "REQUEST"}},
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def check_registration(table_name: str, check: RegistrationCheck) -> dict[str, Any]:
    """A transaction's ConditionCheck that a registration's (or standing's) state record is as `check` says."""
    condition: dict[str, Any]
    if check.unless_blocked:
        condition = {"ConditionExpression": "attribute_not_exists(PK) OR blocked = :false",
                     "ExpressionAttributeValues": {":false": {"BOOL": False}}}
    elif check.version is None:
        condition = {"ConditionExpression": "attribute_not_exists(PK)"}
    else:
        condition = {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": str(check.version)}}}
    key = {"PK": {"S": registration_key(check.registration_id)}, "SK": {"S": "STATE"}}
    return {"ConditionCheck": {"TableName": table_name, "Key": key, **condition}}


EXPOSURE = "EXPOSURE"


def update_exposure(table_name: str, change: ExposureChange) -> dict[str, Any]:
    """A transaction's Update of a bidder's exposure in a sale (`REG#{registration_id}/EXPOSURE`),
    only where the exposure stored is at most `at_most` (when given: none stored is zero)."""
    update: dict[str, Any] = {
        "TableName": table_name,
        "Key": {"PK": {"S": registration_key(change.registration_id)}, "SK": {"S": EXPOSURE}},
        "UpdateExpression": "ADD exposure :change",
        "ExpressionAttributeValues": {":change": _serializer.serialize(change.change)},
    }
    if change.at_most is not None:
        update["ConditionExpression"] = "(attribute_not_exists(exposure) AND :zero <= :at_most) OR exposure <= :at_most"
        update["ExpressionAttributeValues"] |= {":zero": {"N": "0"}, ":at_most": _serializer.serialize(change.at_most)}
    return {"Update": update}


def put_bidder(table_name: str, bidder: Mapping[str, Any]) -> dict[str, Any]:
    return put_new(table_name, {"PK": bidder_key(str(bidder["bidder"])), "SK": lot_key(str(bidder["lot_id"])), **bidder})


def update_bidder_lot(table_name: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The UpdateItem (or transaction Update) of a bidder's record of a lot (`BIDDER#{user}/MYBID#{lot}`)
    to `record`: a retraction's record brings no last bid (the one there stays) and may clear
    the maximum; any other attribute stored on the item stays."""
    values = {":lot": record["lot_id"], ":bidder": record["bidder"], ":v": record["version"]}
    update = "SET lot_id = :lot, bidder = :bidder, bidder_lot = :lot, version = :v"
    if "last_bid" in record:
        update += ", last_bid = :last, last_bid_id = :last_id"
        values |= {":last": record["last_bid"], ":last_id": record["last_bid_id"]}
    if record.get("maximum") is not None:
        update += ", maximum = :max"
        values[":max"] = record["maximum"]
    elif "maximum" in record:
        update += " REMOVE maximum"
    return {
        "TableName": table_name,
        "Key": {"PK": {"S": bidder_key(str(record["bidder"]))}, "SK": {"S": my_bid_key(str(record["lot_id"]))}},
        "UpdateExpression": update,
        "ExpressionAttributeValues": to_item(values),
    }


def put_snapshot(
    table_name: str, snapshot: Mapping[str, Any], expected_version: int | None, expected_snapshot: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A Put of the lot's snapshot with the index keys its status needs: only if there is none
    yet (`expected_version` None), or only over the one at `expected_version` (and, given
    `expected_snapshot`, with every one of its attributes as stored)."""
    lot_id = str(snapshot["lot_id"])
    # The key says which lot: `lot_id` is not stored again (the item stays under 2 KB), and
    # is put back from the key whenever a snapshot is read (`strip_keys`).
    attributes = {name: value for name, value in snapshot.items() if name != "lot_id"}
    item = {"PK": lot_key(lot_id), "SK": "SNAPSHOT", **attributes, **index_keys(lot_id, snapshot)}
    put: dict[str, Any] = {"TableName": table_name, "Item": to_item(item)}
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
