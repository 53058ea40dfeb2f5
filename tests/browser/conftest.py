"""The lot page in a real browser: Debian's headless Chromium driven by Playwright, against
the whole application on the local runtime (the end-to-end tests' stack)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright import sync_api  # the `test` extra; the browser itself is Debian's chromium

from local.cognito.user_pool import DevAuth
from samsold_cli.dev_site import DEV_TOKEN_PATH, SECRET_COOKIE
from tests.conftest import local_app_stack
from tests.e2e.helpers import Client

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Headless, and kept off the network: no update checks, no sync, no QUIC probing.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs"
TESTER_SECRET = secrets.token_urlsafe(24)


# However loaded the machine, an expectation waits this long for the page to show what it
# should (Playwright's default is 5 s): the tests say what the page shows, not how fast.
sync_api.expect.set_options(timeout=30_000)


@pytest.fixture(scope="package")
def app_stack(tmp_path_factory):
    """A stack of the browser tests' own: the lists they read hold only their lots, not the
    end-to-end tests' (whose stack is stopped before this one starts)."""
    yield from local_app_stack(tmp_path_factory)


@pytest.fixture(scope="package")
def api(app_stack) -> str:
    return app_stack.endpoints["rest"]


@pytest.fixture(scope="package")
def dev_auth(app_stack) -> DevAuth:
    return DevAuth(app_stack.data_dir)


@pytest.fixture(scope="session")
def browser() -> Iterator[sync_api.Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/install-browser.sh (make setup does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, api) -> Iterator[Callable[[str], sync_api.Page]]:
    """Opens the app at a route (such as "#/lots/x") in a fresh browser context: its own
    storage, so each one is a separate visitor."""
    contexts = []

    def open_(route: str = "", width: int = 1100) -> sync_api.Page:
        """`width`: the viewport's, in CSS pixels (375: a phone's)."""
        phone = width < 600
        context = browser.new_context(
            base_url=api, locale="en-US", timezone_id="UTC", viewport={"width": width, "height": 740 if phone else 860},
            is_mobile=phone, has_touch=phone,
        )
        # The development names are the tester's: every visitor's browser holds the secret
        # that keeps them (POST /dev/token gives a name to its first client only).
        context.add_cookies([{"name": SECRET_COOKIE, "value": TESTER_SECRET, "url": f"{api}{DEV_TOKEN_PATH}"}])
        contexts.append(context)
        page = context.new_page()
        page.goto(f"/{route}")
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="package")
def seller(api, dev_auth) -> Client:
    return Client(api, dev_auth.mint("sam-the-seller", seller=True, handle="sam"))


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """Saves a page's screenshot in test-artifacts/; one named `doc` also as docs/{doc}.png
    when SAMSOLD_UPDATE_SCREENSHOTS=1 (how the README's pictures are made)."""

    def take(page: sync_api.Page, name: str, doc: str | None = None) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if doc is not None and os.environ.get("SAMSOLD_UPDATE_SCREENSHOTS") == "1":
            shutil.copyfile(path, DOCS / f"{doc}.png")
        return path

    return take
