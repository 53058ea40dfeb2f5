"""The one place that wires the application: `build` gives the ledger's rooms (commands,
queries, bid admission, lots, sales, registrations) over one recorder and one mapper, the queues, the
Connections store, the WebSocket management client, the token verifier and the settings,
from an environment (the template's, or the local runtime's) with any part given as an
argument instead. Handlers take an `App` as an argument (a test passes its own); in Lambda
they use the container's, built once on first use (`app_for`). The CLI builds its own with
`build` too; tests build theirs on the in-memory recorder (`tests/support/app.py`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, cast

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.config import Config

from adapters import connection_posts
from adapters.close_timer_queue import CloseTimerQueue
from adapters.command_queue import CommandQueue
from adapters.connection_posts import FAN_OUT_WORKERS
from adapters.connections import ConnectionStore, WatcherPages
from adapters.fan_out_queue import SQS_MAX_BYTES, FanOutPage, FanOutQueue, fits_a_message
from adapters.log_index import DynamoDBLogIndex
from adapters.log_monitor_state import DynamoDBMonitorState
from adapters.log_signers import KeyFileSigner, KmsSigner
from adapters.log_storage import FolderArchive, FolderTiles, S3Archive, S3Tiles
from adapters.tokens import TokenVerifier
from ledger.domain.commands import BuyNow, PlaceBid
from ledger.domain.listing import ListStatus
from ledger.domain.values import utc_now
from ledger.persistence import LotRecorder
from ledger.service.admission import ADMISSION_SNAPSHOT_MAX_AGE_S, BidAdmission, confirmation_caps_from
from ledger.service.commands import LotCommands
from ledger.service.erasure import BidderErasure
from ledger.service.lots import Lots
from ledger.service.public_log import CheckpointArchive, MonitorStateStore, PublicLog
from ledger.service.queries import LotList, LotQueries, OpenLots
from ledger.service.quotas import QuotaLimits, Quotas
from ledger.service.registrations import Registrations
from ledger.service.sales import Sales

# What handlers take from the adapters, through here: the fan-out queue's message and limits,
# and a lot's watchers cut into pages.
__all__ = ["SQS_MAX_BYTES", "App", "FanOutPage", "WatcherPages", "build", "fits_a_message", "logger", "metrics",
           "traced", "tracer"]

# The template sets POWERTOOLS_METRICS_NAMESPACE; the default serves handlers run
# without the template's environment (tests), whose metrics need a namespace too.
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "SamSold"
logger = Logger()
metrics = Metrics(namespace=METRICS_NAMESPACE)
# X-Ray, when the template's Tracing: Active is on. Off by itself outside Lambda (no
# LAMBDA_TASK_ROOT), and the local runtime sets POWERTOOLS_TRACE_DISABLED: no daemon, no cost.
tracer = Tracer()

Handler = TypeVar("Handler", bound=Callable[..., Any])


def traced(handler: Handler) -> Handler:
    """`tracer.capture_lambda_handler` for a handler that takes its App as a third argument,
    which tests and benchmarks pass by position: Powertools' wrapper passes only keywords on.
    Responses stay out of the traces: a lot's view or a caller's bids belong in no trace,
    and a trace segment holds 64 KB."""
    captured = tracer.capture_lambda_handler(handler, capture_response=False)

    @functools.wraps(handler)
    def call(event: Any, context: Any, samsold: App | None = None) -> Any:
        return captured(event, context, samsold=samsold)

    return cast(Handler, call)

# The local engines (DynamoDB Local, the local SQS) take any credentials and region;
# boto3 only needs some. Set where the local stack or a test run needs them.
PLACEHOLDER_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

# The clients the broadcast's fan-out threads share get a connection per thread.
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
    """What the handlers need: the ledger's rooms, and the AWS adapters, made on first use
    so a function whose template gives it no queue or Connections table never needs their names."""

    env: Mapping[str, str]
    commands: LotCommands
    queries: LotQueries
    close_grace_seconds: int
    fan_out_page_size: int = DEFAULT_FAN_OUT_PAGE_SIZE
    quota_limits: QuotaLimits = field(default_factory=QuotaLimits)
    # Whether every signed-in user may create lots and sales (ANYONE_MAY_SELL), not only the
    # sellers group and administrators (handlers.rest.seller_of).
    anyone_may_sell: bool = False
    given: dict[str, Any] = field(default_factory=dict)
    admission: BidAdmission = field(init=False)
    lots: Lots = field(init=False)
    sales: Sales = field(init=False)
    erasure: BidderErasure = field(init=False)
    registrations: Registrations = field(init=False)

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
        return ConnectionStore(dynamodb, self.env["CONNECTIONS_TABLE"], self.quota_limits.connections_per_user,
                               self.quota_limits.subscriptions_per_connection)

    @cached_property
    def websocket_management(self) -> Any:
        if "websocket_management" in self.given:
            return self.given["websocket_management"]
        # boto3 clients are thread-safe: the broadcast's fan-out threads share this one.
        return boto3.client("apigatewaymanagementapi", endpoint_url=self.env["WEBSOCKET_MANAGEMENT_URL"], config=_POOLED)

    @cached_property
    def public_log(self) -> PublicLog:
        """The public log (LOG_TABLE, LOG_BUCKET, LOG_ORIGIN; LOG_KEY_ID and LOG_ARCHIVE_BUCKET only
        where the template gives them: the sequencer). Where SAMSOLD_LOCAL_AWS_DIR is set (the
        local stack), a bucket is a folder `s3/<bucket>` and a KMS key a key file `kms/<key>.pem` under it."""
        if "public_log" in self.given:
            return self.given["public_log"]
        env = self.env
        local = env.get("SAMSOLD_LOCAL_AWS_DIR")
        index = DynamoDBLogIndex(
            boto3.client("dynamodb", endpoint_url=env.get("AWS_ENDPOINT_URL_DYNAMODB") or None), env["LOG_TABLE"])
        signer: KmsSigner | KeyFileSigner | None = None
        archive: CheckpointArchive | None = None
        if local:
            tiles: FolderTiles | S3Tiles = FolderTiles(Path(local) / "s3" / env["LOG_BUCKET"])
            if env.get("LOG_KEY_ID"):
                signer = KeyFileSigner(Path(local) / "kms" / f"{env['LOG_KEY_ID']}.pem")
            if env.get("LOG_ARCHIVE_BUCKET"):
                archive = FolderArchive(Path(local) / "s3" / env["LOG_ARCHIVE_BUCKET"])
        else:
            s3 = boto3.client("s3")
            tiles = S3Tiles(s3, env["LOG_BUCKET"])
            if env.get("LOG_KEY_ID"):
                signer = KmsSigner(boto3.client("kms"), env["LOG_KEY_ID"])
            if env.get("LOG_ARCHIVE_BUCKET"):
                archive = S3Archive(s3, env["LOG_ARCHIVE_BUCKET"])
        return PublicLog(self.queries, index, tiles, env["LOG_ORIGIN"], signer, archive)

    @cached_property
    def log_monitor_state(self) -> MonitorStateStore:
        """The scheduled monitor's state (LOG_MONITOR_TABLE: LogMonitorFunction's alone)."""
        if "log_monitor_state" in self.given:
            return self.given["log_monitor_state"]
        client = boto3.client("dynamodb", endpoint_url=self.env.get("AWS_ENDPOINT_URL_DYNAMODB") or None)
        return DynamoDBMonitorState(client, self.env["LOG_MONITOR_TABLE"])

    @cached_property
    def tokens(self) -> TokenVerifier:
        """Checks WebSocket clients' tokens by the REST authorizer's rules (AUTH_* variables)."""
        if "tokens" in self.given:
            return self.given["tokens"]
        return TokenVerifier.from_env(self.env)

    def open_lots(self, closing_by: datetime | None = None, limit: int | None = None, after: str | None = None) -> OpenLots:
        """The open lots, with the unreadable ones left out counted."""
        page = self.queries.open_lots(closing_by=closing_by, limit=limit, after=after)
        count_unreadable(page.unreadable)
        return page

    def list_lots(self, status: ListStatus, limit: int, cursor: str | None = None) -> LotList:
        """A page of the lot list, with the unreadable lots left out counted."""
        page = self.queries.list_lots(status, limit, cursor)
        count_unreadable(page.unreadable)
        return page

    def post_all(self, deliveries: Iterable[tuple[str, list[bytes]]]) -> int:
        """Post each connection its messages (`adapters.connection_posts`), gone connections
        dropped and counted; the number of posts that arrived."""
        management, connections = self.websocket_management, self.connections  # made here, not raced for by threads
        sent, dropped = connection_posts.post_all(management, connections, deliveries)
        if dropped:
            metrics.add_metric(name="ConnectionsGone", unit=MetricUnit.Count, value=dropped)
        return sent


class _QueuesOnFirstUse:
    """The App's queues as the service's ports (`ledger.service.ports`), each made when
    first sent to: building the rooms never needs a queue's URL."""

    def __init__(self, app: App) -> None:
        self._app = app

    def send_bid(self, command: PlaceBid | BuyNow, correlation_id: str | None = None) -> str:
        return self._app.command_queue.send_bid(command, correlation_id=correlation_id)

    def arm(self, timers: Sequence[tuple[str, datetime, int]]) -> None:
        self._app.close_timers.arm(timers)


