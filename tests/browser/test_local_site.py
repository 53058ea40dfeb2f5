"""What the local gateway adds for the page in web/: its configuration at /config.json
and development sign-in at POST /dev/token (neither exists in AWS)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from tests.e2e.helpers import Client


def test_the_page_and_its_configuration_are_served(app_stack, api):
    page = requests.get(api + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="js/app.js">' in page.text
    module = requests.get(api + "/js/app.js", timeout=10)
    assert module.headers["Content-Type"].startswith("text/javascript")

    config = requests.get(api + "/config.json", timeout=10).json()
    assert config == {"rest": api, "websocket": app_stack.endpoints["websocket"], "dev_tokens": True}


def test_the_configuration_names_the_host_the_browser_asked_for(app_stack, api):
    port = urlsplit(api).port
    config = requests.get(api + "/config.json", headers={"Host": f"localhost:{port}"}, timeout=10).json()
    websocket_port = urlsplit(app_stack.endpoints["websocket"]).port
    assert (config["rest"], config["websocket"]) == (f"http://localhost:{port}", f"ws://localhost:{websocket_port}")


def test_a_development_token_signs_in_a_bidder(api, seller):
    lot = seller.create_lot()
    answer = requests.post(api + "/dev/token", json={"user": "grace", "admin": False}, timeout=10)
    assert answer.status_code == 200 and answer.json()["user"] == "grace"
    grace = Client(api, answer.json()["token"])
    assert grace.wait_for_outcome(grace.bid(lot["lot_id"], "10.00")["bid_id"])["status"] == "ACCEPTED"


def test_a_development_token_needs_a_user_name(api):
    for body in ({}, {"user": ""}, {"user": "a b"}, {"user": "x" * 65}, {"user": "ok", "admin": "yes"}, ["grace"]):
        answer = requests.post(api + "/dev/token", json=body, timeout=10)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["code"] == "INVALID_REQUEST"
    json_type = {"Content-Type": "application/json"}
    assert requests.post(api + "/dev/token", data="{oops", headers=json_type, timeout=10).status_code == 400
    assert requests.get(api + "/dev/token", timeout=10).status_code in (403, 404)


def test_a_development_token_is_json_only_and_a_name_stays_its_first_clients(api):
    # A form post (what a page on another site can send without a preflight) is refused.
    form = requests.post(api + "/dev/token", data={"user": "heidi"}, timeout=10)
    assert (form.status_code, form.json()["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    first = requests.Session()
    assert first.post(api + "/dev/token", json={"user": "heidi"}, timeout=10).status_code == 200
    taken = requests.post(api + "/dev/token", json={"user": "heidi"}, timeout=10)
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "NAME_TAKEN")
    assert first.post(api + "/dev/token", json={"user": "heidi"}, timeout=10).status_code == 200  # its cookie
    admin = requests.post(api + "/dev/token", json={"user": "ivan", "admin": True}, timeout=10)
    assert admin.status_code == 403  # from this machine too: admin needs the run secret


def test_the_page_has_a_favicon_and_the_old_name_answers_without_an_error(api):
    page = requests.get(api + "/", timeout=10)
    assert '<link rel="icon" href="favicon.svg" type="image/svg+xml">' in page.text
    icon = requests.get(api + "/favicon.svg", timeout=10)
    assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/svg+xml"
    assert icon.text.startswith("<svg")
    # Browsers that ask for /favicon.ico anyway get no content rather than the gateway's 403.
    old = requests.get(api + "/favicon.ico", timeout=10)
    assert (old.status_code, old.content) == (204, b"")
