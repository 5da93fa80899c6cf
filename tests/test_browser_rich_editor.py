"""In Chromium: an exhibitor formats a booth description in the rich-text editor (bold, a link);
the booth page shows it, sanitised (nh3), and the editor opens again with what was saved."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cloudexpo import accounts
from cloudexpo.app import open_services
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD, LiveServer
from tests.test_booths_support import make_expo

pytestmark = pytest.mark.browser


async def _add_editor(services: Any, exhibitor_id: int) -> None:
    async with services.db.session() as db:
        await accounts.create_user(db, "editor@byd.example.org", PASSWORD, display_name="王编辑", role="exhibitor",
                                   exhibitor_id=exhibitor_id, language="en")
        await db.commit()


async def _seed(live: LiveServer) -> dict[str, Any]:
    """The small exhibition and a member of 1A-001's staff, in the live server's database."""
    services = open_services(live.settings)
    try:
        await services.db.migrate()
        booths = await make_expo(services)
        await _add_editor(services, booths.exhibitors["1A-001"])
        return {"booth": booths.booths["1A-001"]}
    finally:
        await services.close()


def test_bold_and_a_link_typed_in_the_editor_are_saved_sanitised(live_server: LiveServer, artifacts: Path) -> None:
    seed = asyncio.run(_seed(live_server))
    url = live_server.url
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(120_000)  # a busy machine
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/lang/en?next=/signin")
        page.fill("input[name=email]", "editor@byd.example.org")
        page.fill("input[name=password]", PASSWORD)
        page.click("form.stack button[type=submit]")
        page.wait_for_url(f"{url}/")

        page.goto(f"{url}/dashboard/booths/{seed['booth']}")
        wait_until(page, "document.querySelectorAll('.rich-editor').length === 3")
        assert page.locator("textarea[name=description_en]").is_hidden()
        editor = page.locator("#description-en + .rich-editor .rich-surface")
        assert editor.get_attribute("aria-labelledby") == "description-label-en"
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        page.locator("#description-en + .rich-editor button.rich-bold").click()
        page.keyboard.type("Batteries tested")
        page.locator("#description-en + .rich-editor button.rich-bold").click()
        page.keyboard.type(" by TÜV")
        # select "TÜV" and make it a link (the toolbar asks for the address)
        for _ in range(3):
            page.keyboard.press("Shift+ArrowLeft")
        page.once("dialog", lambda dialog: dialog.accept("https://www.tuvsud.com/"))
        page.locator("#description-en + .rich-editor button.rich-link").click()
        page.screenshot(path=str(artifacts / "rich-editor-en-1280.png"), full_page=True)
        page.click("form.stack button[type=submit]")
        page.wait_for_load_state()
        assert not errors, errors

        page.goto(f"{url}/booths/1A-001?lang=en")
        about = page.locator(".rich").first.inner_html()
        assert "<strong>Batteries tested</strong> by" in about, about
        link = page.locator(".rich a[href='https://www.tuvsud.com/']")
        assert link.inner_text() == "TÜV"
        assert link.get_attribute("rel") == "noopener noreferrer"  # sanitised on the server, as before

        # the editor opens again with what was saved
        page.goto(f"{url}/dashboard/booths/{seed['booth']}")
        wait_until(page, "document.querySelectorAll('.rich-editor').length === 3")
        html = page.locator("#description-en + .rich-editor .rich-surface").inner_html()
        assert "Batteries tested" in html and "tuvsud.com" in html
        page.set_viewport_size({"width": 375, "height": 812})
        page.wait_for_timeout(150)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.screenshot(path=str(artifacts / "rich-editor-en-375.png"), full_page=True)
