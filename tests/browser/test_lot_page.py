"""The live lot page (web/) in headless Chromium against the local stack: what two
visitors see of one lot while they bid, are refused, extend it and see it close."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from ledger.domain.values import format_time, parse_time, utc_now
from tests.e2e.helpers import Client, Watcher


def sign_in(page: Page, user: str) -> None:
    page.get_by_label("Development user").select_option(user)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {user}")).to_be_visible()


def fact(page: Page, name: str):
    """A value of the lot's facts list (`<dd aria-labelledby>` its `<dt>`)."""
    return page.get_by_label(name, exact=True)


def bid(page: Page, amount: str) -> None:
    """Sends a maximum: with "Place bid", or "Raise your maximum" when the bidder leads."""
    page.get_by_label("Your maximum bid in EUR").fill(amount)
    page.get_by_role("button", name=re.compile(r"^(Place bid|Raise your maximum)$")).click()


def outcome(page: Page):
    return page.locator("#bid-panel").get_by_role("status")


def live(page: Page) -> None:
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()


def test_the_list_shows_open_lots_and_works_from_the_keyboard(open_page, seller, screenshot):
    # The list shows the 50 lots closing soonest: close sooner than the other tests' lots
    # (30 minutes) so that this one is among them whatever ran before.
    lot = seller.create_lot(title="Oak writing desk", starting_price="40.00",
                            closes_at=format_time(utc_now() + timedelta(minutes=10)))
    page = open_page("#/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Oak writing desk"))
    expect(row).to_contain_text("€40.00 (starting price)")
    expect(row.get_by_role("cell").last).to_have_text(re.compile(r"^(9|10) min \d\d s$"))
    screenshot(page, "lot-list")

    page.get_by_role("link", name="Oak writing desk").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Oak writing desk")
    assert page.url.endswith(f"#/lots/{lot['lot_id']}")
    expect(page.get_by_text("Sold by sam")).to_be_visible()  # the seller's public handle

    # Sign in and bid without a mouse: pick a user, tab to the button, type, press Enter.
    page.get_by_label("Development user").focus()
    page.keyboard.press("ArrowDown")  # alice -> bob
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Signed in as bob")).to_be_visible()
    amount = page.get_by_label("Your maximum bid in EUR")
    expect(amount).to_be_focused()
    expect(amount).to_have_value("40.00")  # the minimum next bid, ready to send
    page.keyboard.press("Enter")
    expect(outcome(page)).to_have_text("Accepted: you lead at €40.00, with a maximum of €40.00.")
    expect(fact(page, "Leader")).to_have_text("Bidder 1 (you)")


def test_a_bid_in_one_browser_shows_live_in_the_other(open_page, seller, screenshot):
    lot = seller.create_lot(title="Brass carriage clock", starting_price="10.00")
    alice, bob = open_page(f"#/lots/{lot['lot_id']}"), open_page(f"#/lots/{lot['lot_id']}")
    for page in (alice, bob):
        live(page)
        expect(fact(page, "Current price")).to_have_text("€10.00 to start")
        expect(fact(page, "Leader")).to_have_text("No bids yet")
    sign_in(alice, "alice")
    expect(alice.get_by_text("Minimum next bid: €10.00")).to_be_visible()

    bid(alice, "12.00")  # her maximum: the first bid opens at the starting price
    expect(fact(bob, "Current price")).to_have_text("€10.00")

    expect(fact(bob, "Leader")).to_have_text("Bidder 1")
    expect(fact(bob, "Bids")).to_have_text("1")
    expect(bob.get_by_role("row", name=re.compile(r"Bidder 1 €10\.00"))).to_be_visible()
    expect(outcome(alice)).to_have_text("Accepted: you lead at €10.00, with a maximum of €12.00.")
    # The leader raises their own maximum; the lot's minimum is for the others.
    expect(alice.get_by_text("You lead with a maximum of €12.00. To raise it, enter a higher one."
                             " Others must bid at least €10.50.")).to_be_visible()

    sign_in(bob, "bob")
    bid(bob, "11.00")  # below Alice's maximum: recorded, and her maximum answers it
    expect(fact(alice, "Current price")).to_have_text("€11.50")
    expect(fact(alice, "Leader")).to_have_text("Bidder 1 (you)")
    expect(outcome(bob)).to_have_text("Accepted, but another bidder's earlier maximum is higher than your €11.00. The price is now €11.50.")
    bid(bob, "15.00")
    expect(fact(alice, "Current price")).to_have_text("€12.50")
    expect(fact(alice, "Leader")).to_have_text("Bidder 2")
    expect(outcome(bob)).to_have_text("Accepted: you lead at €12.50, with a maximum of €15.00.")
    screenshot(alice, "lot-page-open")
    screenshot(bob, "lot-page-bidder", doc="lot-page")


def test_a_rejected_bid_shows_its_reason(open_page, seller, screenshot):
    lot = seller.create_lot(title="Tin toy robot", starting_price="10.00")
    page = open_page(f"#/lots/{lot['lot_id']}")
    sign_in(page, "carol")

    bid(page, "9.00")
    expect(outcome(page)).to_have_text("Rejected: your bid is below the minimum next bid of €10.00.")
    expect(fact(page, "Bids")).to_have_text("0")

    bid(page, "10.00")
    expect(outcome(page)).to_have_text("Accepted: you lead at €10.00, with a maximum of €10.00.")
    bid(page, "20.00")  # the leader raises their maximum: the price stays
    expect(outcome(page)).to_have_text("Accepted: you lead at €10.00, with a maximum of €20.00.")
    bid(page, "15.00")
    expect(outcome(page)).to_have_text("Rejected: you already lead, and a new maximum must be above your current one (at least €20.50).")
    expect(fact(page, "Current price")).to_have_text("€10.00")

    bid(page, "ten euros")
    expect(outcome(page)).to_have_text(re.compile("^Enter an amount such as 12.50"))
    expect(page.get_by_label("Your maximum bid in EUR")).to_be_focused()
    screenshot(page, "lot-page-rejected")


