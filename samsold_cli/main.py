"""The `samsold` command line: one function per command, each a thin entry point.

Commands import what they use when they run, so `samsold --help` stays quick.
"""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from samsold_cli.shared import HELP_MARKUP, DataDir

app = typer.Typer(help="SamSold: an event-sourced auction ledger, on AWS or on one machine.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=HELP_MARKUP)
console = Console()
FUNCTION_LOG = "functions.log"  # in the data directory: the functions' output without --verbose


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"samsold {version('samsold')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool | None, typer.Option(
        "--version", help="Print the version and exit.", callback=_print_version, is_eager=True)] = None,
) -> None:
    """SamSold: an event-sourced auction ledger, on AWS or on one machine."""


@app.command()
def dev(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address the local services listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the REST API (the WebSocket API takes the next).")] = 3000,
    template: Annotated[Path, typer.Option(help="The SAM template to run.")] = Path("template.yaml"),
    parameter_overrides: Annotated[
        list[str] | None, typer.Option("--parameter-overrides", help="Template parameter as Key=Value (repeatable).")
    ] = None,
    schedule_every: Annotated[
        float | None, typer.Option(help="Fire scheduled functions every SECONDS instead of their rate.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every step (tables, queues, what is not emulated, each "
                           "function call) and show the functions' own output (logs, metrics) here.")
    ] = False,
    iam: Annotated[
        bool, typer.Option("--iam/--no-iam", help="Check every AWS call of a function against its policies in the template.")
    ] = True,
    allowed_host: Annotated[
        list[str] | None, typer.Option("--allowed-host", help="Another Host name to answer (a tunnel's; repeatable).")
    ] = None,
) -> None:
    """Run the whole stack locally from the SAM template, until Ctrl-C."""
    from local.dynamodb.launcher import DynamoDBLocalError
    from local.runtime import DataDirInUse, LocalStack, default_data_dir
    from local.sam.intrinsics import TemplateError
    from samsold_cli.dev_site import WEB_DIR, DevSite

    # Warnings and errors always show; the start's step-by-step log only when asked.
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopping = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signal_number, lambda *_: stopping.set())
    directory = data_dir or default_data_dir()
    # The functions' output (their CloudWatch logs: metrics, Powertools' warnings) is no
    # news in a terminal; it goes to a file unless asked for.
    function_log = None if verbose else directory / FUNCTION_LOG
    site = DevSite()
    try:
        stack = LocalStack(template, directory, host=host, port=port,
                           parameter_overrides=_parse_overrides(parameter_overrides or []),
                           schedule_every=schedule_every, static_dir=WEB_DIR, site=site, iam=iam,
                           allowed_hosts=tuple(allowed_host or ()), function_log=function_log)
        stack.start()
    except (TemplateError, DataDirInUse, DynamoDBLocalError, OSError) as error:
        console.print(f"[red]samsold dev: {error}[/red]")
        raise typer.Exit(1) from None
    try:
        closing = closing_summary(stack.template.parameters.get("CloseGraceSeconds"), schedule_every)
        for line in start_summary(stack.endpoints, stack.data_dir, len(stack.template.not_emulated), verbose, closing,
                                  iam=iam, run_secret=site.run_secret):
            console.print(line, highlight=False, soft_wrap=True)
        stopping.wait()
    finally:
        console.print("stopping...")
        stack.stop()


@app.command()
def token(
    user: Annotated[str, typer.Argument(help="User name; the same name is the same bidder.")],
    admin: Annotated[bool, typer.Option("--admin", help="Put the user in the admin group.")] = False,
    seller: Annotated[bool, typer.Option(
        "--seller", help="Put the user in the sellers group: they may create lots and sales, with ids starting NAME-"
        " (NAME is their public seller handle when it is 2 to 24 lower-case letters and digits, a letter first;"
        " otherwise the API derives one)."
    )] = False,
    data_dir: DataDir = None,
) -> None:
    """Print a bearer token for the local stack's REST API."""
    from local.runtime import default_data_dir
    from samsold_cli.target import dev_token

    typer.echo(dev_token(data_dir or default_data_dir(), user, admin=admin, seller=seller))


def closing_summary(grace_s: Any, sweep_every_s: float | None) -> str | None:
    """When lots close on this stack: the grace after closes_at, and the sweep's period."""
    if grace_s is None:
        return None
    return f"{grace_s} s after closes_at (close timers; safety sweep every {sweep_every_s or 60:g} s)"


def start_summary(endpoints: dict[str, str], data_dir: Path, not_emulated: int, verbose: bool,
                  closing: str | None = None, iam: bool = True, run_secret: str | None = None) -> list[str]:
    """What `samsold dev` prints once it is up: where to go, where the data is, when lots
    close, the run secret POST /dev/token asks for admin tokens (samsold_cli/dev_site.py), how to stop."""
    shown = endpoints if verbose else {k: v for k, v in endpoints.items() if k in ("rest", "websocket")}
    labels = {"rest": "page and REST API", "websocket": "WebSocket"}
    # "ready" first: scripts and tests wait for that word (tests/e2e/test_faults.py).
    lines = ["[green]SamSold is ready[/green], running locally:"]
    lines += [f"  {labels.get(name, name):<21} {url}" for name, url in shown.items()]
    lines.append(f"  {'data':<21} {data_dir}")
    if closing:
        lines.append(f"  {'lots close':<21} {closing}")
    if run_secret:
        lines.append(f"  {'dev run secret':<21} {run_secret} (/dev/token's run_secret, for admins)")
    if not iam:
        lines.append(f"  {'IAM':<21} [yellow]not enforced (--no-iam): every function may call anything[/yellow]")
    if not verbose:
        lines.append(f"  {'not emulated':<21} {not_emulated} template settings (--verbose lists them)")
        lines.append(f"  {'function logs':<21} {FUNCTION_LOG} in the data directory (--verbose shows them here)")
    venv_bin = Path(sys.executable).parent
    if shutil.which("samsold") is None and (venv_bin / "samsold").exists():
        # `make run` starts it from .venv/bin, which a new shell does not search.
        lines.append(f"  {'commands':<21} export PATH=\"{venv_bin}:$PATH\"; samsold --help")
    lines.append("Ctrl-C stops it; a restart on the same data directory resumes.")
    return lines


def _parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        for item in pair.split():  # both `--parameter-overrides "A=1 B=2"` and repeated options
            key, separator, value = item.partition("=")
            if not separator or not key:
                raise typer.BadParameter(f"{item!r} is not Key=Value", param_hint="--parameter-overrides")
            overrides[key] = value
    return overrides


def _register_operator_commands() -> None:
    from samsold_cli import audit, iam, ops, public_log, registrations, sales

    ops.register(app)
    sales.register(app)
    registrations.register(app)
    audit.register(app)
    iam.register(app)
    public_log.register(app)


_register_operator_commands()

if __name__ == "__main__":
    app()
