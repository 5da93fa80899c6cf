"""Chromium goes live from the go-live page with its fake camera; a second page watches.
Screenshots of the go-live page, the watch page, the programme and the control room go
to the artifacts folder."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.seed import seed_programme
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD
from tests.live_support import make_slot

pytestmark = [pytest.mark.browser, pytest.mark.media]


def _prepare(settings: Any) -> int:
    async def go() -> int:
        import_models()
        svc = Services.from_settings(settings)
        try:
            async with svc.db.session() as db:
                await accounts.create_user(db, "staff@example.org", PASSWORD, display_name="展台员工 Staff", role="exhibitor", exhibitor_id=70)
                await accounts.create_user(db, "mod@example.org", PASSWORD, display_name="Moderator", role="moderator")
                await seed_programme(db, svc.secret_key)
                await db.commit()
            slot_id, _ = await make_slot(svc, stage="release-c", start_in=dt.timedelta(minutes=-2), minutes=60)
            return slot_id
        finally:
            await svc.db.close()

    return asyncio.run(go())


def _sign_in(context: Any, base: str, email: str) -> None:
    csrf = context.request.get(f"{base}/api/me").json()["csrf_token"]
    response = context.request.post(f"{base}/api/session", data={"email": email, "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
    assert response.ok, response.text()


def test_go_live_from_the_browser_and_watch(live_server: Any, artifacts: Path) -> None:
    slot_id = _prepare(live_server.settings)
    base = live_server.url
    with chromium() as browser:
        staff = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        _sign_in(staff, base, "staff@example.org")
        golive = staff.new_page()
        errors: list[str] = []
        golive.on("pageerror", lambda exc: errors.append(f"golive: {exc} {exc.stack}"))
        golive.goto(f"{base}/dashboard/live/{slot_id}?lang=en")
        assert golive.text_content('[data-role="air-state"]') in ("Scheduled", "Green room")
        golive.click('[data-role="use-camera"]')
        wait_until(golive, "document.getElementById('preview-video').videoWidth > 0", timeout=15000)
        golive.click('[data-role="start"]')
        wait_until(golive, "document.querySelector('[data-role=conn-state]').textContent === 'sending'", timeout=20000)
        wait_until(golive, "document.querySelector('[data-role=bitrate]').textContent.includes('kbit')", timeout=15000)
        wait_until(golive, "document.querySelector('[data-role=air-state]').classList.contains('live')", timeout=10000)
        assert golive.text_content('[data-role="air-state"]') == "Live"

        viewer_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True)
        watch = viewer_context.new_page()
        watch.on("pageerror", lambda exc: errors.append(f"watch: {exc} {exc.stack}"))
        watch.goto(f"{base}/live/{slot_id}")
        wait_until(watch, "document.getElementById('player-video').videoWidth > 0", timeout=20000)
        first = watch.evaluate("document.getElementById('player-video').currentTime")
        watch.wait_for_timeout(1500)
        second = watch.evaluate("document.getElementById('player-video').currentTime")
        assert second > first, (first, second)
        size = watch.evaluate("[document.getElementById('player-video').videoWidth, document.getElementById('player-video').videoHeight]")
        assert size[0] > 0 and size[1] > 0
        wait_until(watch, "Number(document.querySelector('[data-role=viewers]').textContent) >= 1", timeout=10000)
        golive.wait_for_timeout(1000)
        golive.screenshot(path=str(artifacts / "live-golive.png"), full_page=True)
        watch.screenshot(path=str(artifacts / "live-watch-phone.png"), full_page=True)

        desktop = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        programme = desktop.new_page()
        programme.goto(f"{base}/programme?lang=en")
        assert programme.locator(".badge.live").count() >= 1
        programme.screenshot(path=str(artifacts / "live-programme.png"), full_page=True)
        programme.goto(f"{base}/programme?day=2023-09-01&lang=en")
        programme.screenshot(path=str(artifacts / "live-programme-conference.png"), full_page=True)

        moderator = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        _sign_in(moderator, base, "mod@example.org")
        control = moderator.new_page()
        control.goto(f"{base}/moderate/live?lang=en")
        wait_until(control, "document.querySelector('[data-role=updated]').textContent !== ''", timeout=10000)
        control.screenshot(path=str(artifacts / "live-control-room.png"), full_page=True)

        # the broadcaster ends the broadcast (after confirming): the watcher sees the end
        golive.click('[data-role="end"]')
        golive.click('[data-role="end-confirm"]')
        watch.wait_for_selector('[data-msg="ended"]:not([hidden])', timeout=15000)
        watch.screenshot(path=str(artifacts / "live-watch-ended.png"))
        # only the live scripts are judged here (other areas' scripts on these pages have their own tests)
        ours = ("/js/ice.js", "/js/whip.js", "/js/whep.js", "/js/golive.js", "/js/presenter.js", "/js/watch.js", "/js/chat.js")
        assert not [e for e in errors if any(name in e for name in ours)], errors
