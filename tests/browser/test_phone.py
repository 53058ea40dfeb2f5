"""The pages on a phone (375 px, and 320 px where it matters) in headless Chromium against the
local stack: nothing wider than the screen, and what a bidder needs in view without scrolling
sideways (the bid box and its button, the close time, the time left). Also on the lot page:
a bid history that says who bid what, a leader told the reserve is not met, the leader's box
ready at the least raise, and a lot that does not exist."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from playwright.sync_api import Locator, Page, expect

from ledger.domain.values import format_time, utc_now
from tests.browser.test_lot_page import fact, live, sign_in
from tests.e2e.helpers import Client, eventually

PHONE = 375
SMALL_PHONE = 320


def assert_fits(page: Page, width: int) -> None:
    """No horizontal scroll: the document is no wider than the screen."""
    page.wait_for_load_state()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide on a {width} px screen"


def assert_in_view(element: Locator, width: int) -> None:
    """Shown, and wholly within the screen's width."""
    expect(element).to_be_visible()
    # Live rows are rebuilt on updates: measure whichever element is there now.
    left, right = element.evaluate("(e) => { const box = e.getBoundingClientRect(); return [box.left, box.right]; }")
    assert left >= 0 and right <= width, f"{left}-{right} px is not within {width} px"


def history(page: Page) -> list[str]:
    """The bid history's rows, newest first: bidder and bid."""
    return page.locator("#history tbody tr").evaluate_all(
        "rows => rows.map((row) => `${row.cells[0].textContent} ${row.cells[1].textContent}`)")


def test_a_leader_on_a_phone_sees_the_whole_lot_the_reserve_not_met_and_who_bid_what(open_page, seller, api, dev_auth, screenshot):
    lot = seller.create_lot(title="Art deco table lamp", starting_price="10.00", reserve_price="100.00")
    alice, bob = Client(api, dev_auth.mint("alice")), Client(api, dev_auth.mint("bob"))
    assert alice.wait_for_outcome(alice.bid(lot["lot_id"], "25.00")["bid_id"])["status"] == "ACCEPTED"
    # Below Alice's maximum: recorded, and her maximum answers it at 20.50.
    assert bob.wait_for_outcome(bob.bid(lot["lot_id"], "20.00")["bid_id"])["leading"] is False

    page = open_page(f"#/lots/{lot['lot_id']}", width=PHONE)
    live(page)
    sign_in(page, "alice")
    standing = page.locator("#lot-you")
    expect(standing).to_have_text("You are the highest bidder (your maximum €25.00), but the reserve has not been met:"
                                  " the lot is not sold at this price.")
    expect(standing).to_have_attribute("data-status", "RESERVE_NOT_MET")  # the warning's style, not a success's
    # The leader's box starts at the least raise of their own maximum, never below it.
    expect(page.get_by_label("Your maximum bid in EUR")).to_have_value("26.00")
    expect(page.locator("#history tbody tr")).to_have_count(3)
    assert history(page) == ["Bidder 1 (you), automatic €20.50", "Bidder 2 €20.00", "Bidder 1 (you) €10.00"]  # newest first
    # The public log's line (verified, or not in the log yet) is part of the page that must fit.
    expect(page.locator("#lot-log")).to_have_attribute("data-state", re.compile(r"^(verified|pending)$"))
    for width in (PHONE, SMALL_PHONE):
        page.set_viewport_size({"width": width, "height": 740})
        assert_fits(page, width)
        for needed in (page.get_by_role("button", name="Raise your maximum"), page.get_by_label("Your maximum bid in EUR"),
                       page.locator("#lot-countdown"), page.locator("#lot-closes-at"), page.locator("#lot-log")):
            assert_in_view(needed, width)
    page.set_viewport_size({"width": PHONE, "height": 740})
    screenshot(page, "lot-page-phone", doc="lot-page-phone")

    # Bob, signed in elsewhere, sees his own row as his.
    other = open_page(f"#/lots/{lot['lot_id']}", width=PHONE)
    sign_in(other, "bob")
    expect(other.get_by_role("row", name="Bidder 2 (you) €20.00")).to_be_visible()
    assert history(other) == ["Bidder 1, automatic €20.50", "Bidder 2 (you) €20.00", "Bidder 1 €10.00"]


