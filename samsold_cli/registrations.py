"""`samsold registrations list|approve|decline|suspend` and `samsold bidders block|unblock`:
who may bid, through the REST API (`/sales/{sale_id}/registrations`, `/lots/{lot_id}/registrations`,
`/bidders/{user_id}/block|unblock`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.domain.commands import Identifier, PriceInput, Reason, SaleId, UserId
from ledger.domain.registration import (
    LOT_SCOPE,
    REGISTRATION_STATUSES,
    SALE_SCOPE,
    registration_id,
    scope_key,
    standing_id,
    state_to_record,
)
from samsold_cli import audit
from samsold_cli.audit import BidsTable
from samsold_cli.ops import ApiUrl, As, AsAdmin, AsJson, Token, _answer, call_api, checked_as
from samsold_cli.shared import HELP_MARKUP, USAGE_ERROR, DataDir, Stack
from samsold_cli.shared import target as _target
from samsold_cli.target import as_json

console = Console()
registrations_app = typer.Typer(help="Review who may bid in a sale that needs approval (its seller or an administrator).",
                                no_args_is_help=True, rich_markup_mode=HELP_MARKUP)
bidders_app = typer.Typer(help="Block and unblock bidders house-wide (administrators).", no_args_is_help=True,
                          rich_markup_mode=HELP_MARKUP)
Sale = Annotated[str | None, typer.Option("--sale", help="The sale", callback=checked_as(SaleId | None))]
Lot = Annotated[str | None, typer.Option("--lot", help="The lone lot (instead of --sale)", callback=checked_as(Identifier | None))]
Bidder = Annotated[str, typer.Argument(help="The bidder's user id (on the local stack also a development user's name, "
                                              "as samsold token takes it)", callback=checked_as(UserId))]
Why = Annotated[str, typer.Option("--reason", help="Why (the bidder is told)", callback=checked_as(Reason))]


def _user_id(bidder: str, local: bool) -> str:
    """The bidder's user id: on the local stack a development user's name stands for theirs
    (tokens' subjects there are UUIDs derived from names, so a name is never one)."""
    if not local:
        return bidder
    try:
        uuid.UUID(bidder)
    except ValueError:
        from local.cognito.user_pool import subject_for

        return subject_for(bidder)
    return bidder


def _scope(sale: str | None, lot: str | None) -> str:
    if (sale is None) == (lot is None):
        console.print("[red]give --sale SALE or --lot LOT[/red]")
        raise typer.Exit(USAGE_ERROR)
    return f"/sales/{sale}" if sale is not None else f"/lots/{lot}"


@registrations_app.command("list")
def registrations_list(
    sale: Sale = None, lot: Lot = None,
    status: Annotated[str | None, typer.Option(help=f"Only these: {', '.join(REGISTRATION_STATUSES)}")] = None,
    as_json_output: AsJson = False, user: As = "seller", token: Token = None, api_url: ApiUrl = None,
    data_dir: DataDir = None, stack: Stack = None,
) -> None:
    """The sale's (or lone lot's) registrations by status, then bidder, every page."""
    if status is not None and status not in REGISTRATION_STATUSES:
        console.print(f"[red]--status is one of {', '.join(REGISTRATION_STATUSES)}[/red]")
        raise typer.Exit(USAGE_ERROR)
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    bearer = target.token_for(None if token else user, token)
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = "&".join(f"{k}={v}" for k, v in {"status": status, "cursor": cursor, "limit": 100}.items() if v is not None)
        page = _answer(*call_api(target.api_url, "GET", f"{_scope(sale, lot)}/registrations?{query}", bearer))
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            break
    if as_json_output:
        typer.echo(as_json({"items": items}))
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("bidder", "status", "paddle", "limit", "reason"):
        table.add_column(column, overflow="fold")
    for item in items:
        limit = f"{item['limit']} {item['currency']}" if item["limit"] else "-"
        table.add_row(escape(item["user_id"]), item["status"], str(item["paddle"] or "-"), limit, escape(item["reason"] or ""))
    console.print(table if items else "no registrations")


def _review(action: str, sale: str | None, lot: str | None, bidder: str, body: dict[str, Any], user: str | None,
            token: str | None, api_url: str | None, data_dir: Any, stack: str | None, as_json_output: bool) -> None:
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    bidder = _user_id(bidder, target.data_dir is not None and token is None)
    answer = _answer(*call_api(target.api_url, "POST", f"{_scope(sale, lot)}/registrations/{bidder}/{action}",
                               target.token_for(None if token else user, token), body))
    if as_json_output:
        typer.echo(as_json(answer))
        return
    paddle = f", Paddle {answer['paddle']}" if answer["paddle"] else ""
    limit = f", limit {answer['limit']} {answer['currency']}" if answer["limit"] else ""
    console.print(f"{escape(answer['user_id'])}: {answer['status']}{paddle}{limit}", highlight=False)


@registrations_app.command("approve")
def registrations_approve(
    bidder: Bidder, sale: Sale = None, lot: Lot = None,
    limit: Annotated[str | None, typer.Option(help="The most their exposure in the sale may reach (e.g. 500.00)",
                                              callback=checked_as(PriceInput | None))] = None,
    as_json_output: AsJson = False, user: As = "seller", token: Token = None, api_url: ApiUrl = None,
    data_dir: DataDir = None, stack: Stack = None,
) -> None:
    """Approve a registration: the bidder gets a paddle, and with --limit a cap on their exposure."""
    body = {} if limit is None else {"limit": str(limit)}
    _review("approve", sale, lot, bidder, body, user, token, api_url, data_dir, stack, as_json_output)


@registrations_app.command("decline")
def registrations_decline(bidder: Bidder, reason: Why, sale: Sale = None, lot: Lot = None, as_json_output: AsJson = False,
                          user: As = "seller", token: Token = None, api_url: ApiUrl = None, data_dir: DataDir = None,
                          stack: Stack = None) -> None:
    """Decline a registration, saying why."""
    _review("decline", sale, lot, bidder, {"reason": reason}, user, token, api_url, data_dir, stack, as_json_output)


@registrations_app.command("suspend")
def registrations_suspend(bidder: Bidder, reason: Why, sale: Sale = None, lot: Lot = None, as_json_output: AsJson = False,
                          user: As = "seller", token: Token = None, api_url: ApiUrl = None, data_dir: DataDir = None,
                          stack: Stack = None) -> None:
    """Suspend an approved registration, saying why: their bids are refused (BIDDER_BLOCKED)."""
    _review("suspend", sale, lot, bidder, {"reason": reason}, user, token, api_url, data_dir, stack, as_json_output)


def _aggregate_id(bidder: str, sale: str | None, lot: str | None, standing: bool) -> str:
    """The registration's id (in --sale or --lot), or with --standing the bidder's standing's."""
    user = _user_id(bidder, True)
    if standing:
        if sale is not None or lot is not None:
            console.print("[red]give --standing, or --sale SALE or --lot LOT[/red]")
            raise typer.Exit(USAGE_ERROR)
        return standing_id(user)
    scope = _scope(sale, lot)
    kind = SALE_SCOPE if scope.startswith("/sales/") else LOT_SCOPE
    return registration_id(scope_key(kind, scope.rsplit("/", 1)[1]), user)


Standing = Annotated[bool, typer.Option("--standing", help="The bidder's standing with the house (blocks) instead")]


@registrations_app.command("verify")
def registrations_verify(bidder: Bidder, sale: Sale = None, lot: Lot = None, standing: Standing = False,
                         data_dir: DataDir = None, stack: Stack = None, bids_table: BidsTable = None) -> None:
    """Check a registration's hash chain and that its stored state is the fold of its events; exit 1 on a break."""
    from projections.audit import verify_registration

    aggregate_id = _aggregate_id(bidder, sale, lot, standing)
    report = verify_registration(audit.ledger_target(data_dir, stack, bids_table).app.registrations, aggregate_id)
    if report.ok:
        console.print(f"{escape(aggregate_id)}: {report.events} events checked; intact", highlight=False)
        return
    console.print(f"[red]{escape(aggregate_id)}: broken at version {report.first_bad_version}: {report.problem}[/red]")
    raise typer.Exit(1)


@registrations_app.command("as-of")
def registrations_as_of(bidder: Bidder, version: Annotated[int, typer.Option("--version", min=1, help="After this version")],
                        sale: Sale = None, lot: Lot = None, standing: Standing = False, data_dir: DataDir = None,
                        stack: Stack = None, bids_table: BidsTable = None) -> None:
    """A registration as it stood after a version (the fold of its events up to it), as JSON."""
    aggregate_id = _aggregate_id(bidder, sale, lot, standing)
    state = audit.ledger_target(data_dir, stack, bids_table).app.registrations.as_of(aggregate_id, version)
    if state is None:
        console.print(f"[red]no registration {escape(aggregate_id)}[/red]")
        raise typer.Exit(1)
    typer.echo(as_json(state_to_record(state)))


def _standing(action: str, bidder: str, body: dict[str, Any] | None, user: str, token: str | None, api_url: str | None,
              data_dir: Any, stack: str | None, as_json_output: bool) -> None:
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    bidder = _user_id(bidder, target.data_dir is not None and token is None)
    answer = _answer(*call_api(target.api_url, "POST", f"/bidders/{bidder}/{action}",
                               target.token_for(None if token else user, token, admin=True), body))
    if as_json_output:
        typer.echo(as_json(answer))
        return
    state = f"blocked: {answer['reason']}" if answer["blocked"] else "not blocked"
    retracted = f"; {answer['bids_retracted']} bids on open lots retracted" if answer.get("bids_retracted") else ""
    console.print(f"{escape(answer['user_id'])}: {escape(state)}{retracted}", highlight=False)


@bidders_app.command("block")
def bidders_block(bidder: Bidder, reason: Why, as_json_output: AsJson = False, user: AsAdmin = "admin", token: Token = None,
                  api_url: ApiUrl = None, data_dir: DataDir = None, stack: Stack = None) -> None:
    """Block a bidder everywhere, saying why: their bids are refused, their bids on open lots retracted."""
    _standing("block", bidder, {"reason": reason}, user, token, api_url, data_dir, stack, as_json_output)


@bidders_app.command("unblock")
def bidders_unblock(bidder: Bidder, as_json_output: AsJson = False, user: AsAdmin = "admin", token: Token = None,
                    api_url: ApiUrl = None, data_dir: DataDir = None, stack: Stack = None) -> None:
    """Unblock a bidder."""
    _standing("unblock", bidder, None, user, token, api_url, data_dir, stack, as_json_output)


def register(app: typer.Typer) -> None:
    app.add_typer(registrations_app, name="registrations")
    app.add_typer(bidders_app, name="bidders")
