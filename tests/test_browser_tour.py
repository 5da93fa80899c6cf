"""Every role tours Cloud Expo in the system Chromium: three languages, 1280 and 375 px, axe-core on every page.

Anonymous visitors, signed-in visitors, exhibitors, moderators and admins
each walk their journey: every entry of their navigation (web/navigation.py,
so pages other engineers add to the tables are toured too) and the pages
below them (zone, booth, product, replay, watch, go-live, editing …). On every
page, in every language and at both widths: the page answers, is in its
language, does not scroll sideways, and axe-core (tests/vendor/axe.min.js)
finds no serious or critical violation. Screenshots go to
``test-artifacts/tour/<role>/``. A few journeys are also driven by hand:
the keyboard on the map, a video that plays, search across scripts, the
phone's list-first map and bottom action bar, a replay trim that lands on a
keyframe and says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from cloudexpo.accounts import Role
from cloudexpo.app import DEMO_PASSWORD, seed_demo
from cloudexpo.services import Services
from tests.browser_support import chromium, wait_until
from web import navigation

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
LANGS = ("zh-Hans", "en", "zh-Hant")
WIDTHS = {1280: {"viewport": {"width": 1280, "height": 900}},
          375: {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}}
ACCOUNTS = {"visitor": "visitor@demo.cloudexpo", "exhibitor": "exhibitor1@demo.cloudexpo",
            "moderator": "moderator@demo.cloudexpo", "admin": "admin@demo.cloudexpo"}


@dataclass
class Demo:
    """Ids in the seeded demo that the journeys open."""

    booth_id: int = 0
    product_id: int = 0
    replay: int = 0  # a finished launch of booth 1A-001, with its replay and chat
    launch: int = 0  # a launch of booth 1A-001 still to come
    expert: int = 0
    document: int = 0  # a seeded brochure (the pdf.js reader), also in the visitor's briefcase
    values: dict[str, Any] = field(default_factory=dict)


async def seed(settings: Any) -> Demo:
    """The demo exhibition, plus a finished launch of 1A-001 with a replay (real MPEG-TS segments) and its chat."""
    from booths.engagement.models import BriefcaseItem, Profile
    from booths.exhibition.models import Booth, Product
    from booths.media.models import Asset
    from cloudexpo.accounts import User
    from streaming.models import ChatMessage, Slot
    from streaming.qa_models import Poll, Question
    from tests.test_replay_api import make_recording
    from tests.test_replay_media import make_slot

    await seed_demo(settings)
    services = Services.from_settings(settings)
    try:
        demo = Demo()
        async with services.db.session() as db:
            booth = await db.scalar(select(Booth).where(Booth.number == "1A-001"))
            assert booth is not None
            demo.booth_id = booth.id
            demo.product_id = int(await db.scalar(select(Product.id).where(Product.booth_id == booth.id).limit(1)) or 0)
            launch = await db.scalar(select(Slot.id).where(Slot.booth_id == booth.id).order_by(Slot.starts_at))
            assert launch is not None, "the demo programme has a launch of 1A-001"
            demo.launch = launch
            demo.expert = int(await db.scalar(select(Profile.user_id).where(Profile.is_expert.is_(True)).limit(1)) or 0)
            demo.document = int(await db.scalar(select(Asset.id).where(Asset.kind == "document").limit(1)) or 0)
            # the visitor's briefcase holds a brochure and a product, so its page is toured with content
            visitor = await db.scalar(select(User.id).where(User.email == ACCOUNTS["visitor"]))
            assert visitor is not None and demo.document
            db.add_all([BriefcaseItem(user_id=visitor, kind="document", target_id=demo.document),
                        BriefcaseItem(user_id=visitor, kind="product", target_id=demo.product_id)])
            await db.commit()
        demo.replay = await make_slot(services, exhibitor_id=booth.exhibitor_id, booth_id=booth.id, title="Wind turbine launch")
        await make_recording(services, demo.replay)
        async with services.db.session() as db:
            slot = await db.get(Slot, demo.replay)
            assert slot is not None and slot.live_at is not None
            for seconds, text in ((1.0, "大家好 Hello"), (3.0, "这款风机的单机容量是多少？")):
                db.add(ChatMessage(slot_id=slot.id, user_id=1, author="访客 Visitor", text=text,
                                   created_at=slot.live_at + dt.timedelta(seconds=seconds)))
            # the replay page's Q&A and polls panel (live/replay_audience.html) is walked too
            at = slot.live_at
            db.add(Question(slot_id=slot.id, user_id=1, author="访客 Visitor", text="这款风机能用在海上吗？", votes=3,
                            answer="能，已在东海风场运行两年。", created_at=at + dt.timedelta(seconds=1),
                            answered_at=at + dt.timedelta(seconds=2)))
            db.add(Poll(slot_id=slot.id, question="您最关心哪一点？", options=["发电效率", "维护成本", "噪音"], state="closed",
                        created_by=1, opened_at=at + dt.timedelta(seconds=1), closed_at=at + dt.timedelta(seconds=2)))
            await db.commit()
        return demo
    finally:
        await services.close()


def journeys(demo: Demo) -> dict[str, list[str]]:
    """Each role's pages: its navigation first, then what lies below it."""
    b, p = demo.booth_id, demo.product_id
    tour = [link.href for link in navigation.MAIN] + [
        "/zones/innovation", "/booths/1A-001", f"/products/{p}", f"/replays/{demo.replay}", f"/live/{demo.launch}",
        f"/live/{demo.replay}", "/conference", f"/experts/{demo.expert}" if demo.expert else "/experts",
        f"/search?q={quote('检测')}", f"/documents/{demo.document}", "/no-such-page", "/signin",
    ]

    def signed_in(role: Role, *more: str) -> list[str]:
        links = [link.href for link in navigation.WORKSPACE[role]]
        if role in (Role.MODERATOR, Role.ADMIN):
            links += [link.href for link in navigation.MODERATION]
        return list(dict.fromkeys([*links, *more]))

    moderator = signed_in(Role.MODERATOR, f"/dashboard/analytics?booth={b}")
    return {
        "anonymous": tour,
        "visitor": signed_in(Role.VISITOR, f"/booths/{b}/contact", "/me/data", "/dashboard/apply", "/account",
                             "/notifications"),
        "exhibitor": signed_in(Role.EXHIBITOR, f"/dashboard/booths/{b}", f"/dashboard/booths/{b}/media",
                               f"/dashboard/booths/{b}/products/new", f"/dashboard/live/{demo.launch}",
                               f"/replays/{demo.replay}", f"/booths/{b}/poster", "/booths/1A-001"),
        "moderator": moderator,
        # what an admin has beyond a moderator (the rest of their pages are the moderator's, toured above)
        "admin": ["/dashboard", *(p for p in signed_in(Role.ADMIN) if p not in moderator)],  # its own tasks
    }


