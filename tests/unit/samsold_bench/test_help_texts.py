"""`samsold-bench --help` lists every benchmark and the capacity model, each help text whole
(the same check as the operator's `samsold`)."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from samsold_bench.main import app
from tests.unit.samsold_cli.test_help_texts import assert_help_is_whole, commands


def test_samsold_bench_offers_the_benchmarks_and_the_capacity_model() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    assert {" ".join(words) for words, _ in commands(group)} == {"replay", "load", "processor", "fanout", "close", "flood", "sale", "capacity"}


def test_every_samsold_bench_help_text_is_whole() -> None:
    assert_help_is_whole(app)
