"""Posts to WebSocket connections through the `@connections` management API, shared by
BroadcastLotChangesFunction and FanOutFunction.

The posts of one call go out concurrently on the container's fan-out threads
(`FAN_OUT_WORKERS`, sharing one thread-safe management client whose connection pool is
as large), and the call returns when every post is done, so a caller's successive steps
keep their order. A connection the API calls gone is removed on its first failed post."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from botocore.exceptions import ClientError

from adapters.connections import ConnectionStore

log = logging.getLogger(__name__)
# How many posts to WebSocket connections (and removals of gone ones) a broadcast has in
# flight at once; the clients' connection pools are sized to match, so every worker
# thread reuses a kept-alive connection.
FAN_OUT_WORKERS = 24


def fan_out_pool() -> ThreadPoolExecutor:
    """The container's fan-out threads: started on first use, kept for its later invocations."""
    global _fan_out
    with _fan_out_lock:
        if _fan_out is None:
            _fan_out = ThreadPoolExecutor(max_workers=FAN_OUT_WORKERS, thread_name_prefix="fan-out")
        return _fan_out


_fan_out: ThreadPoolExecutor | None = None
_fan_out_lock = threading.Lock()


def deliver(management: Any, connections: ConnectionStore, connection_id: str, messages: list[bytes]) -> tuple[int, int]:
    """Send `messages` to one connection in order; returns (sent, dropped). A gone connection
    is forgotten on the first failed post (once it is past connecting) and gets no more."""
    sent = 0
    for data in messages:
        try:
            management.post_to_connection(ConnectionId=connection_id, Data=data)
            sent += 1
        except ClientError as error:
            if error.response["Error"]["Code"] in ("GoneException", "410"):
                if connections.drop_gone(connection_id):
                    return sent, 1
                continue
            log.warning("post to connection failed", extra={"connection_id": connection_id, "error": str(error)})
    return sent, 0


def post_all(management: Any, connections: ConnectionStore, deliveries: Iterable[tuple[str, list[bytes]]]) -> tuple[int, int]:
    """Post to many connections at once (at most FAN_OUT_WORKERS in flight, each connection's
    messages in order) and return when every post is done: the number of posts that arrived,
    and of connections dropped as gone."""
    pool = fan_out_pool()
    futures = [pool.submit(deliver, management, connections, connection_id, messages) for connection_id, messages in deliveries]
    wait(futures)
    results = [future.result() for future in futures]  # the first error, if any, fails the invocation
    return sum(sent for sent, _ in results), sum(gone for _, gone in results)
