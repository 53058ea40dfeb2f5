"""The `samsold-bench` command line: one command per benchmark, and the capacity model.

Each runs on this machine (a fresh DynamoDB Local or local stack unless told otherwise),
prints its figures and writes them as JSON in bench-results/.
"""

from __future__ import annotations

import typer

from samsold_cli.shared import HELP_MARKUP

app = typer.Typer(help="SamSold's benchmarks and capacity model: each prints its figures and writes them as JSON "
                       "in bench-results/.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=HELP_MARKUP)


def _register_commands() -> None:
    from samsold_bench.capacity.command import capacity
    from samsold_bench.close import close
    from samsold_bench.fanout import fanout
    from samsold_bench.flood import flood
    from samsold_bench.load import load
    from samsold_bench.processor import processor
    from samsold_bench.replay import replay_benchmark
    from samsold_bench.sale import sale

    app.command("replay")(replay_benchmark)
    app.command("load")(load)
    app.command("processor")(processor)
    app.command("fanout")(fanout)
    app.command("close")(close)
    app.command("flood")(flood)
    app.command("sale")(sale)
    app.command("capacity")(capacity)


_register_commands()

if __name__ == "__main__":
    app()
