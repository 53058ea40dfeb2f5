"""Posts to WebSocket connections through the `@connections` management API, shared by
BroadcastLotChangesFunction and FanOutFunction.

The posts of one call go out concurrently on the container's fan-out threads
(`FAN_OUT_WORKERS`, sharing one thread-safe management client whose connection pool is
as large), and the call returns when every post is done, so a caller's successive steps
keep their order. A connection the API calls gone is removed on its first failed post."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from handlers.bootstrap import FAN_OUT_WORKERS, App, logger, metrics


def fan_out_pool() -> ThreadPoolExecutor:
    """The container's fan-out threads: started on first use, kept for its later invocations."""
    global _fan_out
    with _fan_out_lock:
        if _fan_out is None:
            _fan_out = ThreadPoolExecutor(max_workers=FAN_OUT_WORKERS, thread_name_prefix="fan-out")
        return _fan_out


_fan_out: ThreadPoolExecutor | None = None
_fan_out_lock = threading.Lock()


def deliver(app: App, connection_id: str, messages: list[bytes]) -> tuple[int, int]:
    """Send `messages` to one connection in order; returns (sent, dropped). A gone connection
    is forgotten on the first failed post (once it is past connecting) and gets no more."""
    sent = 0
    for data in messages:
        try:
            app.websocket_management.post_to_connection(ConnectionId=connection_id, Data=data)
            sent += 1
        except ClientError as error:
            if error.response["Error"]["Code"] in ("GoneException", "410"):
                if app.connections.drop_gone(connection_id):
                    return sent, 1
                continue
            logger.warning("post to connection failed", extra={"connection_id": connection_id, "error": str(error)})
    return sent, 0


def post_all(app: App, deliveries: Iterable[tuple[str, list[bytes]]]) -> int:
    """Post to many connections at once (at most FAN_OUT_WORKERS in flight, each connection's
    messages in order) and return when every post is done; the number of posts that arrived."""
    _ = (app.websocket_management, app.connections)  # made here, once, not raced for by the threads
    pool = fan_out_pool()
    futures = [pool.submit(deliver, app, connection_id, messages) for connection_id, messages in deliveries]
    wait(futures)
    results = [future.result() for future in futures]  # the first error, if any, fails the invocation
    dropped = sum(gone for _, gone in results)
    if dropped:
        metrics.add_metric(name="ConnectionsGone", unit=MetricUnit.Count, value=dropped)
    return sum(sent for sent, _ in results)
