"""The presenter's console in Chromium (fake camera): a reload mid-broadcast interrupts and
resumes the broadcast while a second page keeps watching in the WebRTC session it had; End
asks first and leaves no button that contradicts the server. Screenshots of the console at
1280 and 375 px in the three languages go to the artifacts folder."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.models import Slot
from tests.browser_support import chromium, wait_until
from tests.live_support import make_slot
from tests.test_browser_live import _prepare, _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.media]

CONN = "document.querySelector('[data-role=conn-state]').textContent"
FRAMES = "document.getElementById('player-video').getVideoPlaybackQuality().totalVideoFrames"


def _sending(page: Any) -> None:
    wait_until(page, "window.cloudexpo.golive && window.cloudexpo.golive.phase() === 'sending'", timeout=40000)


def console(browser: Any, base: str, slot_id: int, lang: str = "en") -> tuple[Any, Any]:
    """The booth staff's browser context and the slot's console in it."""
    staff = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    _sign_in(staff, base, "staff@example.org")
    page = staff.new_page()
    page.goto(f"{base}/dashboard/live/{slot_id}?lang={lang}")
    return staff, page


def in_thread(coro: Any) -> Any:
    """Run a coroutine to its end from inside Playwright's sync API (which holds this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _frames_flow(watch: Any, more: int = 20, timeout: float = 15000) -> None:
    start = watch.evaluate(FRAMES)
    wait_until(watch, f"{FRAMES} >= {start + more}", timeout=timeout)


def test_reload_resumes_while_a_viewer_keeps_watching_and_end_asks_first(live_server: Any, artifacts: Path) -> None:
    slot_id = _prepare(live_server.settings)
    base = live_server.url
    errors: list[str] = []
    with chromium() as browser:
        staff, golive = console(browser, base, slot_id)
        golive.on("pageerror", lambda exc: errors.append(f"golive: {exc}"))
        assert golive.text_content('[data-role="start-label"]') == "Start broadcast"
        assert golive.is_disabled('[data-role="end"]') and golive.is_disabled('[data-role="pause"]')
        golive.click('[data-role="use-camera"]')
        wait_until(golive, "document.getElementById('preview-video').videoWidth > 0", timeout=15000)
        golive.click('[data-role="start"]')
        wait_until(golive, f"{CONN} === 'sending'", timeout=20000)
        assert golive.is_disabled('[data-role="start"]') and golive.is_enabled('[data-role="end"]')

        viewer = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True)
        watch = viewer.new_page()
        watch.on("pageerror", lambda exc: errors.append(f"watch: {exc}"))
        whep_posts: list[str] = []
        watch.on("request", lambda r: whep_posts.append(r.url) if r.method == "POST" and "/whep/" in r.url else None)
        watch.goto(f"{base}/live/{slot_id}")
        wait_until(watch, "document.getElementById('player-video').videoWidth > 0", timeout=20000)
        _frames_flow(watch)
        watch.evaluate("window.kept = 'the same page'")
        wait_until(golive, "document.querySelector('[data-role=viewer-count]').textContent === '1'", timeout=10000)
        golive.fill("#chat-text", "Welcome, everyone — questions here please")
        golive.press("#chat-text", "Enter")
        wait_until(golive, "document.querySelector('[data-role=chat-list]').textContent.includes('Welcome, everyone')", timeout=10000)
        wait_until(watch, "document.querySelector('[data-role=chat-list]').textContent.includes('Welcome, everyone')", timeout=10000)

        # a reload mid-broadcast: the broadcast is only interrupted and the page offers to resume
        golive.reload()
        wait_until(golive, "!document.querySelector('[data-role=resume-offer]').hidden", timeout=10000)
        wait_until(golive, "document.querySelector('[data-role=air-state]').textContent === 'Interrupted'", timeout=10000)
        assert golive.text_content('[data-role="start-label"]') == "Resume broadcast"
        assert golive.is_enabled('[data-role="end"]') and golive.is_disabled('[data-role="pause"]')
        wait_until(watch, "!document.querySelector('[data-msg=interrupted]').hidden", timeout=10000)
        info = httpx.get(f"{base}/api/slots/{slot_id}").json()
        assert info["state"] == "live" and info["publisher"] == "interrupted"
        golive.screenshot(path=str(artifacts / "console-interrupted-en-1280.png"), full_page=True)
        watch.screenshot(path=str(artifacts / "console-viewer-waits-375.png"))
        wait_until(golive, "document.getElementById('preview-video').videoWidth > 0", timeout=15000)  # the camera is back
        golive.click('[data-role="resume"]')
        wait_until(golive, f"{CONN} === 'sending'", timeout=20000)
        # the watcher was not reloaded, kept its one WHEP session, and decodes the new session
        wait_until(watch, "document.querySelector('[data-msg=interrupted]').hidden", timeout=10000)
        _frames_flow(watch)
        assert watch.evaluate("window.kept") == "the same page"
        assert len(whep_posts) == 1, whep_posts

        # End asks first: "Keep broadcasting" changes nothing
        golive.click('[data-role="end"]')
        assert golive.is_visible('[data-role="end-dialog"]')
        golive.screenshot(path=str(artifacts / "console-end-dialog-en-1280.png"))
        golive.click('[data-role="end-dialog"] button[value="cancel"]')
        assert not golive.is_visible('[data-role="end-dialog"]')
        golive.wait_for_timeout(500)
        assert golive.evaluate(CONN) == "sending"
        assert httpx.get(f"{base}/api/slots/{slot_id}").json()["state"] == "live"

        # the console in the three languages at 1280 and 375 px (each page takes over from the one before)
        for lang in ("zh-Hans", "zh-Hant", "en"):
            page = staff.new_page()
            page.on("pageerror", lambda exc, lang=lang: errors.append(f"console {lang}: {exc}"))
            page.goto(f"{base}/dashboard/live/{slot_id}?lang={lang}")
            page.click('[data-role="use-camera"]')
            wait_until(page, "document.getElementById('preview-video').videoWidth > 0", timeout=15000)
            page.click('[data-role="start"]')
            _sending(page)
            wait_until(page, "document.querySelector('[data-role=bitrate]').textContent !== '—'", timeout=15000)
            page.screenshot(path=str(artifacts / f"console-{lang}-1280.png"), full_page=True)
            page.set_viewport_size({"width": 375, "height": 812})
            page.wait_for_timeout(300)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            page.screenshot(path=str(artifacts / f"console-{lang}-375.png"), full_page=True)
            golive.close()
            golive = page
        _frames_flow(watch)
        assert len(whep_posts) == 1, whep_posts

        # End, confirmed: the broadcast ends for everyone and no button says otherwise
        golive.set_viewport_size({"width": 1280, "height": 900})
        golive.click('[data-role="end"]')
        golive.click('[data-role="end-confirm"]')
        wait_until(golive, "document.querySelector('[data-role=air-state]').textContent === 'Ended'", timeout=10000)
        assert golive.evaluate(f"{CONN} === JSON.parse(document.getElementById('golive-strings').textContent).endedConn")
        assert golive.evaluate("window.cloudexpo.golive.phase()") == "ended"
        for role in ("start", "pause", "end", "use-camera", "share-screen"):
            assert golive.is_disabled(f'[data-role="{role}"]'), role
        assert golive.is_visible('[data-role="ended-note"]') and not golive.is_visible('[data-role="resume-offer"]')
        watch.wait_for_selector('[data-msg="ended"]:not([hidden])', timeout=15000)
        assert httpx.get(f"{base}/api/slots/{slot_id}").json()["state"] == "ended"
        golive.screenshot(path=str(artifacts / "console-ended-en-1280.png"), full_page=True)
        # a reload after the End offers nothing to resume
        golive.reload()
        golive.wait_for_timeout(1000)
        assert golive.is_disabled('[data-role="start"]') and not golive.is_visible('[data-role="resume-offer"]')
    assert not errors, errors


