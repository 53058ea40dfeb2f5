"""`samsold-bench load`: many concurrent bidders against the local stack over real HTTP
and WebSockets, on 127.0.0.1 only.

With `--crowd N`, first a crowd at the door: N WebSocket connections to one lot opened at
once (every page reconnecting after a network blip): how many connected, how many were
refused or timed out in the handshake, how long until the last one was in, and whether
each of them got the next update. Then a burst (every client bids once, all at the same
moment; its answers counted by HTTP status, first and last: a bid answered 429 is sent again
after Retry-After with jitter, as the page does), then steps of a target rate (bids per second
for a fixed time). `--watchers` connections watch the lots (spread evenly; one a lot by
default). Each phase reports intake, what the clients could not get through (refused,
dropped, timed out, 5xx), the time from the gateway's receipt (`placed_at`) to the decision
(`decided_at`, both from the bid receipt), and from the POST to the first `lot.updated`
push showing it on each watcher of its lot (as bidders feel it: p50 and p99 over every
bid and watcher), and the stack's CPU per bid by process. At the end every lot must agree with
its bids (bid_count = accepted bids, the leader's maximum = the highest accepted amount, a
maximum bid, and the price never above it) and
`verify`/`replay` must be clean. Results are printed and written as JSON.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import random
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from samsold_bench.harness import (
    STARTING_PRICE,
    STEP,
    StackProcess,
    create_lots,
    machine,
    ms_summary,
    on_loopback,
    raise_open_files_limit,
    tree_cpu_by_process,
    tree_cpu_seconds,
    write_results,
)

if TYPE_CHECKING:
    from bootstrap import App

console = Console()

MAX_CLIENTS = 5000  # bounded: this is a benchmark of one machine, not a flood tool
MAX_WATCHERS = 5000
CROWD_GOAL = {"connections": 2000, "refused": 0, "all_connected_within_s": 60}
CROWD_TIMEOUT_S = 120.0
MAX_RATE = 1000
MAX_STEP_SECONDS = 120
REQUEST_TIMEOUT_S = 60.0
DECISION_P99_GOAL_S = 2.0
# A bid answered 429 (throttled, or a quota that frees in a moment) is sent again with the
# same Idempotency-Key after its Retry-After plus a random wait below 1, 2, 4, ... s (at most
# RETRY_SPREAD_S), as a well-behaved client does, up to SENDS times in all; a Retry-After
# longer than RETRY_AFTER_HONOURED_S (the hour's rejections) is an answer, not retried.
SENDS = 10
RETRY_SPREAD_S = 16.0
RETRY_AFTER_HONOURED_S = 10.0


@dataclass
class Attempt:
    """One POST /bid as the client saw it."""

    lot_id: str
    amount: str
    bid_id: str | None = None  # the ledger's id of the bid, from its 202
    sent_at: float = 0.0
    answered_at: float | None = None
    status: int | None = None  # the last answer's
    first_status: int | None = None  # the first answer's (a 429 is sent again)
    sends: int = 0
    failure: str | None = None  # "refused", "dropped", "timed_out"


@dataclass
class Updates:
    """The lot.updated pushes one subscriber received, by lot: (arrival time, version)."""

    by_lot: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))

    def first_showing(self, lot_id: str, version: int) -> float | None:
        """When the first push of `lot_id` at `version` or later arrived."""
        return self.showing(lot_id)(version)

    def showing(self, lot_id: str) -> Any:
        """`first_showing` for one lot, sorted once: version -> the first arrival at it or later."""
        received = sorted(self.by_lot.get(lot_id, []), key=lambda pair: pair[1])
        versions = [v for _, v in received]
        earliest_from: list[float] = []  # the earliest arrival among pushes at index i or later
        for arrival, _ in reversed(received):
            earliest_from.append(min(arrival, earliest_from[-1]) if earliest_from else arrival)
        earliest_from.reverse()

        def first(version: int) -> float | None:
            start = bisect.bisect_left(versions, version)
            return earliest_from[start] if start < len(earliest_from) else None

        return first


@dataclass
class Watcher:
    """One WebSocket client watching a lot, and what it received."""

    lot_id: str
    updates: Updates = field(default_factory=Updates)
    connected: bool = False


# -- the clients ----------------------------------------------------------------------------


class Bidding:
    def __init__(self, session: Any, api: str, tokens: list[str], lot_ids: list[str]) -> None:
        self.session = session
        self.api = api
        self.tokens = tokens
        self.lot_ids = lot_ids
        self._next_amount = {lot_id: STARTING_PRICE for lot_id in lot_ids}
        self.sequence = 0

    def next_attempt(self) -> tuple[Attempt, str]:
        """The next bid (rising amounts per lot, so most are accepted) and its client's token."""
        index = self.sequence
        self.sequence += 1
        lot_id = self.lot_ids[index % len(self.lot_ids)]
        amount = self._next_amount[lot_id]
        self._next_amount[lot_id] = amount + STEP
        return Attempt(lot_id=lot_id, amount=str(amount)), self.tokens[index % len(self.tokens)]

    async def place(self, attempt: Attempt, token: str) -> None:
        """POST the bid; a 429 sent again after Retry-After with jitter (`SENDS`, `retry_wait`)."""
        import aiohttp

        key = uuid.uuid4().hex  # the same on every send: one bid however often it is sent
        attempt.sent_at = time.time()
        while attempt.sends < SENDS:
            attempt.sends += 1
            body, retry_after = b"", None
            try:
                async with self.session.post(
                    f"{self.api}/bid",
                    json={"lot_id": attempt.lot_id, "amount": attempt.amount},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                ) as response:
                    body = await response.read()
                    attempt.status = response.status
                    retry_after = response.headers.get("Retry-After")
            except aiohttp.ClientConnectorError:
                attempt.failure = "refused"
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError):
                attempt.failure = "dropped"
            except TimeoutError:
                attempt.failure = "timed_out"
            if attempt.failure is not None:
                break
            if attempt.first_status is None:
                attempt.first_status = attempt.status
            if attempt.status == 202:
                attempt.bid_id = json.loads(body)["bid_id"]
            wait = retry_wait(retry_after, attempt.sends) if attempt.status == 429 else None
            if wait is None or attempt.sends == SENDS:
                break
            await asyncio.sleep(wait)
        attempt.answered_at = time.time()


