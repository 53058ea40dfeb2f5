"""What the `samsold` commands share: the options that say which stack they work on,
choosing that target, the exit code of an error, and the progress bar."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ledger.domain.errors import InvalidCommand, LedgerError, LotUnreadable
from samsold_cli.target import Target, TargetError, resolve_target

console = Console()

# Help texts are docstrings wrapped at the source's width: Markdown joins their lines into
# whole paragraphs (Rich markup keeps each line break, and reads "[default: ...]" as a tag).
HELP_MARKUP: Final = "markdown"

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory of the local stack [default: $SAMSOLD_DATA_DIR or .samsold/]"),
]
Stack = Annotated[str | None, typer.Option("--stack", help="A deployed stack's name: its outputs name the table and queues")]

# Exit codes: 0 done, 1 the ledger refused or found a problem, 2 the command was given wrongly.
USAGE_ERROR = 2
EXIT_CODES: dict[type[LedgerError], int] = {
    InvalidCommand: USAGE_ERROR,
    LedgerError: 1,
}


def exit_code_of(error: LedgerError) -> int:
    """The exit code of a ledger error: its class's entry in EXIT_CODES (or its nearest base's)."""
    return next(code for kind, code in EXIT_CODES.items() if isinstance(error, kind))


@contextmanager
def exits_on_errors() -> Iterator[None]:
    """A refusal or a problem in the ledger, or a target that cannot be found: say what,
    and exit with its code (no traceback)."""
    try:
        yield
    except TargetError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(USAGE_ERROR) from None
    except LotUnreadable as error:
        console.print(f"[red]{error}[/red]; `samsold verify` and `samsold replay` check the lot")
        raise typer.Exit(exit_code_of(error)) from None
    except LedgerError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(exit_code_of(error)) from None


def target(data_dir: Path | None, stack: str | None, **given: str | None) -> Target:
    """The stack the command works on; names given as options (e.g. BidsTableName=...)
    take precedence over the stack's outputs."""
    with exits_on_errors():
        return resolve_target(data_dir, stack, given)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


def plural(count: int, word: str) -> str:
    """"1 lot", "2 lots"."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def print_whole(renderable: RenderableType) -> None:
    """Print at the width the renderable takes, however wide: nothing wrapped or cut to
    fit the terminal (or the 80 columns of a pipe)."""
    needed = Measurement.get(console, console.options.update_width(1_000_000), renderable).maximum
    wide = Console(width=max(needed, console.width), file=console.file, force_terminal=console.is_terminal,
                   color_system=console.color_system)  # type: ignore[arg-type]
    wide.print(renderable)
