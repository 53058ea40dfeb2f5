"""Buy-it-now on the live lot page (web/) in headless Chromium against the local stack:
the button while the lot offers its buy-now price, the question before it goes, the
outcome, and the button gone for everyone once the lot is sold or a bid came first."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.test_lot_page import bid, fact, outcome, sign_in


def live(page: Page) -> None:
    # Two cores shared with other stacks: the first connection may take longer than 5 s.
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=30_000)


def test_a_visitor_buys_the_lot_now_and_the_other_sees_it_sold(open_page, seller, screenshot):
    lot = seller.create_lot(title="Walnut music box", starting_price="20.00", buy_now_price="75.00")
    bob, carol = open_page(f"#/lots/{lot['lot_id']}"), open_page(f"#/lots/{lot['lot_id']}")
    live(carol)
    sign_in(bob, "bob")
    sign_in(carol, "carol")
    button = bob.get_by_role("button", name="Buy now for €75.00")
    expect(button).to_be_visible()
    expect(carol.get_by_role("button", name="Buy now for €75.00")).to_be_visible()

    button.click()
    expect(outcome(bob)).to_contain_text("Buy this lot now for €75.00?")
    bob.get_by_role("button", name="Cancel").click()  # asked first: nothing sent
    expect(button).to_be_focused()
    button.click()
    bob.get_by_role("button", name="Yes, buy it").click()
    expect(outcome(bob)).to_have_text("Bought: the lot is yours for €75.00.", timeout=30_000)
    screenshot(bob, "lot-page-bought-now")

    for page, buyer in ((bob, "Bidder 1 (you)"), (carol, "Bidder 1")):
        expect(fact(page, "Outcome")).to_have_text(f"Sold for €75.00 to {buyer}", timeout=30_000)
        expect(page.get_by_role("button", name="Buy now for €75.00")).to_be_hidden()
        expect(page.get_by_text("Bidding on this lot has ended.")).to_be_visible()


def test_the_button_goes_when_a_bid_is_accepted_first(open_page, seller):
    lot = seller.create_lot(title="Tin robot", starting_price="20.00", buy_now_price="75.00")
    dave, erin = open_page(f"#/lots/{lot['lot_id']}"), open_page(f"#/lots/{lot['lot_id']}")
    live(erin)
    sign_in(dave, "dave")
    sign_in(erin, "erin")
    expect(erin.get_by_role("button", name="Buy now for €75.00")).to_be_visible()
    bid(dave, "20.00")
    expect(outcome(dave)).to_have_text("Accepted: you lead at €20.00, with a maximum of €20.00.")
    for page in (dave, erin):
        expect(page.get_by_role("button", name="Buy now for €75.00")).to_be_hidden()
