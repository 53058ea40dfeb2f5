"""A staggered sale's page in headless Chromium against the local stack: its lots in
closing order with their state, price and close time, kept live; each lot links to its
page, which links back to the sale."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import expect

from ledger.domain.values import format_time, utc_now
from tests.e2e.helpers import Client


def test_a_sale_shows_its_lots_in_order_live_and_links_both_ways(open_page, seller, api, dev_auth, screenshot):
    prefix = uuid.uuid4().hex[:8]
    titles = ["Pewter jug", "Silver spoon", "Tin soldier"]
    body = {"sale_id": f"sale-{prefix}", "title": "Kitchen sale", "interval_s": 60,
            "first_closes_at": format_time(utc_now() + timedelta(minutes=10)),
            "lots": [{"lot_id": f"sam-{prefix}-{n}", "title": title, "currency": "EUR", "starting_price": "10.00"}
                     for n, title in enumerate(titles, start=1)]}
    created = seller.post("/sales", body)
    assert created.status_code == 201, created.text

    page = open_page(f"#/sales/{body['sale_id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kitchen sale")
    expect(page.locator("#sale-summary")).to_contain_text("3 lots, closing one after another 60 s apart")
    rows = page.locator("#sale-lots tbody tr")
    expect(rows).to_have_count(3)
    assert page.locator("#sale-lots tbody th").all_inner_texts() == titles
    expect(rows.nth(1)).to_contain_text("€10.00 (starting price)")
    expect(rows.nth(1)).to_contain_text("Open")

    # A bid on lot 2 shows on the sale's page without a reload (pushed, or the next read).
    bidder = Client(api, dev_auth.mint("sale-page-bidder"))
    assert bidder.wait_for_outcome(bidder.bid(f"sam-{prefix}-2", "12.00")["bid_id"])["status"] == "ACCEPTED"
    # The first bid opens at the starting price: the price is no longer "starting", and one bid.
    expect(rows.nth(1).locator("td").nth(3)).to_have_text("1", timeout=20_000)
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("€10.00")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("€10.00 (starting price)")
    screenshot(page, "sale-page")

    page.get_by_role("link", name="Silver spoon", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Silver spoon")
    page.get_by_role("link", name="This lot's sale").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kitchen sale")

    missing = open_page("#/sales/no-such-sale")
    expect(missing.get_by_role("heading", level=1)).to_have_text("Sale not found")


def test_a_sale_of_more_lots_than_a_page_shows_the_rest_on_more(open_page, seller):
    prefix = uuid.uuid4().hex[:8]
    body = {"sale_id": f"big-{prefix}", "title": "Estate sale", "interval_s": 10,
            "first_closes_at": format_time(utc_now() + timedelta(minutes=30)),
            "lots": [{"lot_id": f"sam-{prefix}-{n}", "title": f"Estate lot {n}", "currency": "EUR", "starting_price": "5.00"}
                     for n in range(1, 102)]}
    created = seller.post("/sales", body)
    assert created.status_code == 201, created.text

    page = open_page(f"#/sales/{body['sale_id']}")
    rows = page.locator("#sale-lots tbody tr")
    expect(rows).to_have_count(100)
    expect(page.locator("#sale-summary")).to_contain_text("101 lots, closing one after another 10 s apart")
    expect(page.locator("#sale-summary")).to_contain_text("the first 100 shown")
    page.get_by_role("button", name="More").click()
    expect(rows).to_have_count(101)
    expect(rows.nth(100).locator("th")).to_have_text("Estate lot 101")
    expect(page.get_by_role("link", name="Estate lot 101", exact=True)).to_be_focused()
    expect(page.get_by_role("button", name="More")).to_have_count(0)
