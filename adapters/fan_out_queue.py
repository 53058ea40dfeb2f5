"""The fan-out queue (SQS standard): the pages of a lot's watchers that
BroadcastLotChangesFunction hands to FanOutFunction, one message per page.

A message is small whatever the audience: the lot, the `lot.updated` message as the
broadcast posts it (a public view of a snapshot kept under 2 KB), and the page's bounds in
the Connections table, not its connection ids. A standard queue, not FIFO: pages of one
update need no order among themselves, and a page that arrives after a newer update of
its lot is ignored by the page in the browser (it shows only a newer `lot.version`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.connections import WatcherPage

# SQS's limit for one message, and for one SendMessageBatch request as a whole.
SQS_MAX_BYTES = 256 * 1024
SQS_MAX_BATCH = 10
# The body beside the update (ids and bounds) takes well under 1 KiB.
MAX_UPDATE_BYTES = SQS_MAX_BYTES - 4 * 1024


class FanOutPage(BaseModel):
    """One page of a lot's watchers and the update to post to each of them."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    lot_id: str = Field(min_length=1)
    version: int = Field(ge=1)  # the lot's version in `update`: for logs, the page ignores stale ones itself
    update: str = Field(min_length=1)  # the `lot.updated` message, JSON text, posted as it is
    after: str | None  # the page's connections sort after this one (None: from the first) ...
    through: str | None  # ... up to and including this one (None: to the last)

    @classmethod
    def of(cls, watchers: WatcherPage, version: int, update: bytes) -> FanOutPage:
        return cls(lot_id=watchers.lot_id, version=version, update=update.decode(),
                   after=watchers.after, through=watchers.through)

    def watchers(self) -> WatcherPage:
        return WatcherPage(self.lot_id, self.after, self.through)

    def data(self) -> bytes:
        return self.update.encode()


def fits_a_message(update: bytes) -> bool:
    """Whether pages of this update fit SQS's message limit."""
    return len(update) <= MAX_UPDATE_BYTES


class FanOutQueue:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url

    def hand_off(self, pages: list[FanOutPage]) -> None:
        """Queue each page as a message, up to 10 (and 256 KiB) per request; raises if SQS
        refused any, so the stream batch is retried rather than pages silently lost."""
        batch: list[str] = []
        batch_bytes = 0
        for body in (page.model_dump_json() for page in pages):
            size = len(body.encode())
            if len(batch) == SQS_MAX_BATCH or batch_bytes + size > SQS_MAX_BYTES:
                self._send(batch)
                batch, batch_bytes = [], 0
            batch.append(body)
            batch_bytes += size
        if batch:
            self._send(batch)

    def _send(self, bodies: list[str]) -> None:
        response = self.sqs.send_message_batch(
            QueueUrl=self.queue_url,
            Entries=[{"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies)],
        )
        if response.get("Failed"):
            raise FanOutRefused(response["Failed"])


class FanOutRefused(Exception):
    """SQS refused some pages: the entries it named in `Failed`."""

    def __init__(self, failed: list[dict[str, Any]]) -> None:
        super().__init__(f"the fan-out queue refused {len(failed)} pages: {failed[:3]}")
        self.failed = failed
