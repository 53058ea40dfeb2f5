"""The one place that wires the application: `build` gives the service, the command
queue, the fan-out queue, the Connections store, the WebSocket management client, the
token verifier and the settings, from an environment (the template's, or the local runtime's) with any part given as an
argument instead. Handlers take an `App` as an argument (a test passes its own); in
Lambda they use the container's, built once on first use. The CLI builds its own with
`build` too; tests build theirs on the in-memory recorder (`tests/support/app.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.config import Config

from handlers.connections import ConnectionStore
from handlers.fan_out_queue import FanOutQueue
from handlers.tokens import TokenVerifier
from ledger.close_timer_queue import CloseTimerQueue
from ledger.command_queue import CommandQueue
from ledger.domain.closing import timer_delay
from ledger.domain.listing import ListStatus
from ledger.domain.values import utc_now
from ledger.persistence import LotRecorder
from ledger.service import AuctionService, LotList, OpenLots

# The template sets POWERTOOLS_METRICS_NAMESPACE; the default serves handlers run
# without the template's environment (tests), whose metrics need a namespace too.
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SamSold"
logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)

# The local engines (DynamoDB Local, the local SQS) take any credentials and region;
# boto3 only needs some. Set where the local stack or a test run needs them.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


# How many posts to WebSocket connections (and removals of gone ones) a broadcast has in
# flight at once; the clients' connection pools are sized to match, so every worker
# thread reuses a kept-alive connection.
FAN_OUT_WORKERS = 24
_POOLED = Config(max_pool_connections=FAN_OUT_WORKERS)
# How many of a lot's watchers one invocation posts to: the broadcast serves the first page
# and hands each later one to FanOutFunction. 1,000 posts on FAN_OUT_WORKERS threads take
# a few seconds, well inside the functions' timeouts.
DEFAULT_FAN_OUT_PAGE_SIZE = 1000
# The template's CloseGraceSeconds default: longer than PlaceBidFunction's timeout (5 s).
DEFAULT_CLOSE_GRACE_SECONDS = 8


def use_placeholder_credentials() -> None:
    """Give boto3 placeholder credentials and a region unless some are set already."""
    for name, value in PLACEHOLDER_CREDENTIALS.items():
        os.environ.setdefault(name, value)


@dataclass
class App:
    """What the handlers need. The AWS clients are made on first use, so a function
    whose template gives it no queue or Connections table never needs their names."""

    env: Mapping[str, str]
    service: AuctionService
    close_grace_seconds: int
    fan_out_page_size: int = DEFAULT_FAN_OUT_PAGE_SIZE
    given: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def command_queue(self) -> CommandQueue:
        if "command_queue" in self.given:
            return self.given["command_queue"]
        sqs = boto3.client("sqs", endpoint_url=self.env.get("AWS_ENDPOINT_URL_SQS") or None)
        return CommandQueue(sqs, self.env["PROCESS_BID_QUEUE_URL"])

    @cached_property
    def close_timers(self) -> CloseTimerQueue:
        """Where lots' close timers wait until their deadlines (CLOSE_TIMER_QUEUE_URL)."""
        if "close_timers" in self.given:
            return self.given["close_timers"]
        sqs = boto3.client("sqs", endpoint_url=self.env.get("AWS_ENDPOINT_URL_SQS") or None)
        return CloseTimerQueue(sqs, self.env["CLOSE_TIMER_QUEUE_URL"])

    def arm_close_timers(self, lots: Sequence[tuple[str, datetime]], now: datetime) -> int:
        """Arm the close timers of new lots (lot id, close time) whose deadline is nearer
        than the next sweep's lookahead (`ledger.domain.closing`); how many it armed. Never raises:
        the lots exist either way, and a timer that could not be armed is the sweep's to arm
        (logged, counted)."""
        timers = [(lot_id, closes_at, delay_s) for lot_id, closes_at in lots
                  if (delay_s := timer_delay(closes_at, now, self.close_grace_seconds)) is not None]
        if not timers:
            return 0
        try:
            self.close_timers.arm(timers)
        except Exception as error:  # any failure: SQS, its client, or a missing queue setting
            logger.warning("close timers not armed; the sweep will arm them",
                           extra={"lot_ids": [lot_id for lot_id, _, _ in timers], "error": str(error)})
            with single_metric(name="CloseTimersNotArmed", unit=MetricUnit.Count, value=len(timers),
                               namespace=METRICS_NAMESPACE):
                pass
            return 0
        return len(timers)

    @cached_property
    def fan_out_queue(self) -> FanOutQueue:
        """Where the broadcast hands later pages of a large audience (FAN_OUT_QUEUE_URL)."""
        if "fan_out_queue" in self.given:
            return self.given["fan_out_queue"]
        sqs = boto3.client("sqs", endpoint_url=self.env.get("AWS_ENDPOINT_URL_SQS") or None)
        return FanOutQueue(sqs, self.env["FAN_OUT_QUEUE_URL"])

    @cached_property
    def connections(self) -> ConnectionStore:
        if "connections" in self.given:
            return self.given["connections"]
        dynamodb = boto3.client("dynamodb", endpoint_url=self.env.get("AWS_ENDPOINT_URL_DYNAMODB") or None, config=_POOLED)
        return ConnectionStore(dynamodb, self.env["CONNECTIONS_TABLE"])

    @cached_property
    def websocket_management(self) -> Any:
        if "websocket_management" in self.given:
            return self.given["websocket_management"]
        # boto3 clients are thread-safe: the broadcast's fan-out threads share this one.
        return boto3.client("apigatewaymanagementapi", endpoint_url=self.env["WEBSOCKET_MANAGEMENT_URL"], config=_POOLED)

    @cached_property
    def tokens(self) -> TokenVerifier:
        """Checks WebSocket clients' tokens by the REST authorizer's rules (AUTH_* variables)."""
        if "tokens" in self.given:
            return self.given["tokens"]
        return TokenVerifier.from_env(self.env)

    def open_lots(self, closing_by: datetime | None = None, limit: int | None = None, after: str | None = None) -> OpenLots:
        """The service's open lots, with the unreadable ones it left out counted."""
        page = self.service.open_lots(closing_by=closing_by, limit=limit, after=after)
        count_unreadable(page.unreadable)
        return page

    def list_lots(self, status: ListStatus, limit: int, cursor: str | None = None) -> LotList:
        """The service's page of the lot list, with the unreadable lots it left out counted."""
        page = self.service.list_lots(status, limit, cursor)
        count_unreadable(page.unreadable)
        return page


