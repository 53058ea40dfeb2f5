"""`samsold-bench fanout`: many WebSocket clients watch one lot on the local stack (on
127.0.0.1 only), then bids are placed one at a time; for each bid, how long after its
decision every watcher had the `lot.updated` push showing it, and how many never did.
The goal: 2,000 watchers of one lot, none of them losing an update.

The clock starts at the bid receipt's `decided_at`: the processor's time when it decided,
just before the one transaction that writes the events, the receipts and the snapshot (the
snapshot item's own times are the layout's to change). So each figure includes that write,
the stream poller, the broadcast and the local `@connections` posts: if anything, too long.
The stack runs in a child process on this machine, so both clocks are the same clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from samsold_bench.harness import (
    STARTING_PRICE,
    STEP,
    create_lots,
    fresh_stack,
    machine,
    ms_summary,
    on_loopback,
    raise_open_files_limit,
    tree_cpu_seconds,
    write_results,
)
from samsold_cli.shared import console

MAX_WATCHERS = 5000  # a benchmark of one machine, not a flood tool
FAN_OUT_GOAL = {"watchers": 2000, "lost": 0}


@dataclass
class Watchers:
    """The clients and what each received: per watcher, the arrival (epoch seconds) of the
    first `lot.updated` at each version."""

    arrivals: list[dict[int, float]] = field(default_factory=list)
    open: set[int] = field(default_factory=set)
    handshakes: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    closed_early: int = 0
    tried: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def showing(self, version: int) -> dict[int, float]:
        """Watcher -> when it first had a push of `version` or later."""
        seen = {}
        for index, arrivals in enumerate(self.arrivals):
            times = [at for v, at in arrivals.items() if v >= version]
            if times:
                seen[index] = min(times)
        return seen


async def _watch(session: Any, url: str, index: int, watchers: Watchers, gate: asyncio.Semaphore,
                 handshake_timeout_s: float, tried_all: asyncio.Event) -> None:
    import aiohttp

    async with gate:  # a bounded number of handshakes at once, like browsers arriving over a few seconds
        started = time.monotonic()
        socket = None
        try:
            socket = await asyncio.wait_for(session.ws_connect(url, autoping=True), handshake_timeout_s)
            watchers.handshakes.append(time.monotonic() - started)
            watchers.open.add(index)
        except TimeoutError:
            watchers.failures["timed_out"] += 1
        except aiohttp.WSServerHandshakeError as error:
            watchers.failures[f"refused_{error.status}"] += 1
        except aiohttp.ClientConnectorError:
            watchers.failures["connection_refused"] += 1
        except (aiohttp.ClientError, OSError) as error:
            watchers.failures[type(error).__name__] += 1
        finally:
            watchers.tried += 1
            if watchers.tried == len(watchers.arrivals):
                tried_all.set()
    if socket is None:
        return
    try:
        async for message in socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            arrived = time.time()
            pushed = json.loads(message.data)
            if pushed.get("type") == "lot.updated":
                watchers.arrivals[index].setdefault(int(pushed["lot"]["version"]), arrived)
    finally:
        if not socket.closed:
            await socket.close()
        if index in watchers.open:
            watchers.open.discard(index)
            watchers.closed_early += 1  # the stack closed it (a run's end removes it from `open` first)


async def _decided(service: Any, bid_id: str, timeout_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        receipt = (await asyncio.to_thread(service.queries.bid_receipts, [bid_id])).get(bid_id)
        if receipt is not None:
            return receipt
        await asyncio.sleep(0.05)
    return None


async def run_fanout(endpoints: dict[str, Any], data_dir: Path, count: int, bids: int, warmup: int, connect_concurrency: int,
                     handshake_timeout_s: float, delivery_timeout_s: float, stack_pid: int | None) -> dict[str, Any]:
    import aiohttp

    from ledger.domain.values import parse_time
    from local.cognito.user_pool import DevAuth
    from samsold_cli.target import resolve_target

    api, websocket_url = on_loopback(endpoints["rest"]), on_loopback(endpoints["websocket"])
    service = resolve_target(data_dir).app
    auth = DevAuth(data_dir)
    run_id = uuid.uuid4().hex[:6]

    def stack_cpu() -> float | None:
        return tree_cpu_seconds(stack_pid) if stack_pid is not None else None

    connector = aiohttp.TCPConnector(limit=count + 16, limit_per_host=0)
    results: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector) as session:
        (lot_id,) = await create_lots(session, api, auth.mint(f"fanout-seller-{run_id}", seller=True, handle="fanout"), 1, prefix="fanout")
        watchers = Watchers(arrivals=[{} for _ in range(count)])
        gate, all_tried = asyncio.Semaphore(connect_concurrency), asyncio.Event()
        console.print(f"connecting {count} watchers of {lot_id} ({connect_concurrency} handshakes at once)")
        cpu_before, started = stack_cpu(), time.monotonic()
        watchers.tasks = [asyncio.create_task(_watch(session, f"{websocket_url}/?lot_id={lot_id}", index, watchers, gate,
                                                     handshake_timeout_s, all_tried))
                          for index in range(count)]
        await all_tried.wait()
        seconds = time.monotonic() - started
        cpu_after = stack_cpu()
        connected = len(watchers.open)
        results["connect"] = {
            "watchers": count,
            "connected": connected,
            "failed": dict(watchers.failures),
            "seconds": round(seconds, 2),
            "connects_per_s": round(connected / seconds, 1) if seconds else None,
            "handshake_ms": ms_summary(watchers.handshakes),
            **({"stack_cpu_seconds": round(cpu_after - cpu_before, 2)}
               if cpu_before is not None and cpu_after is not None else {}),
        }
        console.print(f"connect: {json.dumps(results['connect'])}")

        samples, per_bid, warmups, lost_total = [], [], [], 0
        amount = STARTING_PRICE
        for number in range(warmup + bids):
            if number:
                await asyncio.sleep(1.0)  # the previous bid's pushes are all out (or lost)
            token = auth.mint(f"fanout-{run_id}-bidder-{number}")  # a new bidder each time: the leader cannot outbid itself
            async with session.post(f"{api}/bid", json={"lot_id": lot_id, "amount": str(amount)},
                                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}) as response:
                if response.status != 202:
                    raise RuntimeError(f"POST /bid answered {response.status}: {await response.text()}")
                bid_id = (await response.json())["bid_id"]  # the ledger's id of the bid, not the key sent
            amount += STEP
            cpu_before = stack_cpu()
            receipt = await _decided(service, bid_id, delivery_timeout_s)
            if receipt is None or receipt.get("status") != "ACCEPTED":
                raise RuntimeError(f"bid {bid_id} was not accepted in time: {receipt}")
            version, decided_at = int(receipt["version"]), parse_time(receipt["decided_at"]).timestamp()
            watching = set(watchers.open)
            deadline = time.monotonic() + delivery_timeout_s
            while True:
                got = watchers.showing(version)
                if watching <= set(got) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            cpu_after = stack_cpu()
            latencies = [max(0.0, got[index] - decided_at) for index in watching if index in got]
            lost = len(watching - set(got))
            report = {"version": version, "watching": len(watching), "received": len(latencies), "lost": lost,
                      "decision_to_update_ms": ms_summary(latencies),
                      **({"stack_cpu_seconds": round(cpu_after - cpu_before, 2)}
                         if cpu_before is not None and cpu_after is not None else {})}
            if number < warmup:
                warmups.append(report)
                console.print(f"warm-up bid: {json.dumps(report)}")
                continue
            lost_total += lost
            samples += latencies
            per_bid.append(report)
            console.print(f"bid {number + 1 - warmup}/{bids}: {json.dumps(report)}")
        results["warmup_bids"] = warmups
        results["bids"] = per_bid
        results["all_bids"] = {"samples": len(samples), "lost": lost_total,
                               "decision_to_update_ms": ms_summary(samples)}
        results["closed_by_the_stack"] = watchers.closed_early
        watchers.open.clear()  # from here on, closing is ours
        for task in watchers.tasks:
            task.cancel()
        await asyncio.gather(*watchers.tasks, return_exceptions=True)
    if stack_pid is not None:
        # Each closed socket is a $disconnect invocation; stopping the stack while thousands
        # are queued times out in its WebSocket server, so let them run first.
        results["disconnect_drain_seconds"] = round(await _quiet(stack_pid, 60 + count / 20), 1)
    return results


async def _quiet(stack_pid: int, limit_s: float) -> float:
    """Wait until the stack uses less than a quarter of a core (its pollers only), at most
    `limit_s`; returns the seconds waited."""
    started = time.monotonic()
    previous = tree_cpu_seconds(stack_pid)
    while time.monotonic() - started < limit_s:
        await asyncio.sleep(1.0)
        now = tree_cpu_seconds(stack_pid)
        if previous is None or now is None or now - previous < 0.25:
            break
        previous = now
    return time.monotonic() - started


def _open_files_limit_of(pid: int | None) -> int | None:
    """The soft open-files limit of another process (Linux /proc), e.g. the stack's."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                value = line.split()[3]
                return int(value) if value.isdigit() else None
    except OSError:
        pass
    return None