def axe_problems(page: Any) -> list[str]:
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def with_lang(path: str, lang: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={lang}"


def shot_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path.split("?")[0]).strip("-") or "home"


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/signin?lang=en")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{base}/")


def visit(page: Any, base: str, path: str, lang: str, width: int, shots: Path, problems: dict[str, list[str]]) -> None:
    where = f"{path} [{lang}, {width}px]"
    response = page.goto(base + with_lang(path, lang))
    if response is not None and response.request.redirected_from is not None:  # the redirect dropped ?lang
        response = page.goto(with_lang(page.url, lang))
    expected = 404 if path == "/no-such-page" else 200
    assert response is not None and response.status == expected, f"{where}: {response and response.status}"
    assert page.locator("html").get_attribute("lang") == lang, where
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{where} scrolls sideways ({scroll} px)"
    found = axe_problems(page)
    if found:
        problems[where] = found
    # the whole page in one language per width, the first screen in the others
    page.screenshot(path=str(shots / f"{lang}-{width}-{shot_name(path)}.png"), full_page=lang == ("zh-Hans" if width > 400 else "en"))


def by_hand_as_visitor(page: Any, base: str, shots: Path) -> None:
    """The keyboard on the map, a booth video, Simplified search on a Traditional page."""
    from playwright.sync_api import expect

    page.goto(f"{base}/map?lang=zh-Hans")
    zone = page.locator('a.map-zone[href="/zones/innovation"]')
    zone.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/zones/innovation")
    expect(page.locator(".booth-card")).to_have_count(110)
    page.goto(f"{base}/booths/1P-004")
    if page.locator("video").count():
        page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }")
        wait_until(page, "() => document.querySelector('video').currentTime > 0.3", timeout=15000)
        page.screenshot(path=str(shots / "booth-video-1280.png"))
    page.goto(f"{base}/lang/zh-Hant?next=/search")
    page.fill('input[name="q"]', "郫县豆瓣")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?**")
    expect(page.locator(".result mark").first).to_have_text("郫縣豆瓣")


