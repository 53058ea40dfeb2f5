"""`samsold-bench replay`: replay throughput on a lot of many events and on many lots, and
the bid decision throughput seen while seeding them. Against a fresh in-memory
DynamoDB Local unless a table is given. Results are printed and written as JSON."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from bootstrap import App, build
from ledger.domain.commands import CreateLot, PlaceBid
from ledger.domain.values import utc_now
from ledger.service.commands import COMMANDS_PER_TRANSACTION
from projections.audit import for_each_lot, replay, verify
from samsold_bench.harness import fresh_dynamodb_local, machine, write_results
from samsold_cli.shared import console, progress_bar


def seed_lot(service: App, events: int, advance: Callable[[int], None] = lambda _: None) -> tuple[str, float]:
    """A lot with `events` events (creation plus accepted bids); returns it and the
    seconds spent deciding and writing the bids."""
    now = utc_now()
    lot = service.lots.create_lot(
        # Validated as the API takes terms: money as decimal strings.
        CreateLot.model_validate({"lot_id": f"bench-{uuid.uuid4().hex[:12]}", "title": "bench", "currency": "EUR",
                                  "starting_price": "1.00", "increment": "0.01", "opens_at": now,
                                  "closes_at": now + timedelta(days=30), "soft_close_window_s": 0}),
        seller="bench-seller",
    )
    started = time.perf_counter()
    bids = events - 1
    for start in range(0, bids, COMMANDS_PER_TRANSACTION):
        chunk = [
            PlaceBid(bid_id=uuid.uuid4().hex, lot_id=lot.lot_id, bidder=f"bidder-{i % 50 if i % 2 else 'b'}",
                     amount=f"{1 + i / 100:.2f}", placed_at=now)
            for i in range(start, min(bids, start + COMMANDS_PER_TRANSACTION))
        ]
        service.commands.execute(lot.lot_id, chunk)
        advance(len(chunk))
    return lot.lot_id, time.perf_counter() - started


def run(service: App, big_lot_events: int, lots: int, events_per_lot: int, workers: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with progress_bar() as progress:
        task = progress.add_task(f"seeding a lot of {big_lot_events} events", total=big_lot_events - 1)
        big_lot, seconds = seed_lot(service, big_lot_events, lambda n: progress.advance(task, n))
        results["decide_and_write_bids_per_s"] = round((big_lot_events - 1) / seconds, 1)

        started = time.perf_counter()
        report = replay(service.queries, big_lot)
        seconds = time.perf_counter() - started
        assert not report.drifted and report.events == big_lot_events
        results["replay_one_lot"] = {"events": report.events, "seconds": round(seconds, 3), "events_per_s": round(report.events / seconds, 1)}

        started = time.perf_counter()
        checked = verify(service.queries, big_lot)
        seconds = time.perf_counter() - started
        assert checked.ok
        results["verify_one_lot"] = {"events": checked.events, "seconds": round(seconds, 3), "events_per_s": round(checked.events / seconds, 1)}

        task = progress.add_task(f"seeding {lots} lots of {events_per_lot} events", total=lots)
        ids = []
        for _ in range(lots):
            ids.append(seed_lot(service, events_per_lot)[0])
            progress.advance(task)

        for name, check in (("replay_all", replay), ("verify_all", verify)):
            task = progress.add_task(f"{name} over {lots} lots", total=lots)
            started = time.perf_counter()
            reports: list[Any] = for_each_lot(service.queries, check, ids, workers, progress=lambda _: progress.advance(task))  # noqa: B023 - runs within this iteration
            seconds = time.perf_counter() - started
            events = sum(r.events for r in reports)
            results[name] = {"lots": lots, "events": events, "workers": workers, "seconds": round(seconds, 3),
                             "events_per_s": round(events / seconds, 1), "lots_per_s": round(lots / seconds, 1)}
    return results


def replay_benchmark(
    events: Annotated[int, typer.Option(help="Events in the one big lot")] = 100_000,
    lots: Annotated[int, typer.Option(help="Lots for replay --all")] = 1_000,
    events_per_lot: Annotated[int, typer.Option(help="Events in each of those lots")] = 100,
    workers: Annotated[int, typer.Option(help="Lots replayed at once")] = 8,
    output: Annotated[Path, typer.Option(help="Where to write the JSON results")] = Path("bench-results/bench.json"),
    bids_table: Annotated[str | None, typer.Option(help="Use this table (with AWS_ENDPOINT_URL_DYNAMODB) instead of a fresh DynamoDB Local")] = None,
) -> None:
    """Measure replay and verification throughput (events per second) on one big lot and on many small ones."""
    if events < 2 or lots < 1 or events_per_lot < 2:
        console.print("[red]--events and --events-per-lot need at least 2 (the creation and a bid), --lots at least 1[/red]")
        raise typer.Exit(2)
    started = time.perf_counter()
    if bids_table:
        results = run(build({"BIDS_TABLE": bids_table}), events, lots, events_per_lot, workers)
        engine = "given table"
    else:
        with fresh_dynamodb_local() as env:
            results = run(build(env), events, lots, events_per_lot, workers)
        engine = "DynamoDB Local (in memory)"
    document = {
        "benchmark": "samsold replay/verify",
        "engine": engine,
        "machine": machine(),
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_results(document, output)

