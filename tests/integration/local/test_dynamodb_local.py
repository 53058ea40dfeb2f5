"""The DynamoDB Local helper: on disk under a relative data directory, across restarts."""

from __future__ import annotations

import boto3

from local.dynamodb.launcher import DynamoDBLocal


def test_relative_db_path_keeps_data_across_restarts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with DynamoDBLocal(db_path="data/dynamodb") as ddb:
        client = boto3.client("dynamodb", endpoint_url=ddb.endpoint_url)
        client.create_table(
            TableName="kept",
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="kept", Item={"PK": {"S": "x"}})
    assert any((tmp_path / "data" / "dynamodb").iterdir())
    with DynamoDBLocal(db_path="data/dynamodb") as ddb:
        client = boto3.client("dynamodb", endpoint_url=ddb.endpoint_url)
        assert client.get_item(TableName="kept", Key={"PK": {"S": "x"}})["Item"] == {"PK": {"S": "x"}}
