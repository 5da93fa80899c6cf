"""Playwright on the system Chromium (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("CLOUDEXPO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # WebRTC on loopback only: fake devices, loopback candidates, plain addresses.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]


def require_chromium() -> None:
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return
    if IN_CI:
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
    pytest.skip("system Chromium not installed")


def wait_until(page: Any, expression: str, timeout: float = 30000) -> Any:
    """Wait until ``expression`` is truthy in the page, without eval in the page.

    Playwright's ``wait_for_function`` evaluates its predicate with ``eval``,
    which our Content-Security-Policy (no 'unsafe-eval') refuses, while
    ``page.evaluate`` goes through the DevTools protocol.
    """
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:.0f} ms: {expression}")
        page.wait_for_timeout(50)


def _watch_csp(browser: Any, violations: list[str]) -> None:
    """Collect every Content-Security-Policy violation any page of ``browser`` reports."""

    def watch(page: Any) -> None:
        def on_console(message: Any) -> None:
            if "Content Security Policy" in message.text:
                violations.append(f"{page.url}: {message.text}")

        page.on("console", on_console)

    new_context, new_page = browser.new_context, browser.new_page

    def watched_context(*args: Any, **kwargs: Any) -> Any:
        context = new_context(*args, **kwargs)
        context.on("page", watch)
        return context

    def watched_page(*args: Any, **kwargs: Any) -> Any:
        page = new_page(*args, **kwargs)
        watch(page)
        return page

    browser.new_context, browser.new_page = watched_context, watched_page


@contextmanager
def chromium(extra_args: list[str] | None = None) -> Iterator[Any]:
    """A headless system Chromium; yields the Playwright Browser.

    Every page it opens is watched for Content-Security-Policy violations:
    a page that loads or runs something our policy refuses fails the test.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    violations: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + (extra_args or []))
        _watch_csp(browser, violations)
        try:
            yield browser
        finally:
            browser.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


WIDTHS = {"1280": (1280, 900), "375": (375, 812)}
"""The widths every page is looked at: a laptop and a phone."""


def sign_in(page: Any, url: str, email: str, password: str, lang: str) -> None:
    """Sign in through the form, the pages in ``lang`` from then on."""
    page.goto(f"{url}/lang/{lang}?next=/signin")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{url}/")


def screenshots(page: Any, folder: Path, stem: str, *, full_page: bool = True) -> None:
    """``{stem}-1280.png`` and ``{stem}-375.png``; the page must not scroll sideways at either width."""
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(150)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{stem} scrolls sideways at {width}px ({scroll}px)"
        page.screenshot(path=str(folder / f"{stem}-{label}.png"), full_page=full_page)
    page.set_viewport_size({"width": 1280, "height": 900})
