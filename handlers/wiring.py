"""The one place that wires handlers to their dependencies, from the environment
the template (or the local runtime) sets. Built once per container, on first use."""

from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ledger.command_queue import CommandQueue
from ledger.service import AuctionService
from projections.connections import ConnectionStore

logger = Logger()
metrics = Metrics()


@cache
def service() -> AuctionService:
    return AuctionService()


@cache
def command_queue() -> CommandQueue:
    return CommandQueue(boto3.client("sqs"), os.environ["PROCESS_BID_QUEUE_URL"])


@cache
def connections() -> ConnectionStore:
    return ConnectionStore(boto3.client("dynamodb"), os.environ["CONNECTIONS_TABLE"])


@cache
def websocket_management():  # type: ignore[no-untyped-def]
    return boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WEBSOCKET_MANAGEMENT_URL"])


def count_unreadable(keys: list[str]) -> None:
    """Count the stored items a read had to leave out (the ledger logged each with its key).
    Published at once, so it works in handlers that do not flush `metrics`."""
    if keys:
        with single_metric(name="UnreadableItemsSkipped", unit=MetricUnit.Count, value=len(keys)):
            pass


def close_grace_seconds() -> int:
    return int(os.environ.get("CLOSE_GRACE_SECONDS", "60"))