def retry_wait(retry_after: str | None, sends: int) -> float | None:
    """Seconds before sending a throttled bid again: its Retry-After (1 if absent) and a
    random wait below 2^(sends-1) s, at most RETRY_SPREAD_S ("full jitter", so a throttled
    burst does not come back all at once); None when Retry-After is longer than a bidder waits."""
    seconds = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
    if seconds > RETRY_AFTER_HONOURED_S:
        return None
    return seconds + random.uniform(0, min(RETRY_SPREAD_S, 2.0 ** (sends - 1)))


async def _subscribe(session: Any, websocket_url: str, lot_id: str, updates: Updates, connected: asyncio.Event) -> None:
    import aiohttp

    async with session.ws_connect(f"{websocket_url}/?lot_id={lot_id}", heartbeat=30) as socket:
        connected.set()
        async for message in socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            arrived = time.time()
            pushed = json.loads(message.data)
            if pushed.get("type") == "lot.updated":
                updates.by_lot[lot_id].append((arrived, int(pushed["lot"]["version"])))


async def _arrive(session: Any, url: str, watcher: Watcher, crowd: dict[str, Any], opened: asyncio.Event) -> None:
    """One of the crowd: connects (timing the handshake, or saying why it failed), then watches."""
    import aiohttp

    started = time.time()
    try:
        socket = await asyncio.wait_for(session.ws_connect(url, heartbeat=30), CROWD_TIMEOUT_S)
    except aiohttp.WSServerHandshakeError as error:
        crowd["failures"][f"handshake_{error.status}"] += 1
        return
    except aiohttp.ClientConnectorError:
        crowd["failures"]["refused_connection"] += 1
        return
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        crowd["failures"]["dropped"] += 1
        return
    except TimeoutError:
        crowd["failures"]["timed_out"] += 1
        return
    finally:
        crowd["done"] += 1
        if crowd["done"] == crowd["connections"]:
            opened.set()
    crowd["handshakes"].append((started, time.time()))
    watcher.connected = True
    async with socket:
        async for message in socket:
            if message.type == aiohttp.WSMsgType.TEXT and (pushed := json.loads(message.data)).get("type") == "lot.updated":
                watcher.updates.by_lot[watcher.lot_id].append((time.time(), int(pushed["lot"]["version"])))


