"""The public log's commands: `log checkpoint`, `log monitor`, `log key`, `log verify`, `prove`,
`verify-proof`. docs/PROOFS.md says what a proof holds and how it is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer

from ledger.service.public_log import LogMonitor, disclose_all
from samsold_cli.shared import USAGE_ERROR, DataDir, Stack, console, exits_on_errors, target
from samsold_cli.target import Target, as_json
from tlog import checkpoint as notes
from tlog.proof import LotProofError, check_lot_proof

log_app = typer.Typer(help="The public log: checkpoints, the monitor, the log's key.", no_args_is_help=True)

Lots = Annotated[list[str] | None, typer.Option("--lot", help="Sequence this lot's pending events first (repeatable)")]


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as error:
        console.print(f"[red]cannot read the {what} {path}: {error.strerror}[/red]")
        raise typer.Exit(USAGE_ERROR) from None


@log_app.command("checkpoint")
def checkpoint_command(lots: Lots = None, force: Annotated[bool, typer.Option(help="Sign even if the tree did not grow")] = False,
                       data_dir: DataDir = None, stack: Stack = None) -> None:
    """Sequence what is pending (the lots given) and publish a signed checkpoint now; print it."""
    where = target(data_dir, stack)
    with exits_on_errors():
        if where.data_dir is None:
            note = _invoke_sequencer(where, {"lot_ids": lots or [], "publish": True, "force": force})
        else:
            log = where.app.public_log
            log.sequence(lots or [])
            note = log.publish(force=force)
    if note is None:
        console.print("[yellow]the log is empty: nothing to sign[/yellow]")
        raise typer.Exit(1)
    typer.echo(note, nl=False)


def _invoke_sequencer(where: Target, payload: dict[str, Any]) -> str | None:
    response = boto3.client("lambda").invoke(FunctionName=where.output("LogSequencerFunctionName"),
                                              Payload=json.dumps(payload).encode())
    answer = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise RuntimeError(f"LogSequencerFunction failed: {answer}")
    return answer.get("checkpoint")


@log_app.command("key")
def key_command(data_dir: DataDir = None, stack: Stack = None) -> None:
    """Print the public key (PEM) that signs the log's checkpoints."""
    with exits_on_errors():
        typer.echo(target(data_dir, stack).app.public_log.key()["public_key_pem"], nl=False)


@log_app.command("monitor")
def monitor_command(
    state: Annotated[Path, typer.Option(help="The last accepted checkpoint and the log's key, kept between runs")] = Path(
        "log-monitor.json"),
    key: Annotated[Path | None, typer.Option(help="The log's public key (PEM); default: the one kept in --state, "
                                                  "else the log's own on first use")] = None,
    data_dir: DataDir = None, stack: Stack = None,
) -> None:
    """Check the newest checkpoint against the last accepted one and the events in storage; exit 1 naming any mismatch."""
    kept = json.loads(_read_text(state, "state file")) if state.exists() else {}
    log = target(data_dir, stack).app.public_log
    with exits_on_errors():
        pem = _read_text(key, "key") if key else kept.get("public_key_pem") or log.key()["public_key_pem"]
        result = LogMonitor(log, notes.load_public_key(pem.encode())).check(kept.get("checkpoint"))
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]{problem}[/red]", highlight=False)
        raise typer.Exit(1)
    state.write_text(json.dumps({"checkpoint": result.checkpoint, "public_key_pem": pem}, indent=2) + "\n")
    console.print(f"checkpoint of size {result.size} accepted", highlight=False)


@log_app.command("verify")
def verify_against_log(lot_ids: Annotated[list[str], typer.Argument(help="The lots")], data_dir: DataDir = None,
                       stack: Stack = None) -> None:
    """Compare each lot's stored events with the log; exit 1 naming the first version that differs."""
    log = target(data_dir, stack).app.public_log
    bad = 0
    with exits_on_errors():
        for lot_id in lot_ids:
            difference = log.lot_against_log(lot_id)
            if difference is None:
                console.print(f"lot {lot_id}: as in the log", highlight=False)
            else:
                bad += 1
                console.print(f"[red]lot {lot_id} version {difference[0]}: {difference[1]}[/red]", highlight=False)
    if bad:
        raise typer.Exit(1)


def prove(
    lot_id: Annotated[str, typer.Argument(help="The lot")],
    size: Annotated[int | None, typer.Option(help="Under the checkpoint of this size (default: the newest)")] = None,
    from_size: Annotated[int | None, typer.Option("--from", help="With a consistency proof from this older size")] = None,
    private: Annotated[bool, typer.Option("--private", help="With every disclosure still stored (private data: "
                                                            "for an administrator's eyes)")] = False,
    data_dir: DataDir = None, stack: Stack = None,
) -> None:
    """Print the lot's proof (JSON): its events in the public log under a signed checkpoint."""
    with exits_on_errors():
        log = target(data_dir, stack).app.public_log
        typer.echo(as_json(log.lot_proof(lot_id, size=size, from_size=from_size, disclose=disclose_all if private else None)))


def verify_proof(
    proof_file: Annotated[Path, typer.Argument(help="A lot proof (samsold prove, GET /lots/{lot_id}/proof)")],
    key: Annotated[Path, typer.Option(help="The log's public key (PEM)")],
    trusted_checkpoint: Annotated[Path | None, typer.Option(help="A checkpoint trusted earlier: the proof must extend it")] = None,
) -> None:
    """Check a lot proof offline; exit 1 naming what does not hold."""
    try:
        document = json.loads(_read_text(proof_file, "proof"))
        trusted = _read_text(trusted_checkpoint, "checkpoint") if trusted_checkpoint else None
        checked = check_lot_proof(document, notes.load_public_key(_read_text(key, "key").encode()), trusted)
    except (json.JSONDecodeError, notes.CheckpointError, LotProofError, AttributeError) as error:
        console.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"lot {checked.lot_id}: versions 1-{checked.versions} are in the log {checked.checkpoint.origin} "
                  f"at size {checked.checkpoint.size}", highlight=False)
    for (version, field), value in checked.disclosed.items():
        console.print(f"  version {version} {field}: {json.dumps(value, ensure_ascii=False)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(log_app, name="log")
    app.command()(prove)
    app.command("verify-proof")(verify_proof)
