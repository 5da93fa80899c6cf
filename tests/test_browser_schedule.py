"""Chromium runs the release zone's day timeline as a moderator: add a slot (booth picked by number),
move it by dragging, have an overlap refused with the clash named, extend a running slot; an exhibitor
requests a launch from their booth picker (another exhibitor's booth is refused) and reads the decline.
Screenshots of the timeline at 1280 and 375 px in the three languages go to the artifacts folder."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.models import Slot, StageKind
from streaming.schedule import SlotInput, create_slot, ensure_stage
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD
from tests.test_booths_support import make_expo

pytestmark = [pytest.mark.browser, pytest.mark.exhibition_zone("Asia/Shanghai")]  # its times are written in it

ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class Plan:
    day: str  # a day three days ahead, in the exhibition's zone
    today: str
    taken: int  # 10:00–11:00 on release-a that day, booth 1A-002
    running: int  # started ten minutes ago on release-b, booth 1A-001
    booths: dict[str, int]


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), ZONE).astimezone(dt.UTC)


def _prepare(settings: Any) -> Plan:
    async def go() -> Plan:
        import_models()
        svc = Services.from_settings(settings)
        try:
            expo = await make_expo(svc)
            now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
            day = (now.astimezone(ZONE) + dt.timedelta(days=3)).date()
            async with svc.db.session() as db:
                await accounts.create_user(db, "mod@example.org", PASSWORD, display_name="Moderator", role="moderator")
                await accounts.create_user(db, "byd@example.org", PASSWORD, display_name="比亚迪 Staff", role="exhibitor",
                                           exhibitor_id=expo.exhibitors["1A-001"])
                names = {"release-a": ("发布厅 A", "發佈廳 A", "Launch hall A"), "release-b": ("发布厅 B", "發佈廳 B", "Launch hall B")}
                stages = {}
                for position, (slug, (hans, hant, en)) in enumerate(names.items()):
                    stages[slug] = await ensure_stage(db, slug, {"zh-Hans": hans, "zh-Hant": hant, "en": en},
                                                      kind=StageKind.RELEASE, position=position)
                taken = await create_slot(db, svc.secret_key, SlotInput(
                    stage_id=stages["release-a"].id, title={"zh-Hans": "蒙顶山新茶发布", "en": "Mengding tea launch"},
                    starts_at=_at(day, 10), ends_at=_at(day, 11), booth_id=expo.booths["1A-002"]))
                running = await create_slot(db, svc.secret_key, SlotInput(
                    stage_id=stages["release-b"].id, title={"zh-Hans": "海豹新车发布", "en": "Seal saloon launch"},
                    starts_at=now - dt.timedelta(minutes=10), ends_at=now + dt.timedelta(minutes=20),
                    booth_id=expo.booths["1A-001"]))
                running.state, running.live_at = "live", now - dt.timedelta(minutes=10)
                await db.commit()
                return Plan(day.isoformat(), now.astimezone(ZONE).date().isoformat(), taken.id, running.id,
                            dict(expo.booths))
        finally:
            await svc.db.close()

    return asyncio.run(go())


def _read(work: Any) -> Any:
    """Run a database read from the test's thread, whose event loop Playwright's sync API holds."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work()).result()


def _slot(settings: Any, slot_id: int) -> Slot:
    async def go() -> Slot:
        svc = Services.from_settings(settings)
        try:
            async with svc.db.session() as db:
                row = await db.get(Slot, slot_id)
                assert row is not None
                return row
        finally:
            await svc.db.close()

    return _read(go)


def _slots_of_booth(settings: Any, booth_id: int) -> list[Slot]:
    async def go() -> list[Slot]:
        from sqlalchemy import select

        svc = Services.from_settings(settings)
        try:
            async with svc.db.session() as db:
                return list((await db.scalars(select(Slot).where(Slot.booth_id == booth_id).order_by(Slot.id))).all())
        finally:
            await svc.db.close()

    return _read(go)


def _sign_in(context: Any, base: str, email: str) -> None:
    csrf = context.request.get(f"{base}/api/me").json()["csrf_token"]
    response = context.request.post(f"{base}/api/session", data={"email": email, "password": PASSWORD},
                                     headers={"X-CSRF-Token": csrf})
    assert response.ok, response.text()


def _box(page: Any, slot_id: int) -> Any:
    return page.locator(f'[data-slot="{slot_id}"]')


def _drag(page: Any, handle: Any, dx: float, dy: float) -> None:
    box = handle.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 12)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 9):
        page.mouse.move(x + dx * step / 8, y + dy * step / 8)
    page.mouse.up()