async def crowd_at_the_door(session: Any, websocket_url: str, lot_id: str, count: int
                            ) -> tuple[dict[str, Any], list[Watcher], list[asyncio.Task[None]]]:
    """`count` WebSocket connections to the lot opened at the same moment: how many got in,
    how the others failed, how long the last one took. The connected keep watching."""
    crowd: dict[str, Any] = {"connections": count, "done": 0, "failures": Counter(), "handshakes": []}
    watchers = [Watcher(lot_id) for _ in range(count)]
    opened = asyncio.Event()
    started = time.time()
    tasks = [asyncio.create_task(_arrive(session, f"{websocket_url}/?lot_id={lot_id}", watcher, crowd, opened))
             for watcher in watchers]
    await asyncio.wait_for(opened.wait(), CROWD_TIMEOUT_S + 30)
    handshakes: list[tuple[float, float]] = crowd["handshakes"]
    report = {
        "connections": count,
        "connected": len(handshakes),
        "refused": sum(n for kind, n in crowd["failures"].items() if kind != "timed_out"),
        "timed_out": crowd["failures"]["timed_out"],
        "failures": dict(crowd["failures"]),
        "seconds_to_last_connected": round(max(end for _, end in handshakes) - started, 2) if handshakes else None,
        "handshake_ms": ms_summary([end - begun for begun, end in handshakes]),
    }
    return report, watchers, tasks


# -- measuring ------------------------------------------------------------------------------


