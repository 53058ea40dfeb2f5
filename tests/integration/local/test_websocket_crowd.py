"""A crowd at the WebSocket door: many handshakes at once, each waiting its turn at a
$connect that, as locally, has only a few workers. None is refused; the server's listen
backlog and handshake timeout are sized for a crowd of 2,000 (the connect-crowd benchmark,
`samsold-bench load --crowd`, measures the whole stack)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from websockets.asyncio.client import connect

from local.apigateway.websocket import LocalWebSocketApi, crowd_handshake_options
from local.sam.model import WebSocketApi

CROWD = 300
WORKERS = 4  # $connect calls at once, as a function with few warm workers


class FewWorkers:
    """An `invoke` whose $connect takes a little while and runs at most WORKERS at once."""

    def __init__(self) -> None:
        self.slots = threading.Semaphore(WORKERS)
        self.connects = 0
        self.lock = threading.Lock()

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        with self.slots:
            time.sleep(0.005)
            with self.lock:
                self.connects += function == "Connect"
        return {"statusCode": 200}


async def open_all(url: str, count: int) -> list[Any]:
    async def one() -> Any:
        try:
            async with connect(url, open_timeout=None):
                return True
        except Exception as error:  # noqa: BLE001 - a refusal is what the test counts
            return error

    return await asyncio.gather(*(one() for _ in range(count)))


def run_on_own_thread(coroutine: Any) -> Any:
    """`asyncio.run` on a thread of its own: a test that ran earlier in this process may have
    left an event loop running on this one (a browser driver's), where asyncio.run refuses."""
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(result=asyncio.run(coroutine)))
    thread.start()
    thread.join()
    return outcome["result"]


def test_a_crowd_of_handshakes_at_once_all_connect():
    function = FewWorkers()
    api = LocalWebSocketApi(WebSocketApi(logical_id="Updates", route_selection_expression="$request.body.action",
                                         routes={"$connect": "Connect", "$disconnect": "Disconnect"}),
                            function, host="127.0.0.1", port=0)
    api.start()
    try:
        results = run_on_own_thread(open_all(f"ws://127.0.0.1:{api.port}", CROWD))
    finally:
        api.stop()
    assert [r for r in results if r is not True] == []
    assert function.connects == CROWD


def test_the_door_is_sized_for_a_crowd_of_two_thousand():
    options = crowd_handshake_options()
    assert options["backlog"] >= 2000
    assert options["open_timeout"] >= 60  # the crowd's goal: all 2,000 connected within 60 s