def test_the_sale_page_and_my_bids_fit_a_phone(open_page, seller, api, dev_auth, screenshot):
    prefix = uuid.uuid4().hex[:8]
    body = {"sale_id": f"sale-{prefix}", "title": "Garden sale", "interval_s": 60,
            "first_closes_at": format_time(utc_now() + timedelta(minutes=10)),
            "lots": [{"lot_id": f"sam-{prefix}-{n}", "title": title, "currency": "EUR", "starting_price": "10.00"}
                     for n, title in enumerate(["Cast iron bench with scrolled arms", "Terracotta pot"], start=1)]}
    assert seller.post("/sales", body).status_code == 201
    bidder = Client(api, dev_auth.mint("carol"))
    assert bidder.wait_for_outcome(bidder.bid(f"sam-{prefix}-1", "14.00")["bid_id"])["status"] == "ACCEPTED"

    page = open_page(f"#/sales/{body['sale_id']}", width=PHONE)
    row = page.locator("#sale-lots tbody tr").first
    expect(row).to_contain_text("Cast iron bench")
    assert_fits(page, PHONE)
    for needed in (row.locator(".closes-at"), row.locator(".time-left")):
        assert_in_view(needed, PHONE)
    screenshot(page, "sale-page-phone")

    sign_in(page, "carol")
    page.get_by_role("link", name="My bids").click()
    mine = page.get_by_role("row").filter(has=page.get_by_role("link", name="Cast iron bench with scrolled arms"))
    expect(mine).to_contain_text("€14.00")
    assert_fits(page, PHONE)
    screenshot(page, "my-bids-phone")


def test_an_unknown_lot_says_so_and_the_page_stays_live(open_page):
    page = open_page("#/lots/no-such-lot", width=PHONE)
    expect(page.get_by_role("heading", level=1)).to_have_text("No such lot")
    expect(page.get_by_role("alert")).to_contain_text("There is no lot “no-such-lot”.")
    expect(page.locator("#bid-panel")).to_have_count(0)  # no empty panels
    # The socket watches no lot now, so it is not refused and retried for ever.
    live(page)
    page.get_by_role("link", name="← All open lots").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Open lots")


def test_a_lot_whose_reserve_was_not_met_says_so_plainly_once_closed(open_page, seller, api, dev_auth):
    lot = seller.create_lot(title="Gilt mirror", starting_price="10.00", reserve_price="100.00",
                            closes_at=format_time(utc_now() + timedelta(seconds=12)), soft_close_window_s=0)
    bidder = Client(api, dev_auth.mint("dave"))
    assert bidder.wait_for_outcome(bidder.bid(lot["lot_id"], "20.00")["bid_id"])["status"] == "ACCEPTED"
    eventually(lambda: seller.get(f"/lots/{lot['lot_id']}").json()["status"] == "CLOSED", timeout=90)

    page = open_page(f"#/lots/{lot['lot_id']}", width=PHONE)
    expect(fact(page, "Outcome")).to_have_text("Not sold: the reserve was not met")
    result = page.get_by_role("status", name="Result")
    expect(result).to_contain_text("Not sold: the reserve was not met (the highest bid was €10.00).")
    expect(result).to_have_attribute("data-outcome", "NOT_SOLD")  # neutral, not the green of a sale
    expect(page.locator("#lot-reserve")).to_have_text("The reserve price was not met.")
    assert_fits(page, PHONE)


def test_amounts_are_formatted_from_their_decimal_strings_never_floats(open_page):
    page = open_page("#/", width=PHONE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Open lots")
    shown = page.evaluate("""async () => {
        const { money } = await import(new URL("js/format.js", document.baseURI).href);
        return [money("999999999999999999.99", "EUR"), money("0.10", "EUR"), money("12345678901234567.5", "JPY")];
    }""")
    # A Number would read €1,000,000,000,000,000,000.00 for the first.
    assert shown == ["€999,999,999,999,999,999.99", "€0.10", "¥12,345,678,901,234,568"]
