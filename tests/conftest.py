"""Shared fixtures: one DynamoDB Local (in memory) for the whole session."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest

from local.dynamodb_local import DynamoDBLocal

# Dummy credentials: DynamoDB Local accepts any, and no test may reach AWS.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")


@pytest.fixture(scope="session")
def dynamodb_local():
    with DynamoDBLocal() as ddb:
        yield ddb


@pytest.fixture(scope="session")
def dynamodb_endpoint(dynamodb_local) -> str:
    return dynamodb_local.endpoint_url


@pytest.fixture(scope="session")
def dynamodb_client(dynamodb_endpoint):
    return boto3.client("dynamodb", endpoint_url=dynamodb_endpoint)


@pytest.fixture
def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
