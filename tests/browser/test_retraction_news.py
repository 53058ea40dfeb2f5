"""An administrator's retraction as bidders see it in headless Chromium against the local
stack: the bidder whose bid was withdrawn is told on the lot's page,
with the reason; the bidder it puts back in the lead gets a notice elsewhere."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_lot_page import fact, live, sign_in
from tests.browser.test_where_you_stand import news, notice, standing
from tests.e2e.helpers import Client

REASON = "shill bidding: the seller's second account"


def test_the_withdrawn_bidder_and_the_new_leader_are_told(open_page, seller, api, dev_auth):
    lot = seller.create_lot(title="Art deco table lamp", starting_price="10.00")
    bids = {}
    for user, maximum in (("alice", "20.00"), ("bob", "30.00")):
        client = Client(api, dev_auth.mint(user))
        bids[user] = client.bid(lot["lot_id"], maximum)["bid_id"]
        assert client.wait_for_outcome(bids[user])["status"] == "ACCEPTED"

    bob = open_page(f"#/lots/{lot['lot_id']}")
    sign_in(bob, "bob")
    live(bob)
    expect(standing(bob)).to_have_text("You are the highest bidder (your maximum €30.00).")
    alice = open_page("#/")  # elsewhere: her news comes as a notice
    sign_in(alice, "alice")
    live(alice)

    admin = Client(api, dev_auth.mint("ada", admin=True))
    response = admin.post(f"/lots/{lot['lot_id']}/bids/{bids['bob']}/retract", {"reason": REASON})
    assert response.status_code == 200, response.text

    expect(news(bob)).to_have_text(f"An administrator withdrew your bid: {REASON}")
    expect(fact(bob, "Leader")).to_have_text("Bidder 1")
    expect(notice(alice, "Art deco table lamp")).to_have_text(
        re.compile(r"^You lead again on Art deco table lamp at €10\.00: a higher bid was withdrawn\.\s*Dismiss$"))
    notice(alice, "Art deco table lamp").get_by_role("link").click()
    expect(standing(alice)).to_have_text("You are the highest bidder (your maximum €20.00).")
