"""`samsold sales create|show`: staggered sales through the REST API (`POST /sales`,
`GET /sales/{sale_id}`)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.domain.commands import MAX_SALE_REQUEST_LOTS, SaleId
from ledger.domain.values import format_time, utc_now
from samsold_cli.ops import MAX_CLOSES_IN_S, ApiUrl, As, AsJson, Token, _answer, call_api, checked_as, status_text
from samsold_cli.shared import HELP_MARKUP, USAGE_ERROR, DataDir, Stack, plural
from samsold_cli.shared import target as _target
from samsold_cli.target import as_json

console = Console()
sales_app = typer.Typer(help="Create and show staggered sales (through the REST API).", no_args_is_help=True,
                        rich_markup_mode=HELP_MARKUP)
SaleArgument = Annotated[str, typer.Argument(help="The sale", callback=checked_as(SaleId))]


def _read_body(file: str) -> dict[str, Any]:
    """The sale's JSON body from FILE ("-": standard input); exit 2 when it is not a JSON object."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        body = json.loads(text)
    except (OSError, ValueError) as error:
        console.print(f"[red]{file}: {error}[/red]")
        raise typer.Exit(USAGE_ERROR) from None
    if not isinstance(body, dict):
        console.print(f"[red]{file}: the sale must be one JSON object[/red]")
        raise typer.Exit(USAGE_ERROR)
    return body


@sales_app.command("create")
def sales_create(
    file: Annotated[str, typer.Argument(
        help=f"The sale as POST /sales takes it (JSON; '-' reads standard input): title, interval_s, "
             f"first_closes_at and up to {MAX_SALE_REQUEST_LOTS} lots' terms (as POST /lots, without closes_at) in closing order")],
    first_closes_in: Annotated[int | None, typer.Option(
        help="Seconds from now until the first lot closes (sets first_closes_at)", min=1, max=MAX_CLOSES_IN_S)] = None,
    interval: Annotated[int | None, typer.Option(help="Seconds between two lots' closes (sets interval_s)")] = None,
    sale_id: Annotated[str | None, typer.Option(help="The sale's id (sets sale_id)", callback=checked_as(SaleId))] = None,
    as_json_output: AsJson = False,
    user: As = "seller",
    token: Token = None,
    api_url: ApiUrl = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Create a sale whose lots close one after another; the signed-in user is their seller."""
    body = _read_body(file)
    if first_closes_in is not None:
        body["first_closes_at"] = format_time(utc_now() + timedelta(seconds=first_closes_in))
    body |= {k: v for k, v in {"interval_s": interval, "sale_id": sale_id}.items() if v is not None}
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    status, payload = call_api(target.api_url, "POST", "/sales", target.token_for(user, token, seller=True), body)
    try:
        sale = _answer(status, payload)
    except typer.Exit:
        if status == 409 and first_closes_in is not None:
            # The same command run again is not the same request: its first_closes_at moved.
            console.print("--first-closes-in sets a new first_closes_at at each run, so this is not a retry of an earlier "
                          "request; for a safe retry put first_closes_at in the file"
                          + (f"; `samsold sales show {body['sale_id']}` shows the sale made" if body.get("sale_id") else ""),
                          highlight=False)
        raise
    _print_sale(sale, as_json_output)


@sales_app.command("show")
def sales_show(sale_id: SaleArgument, as_json_output: AsJson = False, api_url: ApiUrl = None,
               data_dir: DataDir = None, stack: Stack = None) -> None:
    """A sale and its lots in closing order, with their state; exit 1 when there is no such sale."""
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    _print_sale(_answer(*call_api(target.api_url, "GET", f"/sales/{sale_id}")), as_json_output)


def _print_sale(sale: dict[str, Any], as_json_output: bool) -> None:
    if as_json_output:
        typer.echo(as_json(sale))
        return
    console.print(f"sale {escape(sale['sale_id'])}: {escape(sale['title'])}", highlight=False)
    console.print(f"{plural(sale.get('lot_count', len(sale['lots'])), 'lot')}, closing {sale['interval_s']} s apart from "
                  f"{sale['first_closes_at']}" + (f"; the first {len(sale['lots'])} shown" if sale.get("next") else ""),
                  highlight=False)
    # Two lines a row, as `samsold lots list`: ids and times are never cut at 80 columns.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("lot / title", overflow="fold", min_width=max([len(lot["lot_id"]) for lot in sale["lots"]] + [11]))
    table.add_column("status", no_wrap=True)
    table.add_column("price", justify="right", no_wrap=True)
    table.add_column("bids", justify="right", no_wrap=True)
    table.add_column("closes (UTC)", no_wrap=True)
    for number, lot in enumerate(sale["lots"], start=1):
        status = status_text(lot)
        moved = f"+{lot['extension_count']} ext" if lot["extension_count"] else ""
        price = f"{lot['current_price'] or lot['starting_price']} {lot['currency']}"
        table.add_row(str(number), f"{escape(lot['lot_id'])}\n[dim]{escape(lot['title'])}[/dim]", f"{status}\n{moved}",
                      f"{price}\n{'leader ' + lot['leader'] if lot['leader'] else 'no bids'}", str(lot["bid_count"]),
                      "\n".join(lot["closes_at"].removesuffix("Z").split("T")), end_section=True)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(sales_app, name="sales")