def test_time_left_warns_at_5_and_1_minutes_and_follows_a_moved_end(live_server: Any, artifacts: Path) -> None:
    _prepare(live_server.settings)

    async def slot_ending_in(seconds: int) -> int:
        import_models()
        svc = Services.from_settings(live_server.settings)
        try:
            slot_id, _ = await make_slot(svc, stage="release-t", start_in=dt.timedelta(minutes=-10), minutes=10)
            await move_end(svc, slot_id, seconds)
            return slot_id
        finally:
            await svc.db.close()

    async def move_end(svc: Services, slot_id: int, seconds: int) -> None:
        async with svc.db.session() as db:
            row = await db.get(Slot, slot_id)
            assert row is not None
            row.ends_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
            await db.commit()

    async def extend(slot_id: int, seconds: int) -> None:
        import_models()
        svc = Services.from_settings(live_server.settings)
        try:
            await move_end(svc, slot_id, seconds)
        finally:
            await svc.db.close()

    slot_id = asyncio.run(slot_ending_in(4 * 60 + 30))
    base = live_server.url
    with chromium() as browser:
        _, page = console(browser, base, slot_id)
        wait_until(page, "!document.querySelector('[data-role=time-warning]').hidden", timeout=5000)
        assert page.text_content('[data-role="time-warning"]') == "5 minutes left in your slot."
        assert page.evaluate("document.querySelector('[data-role=time-left]').className") == "warn"
        in_thread(extend(slot_id, 50))  # the page follows the slot's current end (polled every 2 s)
        wait_until(page, "document.querySelector('[data-role=time-warning]').textContent === '1 minute left in your slot.'", timeout=8000)
        page.screenshot(path=str(artifacts / "console-one-minute-en-1280.png"))
        in_thread(extend(slot_id, 20 * 60))  # a moderator extends it: no warning any more
        wait_until(page, "document.querySelector('[data-role=time-warning]').hidden", timeout=8000)
        in_thread(extend(slot_id, -30))  # past the end: overtime until the overrun ends it
        wait_until(page, "document.querySelector('[data-role=time-label]').textContent === 'Overtime'", timeout=8000)
        assert "ends by itself at" in page.text_content('[data-role="time-warning"]')
