"""Chromium at a launch on two app nodes sharing Redis: one visitor's reactions burst on the other's
player, chat flies as bullet comments where they are on (Chinese pages) and not where they are off
(English, reduced motion — a quiet counter there), a presenter's pin shows on both players, slow mode
holds a visitor's second message; and a replay plays reactions, bullet comments and the pin in sync.
Screenshots at 1280 and 375 px in the three languages go to the artifacts folder."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.models import ChatMessage, ChatPin
from streaming.reaction_models import ReactionCount
from streaming.replay_models import Replay
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD
from tests.live_support import make_slot, two_app_nodes
from tests.test_replay_api import make_recording

pytestmark = [pytest.mark.browser]

OWN = 70


def _prepare(settings: Any) -> int:
    async def go() -> int:
        import_models()
        svc = Services.from_settings(settings)
        try:
            async with svc.db.session() as db:
                for email, name, role, exhibitor in (
                    ("ling@example.org", "林小雨", "visitor", None), ("sam@example.org", "Sam Taylor", "visitor", None),
                    ("mei@example.org", "陳美", "visitor", None), ("staff@example.org", "展台员工 Staff", "exhibitor", OWN),
                    ("mod@example.org", "Moderator", "moderator", None),
                ):
                    await accounts.create_user(db, email, PASSWORD, display_name=name, role=role, exhibitor_id=exhibitor)
                await db.commit()
            slot_id, _ = await make_slot(svc, state="live", live_at=dt.datetime.now(dt.UTC), exhibitor_id=OWN, minutes=60)
            return slot_id
        finally:
            await svc.db.close()

    return asyncio.run(go())


def _signed_in(browser: Any, base: str, email: str, **options: Any) -> Any:
    context = browser.new_context(**options)
    csrf = context.request.get(f"{base}/api/me").json()["csrf_token"]
    response = context.request.post(f"{base}/api/session", data={"email": email, "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
    assert response.ok, response.text()
    return context


def _api(context: Any, base: str, method: str, path: str, body: dict[str, Any]) -> Any:
    csrf = context.request.get(f"{base}/api/me").json()["csrf_token"]
    response = context.request.fetch(f"{base}{path}", method=method, data=body if method != "GET" else None, headers={"X-CSRF-Token": csrf})
    assert response.ok, response.text()
    return response.json()


def _tap(page: Any, kind: str, times: int = 1) -> None:
    for _ in range(times):
        page.click(f'[data-role="reactions"] [data-kind="{kind}"]')


def _count(page: Any, kind: str) -> str:
    return f"Number(document.querySelector('[data-role=reactions] [data-kind={kind}] [data-role=count]').textContent)"


def test_reactions_bullets_pin_and_slow_mode_between_visitors_on_two_nodes(tmp_path: Path, artifacts: Path) -> None:
    with two_app_nodes(tmp_path) as (url_a, url_b, settings):
        slot_id = _prepare(settings)
        with chromium() as browser:
            _journey(browser, url_a, url_b, slot_id, artifacts)


def _journey(browser: Any, url_a: str, url_b: str, slot_id: int, artifacts: Path) -> None:
    errors: list[str] = []
    ling = _signed_in(browser, url_a, "ling@example.org", viewport={"width": 1280, "height": 900}, locale="zh-CN")
    sam = _signed_in(browser, url_b, "sam@example.org", viewport={"width": 375, "height": 812}, locale="en-US",
                     is_mobile=True, has_touch=True)
    mei = _signed_in(browser, url_b, "mei@example.org", viewport={"width": 1280, "height": 900}, locale="zh-TW",
                     reduced_motion="reduce")
    pages = {}
    for name, context, base, lang in (("ling", ling, url_a, "zh-Hans"), ("sam", sam, url_b, "en"), ("mei", mei, url_b, "zh-Hant")):
        page = context.new_page()
        page.on("pageerror", lambda exc, who=name: errors.append(f"{who}: {exc}"))
        page.goto(f"{base}/live/{slot_id}?lang={lang}")
        page.wait_for_selector('[data-role="reactions"]:not([hidden])')
        pages[name] = page
    ling_page, sam_page, mei_page = pages["ling"], pages["sam"], pages["mei"]
    for page in pages.values():  # every page follows the slot before anyone taps
        wait_until(page, "window.cloudexpo.liveSocket && window.cloudexpo.liveSocket.ready()")
    # the presenter's console, on the other node, adds the audience's reactions up
    staff = _signed_in(browser, url_b, "staff@example.org")
    console = staff.new_page()
    console.on("pageerror", lambda exc: errors.append(f"console: {exc}"))
    console.goto(f"{url_b}/dashboard/live/{slot_id}?lang=en")
    wait_until(console, "window.cloudexpo.liveSocket && window.cloudexpo.liveSocket.ready()")

    # reactions on node A burst on node B's page, and the other way round
    _tap(ling_page, "like", 3)
    wait_until(sam_page, _count(sam_page, "like") + " === 3", timeout=10000)
    wait_until(console, "document.querySelector('[data-role=reaction-totals]').textContent === '👍 3'", timeout=10000)
    wait_until(sam_page, "document.querySelectorAll('[data-role=player] [data-role=bursts] .burst').length > 0", timeout=5000)
    sam_page.tap('[data-role="reactions"] [data-kind="heart"]')
    wait_until(ling_page, _count(ling_page, "heart") + " === 1", timeout=10000)
    # reduced motion: a quiet counter, no bursts
    wait_until(mei_page, _count(mei_page, "heart") + " === 1", timeout=10000)
    assert mei_page.locator('[data-role="player"] .burst').count() == 0
    _tap(ling_page, "clap")
    wait_until(ling_page, _count(ling_page, "clap") + " === 1", timeout=20000)  # counted: the tap reached node A
    wait_until(mei_page, _count(mei_page, "clap") + " === 1", timeout=20000)  # its interval's counts reached node B's page
    wait_until(mei_page, "document.querySelector('[data-role=player] [data-role=reaction-tally]').textContent.includes('👏 1')", timeout=5000)
    assert mei_page.locator('[data-role="player"] .burst').count() == 0

    # bullet comments: on by default in Chinese, off in English and with reduced motion
    assert ling_page.get_attribute('[data-role="player"] [data-role="bullets-toggle"]', "aria-pressed") == "true"
    assert sam_page.get_attribute('[data-role="player"] [data-role="bullets-toggle"]', "aria-pressed") == "false"
    assert mei_page.get_attribute('[data-role="player"] [data-role="bullets-toggle"]', "aria-pressed") == "false"
    sam_page.fill("#chat-text", "Does it charge in 20 minutes?")
    sam_page.click('[data-role="chat-form"] button')
    wait_until(ling_page, "[...document.querySelectorAll('[data-role=player] .bullet')].some(b => b.textContent.includes('20 minutes'))", timeout=10000)
    wait_until(sam_page, "[...document.querySelectorAll('[data-role=chat-list] li')].some(li => li.textContent.includes('20 minutes'))")
    assert sam_page.locator('[data-role="player"] .bullet').count() == 0
    # Sam turns them on from the keyboard; the choice outlives a reload
    sam_page.focus('[data-role="player"] [data-role="bullets-toggle"]')
    sam_page.keyboard.press("Enter")
    assert sam_page.get_attribute('[data-role="player"] [data-role="bullets-toggle"]', "aria-pressed") == "true"
    sam_page.reload()
    sam_page.wait_for_selector('[data-role="reactions"]:not([hidden])')
    assert sam_page.get_attribute('[data-role="player"] [data-role="bullets-toggle"]', "aria-pressed") == "true"
    label = sam_page.get_attribute('[data-role="player"] [data-role="bullets-toggle"]', "title")
    assert label and "Bullet comments" in label

    # the presenter pins Sam's question (on node A); both players and chats show it
    staff = _signed_in(browser, url_a, "staff@example.org")
    console.close()
    question = next(m for m in _api(staff, url_a, "GET", f"/api/slots/{slot_id}/chat", {})["messages"] if "20 minutes" in m["text"])
    _api(staff, url_a, "POST", f"/api/slots/{slot_id}/pin", {"message_id": question["id"]})
    for page in (ling_page, sam_page):
        wait_until(page, "document.querySelector('[data-role=player] [data-role=player-pin]').textContent.includes('20 minutes')", timeout=10000)
        wait_until(page, "!document.querySelector('[data-role=chat-pin]').hidden")

    # slow mode: the note says the pace; a second message is held with how long to wait
    moderator = _signed_in(browser, url_a, "mod@example.org")
    _api(moderator, url_a, "PUT", f"/api/slots/{slot_id}/slow-mode", {"seconds": 30})
    wait_until(sam_page, "!document.querySelector('[data-role=slow-note]').hidden", timeout=10000)
    assert "30" in sam_page.text_content('[data-role="slow-note"]')
    sam_page.fill("#chat-text", "And the price?")
    sam_page.click('[data-role="chat-form"] button')
    wait_until(sam_page, "!document.querySelector('[data-role=chat-error]').hidden", timeout=10000)
    assert "Slow mode" in sam_page.text_content('[data-role="chat-error"]')
    wait_until(sam_page, "/^\\d+ s$/.test(document.querySelector('[data-role=chat-form] button').textContent)")
    assert sam_page.is_disabled('[data-role="chat-form"] button')

    # screenshots at 1280 and 375 px in the three languages, with a burst and a bullet in flight
    ling_page.close()
    shot = ling.new_page()
    shot.on("pageerror", lambda exc: errors.append(f"shots: {exc}"))
    for lang in ("zh-Hans", "en", "zh-Hant"):
        for width, height in ((1280, 900), (375, 812)):
            shot.set_viewport_size({"width": width, "height": height})
            shot.goto(f"{url_a}/live/{slot_id}?lang={lang}")
            shot.wait_for_selector('[data-role="reactions"]:not([hidden])')
            wait_until(shot, "window.cloudexpo.liveSocket && window.cloudexpo.liveSocket.ready()")
            if shot.get_attribute('[data-role="player"] [data-role="bullets-toggle"]', "aria-pressed") != "true":
                shot.click('[data-role="player"] [data-role="bullets-toggle"]')
            _tap(shot, "party", 2)
            _api(staff, url_a, "POST", f"/api/slots/{slot_id}/chat", {"text": f"欢迎 welcome 歡迎 ({lang}, {width} px)"})
            wait_until(shot, "document.querySelectorAll('[data-role=player] .bullet').length > 0", timeout=10000)
            wait_until(shot, "document.querySelectorAll('[data-role=player] .burst').length > 0", timeout=10000)
            shot.wait_for_timeout(700)
            overflow = shot.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, (lang, width, overflow)
            shot.screenshot(path=str(artifacts / f"reactions-watch-{lang}-{width}.png"))
            shot.wait_for_timeout(2100)  # staff's chat rate limit: one message per 2 s
    for context in (ling, sam, mei, staff, moderator):
        context.close()
    assert not errors, errors


def _seed_replay(settings: Any) -> int:
    async def go() -> int:
        import_models()
        svc = Services.from_settings(settings)
        try:
            slot_id, _ = await make_slot(svc, exhibitor_id=OWN)
            await make_recording(svc, slot_id)
            async with svc.db.session() as db:
                replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
                assert replay is not None and replay.started_at is not None
                start = replay.started_at
                db.add(ChatMessage(slot_id=slot_id, user_id=1, author="Ann", text="早上好 from the audience",
                                   created_at=start + dt.timedelta(seconds=1.0)))
                db.add(ChatPin(slot_id=slot_id, author="Staff", text="Demo at booth A12", pinned_by=1,
                               pinned_at=start + dt.timedelta(seconds=0.5)))
                for node in ("a", "b"):  # two nodes counted the same interval
                    db.add(ReactionCount(slot_id=slot_id, node=node, started_at=start + dt.timedelta(seconds=2), counts={"clap": 3}, total=3))
                db.add(ReactionCount(slot_id=slot_id, node="a", started_at=start + dt.timedelta(seconds=5.5), counts={"party": 4}, total=4))
                await db.commit()
            return slot_id
        finally:
            await svc.db.close()

    return asyncio.run(go())


@pytest.mark.media
def test_the_replay_plays_reactions_bullets_and_the_pin_in_sync(live_server: Any, artifacts: Path) -> None:
    slot_id = _seed_replay(live_server.settings)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/replays/{slot_id}?lang=zh-Hans")
        if not page.evaluate("window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01E,mp4a.40.2\"')"):
            pytest.skip("this Chromium has no H.264/AAC in MSE")
        page.wait_for_selector('[data-role="replay-player"]:not([hidden])')
        wait_until(page, "document.getElementById('replay-video').readyState >= 2", timeout=15000)
        emoji = "[...document.querySelectorAll('.replay-stage .burst')].map(b => b.textContent).join('')"
        assert page.evaluate(emoji) == ""
        page.evaluate("document.getElementById('replay-video').play()")
        wait_until(page, "[...document.querySelectorAll('.replay-stage .bullet')].some(b => b.textContent.includes('早上好'))", timeout=15000)
        wait_until(page, "document.querySelector('.replay-stage [data-role=player-pin]').textContent.includes('Demo at booth A12')")
        wait_until(page, f"{emoji}.includes('👏')", timeout=15000)
        at = page.evaluate("document.getElementById('replay-video').currentTime")
        assert at >= 2.0 and "🎉" not in page.evaluate(emoji), at  # the later interval waits for its moment
        page.screenshot(path=str(artifacts / "reactions-replay-zh-Hans-1280.png"))
        wait_until(page, f"{emoji}.includes('🎉')", timeout=15000)
        assert page.evaluate("document.getElementById('replay-video').currentTime") >= 5.5
        assert not errors, errors
