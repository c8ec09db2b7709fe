"""Browser tests: Playwright driving Debian's Chromium (never Playwright's own
download) against pytest-django's live server, with a real Redis."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import User

# Playwright's sync API keeps an event loop running in this thread; the ORM calls the
# tests make between browser steps are still synchronous (Django's documented escape hatch).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-test-password"


def chromium() -> str:
    path = os.environ.get("FAIRQUEUE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(
            "Chromium not found: `make test` installs Debian's chromium package "
            "(sudo apt-get install chromium), or set FAIRQUEUE_CHROMIUM to a Chromium binary."
        )
    return path


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API runs an event loop in this thread while it is open,
    which would break asyncio.run() in later tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def site(fq_settings, live_server, transactional_db):
    return live_server.url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page, site: str, username: str) -> None:
    """Submit the login form and wait until the browser has left it: waiting for 'network idle'
    could return before the POST started on a busy machine, and the test's next goto then
    cancelled the login (seen once with a core kept busy)."""
    page.goto(f"{site}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url, timeout=30_000)


@pytest.fixture
def operator(page, site):
    """A signed-in superuser (every permission)."""
    User.objects.create_superuser("operator", password=PASSWORD)
    sign_in(page, site, "operator")
    return page


@pytest.fixture
def shots():
    """Where screenshots go: FAIRQUEUE_SCREENSHOTS (make screenshots -> docs/screenshots), else nowhere."""
    target = os.environ.get("FAIRQUEUE_SCREENSHOTS")
    directory = Path(target) if target else None
    if directory:
        directory.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        if directory:
            page.screenshot(path=str(directory / f"{name}.png"), full_page=True)

    return take
