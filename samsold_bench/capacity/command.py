"""`samsold-bench capacity`: run the scenarios on a fresh in-memory DynamoDB Local, print
the figures, write the JSON."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from samsold_cli.shared import console

# Progress and notes go to stderr, so `--markdown` (and the JSON) can be piped.
notes = Console(stderr=True)

REPO = Path(__file__).resolve().parents[2]


def capacity(
    many_bidders: Annotated[int, typer.Option(help="Distinct bidders already on the big lot")] = 5000,
    batches: Annotated[int, typer.Option(help="Measured batches per scenario (after each one's cold batch)")] = 10,
    returning: Annotated[int, typer.Option(help="Bidders who bid on a lot before its measured bids")] = 10,
    baseline: Annotated[float, typer.Option(help="Service-wide bids per second taken as 1x")] = 100.0,
    watchers: Annotated[int, typer.Option(help="WebSocket connections watching each lot (for the cost)")] = 10,
    template: Annotated[Path, typer.Option(help="The SAM template (memory sizes, batch size, queue settings)")] = REPO / "template.yaml",
    output: Annotated[Path, typer.Option(help="Where to write the JSON")] = Path("bench-results/capacity.json"),
    markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/CAPACITY.md's tables instead of the JSON")] = False,
    update_doc: Annotated[Path | None, typer.Option(help="Replace the generated tables in this document (docs/CAPACITY.md)")] = None,
) -> None:
    """Capacity units per bid, ceilings and cost, from the items the handlers write (docs/CAPACITY.md)."""
    from bootstrap import logger, use_placeholder_credentials
    from local.dynamodb.launcher import DynamoDBLocal
    from samsold_bench.capacity.model import Assumptions, model, template_facts
    from samsold_bench.capacity.report import document, git_commit, replace_generated
    from samsold_bench.capacity.report import markdown as render_markdown
    from samsold_bench.capacity.scenarios import Bench, Sizes, run_all

    if update_doc is not None and not update_doc.is_file():
        notes.print(f"[red]{update_doc} does not exist[/red]")
        raise typer.Exit(2)
    if many_bidders < 2 or batches < 1 or returning < 2:
        notes.print("[red]--many-bidders and --returning need at least 2, --batches at least 1[/red]")
        raise typer.Exit(2)
    sizes = Sizes(batches=batches, many_bidders=many_bidders, returning=returning)
    facts = template_facts(template)
    started = time.perf_counter()
    use_placeholder_credentials()
    logger.setLevel(logging.WARNING)  # the handlers' per-request INFO lines are not the output here
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=notes)
    # The handlers print their metrics (EMF) to stdout; keep stdout for the figures.
    with DynamoDBLocal() as ddb, progress, contextlib.redirect_stdout(io.StringIO()):
        env = {"BIDS_TABLE": "capacity", "CREATE_TABLE": "y", "AWS_ENDPOINT_URL_DYNAMODB": ddb.endpoint_url,
               "PERSISTENCE_MODULE": "ledger.dynamodb"}
        bench = Bench(env, memory_mb=facts["functions"]["ProcessBidFunction"]["memory_mb"])
        task = progress.add_task("scenarios", total=None)
        try:
            scenarios = run_all(bench, sizes, progress=lambda name: progress.update(task, description=name))
        finally:
            bench.close()
        progress.update(task, description="done", total=1, completed=1)
    figures = model(scenarios, facts, Assumptions(baseline_bids_per_s=baseline, watchers_per_lot=watchers))
    doc = document(figures, commit=git_commit(REPO), date=datetime.now(UTC).strftime("%Y-%m-%d"),
                   sizes={"batches": batches, "many_bidders": many_bidders, "returning": returning},
                   seconds=time.perf_counter() - started)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(doc, indent=2) + "\n")
    if update_doc is not None:
        update_doc.write_text(replace_generated(update_doc.read_text(), render_markdown(doc)))
        notes.print(f"tables in {update_doc} replaced")
    if markdown:
        typer.echo(render_markdown(doc))
    else:
        console.print_json(json.dumps({k: doc[k] for k in ("commit", "date", "targets", "per_lot_ceilings")}
                                      | {"service": {k: doc["service"].get(k) for k in ("first_limit", "ceiling_bids_per_s", "at")}}
                                      | {"cost_per_million_bids": {k: {"today": v["today"]["total_usd"],
                                                                        "original_design": v["original_design"]["total_usd"]}
                                                                    for k, v in doc["cost_per_million_bids"].items()}}))
    notes.print(f"written to {output}")
