"""The base layout in a real browser: three languages, desktop and phone widths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import chromium
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": (1280, 900), "phone": (375, 812)}
TITLES = {"zh-Hans": "质量之光", "zh-Hant": "質量之光", "en": "Light of Quality"}


def test_layout_in_every_language_and_width(live_server: LiveServer, artifacts: Path) -> None:
    with chromium() as browser:
        for name, (width, height) in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            for lang, title in TITLES.items():
                page.goto(f"{live_server.url}/lang/{lang}?next=/")
                assert page.locator("html").get_attribute("lang") == lang
                assert title in page.locator(".brand").inner_text()
                # nothing wider than the viewport: usable at 375 px without sideways scrolling
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                assert scroll_width <= width, f"{lang} at {width}px scrolls sideways ({scroll_width}px)"
                page.screenshot(path=str(artifacts / f"layout-{lang}-{name}.png"), full_page=True)
            if name == "phone":
                nav = page.locator("#site-nav")
                assert not nav.is_visible()
                page.locator(".nav-toggle").click()
                assert nav.is_visible()
                assert page.locator(".nav-toggle").get_attribute("aria-expanded") == "true"
                page.screenshot(path=str(artifacts / "layout-en-phone-menu.png"))
            page.close()


def test_sign_up_and_sign_in_in_the_browser(live_server: LiveServer, artifacts: Path) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/signup?lang=en")
        page.fill("input[name=display_name]", "Lin Wei")
        page.fill("input[name=email]", "lin@example.org")
        page.fill("input[name=password]", "short")
        page.click("button[type=submit]")
        # the browser's own minlength check stops the form; bypass it to see the server's answer
        page.evaluate("document.querySelector('input[name=password]').removeAttribute('minlength')")
        page.click("button[type=submit]")
        assert "at least 8 characters" in page.locator(".alert.error").inner_text()
        page.fill("input[name=password]", "a long enough password")
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        assert "Lin Wei" in page.locator(".who").inner_text()
        page.screenshot(path=str(artifacts / "signed-in-en.png"))
        page.click("text=Sign out")
        page.wait_for_selector("a.button.small")
        page.goto(f"{live_server.url}/signin?lang=en")
        page.fill("input[name=email]", "lin@example.org")
        page.fill("input[name=password]", "a long enough password")
        page.click("form.stack button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        assert "Lin Wei" in page.locator(".who").inner_text()