def test_a_bid_in_the_soft_close_window_moves_the_countdown_and_both_see_the_result(open_page, seller, screenshot):
    # 9 s for two pages to open and one to bid on a loaded machine; the extension (9 s from
    # the bid) is as long, so the bid moves the close whenever it lands.
    closes = utc_now() + timedelta(seconds=9)
    lot = seller.create_lot(
        title="Signed first edition", starting_price="50.00", closes_at=format_time(closes),
        soft_close_window_s=30, soft_close_extension_s=9,
    )
    dave, erin = open_page(f"#/lots/{lot['lot_id']}"), open_page(f"#/lots/{lot['lot_id']}")
    countdown = erin.get_by_role("timer", name="Time left")
    expect(countdown).to_have_attribute("datetime", lot["closes_at"])
    expect(countdown).to_have_text(re.compile(r"^\d s$"))
    sign_in(dave, "dave")

    bid(dave, "50.00")
    expect(countdown).not_to_have_attribute("datetime", lot["closes_at"])
    assert parse_time(countdown.get_attribute("datetime")) > closes
    expect(erin.get_by_text(re.compile(r"^Extended by soft close \(once\): late bids moved the close"))).to_be_visible()
    screenshot(erin, "lot-page-extended")

    for page, buyer in ((dave, "Bidder 1 (you)"), (erin, "Bidder 1")):
        result = page.get_by_role("status", name="Result")
        expect(result).to_contain_text(f"Sold to {buyer} for €50.00.", timeout=30_000)
        expect(page.get_by_role("timer", name="Time left")).to_have_text("Closed")
        expect(page.get_by_text("Bidding on this lot has ended.")).to_be_visible()
        # The outcome takes the place of the price and the leader.
        expect(fact(page, "Outcome")).to_have_text(f"Sold for €50.00 to {buyer}")
        expect(page.get_by_text("Current price", exact=True)).to_be_hidden()
        expect(page.get_by_text("Leader", exact=True)).to_be_hidden()
    screenshot(erin, "lot-page-closed")


def test_the_page_says_when_it_is_offline_and_catches_up_after_reconnecting(
    app_stack, api, dev_auth, open_page, seller, screenshot
):
    lot = seller.create_lot(title="Art deco lamp", starting_price="30.00")
    page = open_page(f"#/lots/{lot['lot_id']}")
    live(page)

    # The server drops the page's socket and the browser loses the network.
    management = app_stack.client("apigatewaymanagementapi")  # signed with the functions' key
    for connection_id in subscribers(app_stack, lot["lot_id"]):
        management.delete_connection(ConnectionId=connection_id)
    page.context.set_offline(True)
    expect(page.get_by_text("Offline: reconnecting…")).to_be_visible()
    screenshot(page, "lot-page-offline")

    # Meanwhile someone bids, and the change is broadcast to nobody but this watcher.
    frank = Client(api, dev_auth.mint("frank"))
    with Watcher(f"{app_stack.endpoints['websocket']}/?lot_id={lot['lot_id']}") as watcher:
        assert frank.wait_for_outcome(frank.bid(lot["lot_id"], "30.00")["bid_id"])["status"] == "ACCEPTED"
        watcher.until(lambda _: any(u["bid_count"] == 1 for u in watcher.lot_updates()))
    expect(fact(page, "Current price")).to_have_text("€30.00 to start")

    page.context.set_offline(False)
    live(page)
    expect(fact(page, "Current price")).to_have_text("€30.00")
    expect(fact(page, "Bids")).to_have_text("1")
    assert subscribers(app_stack, lot["lot_id"])  # subscribed again: later bids arrive live


def subscribers(app_stack, lot_id: str) -> list[str]:
    answer = app_stack.client("dynamodb").query(
        TableName=app_stack.app.outputs["ConnectionsTableName"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"LOT#{lot_id}"}},
        ConsistentRead=True,
    )
    return [item["SK"]["S"].removeprefix("CONN#") for item in answer["Items"]]


def test_the_list_updates_prices_live(open_page, seller, api, dev_auth, app_stack):
    lot = seller.create_lot(title="Pewter jug", starting_price="8.00",
                            closes_at=format_time(utc_now() + timedelta(minutes=5)))
    page = open_page("#/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Pewter jug"))
    expect(row).to_contain_text("€8.00 (starting price)")
    live(page)
    bidder = Client(api, dev_auth.mint("list-watcher-bidder"))
    bidder.wait_for_outcome(bidder.bid(lot["lot_id"], "9.00")["bid_id"])  # opens at the starting price
    # Well before the list's 15 s refresh: the change came over the WebSocket.
    expect(row).not_to_contain_text("(starting price)")
    expect(row).to_contain_text("€8.00")
    assert len(subscribers(app_stack, lot["lot_id"])) == 1  # the list page's one connection