def fanout(
    watchers: Annotated[int, typer.Option(min=1, max=MAX_WATCHERS, help="WebSocket clients watching the one lot")] = 2000,
    bids: Annotated[int, typer.Option(min=1, max=100, help="Bids placed one after another, each a sample of every watcher")] = 5,
    warmup: Annotated[int, typer.Option(min=0, max=10, help="Bids first, reported apart (the broadcast's cold start)")] = 1,
    connect_concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Handshakes in flight at once")] = 64,
    handshake_timeout: Annotated[float, typer.Option(min=1, max=600, help="Seconds one handshake may take")] = 60.0,
    delivery_timeout: Annotated[float, typer.Option(min=1, max=600, help="Seconds after a decision a watcher may take before its update counts as lost")] = 60.0,
    output: Annotated[Path, typer.Option(help="Where to write the JSON results")] = Path("bench-results/fanout.json"),
) -> None:
    """Fan-out on a fresh local stack (127.0.0.1 only): WebSocket watchers of one lot, then
    bids; connects, failed connects, decision-to-update p50/p99/max, messages lost."""
    from bootstrap import use_placeholder_credentials

    use_placeholder_credentials()
    open_files = raise_open_files_limit()
    if open_files["soft_after"] is not None and open_files["soft_after"] < watchers + 64:
        console.print(f"[yellow]open files limited to {open_files['soft_after']}: fewer than {watchers} watchers may connect[/yellow]")
    started = time.perf_counter()
    load_before = os.getloadavg()
    with fresh_stack("samsold-fanout-") as (directory, endpoints, stack):
        open_files["stack_soft"] = _open_files_limit_of(stack.pid)
        results = asyncio.run(run_fanout(endpoints, directory, watchers, bids, warmup, connect_concurrency,
                                         handshake_timeout, delivery_timeout, stack.pid))
    if stack.exitcode != 0:
        console.print(f"[yellow]the local stack's stop failed (exit code {stack.exitcode}); its processes were stopped[/yellow]")
    document = {
        "benchmark": "samsold fanout",
        "stack": "fresh local stack (temporary data directory), in a child process",
        "measured_from": "the bid receipt's decided_at: the processor's clock when it decided, just before its "
                         "TransactWriteItems (events, receipts, snapshot); to each watcher's first lot.updated "
                         "showing that version, on the same machine's clock",
        "machine": machine(load_before),
        "open_files_limit": open_files,
        "options": {"watchers": watchers, "bids": bids, "warmup_bids": warmup, "connect_concurrency": connect_concurrency,
                    "handshake_timeout_s": handshake_timeout, "delivery_timeout_s": delivery_timeout},
        "goal": FAN_OUT_GOAL,
        **results,
        "stack_exit_code": stack.exitcode,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_results(document, output)
