"""`samsold-bench close`: how late lots close on a fresh local stack. The goal: at p95, a lot
closes within 15 s of its current close time.

Many lots are created with close times spread over the next minutes, each with a WebSocket
watcher; some get a late bid in their soft-close window, which moves their close time. The
close lag of a lot is measured against its final close time (`closes_at` in the CLOSED
update, after any extension): when its watcher received the `lot.updated` showing it CLOSED,
and when the LotClosed event was recorded. The stack runs the template as it is (its close
grace and its every-minute sweep) in a child process on this machine, so both clocks are
the same clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from samsold_bench.harness import STARTING_PRICE, fresh_stack, machine, on_loopback, percentile, write_results
from samsold_cli.shared import console

CLOSE_LAG_GOAL_S = 15.0  # p95 of the lag after a lot's current close time
SOFT_CLOSE_WINDOW_S = 10
SOFT_CLOSE_EXTENSION_S = 15  # the default; a shorter one makes a short run
LATE_BID_BEFORE_CLOSE_S = 3  # in the window: the close moves to the bid's time plus the extension
CREATIONS_AT_ONCE = 8


@dataclass
class ClosedLot:
    lot_id: str
    created_closes_at: float  # epoch seconds
    extended: bool = False
    closes_at: float | None = None  # the final close time, from the CLOSED update
    pushed_at: float | None = None  # when the watcher received the CLOSED update
    recorded_at: float | None = None  # the LotClosed event's time


def template_close_grace_s() -> int:
    from local.runtime import REPO_ROOT
    from local.sam.intrinsics import load_yaml

    template = load_yaml((REPO_ROOT / "template.yaml").read_text())
    return int(template["Parameters"]["CloseGraceSeconds"]["Default"])


async def _follow_lot(session: Any, api: str, websocket_url: str, tokens: dict[str, str], lot: ClosedLot,
                      created: asyncio.Semaphore, wait_s: float, extension_s: int) -> None:
    """Create the lot, watch it, bid late when it is one to extend, and wait for its CLOSED update."""
    from datetime import UTC, datetime

    import aiohttp

    from ledger.domain.values import format_time, parse_time

    terms = {"lot_id": lot.lot_id, "title": "Close-lag lot", "currency": "EUR", "starting_price": str(STARTING_PRICE),
             "closes_at": format_time(datetime.fromtimestamp(lot.created_closes_at, UTC)),
             "soft_close_window_s": SOFT_CLOSE_WINDOW_S, "soft_close_extension_s": extension_s}
    async with created:
        async with session.post(f"{api}/lots", json=terms, headers={"Authorization": f"Bearer {tokens['seller']}"}) as r:
            if r.status != 201:
                raise RuntimeError(f"POST /lots answered {r.status}: {await r.text()}")
    socket = await session.ws_connect(f"{websocket_url}/?lot_id={lot.lot_id}", autoping=True)
    bid_task = asyncio.create_task(_bid_late(session, api, tokens["bidder"], lot)) if lot.extended else None
    try:
        async with asyncio.timeout(max(0.0, lot.created_closes_at - time.time()) + wait_s):
            async for message in socket:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                pushed = json.loads(message.data)
                if pushed.get("type") == "lot.updated" and pushed["lot"]["status"] == "CLOSED":
                    lot.pushed_at = time.time()
                    lot.closes_at = parse_time(pushed["lot"]["closes_at"]).timestamp()
                    break
    except TimeoutError:
        pass  # not closed in time: counted as such
    finally:
        await socket.close()
        if bid_task is not None:
            await bid_task


async def _bid_late(session: Any, api: str, token: str, lot: ClosedLot) -> None:
    await asyncio.sleep(max(0.0, lot.created_closes_at - LATE_BID_BEFORE_CLOSE_S - time.time()))
    body = {"lot_id": lot.lot_id, "amount": str(STARTING_PRICE), "bid_id": f"close-{uuid.uuid4().hex}"}
    async with session.post(f"{api}/bid", json=body, headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status != 202:
            raise RuntimeError(f"POST /bid answered {response.status}: {await response.text()}")


async def _recorded_close(session: Any, api: str, token: str, lot: ClosedLot) -> None:
    from ledger.domain.values import parse_time

    after = 0
    while True:
        async with session.get(f"{api}/lots/{lot.lot_id}/events", params={"after_version": str(after)},
                               headers={"Authorization": f"Bearer {token}"}) as response:
            page = await response.json()
        for event in page["events"]:
            if event["type"] == "LotClosed":
                lot.recorded_at = parse_time(event["recorded_at"]).timestamp()
        if page.get("next_after_version") is None:
            return
        after = page["next_after_version"]


def _summary(lags: list[float]) -> dict[str, Any]:
    def seconds(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return {"count": len(lags), "p50": seconds(percentile(lags, 0.5)), "p95": seconds(percentile(lags, 0.95)),
            "max": seconds(max(lags) if lags else None)}


async def run_close(endpoints: dict[str, Any], data_dir: Path, count: int, first_in_s: float, spread_s: float,
                    extend_every: int, extension_s: int, wait_s: float) -> dict[str, Any]:
    import aiohttp

    from local.cognito.user_pool import DevAuth

    api, websocket_url = on_loopback(endpoints["rest"]), on_loopback(endpoints["websocket"])
    auth = DevAuth(data_dir)
    run_id = uuid.uuid4().hex[:6]
    tokens = {"seller": auth.mint(f"close-seller-{run_id}", seller=True, handle="close"), "bidder": auth.mint(f"close-bidder-{run_id}"),
              "admin": auth.mint(f"close-admin-{run_id}", admin=True)}
    start = time.time() + first_in_s
    step = spread_s / (count - 1) if count > 1 else 0.0
    lots = [ClosedLot(lot_id=f"close-{run_id}-{index}", created_closes_at=start + index * step,
                      extended=extend_every > 0 and index % extend_every == extend_every - 1)
            for index in range(count)]
    console.print(f"{count} lots closing from {first_in_s:.0f} s to {first_in_s + spread_s:.0f} s from now, "
                  f"{sum(lot.extended for lot in lots)} of them extended by a late bid")
    connector = aiohttp.TCPConnector(limit=count + 16, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        created = asyncio.Semaphore(CREATIONS_AT_ONCE)
        await asyncio.gather(*(_follow_lot(session, api, websocket_url, tokens, lot, created, wait_s, extension_s) for lot in lots))
        await asyncio.gather(*(_recorded_close(session, api, tokens["admin"], lot) for lot in lots))
    closed = [lot for lot in lots if lot.closes_at is not None and lot.pushed_at is not None]
    pushed_lags = [lot.pushed_at - lot.closes_at for lot in closed if lot.pushed_at is not None and lot.closes_at is not None]
    recorded_lags = [lot.recorded_at - lot.closes_at for lot in closed
                     if lot.recorded_at is not None and lot.closes_at is not None]
    extended = [lot for lot in closed if lot.closes_at is not None and lot.closes_at > lot.created_closes_at + 0.5]
    push = _summary(pushed_lags)
    return {
        "lots": count,
        "closed": len(closed),
        "not_closed": [lot.lot_id for lot in lots if lot not in closed],
        "late_bids": sum(lot.extended for lot in lots),
        "extended": len(extended),
        "close_lag_s": {"pushed": push, "recorded": _summary(recorded_lags)},
        "p95_within_goal": push["p95"] is not None and push["p95"] <= CLOSE_LAG_GOAL_S and len(closed) == count,
    }


def close(
    lots: Annotated[int, typer.Option(min=1, max=2000, help="Lots, each with a WebSocket watcher")] = 100,
    first_in: Annotated[float, typer.Option(min=5, max=900, help="Seconds from now to the first lot's close time")] = 30.0,
    spread: Annotated[float, typer.Option(min=0, max=1800, help="Seconds from the first lot's close time to the last's")] = 120.0,
    extend_every: Annotated[int, typer.Option(min=0, max=1000, help="Every Nth lot gets a late bid that extends it (0: none)")] = 5,
    soft_close_extension: Annotated[int, typer.Option(
        min=LATE_BID_BEFORE_CLOSE_S + 1, max=600,
        help=f"Seconds from a late bid to its lot's new close time (the bid comes {LATE_BID_BEFORE_CLOSE_S} s before the close)",
    )] = SOFT_CLOSE_EXTENSION_S,
    wait: Annotated[float, typer.Option(min=10, max=900, help="Seconds after its close time a lot may take before it counts as not closed")] = 150.0,
    output: Annotated[Path, typer.Option(help="Where to write the JSON results")] = Path("bench-results/close.json"),
) -> None:
    """Close lag on a fresh local stack (127.0.0.1 only): lots closing over the next minutes,
    some extended by a late bid; p50/p95/max of the CLOSED push and of LotClosed after the final close time."""
    from bootstrap import use_placeholder_credentials

    use_placeholder_credentials()
    started = time.perf_counter()
    load_before = os.getloadavg()
    with fresh_stack("samsold-close-") as (directory, endpoints, stack):
        results = asyncio.run(run_close(endpoints, directory, lots, first_in, spread, extend_every,
                                        soft_close_extension, wait + soft_close_extension))
    grace_s = template_close_grace_s()
    document = {
        "benchmark": "samsold close",
        "stack": "fresh local stack (temporary data directory, the template's defaults), in a child process",
        "measured_from": "each lot's final closes_at (after any soft-close extension), to its watcher's CLOSED "
                         "lot.updated (pushed) and to the LotClosed event's recorded time (recorded), on the same "
                         "machine's clock",
        "machine": machine(load_before),
        "options": {"lots": lots, "first_in_s": first_in, "spread_s": spread, "extend_every": extend_every,
                    "soft_close_window_s": SOFT_CLOSE_WINDOW_S, "soft_close_extension_s": soft_close_extension,
                    "late_bid_before_close_s": LATE_BID_BEFORE_CLOSE_S, "wait_s": wait},
        "close_grace_s": grace_s,
        "goal": {"close_lag_p95_s": CLOSE_LAG_GOAL_S},
        **results,
        "stack_exit_code": stack.exitcode,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_results(document, output)
    if results["not_closed"]:
        console.print(f"[yellow]{len(results['not_closed'])} lots did not close within {wait:.0f} s of their close time[/yellow]")
