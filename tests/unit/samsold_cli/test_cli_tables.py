"""How the operator's commands render what the API and the ledger give them: lots with their
status (a lot past its close shows it), counts in words, history's --wide at any width,
--reveal with each id beside its alias, and `samsold --version`."""

from __future__ import annotations

import io
from datetime import timedelta
from importlib.metadata import version

from rich.console import Console
from typer.testing import CliRunner

from ledger.domain.values import format_time, utc_now
from samsold_cli import shared
from samsold_cli.history_view import BidderNames, wide_table
from samsold_cli.main import app
from samsold_cli.ops import lot_table, status_text
from samsold_cli.shared import plural, print_whole


def lot(**fields):
    return {"lot_id": "vase", "title": "Blue vase", "currency": "EUR", "status": "OPEN", "outcome": None,
            "starting_price": "10.00", "current_price": "25.00", "minimum_bid": "26.00", "leader": "Bidder 2",
            "bid_count": 3, "closes_at": format_time(utc_now() + timedelta(minutes=5)), "extension_count": 0,
            "has_reserve": True, "reserve_met": False, "version": 4, "ended_at": None} | fields


def rendered(renderable, width: int = 80) -> str:
    console = Console(width=width, record=True)
    console.print(renderable)
    return console.export_text()


def test_counts_are_in_words():
    assert (plural(1, "lot"), plural(2, "lot"), plural(0, "message")) == ("1 lot", "2 lots", "0 messages")


def test_a_lot_shows_its_status_and_an_open_lot_past_its_close_shows_closing():
    assert status_text(lot()) == "OPEN"
    assert status_text(lot(closes_at=format_time(utc_now() - timedelta(seconds=1)))) == "CLOSING"
    assert status_text(lot(status="CLOSED", outcome="UNSOLD")) == "UNSOLD"
    assert status_text(lot(status="CANCELLED")) == "CANCELLED"


def test_lots_show_is_a_table_with_status_price_leader_and_reserve():
    text = rendered(lot_table(lot(extension_count=1, sale_id="spring")))
    for line in ("status        OPEN", "price         25.00 EUR (starting 10.00)", "minimum bid   26.00 EUR",
                 "leader        Bidder 2, 3 bids", "reserve       not met", "sale          spring", "version       4"):
        assert line in text, text
    assert "(extended 1 time)" in text
    closed = rendered(lot_table(lot(status="CLOSED", outcome="SOLD", minimum_bid=None, reserve_met=True, bid_count=1,
                                    ended_at="2026-11-24T07:34:31.000Z")))
    assert "status        SOLD" in closed and "1 bid" in closed and "reserve       met" in closed and "ended" in closed


def records():
    events = []
    for number, (kind, data) in enumerate([
        ("LotCreated", {"seller": "sub-sally", "starting_price": "10.00", "closes_at": "2026-11-24T07:34:47.000Z"}),
        ("BidPlaced", {"bidder": "sub-alice-0123456789abcdef", "amount": "30.00", "price": "10.00",
                       "placed_at": "2026-11-24T07:30:01.000Z", "closes_at": "2026-11-24T07:34:47.000Z", "alias": 1}),
        ("BidPlaced", {"bidder": "sub-bob-0123456789abcdef01", "amount": "20.00", "price": "20.50",
                       "placed_at": "2026-11-24T07:30:02.000Z", "closes_at": "2026-11-24T07:34:47.000Z", "alias": 2}),
    ], start=1):
        events.append({"version": number, "type": kind, "recorded_at": f"2026-11-24T07:30:0{number}.000Z",
                       "data": data, "hash": f"{number:x}" * 64})
    return events


def names_of(events) -> BidderNames:
    names = BidderNames("vase", seller="sub-sally")
    names.aliases = {"sub-alice-0123456789abcdef": 1, "sub-bob-0123456789abcdef01": 2}
    names.bidders = list(names.aliases)
    return names


def test_reveal_shows_each_id_beside_its_alias():
    events = records()
    names = names_of(events)
    hidden = names.shown(events[2], reveal=False)["data"]
    assert hidden["bidder"] == "Bidder 2"
    as_json = names.shown(events[2], reveal=True)["data"]
    assert (as_json["bidder"], as_json["bidder_alias"]) == ("sub-bob-0123456789abcdef01", "Bidder 2")
    in_table = names.shown(events[2], reveal=True, beside=True)["data"]
    assert in_table["bidder"] == "Bidder 2 (sub-bob-0123456789abcdef01)"
    assert names.shown(events[0], reveal=True, beside=True)["data"]["seller"] == "seller (sub-sally)"


def test_history_wide_is_never_cut_to_the_terminal(monkeypatch):
    events = records()
    names = names_of(events)
    out = io.StringIO()
    monkeypatch.setattr(shared, "console", Console(width=80, file=out))  # a pipe's 80 columns
    print_whole(wide_table("vase", [names.shown(r, reveal=True, beside=True) for r in events]))
    lines = [line for line in out.getvalue().splitlines() if "sub-bob" in line]
    assert len(lines) == 1, out.getvalue()  # one line a row, however wide
    assert "Bidder 2 (sub-bob-0123456789abcdef01)" in lines[0] and "3" * 12 in lines[0] and len(lines[0]) > 80


def test_samsold_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"samsold {version('samsold')}\n"
