"""Launch day's pages as a phone and a laptop show them, in Chromium: nothing cut off or broken mid-word,
and the viewer's own time written the way every time is (not in the browser's locale).

Found on the demo: the timeline's stage names cut at both ends at 375 px and a 45-minute slot's third line
cut in half, the "Live now / Up next" strip breaking "International" into "Internation-al" beside its
"Remind me", the console's fourth figure alone on a second row, and "(08:44 AM–09:44 AM UTC)" in the
watch page of a Chinese page."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.models import StageKind
from streaming.schedule import SlotInput, create_slot, ensure_stage
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD
from tests.test_browser_schedule import ZONE, Plan, _at, _prepare, _sign_in

pytestmark = [pytest.mark.browser]

LONG_TITLE = "International Quality Cooperation: product launch"

# Words of the matched links' text that the browser broke over two lines.
BROKEN_WORDS = """(sel) => Array.from(document.querySelectorAll(sel)).flatMap((link) => {
  const out = [];
  link.childNodes.forEach((node) => {
    if (node.nodeType !== Node.TEXT_NODE) return;
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      const r = document.createRange();
      r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
      if (new Set(Array.from(r.getClientRects()).map((x) => Math.round(x.top))).size > 1) out.push(m[0]);
    }
  });
  return out;
})"""

# Lines of a timeline slot's box shown in part: its lower edge cuts through them, or the box squeezed
# a line lower than its text.
CUT_LINES = """() => Array.from(document.querySelectorAll('.tl-slot')).flatMap((box) => {
  const edge = box.getBoundingClientRect().bottom;
  return Array.from(box.querySelectorAll('.tl-slot-head, .tl-time, .tl-booth'))
    .filter((e) => e.getClientRects().length)
    .filter((e) => { const r = e.getBoundingClientRect();
      return (r.top < edge - 1 && r.bottom > edge + 0.5) || (r.top < edge - 1 && e.scrollHeight > e.clientHeight + 1); })
    .map((e) => box.dataset.slot + ' ' + e.className + ': ' + e.textContent);
})"""

# Stage names in the timeline's head that do not fit their box.
CUT_STAGES = """() => Array.from(document.querySelectorAll('.tl-stage')).filter((head) => {
  const name = head.firstElementChild || head;
  return head.scrollWidth > head.clientWidth + 1 || name.scrollHeight > name.clientHeight + 1
    || name.scrollWidth > name.clientWidth + 1;
}).map((head) => head.textContent)"""


def _prepare_more(settings: Any) -> tuple[Plan, int]:
    """The schedule tests' world, a third stage with a long name, a 45-minute launch and request on it, a visitor."""
    plan = _prepare(settings)

    async def go() -> int:
        import_models()
        svc = Services.from_settings(settings)
        try:
            async with svc.db.session() as db:
                await accounts.create_user(db, "visitor@example.org", PASSWORD, display_name="Visitor", role="visitor")
                stage = await ensure_stage(db, "release-c", {"zh-Hans": "发布区 C 台", "zh-Hant": "發佈區 C 台",
                                                            "en": "Release zone · Stage C"},
                                           kind=StageKind.RELEASE, position=2)
                day = dt.date.fromisoformat(plan.day)
                slot = await create_slot(db, svc.secret_key, SlotInput(
                    stage_id=stage.id, title={"en": LONG_TITLE, "zh-Hans": "质量国际交流与合作：新品发布"},
                    starts_at=_at(day, 14), ends_at=_at(day, 14, 45), booth_id=plan.booths["1A-002"]))
                # an exhibitor's request of 45 minutes: its "request" badge makes the title's line taller
                staff = await db.scalar(select(accounts.User.id).where(accounts.User.email == "byd@example.org"))
                await create_slot(db, svc.secret_key, SlotInput(
                    stage_id=stage.id, title={"en": "Seal saloon encore", "zh-Hans": "海豹新车返场"},
                    starts_at=_at(day, 16), ends_at=_at(day, 16, 45), booth_id=plan.booths["1A-001"]), requested_by=staff)
                await db.commit()
                return slot.id
        finally:
            await svc.db.close()

    return plan, asyncio.run(go())


def test_phone_and_laptop_show_launch_day_whole(live_server: Any, artifacts: Path) -> None:
    plan, long_slot = _prepare_more(live_server.settings)
    base = live_server.url
    with chromium() as browser:
        for width in (375, 1280):
            size = {"width": width, "height": 812 if width < 400 else 900}

            mod = browser.new_context(viewport=size, locale="en-US")
            _sign_in(mod, base, "mod@example.org")
            page = mod.new_page()
            for lang in ("en", "zh-Hant"):
                page.goto(f"{base}/moderate/schedule?day={plan.day}&lang={lang}")
                wait_until(page, f"!!document.querySelector('[data-slot=\"{long_slot}\"]')")
                assert page.evaluate(CUT_STAGES) == [], f"stage names cut at {width}px in {lang}"
                assert page.evaluate(CUT_LINES) == [], f"slot lines cut at {width}px in {lang}"
            page.screenshot(path=str(artifacts / f"launch-layout-timeline-{width}.png"))
            mod.close()

            staff = browser.new_context(viewport=size, locale="en-US")
            _sign_in(staff, base, "byd@example.org")
            page = staff.new_page()
            page.goto(f"{base}/dashboard/live/{plan.running}?lang=en")
            tops = page.evaluate("Array.from(document.querySelectorAll('.console-status > div'))"
                                 ".map((d) => Math.round(d.getBoundingClientRect().top))")
            assert len(tops) == 4
            # all four figures in one row on a laptop, two rows of two on a phone
            assert sorted(Counter(tops).values()) == ([4] if width > 600 else [2, 2]), (width, tops)
            staff.close()

            visitor = browser.new_context(viewport=size, locale="en-US", timezone_id="Europe/Berlin")
            _sign_in(visitor, base, "visitor@example.org")
            page = visitor.new_page()
            page.goto(f"{base}/?lang=en")
            page.wait_for_selector(f'.strip-item[data-slot="{long_slot}"]')
            assert page.evaluate(BROKEN_WORDS, ".strip-title") == [], f"home strip at {width}px"
            page.goto(f"{base}/booths/1A-002?lang=en")
            wait_until(page, f"!!document.querySelector('.strip-item[data-slot=\"{long_slot}\"]')")
            assert page.evaluate(BROKEN_WORDS, ".strip-title") == [], f"booth strip at {width}px"
            page.locator(".live-strip-panel").first.screenshot(path=str(artifacts / f"launch-layout-booth-strip-{width}.png"))

            # The viewer's own time: 24-hour, the date in the page's language (the launch is days away)
            starts = _at(dt.date.fromisoformat(plan.day), 14).astimezone(ZONE)
            berlin = starts.astimezone(ZoneInfo("Europe/Berlin"))
            for path in (f"/live/{long_slot}", f"/programme?day={plan.day}"):
                page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang=zh-Hans")
                shown = wait_until(page, "Array.from(document.querySelectorAll('[data-role=viewer-time]'))"
                                         ".map((e) => e.textContent).filter(Boolean).join('|')")
                assert not re.search(r"AM|PM", shown), shown
                assert f"{berlin.month}月{berlin.day}日" in shown and f"{berlin:%H}:00–{berlin:%H}:45 Europe/Berlin)" in shown, shown
            visitor.close()
