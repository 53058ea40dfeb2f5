"""The lists of lots in headless Chromium against the local stack: switching between the
open and the ended lots, ended lots' results, and going list -> lot -> list without errors."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, Route, expect

from ledger.domain.values import format_time, utc_now
from tests.e2e.helpers import Client, eventually

LIST_REQUESTS = "**/lots?status=*"


def fact(page: Page, name: str):
    return page.get_by_label(name, exact=True)


def ended(client: Client, lot_id: str) -> bool:
    return client.get(f"/lots/{lot_id}").json()["status"] in ("CLOSED", "CANCELLED")


def test_the_ended_list_shows_each_lots_result_newest_first_and_switches_back(
    open_page, seller, api, dev_auth, screenshot
):
    closes_at = format_time(utc_now() + timedelta(seconds=5))  # time for the bid on a loaded machine
    sold = seller.create_lot(title="Walnut chess set", starting_price="12.00", closes_at=closes_at, soft_close_window_s=0)
    unsold = seller.create_lot(title="Chipped teapot", starting_price="5.00", closes_at=closes_at, soft_close_window_s=0)
    bidder = Client(api, dev_auth.mint("ended-list-bidder"))
    assert bidder.wait_for_outcome(bidder.bid(sold["lot_id"], "12.00")["bid_id"])["status"] == "ACCEPTED"
    eventually(lambda: ended(seller, sold["lot_id"]) and ended(seller, unsold["lot_id"]))
    cancelled = seller.create_lot(title="Withdrawn mirror")
    admin = Client(api, dev_auth.mint("list-admin", admin=True))
    assert admin.post(f"/lots/{cancelled['lot_id']}/cancel", {"reason": "withdrawn by the seller"}).status_code == 200

    page = open_page("#/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Open lots")
    page.get_by_role("navigation", name="Lists of lots").get_by_role("link", name="Ended lots").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ended lots")
    assert page.url.endswith("#/ended")

    def row(title: str):
        return page.get_by_role("row").filter(has=page.get_by_role("link", name=title, exact=True))

    expect(row("Walnut chess set")).to_contain_text("Sold for €12.00 to Bidder 1")
    expect(row("Chipped teapot")).to_contain_text("Not sold: no bids")
    expect(row("Withdrawn mirror")).to_contain_text("Cancelled")
    titles = page.locator("#lots tbody th").all_inner_texts()
    mine = [title for title in titles if title in ("Walnut chess set", "Chipped teapot", "Withdrawn mirror")]
    assert mine[0] == "Withdrawn mirror"  # cancelled last: the most recently ended
    assert "Open lots" not in titles
    screenshot(page, "lot-list-ended")

    page.get_by_role("link", name="Walnut chess set").click()
    expect(fact(page, "Outcome")).to_have_text("Sold for €12.00 to Bidder 1")
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ended lots")
    page.get_by_role("navigation", name="Lists of lots").get_by_role("link", name="Open lots").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Open lots")
    expect(page.get_by_role("link", name="Walnut chess set")).to_have_count(0)


def test_an_ended_lots_page_shows_its_outcome_instead_of_a_price_and_a_leader(open_page, seller, api, dev_auth, screenshot):
    unsold = seller.create_lot(title="Faded print", starting_price="5.00",
                               closes_at=format_time(utc_now() + timedelta(seconds=5)), soft_close_window_s=0)
    cancelled = seller.create_lot(title="Cracked vase")
    open_lot = open_page(f"#/lots/{cancelled['lot_id']}")
    expect(fact(open_lot, "Current price")).to_have_text("€10.00 to start")
    expect(fact(open_lot, "Outcome")).to_be_hidden()

    admin = Client(api, dev_auth.mint("lot-admin", admin=True))
    assert admin.post(f"/lots/{cancelled['lot_id']}/cancel", {"reason": "damaged"}).status_code == 200
    expect(fact(open_lot, "Outcome")).to_have_text("Cancelled")  # live, over the WebSocket
    for gone in ("Current price", "Leader"):
        expect(open_lot.get_by_text(gone, exact=True)).to_be_hidden()

    eventually(lambda: ended(seller, unsold["lot_id"]))
    page = open_page(f"#/lots/{unsold['lot_id']}")
    expect(fact(page, "Outcome")).to_have_text("Not sold: no bids")
    expect(page.get_by_role("status", name="Result")).to_contain_text("Not sold: there were no bids.")
    expect(page.get_by_text("Current price", exact=True)).to_be_hidden()
    screenshot(page, "lot-page-unsold")


def test_going_list_lot_list_again_and_again_throws_nothing(open_page, seller):
    """A list that was still loading when the visitor opened a lot used to render into the
    lot's page (TypeError at LotListPage.refresh). Holding the list's requests until the lot
    is shown makes that happen every time rather than 2 runs in 4."""
    lot = seller.create_lot(title="Copper kettle", closes_at=format_time(utc_now() + timedelta(minutes=9)))
    page = open_page("#/")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    lot_link = page.get_by_role("link", name="Copper kettle")
    held: list[Route] = []
    for _ in range(4):
        lot_link.click()  # list -> lot
        expect(page.get_by_role("heading", level=1)).to_have_text("Copper kettle")
        held.clear()
        page.route(LIST_REQUESTS, lambda route: held.append(route))
        page.get_by_role("link", name="← All open lots").click()  # lot -> list, which waits for its lots
        expect(page.get_by_role("heading", level=1)).to_have_text("Open lots")
        while not held:  # Playwright hands over routed requests while the test waits in it
            page.wait_for_timeout(20)
        page.go_back()  # -> lot again before the list loaded
        expect(page.get_by_role("heading", level=1)).to_have_text("Copper kettle")
        for route in held:  # the list's answers arrive while the lot is shown
            with page.expect_event("requestfinished"):
                route.continue_()
        page.unroute(LIST_REQUESTS)
        # A task after the answers: the list's handlers have run by then.
        page.evaluate("() => new Promise((resolve) => setTimeout(resolve, 100))")
        expect(page.get_by_role("heading", level=1)).to_have_text("Copper kettle")
        expect(fact(page, "Current price")).to_be_visible()
        page.get_by_role("link", name="← All open lots").click()  # lot -> list
        expect(lot_link).to_be_visible()
    assert errors == []
    assert page.url.endswith("#/") and lot["lot_id"]


def test_the_page_asks_for_nothing_that_fails(open_page):
    page = open_page("")
    failed: list[str] = []
    page.on("response", lambda response: failed.append(f"{response.status} {response.url}") if response.status >= 400 else None)
    page.reload()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Open lots")
    icon = page.evaluate("() => fetch(document.querySelector('link[rel=icon]').href).then((r) => [r.status, r.headers.get('content-type')])")
    assert icon == [200, "image/svg+xml"]
    assert failed == []
