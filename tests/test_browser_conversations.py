"""In Chromium, on two app nodes sharing Redis: the staff member (node A) marks themselves at the booth, the
visitor (node B) sees them there and starts a conversation, the staff member is alerted and answers, the
visitor shares their card and a lead appears; leaving the booth shows on the visitor's page at once.
Screenshots of the booth page and the inbox at 1280 and 375 px in the three languages."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from booths.engagement.models import Profile
from cloudexpo import accounts
from cloudexpo.app import import_models, open_services
from tests.browser_support import chromium, screenshots, sign_in, wait_until
from tests.conftest import PASSWORD
from tests.test_engagement_support import make_expo
from tests.test_live_chat import two_nodes  # noqa: F401  (the fixture: two nodes, one SQLite file, one Redis)

pytestmark = pytest.mark.browser

LANGS = ("zh-Hans", "en", "zh-Hant")


async def _seed(settings: Any) -> dict[str, Any]:
    import_models()
    services = open_services(settings)
    try:
        await services.db.migrate()
        expo = await make_expo(services)
        async with services.db.session() as db:
            staff = await accounts.create_user(db, "wang@byd.example.org", PASSWORD, display_name="王经理",
                                               role="exhibitor", exhibitor_id=expo.exhibitors["1A-001"],
                                               language="zh-Hans")
            db.add(Profile(user_id=staff.id, title="销售工程师", languages=[]))
            visitor = await accounts.create_user(db, "anna@tuv.example.org", PASSWORD, display_name="Anna Schmidt",
                                                 language="en")
            await db.commit()
        return {"booth": expo.booths["1A-001"], "staff": staff.email, "visitor": visitor.email}
    finally:
        await services.close()


def test_staff_and_visitor_talk_across_nodes_and_the_card_becomes_a_lead(
        two_nodes: tuple[str, str, Any], artifacts: Path) -> None:  # noqa: F811
    url_a, url_b, settings = two_nodes
    seed = asyncio.run(_seed(settings))
    booth = seed["booth"]
    with chromium() as browser:
        staff_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        staff = staff_ctx.new_page()
        sign_in(staff, url_a, seed["staff"], PASSWORD, "zh-Hans")
        staff.goto(f"{url_a}/conversations")
        toggle = staff.locator("[data-presence-toggle]")
        toggle.click()
        assert toggle.get_attribute("aria-pressed") == "true"

        visitor_ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        visitor = visitor_ctx.new_page()
        sign_in(visitor, url_b, seed["visitor"], PASSWORD, "en")
        visitor.goto(f"{url_b}/booths/1A-001")
        talk = visitor.locator("[data-booth-talk]")
        talk.locator("[data-talk-list] li", has_text="王经理").wait_for()
        assert "销售工程师" in talk.inner_text()
        start = talk.locator("[data-talk-start]")
        assert start.inner_text() == "Start a conversation"
        start.click()
        box = visitor.locator("[data-conversation-panel] textarea")
        box.fill("How long does a battery test take?")
        box.press("Enter")
        visitor.locator(".conv-msg.mine", has_text="How long does a battery test take?").wait_for()

        # the staff member (other node) is alerted: the inbox row with its unread count, the tone, the notice
        row = staff.locator("[data-conversation-link]", has_text="Anna Schmidt")
        row.locator(".unread-count").wait_for()
        wait_until(staff, "Number(document.documentElement.dataset.conversationTones || 0) >= 1")
        staff.locator(".conv-toast", has_text="Anna Schmidt").wait_for()
        row.click()
        staff.locator(".conv-msg.theirs", has_text="How long does a battery test take?").wait_for()
        answer = staff.locator("[data-conversation-panel] textarea")
        answer.fill("大约两周。")
        staff.locator("[data-conv-form] button[type=submit]").click()
        visitor.locator(".conv-msg.theirs", has_text="大约两周。").wait_for()

        # the visitor shares their card: the conversation becomes a lead, on both sides
        visitor.locator("[data-conv-share]").click()
        share = visitor.locator("[data-conv-share-form]")
        wait_until(visitor, "document.querySelector('[data-conv-share-form] input[name=name]').value === 'Anna Schmidt'")
        share.locator("input[name=organisation]").fill("TÜV Süd")
        share.locator("input[name=consent]").check()
        share.locator("button[type=submit]").click()
        visitor.locator("[data-conv-lead]").wait_for()
        staff.locator("[data-conv-lead]").wait_for()
        staff.goto(f"{url_a}/dashboard/leads")
        assert "Anna Schmidt" in staff.locator("main").inner_text() and "展位对话" in staff.locator("main").inner_text()

        # screenshots: the inbox with the conversation open (staff), the booth page with the panel (visitor)
        staff.goto(f"{url_a}/conversations")
        staff.locator("[data-presence-toggle][aria-pressed=true]").wait_for()  # the tab is still at the booth
        for lang in LANGS:
            staff.goto(f"{url_a}/lang/{lang}?next=/conversations")
            staff.locator("[data-conversation-link]").first.click()
            staff.locator(".conv-msg").first.wait_for()
            screenshots(staff, artifacts, f"conversations-inbox-{lang}")
            visitor.goto(f"{url_b}/lang/{lang}?next=/booths/1A-001")
            visitor.locator("[data-talk-list] li").first.wait_for()
            screenshots(visitor, artifacts, f"conversations-booth-staffed-{lang}")
            visitor.locator("[data-talk-start]").click()
            visitor.locator(".conv-msg").first.wait_for()
            screenshots(visitor, artifacts, f"conversations-booth-{lang}")

        # leaving the booth shows at once on the visitor's page on the other node
        visitor.goto(f"{url_b}/booths/1A-001")
        visitor.locator("[data-talk-list] li").first.wait_for()
        staff.locator("[data-presence-toggle]").click()
        visitor.locator("[data-talk-nobody]").wait_for(state="visible")
        assert visitor.locator("[data-booth-talk]").get_attribute("data-staffed") == "0"
        assert visitor.locator("[data-talk-list] li").count() == 0
        assert booth
        staff_ctx.close()
        visitor_ctx.close()
