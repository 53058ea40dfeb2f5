"""Quick manual work through the REST API (lots, bids, an admin's retraction), and the dead-letter queue."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import typer
from pydantic import TypeAdapter, ValidationError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.domain.commands import AmountText, CurrencyCode, Identifier, Reason, Title, UserId
from ledger.domain.events import BuyNowUntil
from ledger.domain.listing import ListStatus
from ledger.domain.values import format_time, parse_time, utc_now
from projections.dispute import RULES
from samsold_cli.shared import HELP_MARKUP, USAGE_ERROR, DataDir, Stack, exits_on_errors, plural
from samsold_cli.shared import target as _target
from samsold_cli.target import Target, as_json

console = Console()
lots_app = typer.Typer(help="Create, list, show and cancel lots (through the REST API).", no_args_is_help=True,
                       rich_markup_mode=HELP_MARKUP)
dlq_app = typer.Typer(help="Show and move back the messages of the dead-letter queues.", no_args_is_help=True,
                      rich_markup_mode=HELP_MARKUP)

As = Annotated[str | None, typer.Option("--as", help="Act as this development user (local stack)")]
AsAdmin = Annotated[str, typer.Option("--as", help="Act as this development administrator (local stack)")]
Token = Annotated[str | None, typer.Option("--token", help="Bearer token (a deployed stack's Cognito ID token)")]
ApiUrl = Annotated[str | None, typer.Option("--api-url", help="REST API base URL (overrides the stack's)")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's answer as JSON")]


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
    lot_id: Annotated[str | None, typer.Option(
        help="The lot's id: it starts with the seller's handle and '-' (locally --as NAME's, such as seller-vase);"
             " generated so when left out", callback=checked_as(Identifier))] = None,
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
    lot = _answer(*call_api(target.api_url, "POST", "/lots", target.token_for(user, token, seller=True), terms))
    typer.echo(as_json(lot))


def status_text(lot: dict[str, Any], now: datetime | None = None) -> str:
    """A lot's state in one word: its outcome once ended (SOLD, UNSOLD), else its status;
    an open lot past its close time is CLOSING (bidding is over; its close timer ends it
    within the grace)."""
    if lot.get("outcome"):
        return str(lot["outcome"])
    if lot["status"] == "OPEN" and parse_time(lot["closes_at"]) <= (now or utc_now()):
        return "CLOSING"
    return str(lot["status"])


def _listed(listing: dict[str, Any]) -> list[dict[str, Any]]:
    """The lots of a page of GET /lots (`items`, or `lots` as the API named it first)."""
    return listing.get("items", listing.get("lots")) or []


@lots_app.command("list")
def lots_list(
    status: Annotated[str, typer.Option(help="open (soonest to close first), closed (most recently ended first) or all",
                                        callback=checked_as(ListStatus))] = "open",
    api_url: ApiUrl = None, data_dir: DataDir = None, stack: Stack = None,
) -> None:
    """Lots with their status, price, leader, bids and close time (the API's first page)."""
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    listing = _answer(*call_api(target.api_url, "GET", f"/lots?status={status}"))
    lots = _listed(listing)
    if not lots:
        console.print(f"no {'' if status == 'all' else status + ' '}lots")
        return
    now = utc_now()
    # Two lines a row (the title under the id, the time under the date), so that ids and
    # times are never cut at 80 columns.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("lot / title", overflow="fold", min_width=max(len(lot["lot_id"]) for lot in lots))
    table.add_column("status", no_wrap=True)
    table.add_column("price", justify="right", no_wrap=True)
    table.add_column("leader", no_wrap=True)
    table.add_column("closes (UTC)", no_wrap=True)
    for lot in lots:
        price = f"{lot['current_price'] or '-'} {lot['currency']}"
        closes = lot["closes_at"].removesuffix("Z").split("T")
        minimum = f"min {lot['minimum_bid']}" if lot.get("minimum_bid") else ""
        table.add_row(f"{escape(lot['lot_id'])}\n[dim]{escape(lot['title'])}[/dim]", status_text(lot, now),
                      f"{price}\n{minimum}", f"{lot['leader'] or '-'}\n{plural(lot['bid_count'], 'bid')}",
                      "\n".join(closes), end_section=True)
    console.print(table)
    if listing.get("next"):
        console.print(f"(more {'' if status == 'all' else status + ' '}lots follow: this is the API's first page)")


@lots_app.command("show")
def lots_show(lot_id: LotId, as_json_output: AsJson = False, api_url: ApiUrl = None, data_dir: DataDir = None,
              stack: Stack = None) -> None:
    """A lot's public view as a table: status, price, leader, reserve, close time, its latest bids."""
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    lot = _answer(*call_api(target.api_url, "GET", f"/lots/{lot_id}"))
    if as_json_output:
        typer.echo(as_json(lot))
        return
    console.print(lot_table(lot))
    bids = lot.get("recent_bids") or []
    if bids:
        history = Table(title="latest bids", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left")
        for name in ("v", "bidder", "price", "placed (UTC)"):
            history.add_column(name, justify="right" if name in ("v", "price") else "left", no_wrap=True)
        for bid_ in bids:
            history.add_row(str(bid_.get("version", "")), escape(str(bid_.get("bidder"))), str(bid_.get("amount")),
                            str(bid_.get("placed_at", "")).replace("T", " ").removesuffix("Z"))
        console.print(history)


def lot_table(lot: dict[str, Any]) -> Table:
    """A lot's view as two columns: what, and its value."""
    currency = lot["currency"]
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    reserve = ("none" if not lot.get("has_reserve") else "met" if lot.get("reserve_met") else "not met")
    extended = f" (extended {plural(lot['extension_count'], 'time')})" if lot.get("extension_count") else ""
    rows = [
        ("lot", f"{escape(lot['lot_id'])}: {escape(lot['title'])}"),
        ("status", status_text(lot)),
        ("price", f"{lot['current_price'] or '-'} {currency} (starting {lot['starting_price']})"),
        ("minimum bid", f"{lot['minimum_bid']} {currency}" if lot.get("minimum_bid") else "-"),
        ("leader", f"{lot['leader'] or 'none'}, {plural(lot['bid_count'], 'bid')}"),
        ("reserve", reserve),
        ("closes (UTC)", lot["closes_at"].replace("T", " ").removesuffix("Z") + extended),
    ]
    if lot.get("buy_now_price"):
        rows.append(("buy now", f"{lot['buy_now_price']} {currency} (until {lot.get('buy_now_until')})"))
    if lot.get("ended_at"):
        rows.append(("ended (UTC)", lot["ended_at"].replace("T", " ").removesuffix("Z")))
    if lot.get("sale_id"):
        rows.append(("sale", escape(lot["sale_id"])))
    rows.append(("version", str(lot["version"])))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _as_admin(data_dir: Any, stack: str | None, api_url: str | None, user: str, token: str | None, path: str, body: Any) -> Any:
    """POST `body` to `path` as the administrator (`--as` or `--token`): the answer, or the API's error and exit 1."""
    target = _target(data_dir, stack, BidsApiEndpoint=api_url)
    with exits_on_errors():
        bearer = target.token_for(None if token else user, token, admin=True)
    return _answer(*call_api(target.api_url, "POST", path, bearer, body))


@lots_app.command("cancel")
def lots_cancel(
    lot_id: LotId,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (stored in the event; bidders see it)",
                                               callback=checked_as(Reason))] = None,
    user: AsAdmin = "admin",
    token: Token = None,
    api_url: ApiUrl = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Cancel an open lot (administrators): it ends unsold, and its bidders are told."""
    lot = _as_admin(data_dir, stack, api_url, user, token, f"/lots/{lot_id}/cancel", {"reason": reason} if reason else None)
    console.print(f"lot {escape(lot_id)} {status_text(lot)}", highlight=False)


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
    user: AsAdmin = "admin",
    token: Token = None,
    api_url: ApiUrl = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Retract an accepted bid of an open lot (administrators): the lot falls back to the
    standing its remaining bids give. Prints the lot's view after it."""
    lot = _as_admin(data_dir, stack, api_url, user, token, f"/lots/{lot_id}/bids/{bid_id}/retract", {"reason": reason})
    console.print(f"bid {bid_id} retracted; lot {lot_id} now at {lot['current_price'] or '-'} {lot['currency']}, "
                  f"leader {lot['leader'] or 'none'} (version {lot['version']})", highlight=False)


def erase(
    bidder: Annotated[str, typer.Option("--bidder", help="The bidder's user id (their token's sub)",
                                        callback=checked_as(UserId))],
    user: AsAdmin = "admin",
    token: Token = None,
    api_url: ApiUrl = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Erase a bidder's private data (administrators): their disclosures and records go; every
    hash, proof and verify still holds. Refused while a lot they bid on is open."""
    erased = _as_admin(data_dir, stack, api_url, user, token, f"/bidders/{bidder}/erase", None)
    console.print(f"erased: {erased['disclosures']} disclosures and {erased['records']} records on {erased['lots']} lots "
                  f"({erased['snapshots']} snapshots refolded); erasure {erased['erasure_id']} at {erased['erased_at']}",
                  highlight=False)


# Each dead-letter queue of the template: (name, its stack output, the output of the queue
# its messages go back to; None: back to the queue each came from, SQS's default).
DEAD_LETTER_QUEUES = (
    ("bids", "ProcessBidDeadLetterQueueUrl", "ProcessBidQueueUrl"),
    ("fan-out", "FanOutDeadLetterQueueUrl", None),
    ("close-timers", "CloseTimerDeadLetterQueueUrl", None),
)
QueueName = Annotated[str | None, typer.Option(
    "--queue", help="Only this one: bids, fan-out or close-timers (default: every dead-letter queue)",
    callback=checked_as(Literal["bids", "fan-out", "close-timers"]))]
QueueOption = Annotated[str | None, typer.Option("--dlq-url", help="Only the dead-letter queue at this URL")]


def _dead_letter_queues(target: Target, queue: str | None, dlq_url: str | None) -> list[tuple[str, str, str | None]]:
    """(name, URL, URL of the queue its messages go back to or None) of the dead-letter
    queues asked for; a stack without an output for one (deployed before it existed) is
    told, not failed."""
    if dlq_url:
        return [(dlq_url.rsplit("/", 1)[-1], dlq_url, None)]
    found = []
    for name, output, source in DEAD_LETTER_QUEUES:
        if queue not in (None, name):
            continue
        url = target.outputs.get(output)
        if url is None:
            console.print(f"[yellow]{name}: the stack has no output {output} (give --dlq-url)[/yellow]")
            continue
        found.append((name, url, target.outputs.get(source) if source else None))
    return found


@dlq_app.command("list")
def dlq_list(queue: QueueName = None, dlq_url: QueueOption = None, data_dir: DataDir = None, stack: Stack = None) -> None:
    """Messages waiting in each dead-letter queue, the first 10 of each (they stay there)."""
    target = _target(data_dir, stack)
    for name, url, _ in _dead_letter_queues(target, queue, dlq_url):
        messages = target.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        count = int(target.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
        if not count and not messages:
            console.print(f"{name}: empty", highlight=False)
            continue
        table = Table(title=f"{name}: {plural(count, 'message')}", title_justify="left")
        for column in ("message id", "group", "receives", "body"):
            table.add_column(column, overflow="fold")
        for m in messages:
            attributes = m.get("Attributes", {})
            table.add_row(m["MessageId"], attributes.get("MessageGroupId", ""), attributes.get("ApproximateReceiveCount", ""),
                          escape(m["Body"][:200]))
        console.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    queue: QueueName = None,
    dlq_url: QueueOption = None,
    queue_url: Annotated[str | None, typer.Option(
        "--queue-url", help="Move them to this queue instead of the one each message came from")] = None,
    data_dir: DataDir = None,
    stack: Stack = None,
) -> None:
    """Move the messages of each dead-letter queue back: bid commands to the command queue,
    the others to the queue each came from."""
    target = _target(data_dir, stack)
    for name, url, source in _dead_letter_queues(target, queue, dlq_url):
        dead = target.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"])["Attributes"]
        count = int(dead["ApproximateNumberOfMessages"])
        if not count:
            console.print(f"{name}: empty, nothing to move", highlight=False)
            continue
        destination = queue_url or source
        where = {} if destination is None else {"DestinationArn": target.sqs.get_queue_attributes(
            QueueUrl=destination, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]}
        # SQS's own redrive: FIFO messages keep their group, so each lot's order holds.
        task = target.sqs.start_message_move_task(SourceArn=dead["QueueArn"], **where)
        console.print(f"{name}: moving {plural(count, 'message')} back (task {task['TaskHandle'][:24]}...)", highlight=False)


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
        # On stderr, so stdout stays JSON lines: the reader (or a script) knows it is connected.
        typer.echo(f"watching lot {lot_id}; Ctrl-C stops", err=True)
        for seen, message in enumerate(socket, start=1):
            typer.echo(message if isinstance(message, str) else message.decode("utf-8", "replace"))
            if count is not None and seen >= count:
                return


def register(app: typer.Typer) -> None:
    app.add_typer(lots_app, name="lots")
    app.command("bid")(bid)
    app.command("watch")(watch)
    app.command("retract")(retract)
    app.command("erase")(erase)
    app.command("buy")(buy)
    app.add_typer(dlq_app, name="dlq")
