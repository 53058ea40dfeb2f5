"""`samsold --help` offers an operator's commands only (the benchmarks and the capacity model
are `samsold-bench`'s), and every help text is shown whole: each command's summary is a
sentence, and each paragraph of it, each option's and argument's help, is printed on one
line when the terminal is wide enough (no line broken where the source wrapped it, nothing
read as markup and dropped)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from samsold_cli.main import app

# Wider than any help text: a paragraph over two lines was broken, not wrapped.
WIDE = CliRunner(env={"COLUMNS": "1000"})


def commands(group: TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and sub-command of `group`, with the words that invoke it."""
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, TyperGroup):
            yield from commands(command, (*path, name))


def paragraphs(text: str | None) -> list[str]:
    return [" ".join(paragraph.split()) for paragraph in inspect.cleandoc(text or "").split("\n\n") if paragraph.strip()]


def help_lines(cli: typer.Typer, words: tuple[str, ...]) -> list[str]:
    result = WIDE.invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, result.output
    return [" ".join(line.strip(" │").split()) for line in result.output.splitlines()]


def assert_help_is_whole(cli: typer.Typer) -> None:
    group = typer.main.get_command(cli)
    assert isinstance(group, TyperGroup)
    listed = help_lines(cli, ())
    for words, command in commands(group):
        summary, *_ = paragraphs(command.help) or [""]
        assert summary.endswith("."), f"{' '.join(words)}: the summary is not a sentence: {summary!r}"
        parent = help_lines(cli, words[:-1]) if len(words) > 1 else listed
        assert any(summary in line for line in parent), f"{' '.join(words)}: the listing breaks {summary!r}"
        own = help_lines(cli, words)
        for paragraph in paragraphs(command.help):
            assert any(paragraph in line for line in own), f"{' '.join(words)} --help breaks {paragraph!r}"
        for parameter in command.params:
            text = " ".join((getattr(parameter, "help", None) or "").split())
            assert any(text in line for line in own), f"{' '.join(words)} --help breaks {parameter.name}'s {text!r}"


def test_samsold_offers_no_benchmark_and_no_capacity_command() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    names = {" ".join(words) for words, _ in commands(group)}
    assert not {name for name in names if "bench" in name or "capacity" in name}
    listed = " ".join(help_lines(app, ()))
    assert "bench" not in listed and "capacity" not in listed


def test_every_samsold_help_text_is_whole() -> None:
    assert_help_is_whole(app)