def _timers_not_armed(lot_ids: list[str], error: Exception) -> None:
    logger.warning("close timers not armed; the sweep will arm them", extra={"lot_ids": lot_ids, "error": str(error)})
    with single_metric(name="CloseTimersNotArmed", unit=MetricUnit.Count, value=len(lot_ids), namespace=METRICS_NAMESPACE):
        pass


def build(
    env: Mapping[str, str] | None = None,
    *,
    commands: LotCommands | None = None,
    recorder: LotRecorder | None = None,
    clock: Callable[[], datetime] = utc_now,
    close_grace_seconds: int | None = None,
    admission_snapshot_max_age_s: float = ADMISSION_SNAPSHOT_MAX_AGE_S,
    command_queue: CommandQueue | None = None,
    close_timers: CloseTimerQueue | None = None,
    fan_out_queue: FanOutQueue | None = None,
    connections: ConnectionStore | None = None,
    websocket_management: Any = None,
    tokens: TokenVerifier | None = None,
    public_log: PublicLog | None = None,
    log_monitor_state: MonitorStateStore | None = None,
) -> App:
    """The application from `env` (default: os.environ), any part given here instead
    (`commands`: another App's, to share its recorder and its cached lots)."""
    env = dict(os.environ if env is None else env)
    # Read now, so a wrong setting stops the function at start-up rather than failing bids.
    confirmation_caps = confirmation_caps_from(env)
    quota_limits = QuotaLimits.from_env(env)
    anyone_may_sell = env.get("ANYONE_MAY_SELL", "false")
    if anyone_may_sell not in ("true", "false"):
        raise ValueError(f"ANYONE_MAY_SELL must be true or false, not {anyone_may_sell!r}")
    if commands is None:
        # The library's Application opens the recorder (PERSISTENCE_MODULE) and the mapper ...
        commands = LotCommands(env=env, clock=clock, recorder=recorder)
    # ... which every other room shares.
    queries = LotQueries(commands.store, commands.mapper)
    if close_grace_seconds is None:
        close_grace_seconds = int(env.get("CLOSE_GRACE_SECONDS", str(DEFAULT_CLOSE_GRACE_SECONDS)))
    fan_out_page_size = int(env.get("FAN_OUT_PAGE_SIZE") or DEFAULT_FAN_OUT_PAGE_SIZE)
    if fan_out_page_size < 1:
        raise ValueError(f"FAN_OUT_PAGE_SIZE must be at least 1, not {fan_out_page_size}")
    given = {"command_queue": command_queue, "close_timers": close_timers, "fan_out_queue": fan_out_queue, "connections": connections,
             "websocket_management": websocket_management, "tokens": tokens, "public_log": public_log,
             "log_monitor_state": log_monitor_state}
    app = App(env=env, commands=commands, queries=queries, close_grace_seconds=close_grace_seconds,
              fan_out_page_size=fan_out_page_size, quota_limits=quota_limits, anyone_may_sell=anyone_may_sell == "true",
              given={k: v for k, v in given.items() if v is not None})
    queues = _QueuesOnFirstUse(app)
    quotas = Quotas(commands.store, quota_limits, clock=commands.clock)
    app.admission = BidAdmission(queries, queues, confirmation_caps, admission_snapshot_max_age_s, quotas=quotas)
    app.lots = Lots(commands, queues, close_grace_seconds, timers_not_armed=_timers_not_armed, quotas=quotas)
    app.sales = Sales(app.lots)
    app.erasure = BidderErasure(commands, queries, clock=commands.clock)
    app.registrations = Registrations(commands, queries)
    return app


_container_app: App | None = None


def app_for(given: App | None) -> App:
    """The App a handler call uses: the one given (a test's), else the Lambda container's,
    built from its environment on first use."""
    global _container_app
    if given is not None:
        return given
    if _container_app is None:
        _container_app = build()
    return _container_app


def count_unreadable(keys: list[str]) -> None:
    """Count the stored items a read had to leave out (the ledger logged each with its key).
    Published at once, so it works in handlers that do not flush `metrics`."""
    if keys:
        with single_metric(name="UnreadableItemsSkipped", unit=MetricUnit.Count, value=len(keys), namespace=METRICS_NAMESPACE):
            pass