def _save(page: Any, fields: dict[str, str], stage: str) -> None:
    """Fill the slot dialog's fields and stage, and save."""
    for name, value in fields.items():
        page.fill(f'input[name="{name}"]', value)
    page.select_option('select[name="stage"]', stage)
    page.click('[data-role="save"]')


def _column_x(page: Any, slug: str) -> float:
    box = page.locator(f'.tl-col[data-stage="{slug}"]').bounding_box()
    assert box is not None
    return float(box["x"] + box["width"] / 2)


def test_moderator_adds_moves_is_refused_on_overlap_and_extends_a_running_slot(live_server: Any, artifacts: Path) -> None:
    plan = _prepare(live_server.settings)
    base = live_server.url
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Europe/Berlin")
        _sign_in(context, base, "mod@example.org")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/moderate/schedule?day={plan.day}&lang=en")
        wait_until(page, "document.querySelectorAll('.tl-col').length === 2")
        assert "Mengding" in _box(page, plan.taken).inner_text()
        # times in the exhibition's zone; the viewer's own (Berlin) on hover
        assert "10:00–11:00" in _box(page, plan.taken).inner_text()
        hover = _box(page, plan.taken).locator(".tl-slot-main").get_attribute("title") or ""
        assert "Asia/Shanghai" in hover and "Your time: " in hover and "03:00–04:00 Europe/Berlin" in hover, hover

        # add: the booth is picked by its number from the searchable picker, never an id
        page.click('[data-action="add"]')
        page.fill("#slot-booth", "1A-00")
        wait_until(page, "document.querySelectorAll('#booth-options [role=option]').length >= 2")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Enter")
        assert page.input_value("#slot-booth").startswith("1A-001 · BYD")
        page.fill('input[name="title_zh-Hans"]', "新车型发布会")
        _save(page, {"title_en": "New model launch", "date": plan.day, "start": "10:00", "end": "10:30"}, "release-b")
        wait_until(page, "!document.querySelector('[data-role=dialog]').open")
        added = [s for s in _slots_of_booth(live_server.settings, plan.booths["1A-001"]) if s.id != plan.running]
        assert len(added) == 1 and added[0].title["en"] == "New model launch"
        new_id = added[0].id
        assert added[0].starts_at == _at(dt.date.fromisoformat(plan.day), 10)
        wait_until(page, f"!!document.querySelector('.tl-col[data-stage=\"release-b\"] [data-slot=\"{new_id}\"]')")
        page.screenshot(path=str(artifacts / "schedule-added-1280.png"))

        # overlap refused, the clash named: slot, booth and times
        page.click('[data-action="add"]')
        page.fill("#slot-booth", "1A-003")
        _save(page, {"title_en": "Clashing launch", "date": plan.day, "start": "10:30", "end": "11:30"}, "release-a")
        wait_until(page, "!document.querySelector('[data-role=dialog-error]').hidden")
        refusal = page.text_content('[data-role="dialog-error"]') or ""
        assert f"slot {plan.taken}" in refusal and "1A-002" in refusal and "10:00–11:00" in refusal, refusal
        assert "tl-clash" in (_box(page, plan.taken).get_attribute("class") or "")
        page.screenshot(path=str(artifacts / "schedule-overlap-1280.png"))
        page.click('[data-role="close"]')

        # move by dragging: release-b 10:00 -> release-a 12:00 (two hours down, one column left)
        handle = _box(page, new_id).locator(".tl-slot-main")
        _drag(page, handle, _column_x(page, "release-a") - _column_x(page, "release-b"), 120 * 1.2)
        wait_until(page, f"!!document.querySelector('.tl-col[data-stage=\"release-a\"] [data-slot=\"{new_id}\"]')")
        moved = _slot(live_server.settings, new_id)
        assert moved.starts_at == _at(dt.date.fromisoformat(plan.day), 12)
        assert moved.ends_at == _at(dt.date.fromisoformat(plan.day), 12, 30)
        assert moved.sequence == 1 and moved.previous_starts_at == _at(dt.date.fromisoformat(plan.day), 10)

        # dragging onto the taken slot is refused with the clash named, and the slot stays
        handle = _box(page, new_id).locator(".tl-slot-main")
        _drag(page, handle, 0, -90 * 1.2)
        wait_until(page, "!document.querySelector('[data-role=error]').hidden")
        assert f"slot {plan.taken}" in (page.text_content('[data-role="error"]') or "")
        assert _slot(live_server.settings, new_id).starts_at == _at(dt.date.fromisoformat(plan.day), 12)

        # extend the running slot by dragging its lower edge 15 minutes down
        before = _slot(live_server.settings, plan.running)
        page.goto(f"{base}/moderate/schedule?day={plan.today}&lang=en")
        wait_until(page, f"!!document.querySelector('[data-slot=\"{plan.running}\"]')")
        grip = _box(page, plan.running).locator(".tl-resize")
        grip.scroll_into_view_if_needed()
        _drag(page, grip, 0, 15 * 1.2)
        wait_until(page, "document.querySelector('[data-role=status]').textContent.startsWith('Moved')")
        after = _slot(live_server.settings, plan.running)
        assert after.ends_at == before.ends_at + dt.timedelta(minutes=15)
        assert after.starts_at == before.starts_at and after.state == "live"

        # the keyboard's way: Enter on the running slot opens the form with only its end editable
        _box(page, plan.running).locator(".tl-slot-main").focus()
        page.keyboard.press("Enter")
        assert page.is_disabled('input[name="start"]') and not page.is_disabled('input[name="end"]')
        page.keyboard.press("Escape")
        assert not errors, errors
        context.close()


