"""Quick manual work through the REST API (lots, bids, an admin's retraction), and the dead-letter queue."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.domain.commands import AmountText, CurrencyCode, Identifier, Reason, Title
from ledger.domain.events import BuyNowUntil
from ledger.domain.values import format_time, utc_now
from projections.dispute import RULES
from samsold_cli.shared import HELP_MARKUP, USAGE_ERROR, DataDir, Stack, exits_on_errors
from samsold_cli.shared import target as _target
from samsold_cli.target import as_json

console = Console()
lots_app = typer.Typer(help="Create, list and show lots (through the REST API).", no_args_is_help=True,
                       rich_markup_mode=HELP_MARKUP)
dlq_app = typer.Typer(help="Show and move back messages of the dead-letter queue.", no_args_is_help=True,
                      rich_markup_mode=HELP_MARKUP)

As = Annotated[str | None, typer.Option("--as", help="Act as this development user (local stack)")]
Token = Annotated[str | None, typer.Option("--token", help="Bearer token (a deployed stack's Cognito ID token)")]
ApiUrl = Annotated[str | None, typer.Option("--api-url", help="REST API base URL (overrides the stack's)")]


def checked_as(kind: Any) -> Callable[[Any], Any]:
    """A typer callback: the argument must pass the API's own validator for `kind`
    (the same model types), so a bad amount or id is refused before anything is sent."""
    adapter = TypeAdapter(kind)

    def check(value: Any) -> Any:
        if value is None:
            return value
        try:
            adapter.validate_python(value)
        except ValidationError as error:
            raise typer.BadParameter(error.errors()[0]["msg"]) from None
        return value

    return check


LotId = Annotated[str, typer.Argument(help="The lot", callback=checked_as(Identifier))]
MAX_CLOSES_IN_S = 10 * 366 * 24 * 3600


def call_api(base: str, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text.decode(errors="replace")


NO_TOKEN_HINT = ("give --as NAME (the local stack's development user NAME; the same name is the same bidder) "
                 "or --token TOKEN (`samsold token NAME` prints one; a deployed stack takes a Cognito ID token)")


def _answer(status: int, payload: Any) -> Any:
    """The payload of a success; otherwise the API's error in one line, and exit 1."""
    if status < 400:
        return payload
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        console.print(f"[red]{status} {error.get('code')}[/red]: {error.get('message')}")
        if error.get("details"):
            console.print(f"  details: {json.dumps(error['details'], default=str)}")
    else:
        console.print(f"[red]{status}[/red] {as_json(payload)}")
    if status == 401:
        console.print(f"The API wants a valid token: {NO_TOKEN_HINT}.")
    raise typer.Exit(1)


