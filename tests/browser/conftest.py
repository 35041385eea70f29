"""Browser tests: Playwright's sync API driving the machine's Chromium against the real ASGI server.

Without /usr/bin/chromium (or the playwright package) they are skipped with a reason;
under CI=true a missing browser is a failure instead.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"


def browser_missing_reason() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = browser_missing_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        return  # the browser fixture fails each test: CI must not pass without them
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {reason}"))


def orm(fn, *args, **kwargs):
    """Run ORM code off the Playwright thread: its sync API keeps an event loop running
    there, and Django (rightly) refuses sync ORM calls inside a running loop."""

    def call():
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


@pytest.fixture(scope="session")
def live_url(django_db_setup, django_db_blocker):
    from tests.live import running_server

    with django_db_blocker.unblock(), running_server() as base_url:
        yield base_url


@pytest.fixture
def browser(live_url, transactional_db):
    # Per test, and only after the database fixtures: Playwright's sync API keeps an
    # event loop running in this thread while it is open, and Django's database setup
    # and flush (rightly) refuse to run inside one.
    reason = browser_missing_reason()
    if reason is not None:
        pytest.fail(f"CI=true, so a missing browser is a failure: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ConsoleWatcher:
    """Collects console errors, failed requests and 4xx/5xx answers of a page."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda res: res.status >= 400 and self.problems.append(f"{res.status}: {res.url}"))

    def _failed(self, request) -> None:
        # Leaving a page cancels its requests in flight (ERR_ABORTED): not an error of the page.
        if "ERR_ABORTED" not in (request.failure or ""):
            self.problems.append(f"failed: {request.url} {request.failure}")


@pytest.fixture
def page(browser, live_url, transactional_db):
    context = browser.new_context(base_url=live_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.console = ConsoleWatcher(page)
    yield page
    context.close()


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def pytest_configure(config):
    # Also registered in pyproject.toml; kept here so this folder works on its own.
    config.addinivalue_line("markers", "browser: drives Chromium through Playwright against the real ASGI server")