def by_hand_on_a_phone(page: Any, base: str, shots: Path) -> None:
    """375 px: the map's list comes first with thumb-sized targets; a booth's actions stay at the bottom."""
    page.goto(f"{base}/map?lang=en")
    assert page.evaluate("document.querySelector('details.map-details').open") is False
    summaries = page.locator(".zone-details summary")
    assert min(box["height"] for box in (summaries.nth(i).bounding_box() for i in range(summaries.count()))) >= 44
    summaries.first.click()
    link = page.locator(".zone-details[open] .columns a").first
    assert link.bounding_box()["height"] >= 44
    page.screenshot(path=str(shots / "map-list-375.png"))
    page.goto(f"{base}/booths/1A-001?lang=en")
    bar = page.locator(".booth-actions")
    box = bar.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 812, box  # in view without scrolling 2,000 px
    for i in range(bar.locator("a, button").count()):
        assert bar.locator("a, button").nth(i).bounding_box()["height"] >= 44
    bar.locator('a[href="#card"]').click()
    assert page.evaluate("document.getElementById('card').open")
    page.screenshot(path=str(shots / "booth-card-375.png"))


def by_hand_as_exhibitor(page: Any, base: str, demo: Demo, shots: Path) -> None:
    """A trim from 3 s lands on the keyframe at 2 s, and the page says so."""
    page.goto(f"{base}/replays/{demo.replay}?lang=en")
    wait_until(page, "!document.querySelector('[data-role=replay-manage]').hidden", timeout=15000)
    page.fill('[data-role="trim-start"]', "3")
    page.click('[data-role="trim-save"]')
    status = page.locator('[data-role="manage-status"]')
    wait_until(page, "document.querySelector('[data-role=manage-status]').textContent.includes('keyframe')", timeout=15000)
    assert "2.0 s, not 3.0 s" in status.inner_text()
    label = page.locator('.check-row')
    checkbox, text = label.locator("input").bounding_box(), label.locator("span").bounding_box()
    assert abs((checkbox["y"] + checkbox["height"] / 2) - (text["y"] + text["height"] / 2)) < 12  # side by side
    page.screenshot(path=str(shots / "replay-trim-1280.png"), full_page=True)


@pytest.mark.timeout(1800)  # seeding the demo's media alone takes minutes on a busy machine
def test_every_role_tours_every_page(live_server: Any, artifacts: Path) -> None:
    started = time.monotonic()
    demo = asyncio.run(seed(live_server.settings))
    seeded = time.monotonic()
    visits = 0
    base = live_server.url
    problems: dict[str, list[str]] = {}
    with chromium() as browser:  # also fails on any Content-Security-Policy violation
        for width, options in WIDTHS.items():
            for role, paths in journeys(demo).items():
                shots = artifacts / "tour" / role
                shots.mkdir(parents=True, exist_ok=True)
                context = browser.new_context(**options)
                context.add_init_script(path=str(AXE))  # through DevTools: the pages' CSP allows no inline <script>
                page = context.new_page()
                if role in ACCOUNTS:
                    sign_in(page, base, ACCOUNTS[role])
                for lang in LANGS:
                    for path in paths:
                        visit(page, base, path, lang, width, shots, problems)
                        visits += 1
                if role == "anonymous" and width == 1280:
                    by_hand_as_visitor(page, base, shots)
                if role == "anonymous" and width == 375:
                    by_hand_on_a_phone(page, base, shots)
                if role == "exhibitor" and width == 1280:
                    by_hand_as_exhibitor(page, base, demo, shots)
                context.close()
    toured = time.monotonic() - seeded
    print(f"tour: seeded in {seeded - started:.0f} s; {visits} page visits in {toured:.0f} s ({toured / visits:.2f} s each)")
    assert not problems, "\n".join(f"{where}: {found}" for where, found in problems.items())
