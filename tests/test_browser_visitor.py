"""Chromium as a visitor on launch day: a muted visitor's chat input is disabled with the reason the
moment a moderator mutes them (and enabled again on unmute); the home page's "Live now / Up next"
strip follows the programme without a reload and sets a reminder. Screenshots of the strip at
1280 and 375 px in the three languages, and of the muted chat, go to the artifacts folder."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD
from tests.live_support import make_slot, slot_row
from tests.test_booths_support import make_expo

pytestmark = [pytest.mark.browser]


def _prepare(settings: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        import_models()
        svc = Services.from_settings(settings)
        try:
            expo = await make_expo(svc)
            async with svc.db.session() as db:
                visitor = await accounts.create_user(db, "visitor@example.org", PASSWORD, display_name="访客 Visitor")
                await accounts.create_user(db, "mod@example.org", PASSWORD, display_name="Moderator", role="moderator")
                await db.commit()
            booth = expo.booths["1A-001"]
            now = dt.datetime.now(dt.UTC)
            live, _ = await make_slot(svc, stage="release-a", booth_id=booth, state="live", live_at=now, minutes=60)
            nxt, _ = await make_slot(svc, stage="release-b", booth_id=booth, start_in=dt.timedelta(minutes=50))
            later, _ = await make_slot(svc, stage="release-c", booth_id=expo.booths["1A-002"],
                                       start_in=dt.timedelta(days=1, hours=2))
            starts = (await slot_row(svc, nxt)).starts_at  # the day the next launch is on in the exhibition's zone
            next_day = starts.astimezone(ZoneInfo(settings.timezone)).date().isoformat()
            return {"live": live, "next": nxt, "later": later, "visitor": visitor.id, "booth": booth, "next_day": next_day}
        finally:
            await svc.db.close()

    return asyncio.run(go())


def _sign_in(context: Any, base: str, email: str) -> str:
    csrf = context.request.get(f"{base}/api/me").json()["csrf_token"]
    response = context.request.post(f"{base}/api/session", data={"email": email, "password": PASSWORD},
                                    headers={"X-CSRF-Token": csrf})
    assert response.ok, response.text()
    return str(context.request.get(f"{base}/api/me").json()["csrf_token"])


def _moderator_and_visitor(browser: Any, base: str, width: int, locale: str) -> tuple[Any, str, Any, Any, list[str]]:
    """A moderator's context (and its CSRF token), a visitor's context and a page of it collecting script errors."""
    mod = browser.new_context()
    mod_csrf = _sign_in(mod, base, "mod@example.org")
    visitor = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    _sign_in(visitor, base, "visitor@example.org")
    page = visitor.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return mod, mod_csrf, visitor, page, errors


def _input_state(page: Any) -> Any:
    return page.evaluate("""() => ({
        disabled: document.getElementById('chat-text').disabled,
        send: document.querySelector('[data-role="chat-form"] button').disabled,
        reason: document.querySelector('[data-role="chat-muted"]').hidden ? '' :
                document.querySelector('[data-role="chat-muted"]').textContent.trim(),
    })""")


def test_a_muted_visitor_cannot_write_and_sees_why(live_server: Any, artifacts: Path) -> None:
    world = _prepare(live_server.settings)
    base, slot = live_server.url, world["live"]
    with chromium() as browser:
        mod, mod_csrf, _, page, errors = _moderator_and_visitor(browser, base, 375, "zh-CN")
        page.goto(f"{base}/live/{slot}")
        wait_until(page, "document.querySelector('[data-role=\"viewers\"]') !== null")
        assert _input_state(page) == {"disabled": False, "send": False, "reason": ""}
        page.fill("#chat-text", "大家好")
        page.press("#chat-text", "Enter")
        wait_until(page, "[...document.querySelectorAll('.chat-text')].some(e => e.textContent === '大家好')")

        muted = mod.request.post(f"{base}/api/slots/{slot}/mutes", data={"user_id": world["visitor"]},
                                 headers={"X-CSRF-Token": mod_csrf})
        assert muted.status == 201, muted.text()
        wait_until(page, "document.getElementById('chat-text').disabled")
        state = _input_state(page)
        assert state["send"] is True and state["reason"] == "管理员已将您在此聊天中禁言：您可以查看消息，但不能发言。"
        page.screenshot(path=str(artifacts / "visitor-chat-muted-375-zh-Hans.png"), full_page=True)

        # Reloaded, the page knows it too.
        page.reload()
        assert _input_state(page)["disabled"] is True

        unmuted = mod.request.delete(f"{base}/api/slots/{slot}/mutes/{world['visitor']}",
                                     headers={"X-CSRF-Token": mod_csrf})
        assert unmuted.ok, unmuted.text()
        wait_until(page, "!document.getElementById('chat-text').disabled")
        assert _input_state(page) == {"disabled": False, "send": False, "reason": ""}
        assert not errors, errors


@pytest.mark.exhibition_zone(local_hour=23)  # the next launch (in 50 minutes) is most often tomorrow
def test_the_home_strip_follows_the_programme_and_reminds(live_server: Any, artifacts: Path) -> None:
    world = _prepare(live_server.settings)
    base = live_server.url
    with chromium() as browser:
        for lang in ("zh-Hans", "en", "zh-Hant"):
            for width in (1280, 375):
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                page.goto(f"{base}/?lang={lang}")
                strip = page.locator("[data-live-strip]")
                assert strip.is_visible()
                overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
                assert not overflow, f"the home page scrolls sideways at {width} px ({lang})"
                strip.screenshot(path=str(artifacts / f"home-strip-{width}-{lang}.png"))
                context.close()

        mod, mod_csrf, visitor, page, errors = _moderator_and_visitor(browser, base, 1280, "en-US")
        page.goto(f"{base}/?lang=en")
        live_item = f"[data-live-strip] [data-slot=\"{world['live']}\"]"
        assert page.locator(live_item).count() == 1
        wait_until(page, "window.cloudexpo && window.cloudexpo.bindBookmarks !== undefined")

        # Remind me, then cancel, then again: the server agrees each time.
        button = page.locator(f"[data-live-strip] [data-bookmark-id=\"{world['next']}\"]")
        assert button.text_content().strip() == "Remind me"
        button.click()
        wait_until(page, f"document.querySelector('[data-live-strip] [data-bookmark-id=\"{world['next']}\"]').getAttribute('aria-pressed') === 'true'")
        assert visitor.request.get(f"{base}/api/bookmarks/launch/{world['next']}").json()["bookmarked"] is True
        assert button.text_content().strip() == "Reminder set"

        # A moderator ends the live launch: it leaves the strip without a reload.
        ended = mod.request.post(f"{base}/api/slots/{world['live']}/end", headers={"X-CSRF-Token": mod_csrf})
        assert ended.ok, ended.text()
        wait_until(page, f"document.querySelector('{live_item}') === null", timeout=15000)
        # The reloaded strip still shows the reminder as set, and its button still works.
        pressed = page.locator(f"[data-live-strip] [data-bookmark-id=\"{world['next']}\"]")
        assert pressed.get_attribute("aria-pressed") == "true"
        pressed.click()
        wait_until(page, f"document.querySelector('[data-live-strip] [data-bookmark-id=\"{world['next']}\"]').getAttribute('aria-pressed') === 'false'")
        assert visitor.request.get(f"{base}/api/bookmarks/launch/{world['next']}").json()["bookmarked"] is False
        page.locator("[data-live-strip]").screenshot(path=str(artifacts / "home-strip-after-end-1280-en.png"))

        # The watch page of a coming launch: remind, and the way back to the booth, a card, a meeting.
        watch = visitor.new_page()
        watch.set_viewport_size({"width": 375, "height": 900})
        watch.goto(f"{base}/live/{world['next']}?lang=zh-Hans")
        actions = watch.locator(".watch-actions")
        assert actions.locator("[data-bookmark-kind=launch]").text_content().strip() == "提醒我"
        hrefs = [a.get_attribute("href") for a in actions.locator("a").all()]
        assert hrefs == ["/booths/1A-001", f"/booths/{world['booth']}/contact#card", f"/booths/{world['booth']}/contact#meet"]
        watch.screenshot(path=str(artifacts / "watch-coming-375-zh-Hans.png"), full_page=True)

        # The programme: "Remind me" on each coming launch, in its true state without asking the server.
        programme = visitor.new_page()
        # the programme of the day the launch is on: after 23:10 in the exhibition's zone, that is tomorrow
        programme.goto(f"{base}/programme?day={world['next_day']}&lang=en")
        assert programme.locator(f"[data-bookmark-id=\"{world['next']}\"]").get_attribute("aria-pressed") == "false"
        programme.screenshot(path=str(artifacts / "programme-remind-1280-en.png"), full_page=True)

        # The booth page loads its own strip (its HTML is cached) with the booth's launches only.
        booth = visitor.new_page()
        booth.goto(f"{base}/booths/1A-001?lang=en")
        wait_until(booth, f"document.querySelector('[data-live-strip] [data-slot=\"{world['next']}\"] [data-bookmark-id]') !== null")
        assert booth.locator(f"[data-live-strip] [data-slot=\"{world['later']}\"]").count() == 0
        assert not errors, errors
