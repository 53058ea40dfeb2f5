"""The scheduled monitor's state in its own DynamoDB table (LogMonitorTable), which only
LogMonitorFunction may write: neither the ledger's writers nor the log's sequencer can move
the checkpoint it last accepted.

| PK | holds |
| --- | --- |
| `MONITOR` | `checkpoint` (the last accepted), `public_key_pem` (the log's key, pinned on first use), `findings` (the latest mismatches with storage, at most `MAX_FINDINGS`) |

Each save is conditional on the checkpoint it replaces, so two runs at once cannot move it back.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ledger.service.public_log import MonitorState

KEY = {"PK": {"S": "MONITOR"}}


class DynamoDBMonitorState:
    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self.dynamodb = dynamodb_client
        self.table = table_name

    def load(self) -> MonitorState | None:
        item = self.dynamodb.get_item(TableName=self.table, Key=KEY, ConsistentRead=True).get("Item")
        if not item:
            return None
        return MonitorState(item["checkpoint"]["S"], item["public_key_pem"]["S"],
                            [finding["S"] for finding in item.get("findings", {}).get("L", [])])

    def save(self, state: MonitorState, previous: MonitorState | None) -> None:
        item = {**KEY, "checkpoint": {"S": state.checkpoint}, "public_key_pem": {"S": state.public_key_pem},
                "findings": {"L": [{"S": finding} for finding in state.findings]}}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(PK)"} if previous is None else
            {"ConditionExpression": "#checkpoint = :previous", "ExpressionAttributeNames": {"#checkpoint": "checkpoint"},
             "ExpressionAttributeValues": {":previous": {"S": previous.checkpoint}}})
        try:
            self.dynamodb.put_item(TableName=self.table, Item=item, **condition)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


def monitor_table_definition(table_name: str) -> dict[str, Any]:
    """LogMonitorTable as template.yaml declares it (for tests that make their own)."""
    return {
        "TableName": table_name,
        "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
