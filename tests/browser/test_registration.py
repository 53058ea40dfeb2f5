"""A bidder's side of a sale that needs approval, in headless Chromium against the local
stack: "Register to bid", the pending state, "You are approved: Paddle n, limit ..." once the
seller approved, and a refused bid's reason in words on the lot's page."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import expect

from ledger.domain.values import format_time, utc_now
from local.cognito.user_pool import subject_for
from tests.browser.test_lot_page import bid, outcome, sign_in


def test_a_bidder_registers_waits_is_approved_and_is_refused_past_the_limit(open_page, seller, screenshot):
    prefix = uuid.uuid4().hex[:8]
    sale_id = f"approval-{prefix}"
    created = seller.post("/sales", {
        "sale_id": sale_id, "title": "Country house sale", "interval_s": 60, "registration": "approval",
        "first_closes_at": format_time(utc_now() + timedelta(minutes=20)),
        "lots": [{"lot_id": f"sam-{prefix}-1", "title": "Brass lantern", "currency": "EUR", "starting_price": "10.00"},
                 {"lot_id": f"sam-{prefix}-2", "title": "Copper kettle", "currency": "EUR", "starting_price": "10.00"}]})
    assert created.status_code == 201, created.text

    page = open_page(f"#/sales/{sale_id}")
    expect(page.locator("#registration-state")).to_have_text(
        "This sale needs the seller's approval to bid: sign in to register.")
    sign_in(page, "dave")
    page.get_by_role("button", name="Register to bid").click()
    expect(page.locator("#registration-state")).to_have_text("Your registration is waiting for the seller's approval.")
    expect(page.get_by_role("button", name="Register to bid")).to_be_hidden()

    approved = seller.post(f"/sales/{sale_id}/registrations/{subject_for('dave')}/approve", {"limit": "30.00"})
    assert approved.status_code == 200, approved.text
    page.reload()
    expect(page.locator("#registration-state")).to_have_text("You are approved: Paddle 1, limit €30.00")
    screenshot(page, "sale-registration")

    page.get_by_role("link", name="Brass lantern").click()
    bid(page, "20.00")
    expect(outcome(page)).to_contain_text("Accepted")
    page.get_by_role("link", name="This lot's sale").click()
    page.get_by_role("link", name="Copper kettle").click()
    bid(page, "20.00")  # 20.00 leading the lantern and 20.00 here would pass the limit of 30.00
    expect(outcome(page)).to_contain_text("it would take your bids in this sale past the limit the seller gave you.")
