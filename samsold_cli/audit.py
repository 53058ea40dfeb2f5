"""Operators' commands over the ledger: history, as-of, replay, verify, dispute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from bootstrap import App
from ledger.domain.errors import LedgerError, LotNotFound, LotUnreadable
from ledger.domain.values import format_time, parse_time
from ledger.service.queries import LotQueries
from ledger.snapshot_item import snapshot_to_item
from projections.audit import fix, for_each_lot, replay, verify
from projections.dispute import dispute_markdown, dispute_report
from projections.history import event_record
from samsold_cli.history_view import BidderNames, UnknownBidder, compact_table, wide_table
from samsold_cli.shared import DataDir, Stack, console, exits_on_errors, plural, print_whole, progress_bar, target
from samsold_cli.target import Target, as_json

T = TypeVar("T")

BidsTable = Annotated[str | None, typer.Option("--bids-table", help="The Bids table's name (overrides the stack's)")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


def ledger_target(data_dir: Path | None, stack: str | None, bids_table: str | None) -> Target:
    return target(data_dir, stack, BidsTableName=bids_table)


def history(
    lot_id: Annotated[str, typer.Argument(help="The lot")],
    bidder: Annotated[
        str | None, typer.Option(help='Only this bidder\'s bids: an alias ("Bidder 2" or 2) or a user id')
    ] = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Operators: show each user id (bidders, seller) beside its alias")
    ] = False,
    wide: Annotated[bool, typer.Option(
        "--wide", help="Every field and the hashes, each row on one line however wide (for a wide terminal or a file)")] = False,
    json_out: Json = False,
    data_dir: DataDir = None,
    stack: Stack = None,
    bids_table: BidsTable = None,
) -> None:
    """Every event of a lot in order: version, time, bidder (by alias), maximum, price, what it did."""
    service = ledger_target(data_dir, stack, bids_table).app
    with exits_on_errors():
        events = list(service.queries.lot_events(lot_id))
        if not events:
            service.queries.get_lot(lot_id)
    names = BidderNames.from_events(lot_id, events)
    all_records = [event_record(e) for e in events]
    records = all_records
    if bidder is not None:
        try:
            wanted = names.resolve(bidder)
        except UnknownBidder as error:
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None
        records = [r for r in records if r["data"].get("bidder") == wanted]
    if json_out:
        typer.echo(as_json([names.shown(r, reveal) for r in records]))
        return
    # The tables name bidders by alias; --reveal puts each user id beside its alias: in the
    # wide table's rows, and in a key under the compact one (80 columns hold no ids).
    if wide:
        print_whole(wide_table(lot_id, [names.shown(r, reveal, beside=True) for r in records]))
        return
    console.print(compact_table(lot_id, [names.shown(r, reveal=False) for r in records],
                                [names.shown(r, reveal=False) for r in all_records]))
    if reveal:
        for label, user in names.legend():
            console.print(f"  {label:<11} {user}", highlight=False)


def as_of_command(
    lot_id: Annotated[str, typer.Argument(help="The lot")],
    version: Annotated[int | None, typer.Option("--version", min=1, help="As it stood after this version")] = None,
    time: Annotated[str | None, typer.Option("--time", help="As it stood at this ISO 8601 time")] = None,
    data_dir: DataDir = None,
    stack: Stack = None,
    bids_table: BidsTable = None,
) -> None:
    """A lot as it stood at a version or a time (the fold of its events up to then)."""
    if (version is None) == (time is None):
        console.print("[red]give exactly one of --version or --time[/red]")
        raise typer.Exit(2)
    at: datetime | None = None
    if time is not None:
        try:
            at = parse_time(time)
        except ValueError as error:
            console.print(f"[red]--time: {error}[/red]")
            raise typer.Exit(2) from None
    service = ledger_target(data_dir, stack, bids_table).app
    with exits_on_errors():
        first = next(iter(service.queries.lot_events(lot_id, upto_version=1)), None)
        if first is None:
            raise LotNotFound(f"no lot {lot_id!r}", {"lot_id": lot_id})
        if at is not None and at < first.timestamp:
            raise LotNotFound(f"lot {lot_id!r} did not exist at {format_time(at)}: it was created at "
                              f"{format_time(first.timestamp)}", {"lot_id": lot_id})
        state = service.queries.lot_as_of(lot_id, version=version, at=at)
    typer.echo(as_json(snapshot_to_item(state)))


def replay_command(
    lot_id: Annotated[str | None, typer.Argument(help="The lot (or --all)")] = None,
    all_lots: Annotated[bool, typer.Option("--all", help="Every lot, in parallel")] = False,
    fix_drift: Annotated[bool, typer.Option("--fix", help="Write the folded snapshot back where it drifted, and bidders' records that lag")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Lots replayed at once with --all")] = 8,
    data_dir: DataDir = None,
    stack: Stack = None,
    bids_table: BidsTable = None,
) -> None:
    """Fold each lot's events and compare with its stored snapshot; exit 1 on unfixed drift
    or an item that cannot be read."""
    service = ledger_target(data_dir, stack, bids_table).app
    reports = _over_lots(service, replay, lot_id, all_lots, workers, "replaying")
    unfixed = 0
    lagging = [report for report in reports if report.bidder_records]
    for report in reports:
        if report.ok:
            continue
        if report.unreadable is not None:
            console.print(f"[red]lot {report.lot_id}: unreadable at version {report.unreadable_version}: {report.unreadable}[/red]")
        if report.drifted:
            console.print(f"[yellow]lot {report.lot_id} drifted[/yellow]")
            for difference in report.differences:
                console.print(f"  {difference.field}: stored {difference.stored!r}, events say {difference.folded!r}")
            if fix_drift:
                try:
                    fix(service.commands, report)
                    console.print(f"  [green]fixed[/green] (snapshot rewritten at version {report.folded and report.folded['version']})")
                    continue
                except LedgerError as error:
                    console.print(f"  [red]not fixed: {error.message}[/red]")
        unfixed += 1
    console.print(
        f"{plural(len(reports), 'lot')}, {plural(sum(r.events for r in reports), 'event')} replayed; "
        f"{sum(r.drifted for r in reports)} drifted, "
        f"{sum(r.unreadable is not None for r in reports)} unreadable, {unfixed} left unfixed"
    )
    if lagging:
        # The bidders' records are written from the stream after the fact: one that lags is
        # reported and rewritten with --fix, never counted as the lot's drift.
        console.print(f"{plural(len(lagging), 'lot')} {'has' if len(lagging) == 1 else 'have'} bidders' records behind their events"
                      + (": rewritten" if fix_drift else " (--fix rewrites them)"))
        if fix_drift:
            for report in lagging:
                service.queries.record_bidder_lots(report.bidder_records)
    raise typer.Exit(1 if unfixed else 0)


def verify_command(
    lot_id: Annotated[str | None, typer.Argument(help="The lot (or --all)")] = None,
    all_lots: Annotated[bool, typer.Option("--all", help="Every lot, in parallel")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 8,
    data_dir: DataDir = None,
    stack: Stack = None,
    bids_table: BidsTable = None,
) -> None:
    """Check every hash chain; name the lot and first bad version; exit 1 on any break."""
    service = ledger_target(data_dir, stack, bids_table).app
    reports = _over_lots(service, verify, lot_id, all_lots, workers, "verifying")
    broken = [r for r in reports if not r.ok]
    for report in broken:
        console.print(f"[red]lot {report.lot_id}: broken at version {report.first_bad_version}: {report.problem}[/red]")
    console.print(f"{plural(len(reports), 'lot')}, {plural(sum(r.events for r in reports), 'event')} checked; {len(broken)} broken")
    raise typer.Exit(1 if broken else 0)


def dispute(
    bid: Annotated[str, typer.Option("--bid", help="The bid id")],
    auditor: Annotated[bool, typer.Option(
        "--auditor",
        help="The auditor's report, for administrators: every bidder by user id, their maximum bids, the hidden "
        "reserve. Without it, the bidder's report: safe to send the bidder who placed the bid",
    )] = False,
    json_out: Json = False,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write the report as Markdown to FILE")] = None,
    data_dir: DataDir = None,
    stack: Stack = None,
    bids_table: BidsTable = None,
) -> None:
    """A report on one bid for its bidder (or with --auditor, for administrators): as received, its outcome and
    the rule, the lot it met, the bids around it, proof: its hash chain, and the public log's checkpoint covering
    it with its inclusion proof (or when one will)."""
    service = ledger_target(data_dir, stack, bids_table).app
    # The public log, where the stack has one (not with only --bids-table).
    log = service.public_log if "LOG_TABLE" in service.env else None
    with exits_on_errors():
        report = dispute_report(service.queries, bid, auditor=auditor, log=log)
    if markdown is not None:
        markdown.write_text(dispute_markdown(report))
        console.print(f"written to {markdown}")
    if json_out:
        typer.echo(as_json(report))
    elif markdown is None:
        typer.echo(dispute_markdown(report))  # plain: Markdown tables must not be re-wrapped
    if not report["verification"]["chain_ok"] or (report["public_log"] or {}).get("status") == "DIFFERS_FROM_LOG":
        raise typer.Exit(1)


def _over_lots(service: App, check: Callable[[LotQueries, str], T], lot_id: str | None,
               all_lots: bool, workers: int, label: str) -> list[T]:
    """Run a check on one lot or on every lot in parallel, with a progress bar."""
    if all_lots == (lot_id is not None):
        console.print("[red]give a lot id or --all[/red]")
        raise typer.Exit(2)
    if lot_id is not None and not _exists(service, lot_id):
        # Nothing to check is not "0 broken": an unknown lot is an error.
        console.print(f"[red]no lot {lot_id!r} (no events and no snapshot)[/red]")
        raise typer.Exit(1)
    ids = list(service.queries.lot_ids()) if all_lots or lot_id is None else [lot_id]
    with progress_bar() as progress:
        task = progress.add_task(label, total=len(ids))
        return for_each_lot(service.queries, check, ids, workers, progress=lambda _: progress.advance(task))


def _exists(service: App, lot_id: str) -> bool:
    """Whether the lot has a snapshot or any event (readable or not: a damaged lot exists,
    and the check names what is wrong with it)."""
    if service.queries.stored_snapshot(lot_id) is not None:
        return True
    try:
        return next(iter(service.queries.lot_events(lot_id, upto_version=1)), None) is not None
    except LotUnreadable:
        return True


def register(app: typer.Typer) -> None:
    app.command("history")(history)
    app.command("as-of")(as_of_command)
    app.command("replay")(replay_command)
    app.command("verify")(verify_command)
    app.command("dispute")(dispute)