@lots_app.command("create")
def lots_create(
    title: Annotated[str, typer.Option(help="What is sold", callback=checked_as(Title))],
    starting_price: Annotated[str, typer.Option(help="e.g. 10.00", callback=checked_as(AmountText))],
    closes_in: Annotated[int, typer.Option(help="Seconds from now until the lot closes", min=1, max=MAX_CLOSES_IN_S)] = 600,
    currency: Annotated[str, typer.Option(callback=checked_as(CurrencyCode))] = "EUR",
    reserve_price: Annotated[str | None, typer.Option(callback=checked_as(AmountText))] = None,
    increment: Annotated[str | None, typer.Option(help="A fixed step instead of the band table", callback=checked_as(AmountText))] = None,
    lot_id: Annotated[str | None, typer.Option(callback=checked_as(Identifier))] = None,
    buy_now_price: Annotated[
        str | None, typer.Option(help="A price at which a bidder may buy the lot at once", callback=checked_as(AmountText))
    ] = None,
    buy_now_until: Annotated[str | None, typer.Option(
        help="first_bid (default): offered until the first accepted bid; reserve_met: until the reserve is met",
        callback=checked_as(BuyNowUntil),
    )] = None,
    user: As = "seller",
    token: Token = None,
    api_url: ApiUrl = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Create a lot; the signed-in user is its seller."""
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    terms = {"title": title, "currency": currency, "starting_price": starting_price,
             "closes_at": format_time(utc_now() + timedelta(seconds=closes_in))}
    terms |= {k: v for k, v in {"reserve_price": reserve_price, "increment": increment, "lot_id": lot_id}.items() if v}
    terms |= {k: v for k, v in {"buy_now_price": buy_now_price, "buy_now_until": buy_now_until}.items() if v}
    lot = _answer(*call_api(target.api_url, "POST", "/lots", target.token_for(user, token), terms))
    typer.echo(as_json(lot))


@lots_app.command("list")
def lots_list(api_url: ApiUrl = None, data_dir: DataDir = None, stack: Stack = None) -> None:
    """Open lots, soonest to close first."""
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    listing = _answer(*call_api(target.api_url, "GET", "/lots?status=open"))
    if not listing["lots"]:
        console.print("no open lots")
        return
    # Two lines a row (the title under the id, the time under the date), so that ids and
    # times are never cut at 80 columns.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("lot / title", overflow="fold", min_width=max(len(lot["lot_id"]) for lot in listing["lots"]))
    table.add_column("price", justify="right", no_wrap=True)
    table.add_column("leader", no_wrap=True)
    table.add_column("bids", justify="right", no_wrap=True)
    table.add_column("closes (UTC)", no_wrap=True)
    for lot in listing["lots"]:
        price = f"{lot['current_price'] or '-'} {lot['currency']}"
        closes = lot["closes_at"].removesuffix("Z").split("T")
        table.add_row(f"{lot['lot_id']}\n[dim]{escape(lot['title'])}[/dim]", f"{price}\nmin {lot['minimum_bid'] or '-'}",
                      lot["leader"] or "-", str(lot["bid_count"]), "\n".join(closes), end_section=True)
    console.print(table)
    if listing.get("next"):
        console.print("(more open lots follow: this is the API's first page)")


@lots_app.command("show")
def lots_show(lot_id: LotId, api_url: ApiUrl = None, data_dir: DataDir = None, stack: Stack = None) -> None:
    """A lot's public view."""
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    typer.echo(as_json(_answer(*call_api(target.api_url, "GET", f"/lots/{lot_id}"))))


def bid(
    lot_id: LotId,
    amount: Annotated[str, typer.Argument(help="Your maximum, e.g. 12.50", callback=checked_as(AmountText))],
    user: As = None,
    token: Token = None,
    bid_id: Annotated[str | None, typer.Option(help="Idempotency key", callback=checked_as(Identifier))] = None,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Place it even if far above the minimum bid (the API asks otherwise)")
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Print the queued bid (JSON) and do not wait for its outcome")] = False,
    wait_s: Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for the outcome")] = 30,
    api_url: ApiUrl = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Place a bid and wait for its outcome: ACCEPTED (leading or outbid) or REJECTED with
    the reason. Exit 1 when rejected or still pending after --wait."""
    if not user and not token:
        # The API would answer a bare 401; say how to sign in instead.
        console.print(f"[red]a bid needs a bidder[/red]: {NO_TOKEN_HINT}.")
        raise typer.Exit(USAGE_ERROR)
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    with exits_on_errors():
        bearer = target.token_for(user, token)  # minted once: the same token asks for the outcome
    body = {"lot_id": lot_id, "amount": amount} | ({"bid_id": bid_id} if bid_id else {}) | ({"confirm": True} if confirm else {})
    status, payload = call_api(target.api_url, "POST", "/bid", bearer, body)
    if status == 422 and isinstance(payload, dict) and payload.get("error", {}).get("code") == "CONFIRMATION_REQUIRED":
        # The API's question to the bidder: say how to answer it.
        console.print(f"[yellow]{payload['error']['message']}[/yellow]\nAdd --confirm to place it.")
        raise typer.Exit(1)
    placed = _answer(status, payload)
    if no_wait:
        typer.echo(as_json(placed))
        return
    outcome = placed
    deadline = time.monotonic() + wait_s
    while outcome.get("status") == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.2)
        outcome = _answer(*call_api(target.api_url, "GET", f"/bids/{placed['bid_id']}", bearer))
    words, code = outcome_words(outcome)
    console.print(f"bid {placed['bid_id']} on lot {lot_id}: {words}", highlight=False)
    raise typer.Exit(code)


def buy(
    lot_id: LotId,
    user: As = None,
    token: Token = None,
    bid_id: Annotated[str | None, typer.Option(help="Idempotency key", callback=checked_as(Identifier))] = None,
    wait_s: Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for the outcome")] = 30,
    api_url: ApiUrl = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Buy a lot at its buy-now price (POST /lots/{lot_id}/buy) and wait for the outcome:
    ACCEPTED (the lot is sold to you) or REJECTED with the reason (a bid or another purchase
    came first). Exit 1 when refused, rejected or still pending after --wait."""
    if not user and not token:
        console.print(f"[red]a purchase needs a buyer[/red]: {NO_TOKEN_HINT}.")
        raise typer.Exit(USAGE_ERROR)
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    with exits_on_errors():
        bearer = target.token_for(user, token)
    status, payload = call_api(target.api_url, "POST", f"/lots/{lot_id}/buy", bearer, {"bid_id": bid_id} if bid_id else None)
    if status == 409 and isinstance(payload, dict) and "reason" in payload.get("error", {}).get("details", {}):
        console.print(f"[red]{payload['error']['code']}[/red]: {payload['error']['message']}", highlight=False)
        raise typer.Exit(1)
    placed = _answer(status, payload)
    outcome = placed
    deadline = time.monotonic() + wait_s
    while outcome.get("status") == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.2)
        outcome = _answer(*call_api(target.api_url, "GET", f"/bids/{placed['bid_id']}", bearer))
    if outcome.get("status") == "ACCEPTED":
        words, code = f"ACCEPTED: the lot is sold to you for {outcome.get('amount')}", 0
    else:
        words, code = outcome_words(outcome)
    console.print(f"purchase {placed['bid_id']} of lot {lot_id}: {words}", highlight=False)
    raise typer.Exit(code)


def outcome_words(outcome: dict[str, Any]) -> tuple[str, int]:
    """A bid's status (GET /bids/{id}) in words, and the exit code it gives."""
    maximum, price = outcome.get("amount"), outcome.get("current_price")
    if outcome.get("status") == "ACCEPTED" and outcome.get("leading") is False:
        return (f"ACCEPTED but outbid: the leader's maximum answered yours ({maximum}); the price is now {price}", 0)
    if outcome.get("status") == "ACCEPTED":
        return f"ACCEPTED, leading at {price} (your maximum {maximum})", 0
    if outcome.get("status") == "REJECTED":
        reason = outcome.get("reason")
        numbers = ", ".join(f"{label} {outcome[key]}" for key, label in (("minimum", "minimum bid"), ("current_price", "price"))
                            if outcome.get(key))
        rule = RULES.get(reason, "").removeprefix("rejected: ")
        return f"REJECTED {reason}" + (f" ({numbers})" if numbers else "") + f": {rule}", 1
    if outcome.get("status") == "RETRACTED":
        return f"RETRACTED by an administrator: {outcome.get('reason')}", 1
    return (f"still {outcome.get('status')}; it stays queued and is decided in order "
            f"(GET {outcome.get('status_url') or '/bids/' + str(outcome.get('bid_id'))} with the same token)", 1)


def retract(
    lot_id: LotId,
    bid_id: Annotated[str, typer.Argument(help="The accepted bid to withdraw", callback=checked_as(Identifier))],
    reason: Annotated[str, typer.Option("--reason", help="Why (stored in the event; the bidder is told)",
                                        callback=checked_as(Reason))],
    user: Annotated[str, typer.Option("--as", help="Act as this development administrator (local stack)")] = "admin",
    token: Token = None,
    api_url: ApiUrl = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Retract an accepted bid of an open lot (administrators): the lot falls back to the
    standing its remaining bids give. Prints the lot's view after it."""
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    with exits_on_errors():
        bearer = target.token_for(None if token else user, token, admin=True)
    lot = _answer(*call_api(target.api_url, "POST", f"/lots/{lot_id}/bids/{bid_id}/retract", bearer, {"reason": reason}))
    console.print(f"bid {bid_id} retracted; lot {lot_id} now at {lot['current_price'] or '-'} {lot['currency']}, "
                  f"leader {lot['leader'] or 'none'} (version {lot['version']})", highlight=False)


QueueOption = Annotated[str | None, typer.Option("--dlq-url", help="The dead-letter queue's URL (overrides the stack's)")]


@dlq_app.command("list")
def dlq_list(dlq_url: QueueOption = None, data_dir: DataDir = None, stack: Stack = None) -> None:
    """Messages waiting in the dead-letter queue (they stay there)."""
    target = _target(data_dir, stack, ProcessBidDeadLetterQueueUrl=dlq_url)
    queue = target.output("ProcessBidDeadLetterQueueUrl")
    messages = target.sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    count = target.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    table = Table(title=f"{count['ApproximateNumberOfMessages']} message(s) in the dead-letter queue")
    for column in ("message id", "lot (group)", "receives", "body"):
        table.add_column(column, overflow="fold")
    for m in messages:
        attributes = m.get("Attributes", {})
        table.add_row(m["MessageId"], attributes.get("MessageGroupId", ""), attributes.get("ApproximateReceiveCount", ""), m["Body"][:200])
    console.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    dlq_url: QueueOption = None,
    queue_url: Annotated[str | None, typer.Option("--queue-url", help="The command queue's URL (overrides the stack's)")] = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Move every dead-lettered message back to the command queue."""
    target = _target(data_dir, stack, ProcessBidDeadLetterQueueUrl=dlq_url, ProcessBidQueueUrl=queue_url)
    dead = target.sqs.get_queue_attributes(
        QueueUrl=target.output("ProcessBidDeadLetterQueueUrl"), AttributeNames=["QueueArn", "ApproximateNumberOfMessages"]
    )["Attributes"]
    destination = target.sqs.get_queue_attributes(QueueUrl=target.output("ProcessBidQueueUrl"), AttributeNames=["QueueArn"])
    # SQS's own redrive: the messages keep their group, so each lot's order holds.
    task = target.sqs.start_message_move_task(SourceArn=dead["QueueArn"], DestinationArn=destination["Attributes"]["QueueArn"])
    console.print(f"moving {dead['ApproximateNumberOfMessages']} message(s) back (task {task['TaskHandle'][:24]}...)")


def watch(
    lot_id: LotId,
    user: As = None,
    token: Token = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many messages")] = None,
    websocket_url: Annotated[str | None, typer.Option("--websocket-url", help="WebSocket API URL (overrides the stack's)")] = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Print a lot's live updates (and, signed in, your own news) as JSON lines, until Ctrl-C."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    from websockets.typing import Subprotocol

    # What a client offers: the API's protocol, and its token as a second one, never in the URL.
    from handlers.connect import PROTOCOL, TOKEN_PROTOCOL_PREFIX

    target = _target(data_dir, stack, WebSocketApiEndpoint=websocket_url)
    with exits_on_errors():
        bearer = target.token_for(user, token)
        url = target.endpoints.get("websocket") or target.output("WebSocketApiEndpoint")
    protocols = [PROTOCOL] + ([f"{TOKEN_PROTOCOL_PREFIX}{bearer}"] if bearer else [])
    try:
        socket = connect(f"{url.rstrip('/')}/?lot_id={lot_id}", open_timeout=30,
                         subprotocols=[Subprotocol(protocol) for protocol in protocols])
    except InvalidStatus as refused:
        console.print(f"[red]refused ({refused.response.status_code})[/red]: "
                      f"{escape(refused.response.body.decode('utf-8', 'replace'))}")
        raise typer.Exit(1) from None
    with socket:
        for seen, message in enumerate(socket, start=1):
            typer.echo(message if isinstance(message, str) else message.decode("utf-8", "replace"))
            if count is not None and seen >= count:
                return


def register(app: typer.Typer) -> None:
    app.add_typer(lots_app, name="lots")
    app.command("bid")(bid)
    app.command("watch")(watch)
    app.command("retract")(retract)
    app.command("buy")(buy)
    app.add_typer(dlq_app, name="dlq")
