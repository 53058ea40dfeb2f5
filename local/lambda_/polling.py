"""What the event source mappings (`sqs_poller`, `stream_poller`, `schedule`) share: a
poller thread that outlives any one failure, backing off, and base64 as Lambda writes
binary values. Each runs on its own thread; `stop()` lets the batch in hand finish, then
returns."""

from __future__ import annotations

import base64
import logging
import threading

log = logging.getLogger("samsold.local.lambda_.polling")

RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0)


class PollerThread:
    """A daemon thread running `poll_once` until stopped."""

    name = "poller"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self.poll_once()
                failures = 0
            except Exception:  # a poller outlives any one failure, as Lambda's do
                log.exception("%s failed; retrying", self.name)
                self._stopping.wait(RETRY_BACKOFF_S[min(failures, len(RETRY_BACKOFF_S) - 1)])
                failures += 1

    def poll_once(self) -> None:
        raise NotImplementedError


def b64(value: bytes | str) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()
