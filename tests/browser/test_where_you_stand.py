"""Where a signed-in bidder stands, in headless Chromium against
the local stack: two bidders' pages in a proxy duel (leading, outbid, a raise that swaps
them), their news pushed live on the lot and as notices elsewhere, "My bids", and a close
that tells the winner and the other bidder."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect

from ledger.domain.values import format_time, utc_now
from tests.browser.test_lot_page import bid, fact, live, outcome, sign_in
from tests.e2e.helpers import Client


def standing(page: Page):
    """The sentence near the price that says where the signed-in bidder stands."""
    return page.locator("#lot-you")


def news(page: Page):
    """The live region that announces the bidder's own news about the lot shown."""
    return page.locator("#you-news")


def notice(page: Page, title: str):
    """A notice about another lot than the one shown, found by its link."""
    return page.locator("#notices .news").filter(has=page.get_by_role("link", name=title))


def my_bids_row(page: Page, title: str):
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=title))


def test_two_bidders_see_where_they_stand_as_the_lead_changes(open_page, seller, screenshot):
    lot = seller.create_lot(title="Victorian mantel clock", starting_price="10.00")
    alice, bob = open_page(f"#/lots/{lot['lot_id']}"), open_page(f"#/lots/{lot['lot_id']}")
    for page, user in ((alice, "alice"), (bob, "bob")):
        sign_in(page, user)
        live(page)
        expect(standing(page)).to_be_hidden()  # no bid of theirs yet: nothing to say

    bid(alice, "20.00")
    expect(outcome(alice)).to_have_text("Accepted: you lead at €10.00, with a maximum of €20.00.")
    expect(standing(alice)).to_have_text("You are the highest bidder (your maximum €20.00).")
    expect(fact(alice, "Leader")).to_have_text("Bidder 1 (you)")
    expect(alice.get_by_role("heading", name="Raise your maximum")).to_be_visible()
    expect(alice.get_by_text("You lead with a maximum of €20.00. To raise it, enter a higher one."
                             " Others must bid at least €10.50.")).to_be_visible()
    expect(fact(bob, "Leader")).to_have_text("Bidder 1")
    expect(standing(bob)).to_be_hidden()

    bid(bob, "30.00")  # beats Alice's maximum: one step above it
    expect(outcome(bob)).to_have_text("Accepted: you lead at €20.50, with a maximum of €30.00.")
    expect(standing(bob)).to_have_text("You are the highest bidder (your maximum €30.00).")
    expect(bob.get_by_role("button", name="Raise your maximum")).to_be_visible()
    expect(news(alice)).to_have_text("You have been outbid: the price is now €20.50.")
    expect(standing(alice)).to_have_text("You have been outbid: the price is €20.50; your maximum was €20.00.")
    expect(alice.get_by_role("heading", name="Place a bid")).to_be_visible()
    expect(alice.get_by_text("Minimum next bid: €21.00")).to_be_visible()
    expect(fact(alice, "Leader")).to_have_text("Bidder 2")
    expect(alice.locator("main")).not_to_contain_text("€30.00")  # Bob's maximum is his alone
    screenshot(bob, "lot-page-leader")
    screenshot(alice, "lot-page-outbid")

    bid(alice, "40.00")  # above Bob's maximum: the roles swap
    expect(outcome(alice)).to_have_text("Accepted: you lead at €31.00, with a maximum of €40.00.")
    expect(standing(alice)).to_have_text("You are the highest bidder (your maximum €40.00).")
    expect(news(bob)).to_have_text("You have been outbid: the price is now €31.00.")
    expect(standing(bob)).to_have_text("You have been outbid: the price is €31.00; your maximum was €30.00.")
    expect(bob.locator("main")).not_to_contain_text("€40.00")

    # My bids, from the header: each sees the lot with where they stand.
    for page, status, maximum in ((alice, "Highest bidder", "40.00"), (bob, "Outbid", "30.00")):
        page.get_by_role("link", name="My bids").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("My bids")
        cells = my_bids_row(page, "Victorian mantel clock").get_by_role("cell")
        expect(cells.nth(0)).to_have_text(status)
        expect(cells.nth(1)).to_contain_text(maximum)
        expect(cells.nth(2)).to_contain_text("31.00")
    screenshot(alice, "my-bids")

    # Bob goes back and raises; Alice, on My bids, is told with a notice and her row changes.
    my_bids_row(bob, "Victorian mantel clock").get_by_role("link").click()
    expect(standing(bob)).to_have_text("You have been outbid: the price is €31.00; your maximum was €30.00.")
    bid(bob, "50.00")
    expect(outcome(bob)).to_have_text("Accepted: you lead at €41.00, with a maximum of €50.00.")
    expect(notice(alice, "Victorian mantel clock")).to_have_text(
        re.compile(r"^You have been outbid on Victorian mantel clock: the price is now €41\.00\.\s*Dismiss$"))
    expect(my_bids_row(alice, "Victorian mantel clock").get_by_role("cell").nth(0)).to_have_text("Outbid")
    screenshot(alice, "my-bids-notice")
    alice.get_by_role("button", name="Dismiss: Victorian mantel clock").click()
    expect(alice.locator("#notices .news")).to_have_count(0)

    my_bids_row(alice, "Victorian mantel clock").get_by_role("link").click()
    expect(standing(alice)).to_have_text("You have been outbid: the price is €41.00; your maximum was €40.00.")


def test_at_the_close_the_winner_and_the_other_bidder_are_told(open_page, seller, api, dev_auth, screenshot):
    lot = seller.create_lot(
        title="Enamel pocket watch", starting_price="10.00",
        closes_at=format_time(utc_now() + timedelta(seconds=12)), soft_close_window_s=0,
    )
    # The bids go in over the API (the same users as the pages' development sign-in) so
    # that the pages are watching well before the close.
    for user, maximum in (("alice", "10.00"), ("bob", "15.00")):
        client = Client(api, dev_auth.mint(user))
        assert client.wait_for_outcome(client.bid(lot["lot_id"], maximum)["bid_id"])["status"] == "ACCEPTED"

    bob = open_page(f"#/lots/{lot['lot_id']}")
    sign_in(bob, "bob")
    live(bob)
    expect(standing(bob)).to_have_text("You are the highest bidder (your maximum €15.00).")
    alice = open_page("#/")  # elsewhere: her news comes as a notice
    sign_in(alice, "alice")
    live(alice)

    expect(news(bob)).to_have_text("You won this lot for €10.50.", timeout=30_000)
    expect(standing(bob)).to_have_text("You won this lot for €10.50.")
    expect(fact(bob, "Outcome")).to_have_text("Sold for €10.50 to Bidder 2 (you)")
    expect(bob.get_by_role("status", name="Result")).to_contain_text("Sold to Bidder 2 (you) for €10.50.")
    screenshot(bob, "lot-page-won")

    lost = notice(alice, "Enamel pocket watch")
    expect(lost).to_contain_text("Bidding has ended: you did not win Enamel pocket watch.", timeout=30_000)
    lost.get_by_role("link").click()
    expect(standing(alice)).to_have_text("You did not win this lot.")
    expect(fact(alice, "Outcome")).to_have_text("Sold for €10.50 to Bidder 2")
    expect(alice.locator("#notices .news")).to_have_count(0)  # the lot itself says it now
    screenshot(alice, "lot-page-lost")

    bob.get_by_role("link", name="My bids").click()
    expect(my_bids_row(bob, "Enamel pocket watch").get_by_role("cell").nth(0)).to_have_text("Won")
