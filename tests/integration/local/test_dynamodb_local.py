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


def test_an_index_the_template_added_since_is_added_to_an_existing_table(dynamodb_client, unique_name):
    """A data directory from before an index joined the template: the runtime adds it, as a
    stack update would, and leaves the items as they are."""
    from ledger.dynamodb.table import bids_table_definition
    from local.runtime import create_tables
    from local.sam.model import Table

    definition = bids_table_definition(unique_name)
    # Before the bid history index (BidsByLot, keyed by bid_lot) joined it.
    older = dict(definition, GlobalSecondaryIndexes=[i for i in definition["GlobalSecondaryIndexes"]
                                                     if all(k["AttributeName"] != "bid_lot" for k in i["KeySchema"])],
                 AttributeDefinitions=[a for a in definition["AttributeDefinitions"] if a["AttributeName"] != "bid_lot"])
    dynamodb_client.create_table(**older)
    dynamodb_client.put_item(TableName=unique_name, Item={"PK": {"S": "LOT#a"}, "SK": {"S": "SNAPSHOT"}})
    create_tables(dynamodb_client, [Table(logical_id="BidsTable", table_name=unique_name, create_table_kwargs=definition)])
    indexes = dynamodb_client.describe_table(TableName=unique_name)["Table"]["GlobalSecondaryIndexes"]
    assert sorted(i["IndexName"] for i in indexes) == sorted(i["IndexName"] for i in definition["GlobalSecondaryIndexes"])
    assert dynamodb_client.get_item(TableName=unique_name, Key={"PK": {"S": "LOT#a"}, "SK": {"S": "SNAPSHOT"}})["Item"]
