"""A visitor tours the seed exhibition in the system Chromium: home → map → zone → booth, search, languages.

Screenshots at 1280 and 375 px go to the ``artifacts`` folder; axe-core (tests/vendor/axe.min.js)
must report no serious or critical violation on any page of the tour.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cloudexpo.app import seed_demo
from tests.browser_support import chromium, wait_until

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def axe_problems(page: Any) -> list[str]:
    page.evaluate(AXE.read_text())  # through DevTools: the page's CSP allows no inline <script>
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_visitor_tour(live_server: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    asyncio.run(seed_demo(live_server.settings))
    base = live_server.url
    shots = artifacts / "tour"
    shots.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    with chromium() as browser:  # also fails on any Content-Security-Policy violation
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = context.new_page()

        page.goto(f"{base}/")
        expect(page.locator("h1")).to_contain_text("质量之光")
        page.screenshot(path=str(shots / "home-1280.png"), full_page=True)
        problems["home"] = axe_problems(page)

        page.get_by_role("link", name="进入展馆平面图").click()
        page.wait_for_url("**/map")
        page.screenshot(path=str(shots / "map-1280.png"), full_page=True)
        problems["map"] = axe_problems(page)

        zone = page.locator('a.map-zone[href="/zones/innovation"]')
        zone.focus()  # the map works with the keyboard
        page.keyboard.press("Enter")
        page.wait_for_url("**/zones/innovation")
        expect(page.locator(".booth-card")).to_have_count(110)
        page.screenshot(path=str(shots / "zone-1280.png"), full_page=True)
        problems["zone"] = axe_problems(page)

        page.locator(".booth-card a").first.click()
        page.wait_for_url("**/booths/1A-*")
        expect(page.locator(".product-card").first).to_be_visible()
        page.screenshot(path=str(shots / "booth-1280.png"), full_page=True)
        problems["booth"] = axe_problems(page)

        # a booth with a video: it plays in the page
        page.goto(f"{base}/booths/1P-004")
        video = page.locator("video")
        if video.count():
            page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }")
            wait_until(page, "() => document.querySelector('video').currentTime > 0.3", timeout=15000)
            page.screenshot(path=str(shots / "booth-video-1280.png"))

        # Simplified query, Traditional page: the Traditional booth is found and highlighted
        page.goto(f"{base}/lang/zh-Hant?next=/search")
        page.fill('input[name="q"]', "郫县豆瓣")
        page.keyboard.press("Enter")
        page.wait_for_url("**/search?**")
        expect(page.locator(".result mark").first).to_have_text("郫縣豆瓣")
        page.screenshot(path=str(shots / "search-1280.png"), full_page=True)
        problems["search"] = axe_problems(page)

        # the language switch
        page.locator(".lang-switch summary").click()
        page.locator('.lang-switch a[hreflang="en"]').click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "en"
        expect(page.locator("#site-nav")).to_contain_text("Map")
        page.goto(f"{base}/booths/1A-001")
        expect(page.locator("h1")).to_contain_text("Heavy Equipment")

        phone = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True, has_touch=True)
        mobile = phone.new_page()
        for name, url in (("home", "/"), ("map", "/map"), ("zone", "/zones/geo-indication"), ("booth", "/booths/1A-001"),
                          ("search", f"/search?q={quote('汽车')}")):
            mobile.goto(f"{base}{url}")
            width = mobile.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 375, f"{name} scrolls sideways at 375 px ({width} px)"
            mobile.screenshot(path=str(shots / f"{name}-375.png"), full_page=True)
        problems["booth-375"] = axe_problems(mobile)
    bad = {name: found for name, found in problems.items() if found}
    assert not bad, bad