def test_exhibitor_requests_from_their_booth_picker_and_reads_the_decline(live_server: Any, artifacts: Path) -> None:
    plan = _prepare(live_server.settings)
    base = live_server.url
    with chromium() as browser:
        owner = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        _sign_in(owner, base, "byd@example.org")
        page = owner.new_page()
        page.goto(f"{base}/dashboard/live?lang=zh-Hans")
        options = page.eval_on_selector_all('select[name="booth"] option', "els => els.map(e => e.value)")
        assert options == ["1A-001"]  # only their own booths
        # someone else's booth, slipped into the form, is refused with a clear 403
        page.eval_on_selector('select[name="booth"]', "s => { const o = document.createElement('option'); o.value = '1A-002'; o.text = '1A-002'; s.appendChild(o); s.value = '1A-002'; }")
        page.fill('input[name="title"]', "海豹新车二次发布")
        page.fill('input[name="starts_at"]', f"{plan.day}T14:00")
        page.click('[data-role="request-slot"] button[type="submit"]')
        wait_until(page, "!document.querySelector('[data-role=request-result]').hidden")
        assert "1A-002" in (page.text_content('[data-role="request-result"]') or "")
        page.select_option('select[name="booth"]', "1A-001")
        with page.expect_navigation():  # sent: the page shows the request
            page.click('[data-role="request-slot"] button[type="submit"]')
        wait_until(page, "!!document.querySelector('[data-request=\"pending\"]')")
        request_id = int(page.get_attribute('[data-request="pending"]', "data-slot") or 0)

        moderator = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        _sign_in(moderator, base, "mod@example.org")
        mod = moderator.new_page()
        mod.goto(f"{base}/moderate/schedule?day={plan.day}&lang=en")
        mod.click(f'[data-request="{request_id}"] button')
        mod.click('[data-role="decline"]')
        mod.fill('textarea[name="reason"]', "Launch hall A is closed for rehearsal that afternoon.")
        mod.click('[data-role="decline"]')
        wait_until(mod, "!document.querySelector('[data-role=dialog]').open")
        assert _slot(live_server.settings, request_id).state == "declined"

        page.reload()
        row = page.locator(f'[data-slot="{request_id}"]')
        assert row.get_attribute("data-request") == "declined"
        assert "closed for rehearsal" in row.inner_text()
        page.screenshot(path=str(artifacts / "schedule-dashboard-declined-zh-Hans.png"), full_page=True)
        page.set_viewport_size({"width": 375, "height": 780})
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
        row.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "schedule-dashboard-declined-zh-Hans-375.png"))
        owner.close()
        moderator.close()


def test_screenshots_of_the_timeline(live_server: Any, artifacts: Path) -> None:
    plan = _prepare(live_server.settings)
    base = live_server.url
    with chromium() as browser:
        for width in (1280, 375):
            context = browser.new_context(viewport={"width": width, "height": 900 if width > 400 else 780})
            _sign_in(context, base, "mod@example.org")
            page = context.new_page()
            for lang in ("zh-Hans", "en", "zh-Hant"):
                page.goto(f"{base}/moderate/schedule?day={plan.today}&lang={lang}")
                wait_until(page, f"!!document.querySelector('[data-slot=\"{plan.running}\"]')")
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 1, f"{lang} at {width}px overflows by {overflow}px"
                page.screenshot(path=str(artifacts / f"schedule-{lang}-{width}.png"))
            # the form (the keyboard's way) fits the width too
            page.click('[data-action="add"]')
            assert page.evaluate("document.querySelector('[data-role=dialog]').getBoundingClientRect().width") <= width
            page.screenshot(path=str(artifacts / f"schedule-dialog-zh-Hant-{width}.png"))
            context.close()