def build(
    env: Mapping[str, str] | None = None,
    *,
    service: AuctionService | None = None,
    recorder: LotRecorder | None = None,
    clock: Callable[[], datetime] = utc_now,
    close_grace_seconds: int | None = None,
    command_queue: CommandQueue | None = None,
    close_timers: CloseTimerQueue | None = None,
    fan_out_queue: FanOutQueue | None = None,
    connections: ConnectionStore | None = None,
    websocket_management: Any = None,
    tokens: TokenVerifier | None = None,
) -> App:
    """The application from `env` (default: os.environ), any part given here instead."""
    env = dict(os.environ if env is None else env)
    if service is None:
        service = AuctionService(env=env, clock=clock, recorder=recorder)
    if close_grace_seconds is None:
        close_grace_seconds = int(env.get("CLOSE_GRACE_SECONDS", str(DEFAULT_CLOSE_GRACE_SECONDS)))
    fan_out_page_size = int(env.get("FAN_OUT_PAGE_SIZE") or DEFAULT_FAN_OUT_PAGE_SIZE)
    if fan_out_page_size < 1:
        raise ValueError(f"FAN_OUT_PAGE_SIZE must be at least 1, not {fan_out_page_size}")
    given = {"command_queue": command_queue, "close_timers": close_timers, "fan_out_queue": fan_out_queue, "connections": connections,
             "websocket_management": websocket_management, "tokens": tokens}
    return App(env=env, service=service, close_grace_seconds=close_grace_seconds, fan_out_page_size=fan_out_page_size,
               given={k: v for k, v in given.items() if v is not None})


_container_app: App | None = None
_current: ContextVar[App | None] = ContextVar("samsold_app", default=None)


def container_app() -> App:
    """The Lambda container's App, built from its environment on first use."""
    global _container_app
    if _container_app is None:
        _container_app = build()
    return _container_app


@contextmanager
def serving(app: App | None) -> Iterator[App]:
    """Make `app` (default: the container's) the one `current_app` gives while a
    handler runs, for code reached through a framework's callbacks (REST routes)."""
    chosen = app or container_app()
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def current_app() -> App:
    """The App of the handler call in progress."""
    app = _current.get()
    if app is None:
        raise RuntimeError("no handler call in progress: wrap it in `serving(app)`")
    return app


def count_unreadable(keys: list[str]) -> None:
    """Count the stored items a read had to leave out (the ledger logged each with its key).
    Published at once, so it works in handlers that do not flush `metrics`."""
    if keys:
        with single_metric(name="UnreadableItemsSkipped", unit=MetricUnit.Count, value=len(keys), namespace=METRICS_NAMESPACE):
            pass