async def _wait_for_receipts(service: App, attempts: list[Attempt], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Receipts of the attempts' bids, once every bid that got a 202 is decided (or the timeout).
    A decided bid's receipt is final, so each poll reads only the bids still undecided: the
    polling is the benchmark's, and its reads would be charged to DynamoDB Local's CPU."""
    queued = {a.bid_id for a in attempts if a.bid_id}  # only a 202 names one
    deadline = time.monotonic() + timeout_s
    receipts: dict[str, dict[str, Any]] = {}
    undecided = list(queued)
    while True:
        receipts.update(await asyncio.to_thread(service.queries.bid_receipts, undecided))
        undecided = [bid_id for bid_id in undecided if bid_id not in receipts]
        if queued <= set(receipts) or time.monotonic() > deadline:
            return receipts
        await asyncio.sleep(0.5)


async def _wait_for_pushes(watchers: list[Watcher], receipts: dict[str, dict[str, Any]], timeout_s: float) -> None:
    """Until a push shows each watcher its lot at the highest decided version among `receipts` (or the timeout)."""
    last_version: dict[str, int] = {}
    for receipt in receipts.values():
        lot_id, version = str(receipt["lot_id"]), int(receipt.get("version") or 0)
        last_version[lot_id] = max(version, last_version.get(lot_id, 0))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(
        watcher.updates.first_showing(watcher.lot_id, last_version[watcher.lot_id]) is None
        for watcher in watchers if watcher.lot_id in last_version
    ):
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # the bidders' own news follows the lot's update


def phase_report(attempts: list[Attempt], receipts: dict[str, dict[str, Any]], watchers: list[Watcher],
                 seconds: float) -> dict[str, Any]:
    from ledger.domain.values import parse_time

    statuses = [a.status for a in attempts if a.status is not None]
    queued = [a for a in attempts if a.status == 202]
    intake_window = (max(a.answered_at or 0 for a in queued) - min(a.sent_at for a in attempts)) if queued else 0
    showing: dict[str, list[Any]] = defaultdict(list)  # lot -> each of its watchers' `first showing`
    for watcher in watchers:
        showing[watcher.lot_id].append(watcher.updates.showing(watcher.lot_id))
    to_decision, to_push = [], []
    never_shown = 0
    for attempt in attempts:
        receipt = receipts.get(attempt.bid_id) if attempt.bid_id else None
        if receipt is None:
            continue
        decided_at = receipt.get("decided_at")
        if decided_at:
            to_decision.append((parse_time(decided_at) - parse_time(receipt["placed_at"])).total_seconds())
        for first_showing in showing[attempt.lot_id]:
            pushed_at = first_showing(int(receipt.get("version") or 0))
            if pushed_at is None:
                never_shown += 1
            else:
                to_push.append(max(0.0, pushed_at - attempt.sent_at))
    failures = [a.failure for a in attempts if a.failure]
    first_statuses = Counter(a.first_status for a in attempts if a.first_status is not None)
    return {
        "bids_sent": len(attempts),
        "seconds": round(seconds, 2),
        "answered_202": len(queued),
        # What the first send got (429: throttled, sent again after Retry-After), and how often bids were sent.
        "first_http_statuses": {str(status): count for status, count in sorted(first_statuses.items())},
        "sends": sum(a.sends for a in attempts),
        "intake_bids_per_s": round(len(queued) / intake_window, 1) if intake_window > 0 else None,
        "refused_connections": failures.count("refused"),
        "dropped_connections": failures.count("dropped"),
        "timed_out": failures.count("timed_out"),
        "http_4xx": sum(1 for s in statuses if 400 <= s < 500),
        "http_5xx": sum(1 for s in statuses if s >= 500),
        "http_statuses": {str(status): count for status, count in sorted(Counter(statuses).items())},  # the last answers
        "accepted": sum(1 for r in receipts.values() if r.get("status") == "ACCEPTED"),
        "rejected": sum(1 for r in receipts.values() if r.get("status") == "REJECTED"),
        "undecided_after_202": sum(1 for a in queued if a.bid_id not in receipts),
        "receipt_to_decision_ms": ms_summary(to_decision),
        "post_to_websocket_update_ms": ms_summary(to_push),  # over every (decided bid, watcher of its lot)
        "updates_never_shown": never_shown,  # (decided bid, watcher) pairs no push showed by the phase's end
    }


def _sustained(report: dict[str, Any], rate: float) -> bool:
    p99 = report["receipt_to_decision_ms"]["p99"]
    lost = report["refused_connections"] + report["dropped_connections"] + report["timed_out"]
    return (lost == 0 and report["http_5xx"] == 0 and report["undecided_after_202"] == 0
            and p99 is not None and p99 < DECISION_P99_GOAL_S * 1000
            and (report["intake_bids_per_s"] or 0) >= 0.9 * rate)


def consistency(service: App, lot_ids: list[str], attempts: list[Attempt]) -> dict[str, Any]:
    from projections.audit import for_each_lot, replay, verify

    every_receipt = service.queries.bid_receipts([a.bid_id for a in attempts if a.bid_id])
    problems = []
    accepted_total = 0
    for lot_id in lot_ids:
        accepted = [Decimal(r["amount"]) for r in every_receipt.values()
                    if r["lot_id"] == lot_id and r.get("status") == "ACCEPTED"]
        accepted_total += len(accepted)
        lot = service.queries.find_lot(lot_id)
        if lot is None:
            problems.append(f"{lot_id}: no snapshot")
            continue
        if lot.bid_count != len(accepted):
            problems.append(f"{lot_id}: bid_count {lot.bid_count}, accepted bids {len(accepted)}")
        # Amounts are maxima: the leader holds the highest, and the price is never above it.
        highest = max(accepted) if accepted else None
        if (lot.leader_maximum is None) != (highest is None) or (
            highest is not None and (lot.leader_maximum != highest or lot.current_price is None or lot.current_price > highest)
        ):
            problems.append(f"{lot_id}: price {lot.current_price}, leader's maximum {lot.leader_maximum}, highest accepted {highest}")
    verified = for_each_lot(service.queries, verify, lot_ids)
    replayed = for_each_lot(service.queries, replay, lot_ids)
    problems += [f"{r.lot_id}: verify: {r.problem}" for r in verified if not r.ok]
    problems += [f"{r.lot_id}: replay drifted" for r in replayed if not r.ok]
    return {
        "lots": len(lot_ids),
        "accepted_bids": accepted_total,
        "verify_clean": all(r.ok for r in verified),
        "replay_clean": all(r.ok for r in replayed),
        "problems": problems,
        "ok": not problems,
    }


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# -- the run --------------------------------------------------------------------------------


async def run_load(endpoints: dict[str, Any], data_dir: Path, clients: int, lots: int, rates: list[float],
                   step_seconds: float, burst: bool, settle_s: float, stack_pid: int | None = None,
                   watchers: int = 0, crowd: int = 0) -> dict[str, Any]:
    import aiohttp

    from local.cognito.user_pool import DevAuth
    from samsold_cli.target import resolve_target

    api, websocket_url = on_loopback(endpoints["rest"]), on_loopback(endpoints["websocket"])
    service = resolve_target(data_dir).app
    auth = DevAuth(data_dir)
    run_id = uuid.uuid4().hex[:6]
    tokens = [auth.mint(f"load-{run_id}-{index}") for index in range(clients)]
    watcher_count = max(watchers, lots)  # one a lot at least: each lot's pushes are measured
    connector = aiohttp.TCPConnector(limit=clients + watcher_count + crowd + 8, limit_per_host=0)
    results: dict[str, Any] = {"phases": []}
    everything: list[Attempt] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        lot_ids = await create_lots(session, api, auth.mint(f"load-seller-{run_id}", seller=True, handle="load"), lots)
        watching = [Watcher(lot_ids[index % len(lot_ids)]) for index in range(watcher_count)]
        connected = [asyncio.Event() for _ in watching]
        subscribers = [asyncio.create_task(_subscribe(session, websocket_url, watcher.lot_id, watcher.updates, ready))
                       for watcher, ready in zip(watching, connected, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in connected)), 120)
        results["watchers"] = {"connections": len(watching), "lots": len(lot_ids)}
        bidding = Bidding(session, api, tokens, lot_ids)

        def stack_cpu() -> tuple[float | None, dict[str, float] | None, float]:
            """The stack's CPU seconds, by process, and the clients' own (this process)."""
            if stack_pid is None:
                return None, None, _own_cpu_seconds()
            return tree_cpu_seconds(stack_pid), tree_cpu_by_process(stack_pid), _own_cpu_seconds()

        async def measured(name: str, attempts: list[Attempt], started: float, rate: float | None,
                           cpu_before: tuple[float | None, dict[str, float] | None, float],
                           seen_by: list[Watcher] = watching) -> dict[str, Any]:
            receipts = await _wait_for_receipts(service, attempts, settle_s)
            # The pushes follow the decisions: the phase (and its CPU) ends when every lot's
            # last decided version has reached the subscribers, so the broadcast's work is in it.
            await _wait_for_pushes(seen_by, receipts, settle_s)
            report = {"phase": name, **({"target_bids_per_s": rate} if rate else {}),
                      **phase_report(attempts, receipts, seen_by, time.monotonic() - started)}
            (total_before, by_process_before, own_before), (total_after, by_process_after, own_after) = \
                cpu_before, stack_cpu()
            if total_before is not None and total_after is not None and attempts:
                # What the stack spent per bid (gateway, workers, queue, DynamoDB Local), whatever
                # else ran on the machine; two cores give at most 2000 / this many bids per second.
                report["stack_cpu_ms_per_bid"] = round((total_after - total_before) * 1000 / len(attempts), 1)
            if by_process_before is not None and by_process_after is not None and attempts:
                report["stack_cpu_ms_per_bid_by_process"] = {
                    name: round((seconds - by_process_before.get(name, 0.0)) * 1000 / len(attempts), 1)
                    for name, seconds in sorted(by_process_after.items())
                }
            if attempts:
                # The clients share the cores with the stack: what they cost is not the stack's.
                report["client_cpu_ms_per_bid"] = round((own_after - own_before) * 1000 / len(attempts), 1)
            if rate:
                report["sustained"] = _sustained(report, rate)
            console.print(f"[bold]{name}[/bold]: {json.dumps(report)}")
            return report

        if crowd:
            console.print(f"crowd: {crowd} WebSocket connections to one lot at once")
            results["crowd"], crowd_watchers, crowd_tasks = await crowd_at_the_door(session, websocket_url, lot_ids[0], crowd)
            console.print(f"[bold]crowd[/bold]: {json.dumps(results['crowd'])}")
            # Then one bid on that lot: every one of the crowd should see it.
            attempt, token = bidding.next_attempt()
            assert attempt.lot_id == lot_ids[0]
            cpu_before = stack_cpu()
            started = time.monotonic()
            await bidding.place(attempt, token)
            everything.append(attempt)
            results["crowd"]["one_bid"] = await measured("crowd's bid", [attempt], started, None, cpu_before,
                                                         seen_by=[w for w in crowd_watchers if w.connected])
            for task in crowd_tasks:
                task.cancel()
            await asyncio.gather(*crowd_tasks, return_exceptions=True)

        if burst:
            console.print(f"burst: {clients} clients bid at once")
            pairs = [bidding.next_attempt() for _ in range(clients)]
            cpu_before = stack_cpu()
            started = time.monotonic()
            await asyncio.gather(*(bidding.place(attempt, token) for attempt, token in pairs))
            attempts = [attempt for attempt, _ in pairs]
            everything += attempts
            results["burst"] = await measured("burst", attempts, started, None, cpu_before)

        highest = None
        for rate in rates:
            total = int(rate * step_seconds)
            console.print(f"rate step: {rate:g} bids/s for {step_seconds:g} s ({total} bids over {clients} clients)")
            attempts, tasks = [], []
            cpu_before = stack_cpu()
            started = time.monotonic()
            for index in range(total):
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                attempt, token = bidding.next_attempt()
                attempts.append(attempt)
                tasks.append(asyncio.create_task(bidding.place(attempt, token)))
            await asyncio.gather(*tasks)
            everything += attempts
            report = await measured(f"rate {rate:g}/s", attempts, started, rate, cpu_before)
            results["phases"].append(report)
            if not report["sustained"]:
                break  # higher rates would only fail harder
            highest = rate
        results["highest_sustained_bids_per_s"] = highest
        for task in subscribers:
            task.cancel()
        await asyncio.gather(*subscribers, return_exceptions=True)
    results["consistency"] = await asyncio.to_thread(consistency, service, lot_ids, everything)
    return results


def load(
    clients: Annotated[int, typer.Option(min=1, max=MAX_CLIENTS, help="Concurrent clients (one bidder and connection each)")] = 2000,
    lots: Annotated[int, typer.Option(min=1, max=100, help="Lots they bid on")] = 5,
    watchers: Annotated[int, typer.Option(min=0, max=MAX_WATCHERS, help="WebSocket connections watching the lots, spread evenly (at least one a lot)")] = 0,
    crowd: Annotated[int, typer.Option(min=0, max=MAX_WATCHERS, help="First, this many WebSocket connections to one lot opened at once, then one bid on it (0: none)")] = 0,
    rates: Annotated[str, typer.Option(help="Target rates in bids/s, stepped up in order until one is not sustained (empty: none)")] = "25,50,75,100,150,200",
    step_seconds: Annotated[float, typer.Option(min=1, max=MAX_STEP_SECONDS, help="Seconds at each rate")] = 20.0,
    burst: Annotated[bool, typer.Option("--burst/--no-burst", help="First, every client bids at the same moment")] = True,
    settle_seconds: Annotated[float, typer.Option(min=1, max=600, help="How long to wait for a phase's decisions")] = 120.0,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="A running local stack's data directory [default: start one on a temporary directory]")] = None,
    output: Annotated[Path, typer.Option(help="Where to write the JSON results")] = Path("bench-results/load.json"),
) -> None:
    """Load the local stack with concurrent bidders (127.0.0.1 only): intake, lost
    connections, 5xx, receipt-to-decision and POST-to-WebSocket latency, consistency."""
    from local.runtime import read_endpoints

    try:
        steps = [float(rate) for rate in rates.split(",") if rate.strip()]
    except ValueError:
        console.print("[red]--rates: comma-separated numbers, e.g. 50,100,150[/red]")
        raise typer.Exit(2) from None
    if any(not 0 < rate <= MAX_RATE for rate in steps):
        console.print(f"[red]--rates: each between 0 and {MAX_RATE}[/red]")
        raise typer.Exit(2)
    from bootstrap import use_placeholder_credentials

    use_placeholder_credentials()
    raise_open_files_limit()
    started = time.perf_counter()
    load_before = os.getloadavg()  # other work on the machine shares its cores with the stack
    options = {"clients": clients, "lots": lots, "watchers": watchers, "crowd": crowd, "rates": steps,
               "step_seconds": step_seconds, "burst": burst}

    def measure(directory: Path, stack_pid: int | None = None) -> dict[str, Any]:
        endpoints = read_endpoints(directory)
        if endpoints is None:
            raise RuntimeError(f"no local stack runs on {directory}")
        return asyncio.run(run_load(endpoints, directory, clients, lots, steps, step_seconds, burst, settle_seconds,
                                    stack_pid, watchers=watchers, crowd=crowd))

    if data_dir is not None:
        if read_endpoints(data_dir) is None:
            console.print(f"[red]no local stack runs on {data_dir} (start it with `samsold dev`)[/red]")
            raise typer.Exit(2)
        stack = f"running stack on {data_dir}"
        results = measure(data_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="samsold-load-") as temporary:
            directory = Path(temporary) / "data"
            console.print(f"starting the local stack on {directory}")
            with StackProcess(directory) as stack_process:
                results = measure(directory, stack_process.pid)
        stack = "fresh local stack (temporary data directory)"
    document = {
        "benchmark": "samsold load",
        "stack": stack,
        "machine": machine(load_before),
        "options": options,
        "goal": {"dropped": 0, "http_5xx": 0, "receipt_to_decision_p99_ms_below": DECISION_P99_GOAL_S * 1000,
                 "at_bids_per_s": 100, "post_to_update_p99_ms_at_most": 1000, "crowd": CROWD_GOAL},
        **results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_results(document, output)
    if not results["consistency"]["ok"]:
        raise typer.Exit(1)
