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


async def _add_moderator(settings: Any) -> str:
    import_models()
    services = open_services(settings)
    try:
        async with services.db.session() as db:
            moderator = await accounts.create_user(db, "mod@example.org", PASSWORD, display_name="Moderator",
                                                   role="moderator", language="zh-Hans")
            await db.commit()
            return moderator.email
    finally:
        await services.close()


def _post(page: Any, url: str, path: str, body: dict[str, Any]) -> Any:
    """A JSON POST from the page's signed-in context, with its CSRF token."""
    csrf = page.context.request.get(f"{url}/api/me").json()["csrf_token"]
    return page.context.request.post(f"{url}{path}", data=body, headers={"X-CSRF-Token": csrf})


def test_a_moderator_blocks_and_unblocks_a_visitor_from_the_reported_conversation(live_server: Any, artifacts: Path) -> None:
    """The staff report a conversation; the moderator opens it (a Chinese page), blocks its visitor, who can no
    longer write, and after a reload the button offers to lift the block; lifting it lets the visitor write again."""
    url = live_server.url
    seed = asyncio.run(_seed(live_server.settings))
    moderator_email = asyncio.run(_add_moderator(live_server.settings))
    with chromium() as browser:
        visitor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(visitor, url, seed["visitor"], PASSWORD, "en")
        started = _post(visitor, url, f"/api/booths/{seed['booth']}/conversations", {"text": "Buy followers now!"})
        assert started.ok, started.text()
        cid = started.json()["conversation"]["id"]
        staff = browser.new_context().new_page()
        sign_in(staff, url, seed["staff"], PASSWORD, "zh-Hans")
        assert _post(staff, url, f"/api/conversations/{cid}/report", {"reason": "spam"}).ok

        mod = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        errors: list[str] = []
        mod.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(mod, url, moderator_email, PASSWORD, "zh-Hans")
        mod.goto(f"{url}/conversations/{cid}")
        block = mod.locator("[data-conv-block]")
        block.wait_for()  # the conversation is loaded: its actions are all there
        assert block.inner_text() == "禁止此访客发起对话"
        assert mod.locator("[data-call-start]").count() == 0  # a moderator reads it; there is nobody to call
        block.click()
        wait_until(mod, "document.querySelector('[data-conv-result]').textContent === '已禁止。'")
        assert block.inner_text() == "解除对此访客的禁止"
        refused = _post(visitor, url, f"/api/conversations/{cid}/messages", {"text": "hello?"})
        assert refused.status == 403 and refused.json()["code"] == "conversation.blocked"

        mod.reload()  # the button follows the server: the visitor is still blocked
        mod.locator("[data-conv-block]").wait_for()
        assert mod.locator("[data-conv-block]").inner_text() == "解除对此访客的禁止"
        mod.screenshot(path=str(artifacts / "conversation-moderator-blocked-1280-zh-Hans.png"), full_page=True)
        mod.locator("[data-conv-block]").click()
        wait_until(mod, "document.querySelector('[data-conv-result]').textContent === '已解除禁止：对方可以再次发送消息。'")
        assert mod.locator("[data-conv-block]").inner_text() == "禁止此访客发起对话"
        assert _post(visitor, url, f"/api/conversations/{cid}/messages", {"text": "sorry"}).status == 201
        assert not errors, errors


def test_a_moderator_removes_a_message_and_both_open_pages_show_it_removed_then_restored(
        live_server: Any, artifacts: Path) -> None:
    """The staff report a conversation with spam in it; the moderator (a zh-Hans page) removes the spam, and the
    visitor's page (English) and the staff's (zh-Hant), both open on the conversation, say at once that a moderator
    removed it, without its words, also after a reload and in the inbox; the moderator still reads it, marked.
    The moderator restores it and both open pages read its words again."""
    url = live_server.url
    seed = asyncio.run(_seed(live_server.settings))
    moderator_email = asyncio.run(_add_moderator(live_server.settings))
    with chromium() as browser:
        visitor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        errors: list[str] = []
        visitor.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(visitor, url, seed["visitor"], PASSWORD, "en")
        started = _post(visitor, url, f"/api/booths/{seed['booth']}/conversations", {"text": "A question on battery tests"})
        assert started.ok, started.text()
        cid = started.json()["conversation"]["id"]
        spam = _post(visitor, url, f"/api/conversations/{cid}/messages", {"text": "Buy followers now!"}).json()["message"]
        staff = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True).new_page()
        staff.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(staff, url, seed["staff"], PASSWORD, "zh-Hant")
        assert _post(staff, url, f"/api/conversations/{cid}/report", {"reason": "spam"}).ok
        text_of = f"document.querySelector('[data-message-id=\"{spam['id']}\"] .conv-text')?.textContent"
        for page in (visitor, staff):
            page.goto(f"{url}/conversations/{cid}")
            wait_until(page, f"{text_of} === 'Buy followers now!'")

        mod = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        mod.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(mod, url, moderator_email, PASSWORD, "zh-Hans")
        mod.goto(f"{url}/conversations/{cid}")
        remove = mod.locator(f'[data-message-id="{spam["id"]}"] [data-conv-moderate]')
        remove.wait_for()
        assert remove.inner_text() == "移除"
        asked: list[str] = []
        mod.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        remove.click()
        wait_until(mod, "document.querySelector('[data-conv-result]').textContent === '消息已移除。'")
        assert asked == ["移除这条消息？对话双方都会看到它已被管理员移除。"]
        removed = mod.locator(f'[data-message-id="{spam["id"]}"]')
        assert "Buy followers now!" in removed.inner_text() and "已移除：对话双方不再看到它。" in removed.inner_text()
        assert remove.inner_text() == "恢复"  # the same button now undoes it
        mod.screenshot(path=str(artifacts / "conversation-moderator-removed-1280-zh-Hans.png"), full_page=True)

        # both sides' open pages hear it at once, each in its language, and the words are gone from them
        wait_until(visitor, f"{text_of} === 'A moderator removed this message.'")
        wait_until(staff, f"{text_of} === '管理員已移除此訊息。'")
        for page in (visitor, staff):
            assert "Buy followers now!" not in page.locator("[data-conv-log]").inner_text()
        staff.screenshot(path=str(artifacts / "conversation-staff-removed-375-zh-Hant.png"), full_page=True)
        visitor.reload()
        wait_until(visitor, f"{text_of} === 'A moderator removed this message.'")
        assert visitor.locator(".inbox-last").first.inner_text() == "A moderator removed this message."
        assert "Buy followers now!" not in visitor.content()
        visitor.screenshot(path=str(artifacts / "conversation-visitor-removed-1280-en.png"), full_page=True)

        # restored: no confirmation, and both open pages read the words again at once
        remove.click()
        wait_until(mod, "document.querySelector('[data-conv-result]').textContent === '消息已恢复：对话双方又能看到它。'")
        assert remove.inner_text() == "移除" and "已移除" not in removed.inner_text()
        for page in (visitor, staff):
            wait_until(page, f"{text_of} === 'Buy followers now!'")
        assert not staff.locator(f'[data-message-id="{spam["id"]}"].conv-removed').count()
        staff.screenshot(path=str(artifacts / "conversation-staff-restored-375-zh-Hant.png"), full_page=True)
        assert not errors, errors
