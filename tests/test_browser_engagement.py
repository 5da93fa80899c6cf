"""In Chromium: a visitor bookmarks, leaves a card and books a meeting; the exhibitor sees the lead,
exports the CSV, accepts the meeting; the e-mails arrive over SMTP; the analytics chart shows the visit."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from booths.engagement.models import MeetingSlot
from cloudexpo import accounts
from cloudexpo.app import open_services
from tests.browser_support import chromium, screenshots, sign_in, wait_until
from tests.conftest import PASSWORD, LiveServer, live_settings, serve_app
from tests.test_engagement_support import Inbox, make_expo, smtp_inbox

pytestmark = pytest.mark.browser

@pytest.fixture
def mail_server() -> Iterator[Inbox]:
    inbox, controller = smtp_inbox()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def expo_server(tmp_path: Path, mail_server: Inbox) -> Iterator[LiveServer]:
    """The app under uvicorn on 127.0.0.1, sending mail to the aiosmtpd server."""
    settings = live_settings(tmp_path, smtp_url=f"smtp://127.0.0.1:{mail_server.port}", mail_from="Cloud Expo <expo@example.org>")
    with serve_app(settings, "engagement-server") as server:
        yield server


async def _seed(live: LiveServer) -> dict[str, Any]:
    services = open_services(live.settings)
    try:
        await services.db.migrate()
        expo = await make_expo(services)
        async with services.db.session() as db:
            staff = await accounts.create_user(db, "staff@byd.example.org", PASSWORD, display_name="比亚迪 王经理",
                                               role="exhibitor", exhibitor_id=expo.exhibitors["1A-001"],
                                               language="zh-Hans")
            visitor = await accounts.create_user(db, "anna@tuv.example.org", PASSWORD, display_name="Anna Schmidt",
                                                 language="en")
            starts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
            db.add(MeetingSlot(host_id=staff.id, exhibitor_id=expo.exhibitors["1A-001"], starts_at=starts,
                               ends_at=starts + dt.timedelta(minutes=30), mode="table", location="圆桌 12"))
            await db.commit()
            return {"booth": expo.booths["1A-001"], "staff": staff.email, "visitor": visitor.email}
    finally:
        await services.close()


def _wait_mail(inbox: Inbox, to: str, subject_part: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in inbox.to(to):
            if subject_part in str(message["Subject"]):
                return message
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to} about {subject_part!r}: {[str(m['Subject']) for m in inbox.messages]}")


def test_visitor_and_exhibitor_in_the_browser(expo_server: LiveServer, mail_server: Inbox, artifacts: Path,
                                              tmp_path: Path) -> None:
    seed = asyncio.run(_seed(expo_server))
    url = expo_server.url
    with chromium() as browser:
        # --- the visitor, in English
        visitor = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
        page = visitor.new_page()
        sign_in(page, url, seed["visitor"], PASSWORD, "en")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{url}/booths/1A-001?src=qr")
        wait_until(page, "window.cloudexpoEngagement === true")
        # the booth's bookmark, not its "Notify me when this booth goes live" (kind booth_live, also a .bookmark)
        bookmark = page.locator('.engage-panel button.bookmark[data-bookmark-kind="booth"]')
        bookmark.click()
        try:
            page.wait_for_selector('.engage-panel button.bookmark[data-bookmark-kind="booth"][aria-pressed=true]', timeout=20000)  # a busy CI machine answers the POST slowly
        except Exception:
            page.screenshot(path=str(artifacts / "engagement-debug.png"), full_page=True)
            raise AssertionError(f"bookmark did not toggle; page errors: {errors}; url {page.url}") from None
        notify = page.locator('.engage-panel button.bookmark[data-bookmark-kind="booth_live"]')
        assert notify.get_attribute("aria-pressed") == "false", "bookmarking the booth also asked to be told when it goes live"
        page.click(".engage-panel summary")
        form = page.locator(".engage-panel form[data-card-form]")
        assert form.locator("input[name=name]").input_value() == "Anna Schmidt"
        form.locator("input[name=organisation]").fill("TÜV Süd 成都")
        form.locator("textarea[name=message]").fill("Please send the battery test report.")
        form.locator("button[type=submit]").click()
        assert "tick" in page.locator("[data-card-result]").inner_text().lower() or \
            form.locator("input[name=consent]:invalid").count() == 1  # the browser asks for consent first
        form.locator("input[name=consent]").check()
        form.locator("button[type=submit]").click()
        page.wait_for_selector("[data-card-result].ok")
        screenshots(page, artifacts, "engagement-booth-en")

        page.goto(f"{url}/booths/{seed['booth']}/contact")
        page.fill("input[name=note]", "Battery safety testing")
        page.click("text=Request this time")
        page.wait_for_url(f"{url}/meetings#requested")
        assert "pending" in page.locator("#requested").inner_text()
        assert page.locator("#requested .local-time").count() == 1  # the viewer's own zone beside the expo's
        screenshots(page, artifacts, "engagement-my-meetings-en")
        page.goto(f"{url}/me/tour")
        assert "BYD New Energy Vehicles" in page.locator(".tour-list").inner_text()
        screenshots(page, artifacts, "engagement-tour-en")

        # --- the exhibitor, in Simplified Chinese
        staff_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        staff = staff_ctx.new_page()
        sign_in(staff, url, seed["staff"], PASSWORD, "zh-Hans")
        staff.goto(f"{url}/dashboard/leads")
        leads_text = staff.locator(".lead-list").inner_text()
        assert "Anna Schmidt" in leads_text and "TÜV Süd 成都" in leads_text and "会面" in leads_text
        with staff.expect_download() as info:
            staff.click("a[data-leads-csv]")
        path = tmp_path / "leads.csv"
        info.value.save_as(path)
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
        assert {r["kind"] for r in rows} == {"card", "meeting"}
        card = next(r for r in rows if r["kind"] == "card")
        assert card["organisation"] == "TÜV Süd 成都" and card["booth"] == "1A-001"
        screenshots(staff, artifacts, "engagement-leads-zh-Hans")

        staff.goto(f"{url}/meetings")
        staff.click("#hosting button.primary")
        staff.wait_for_url(f"{url}/meetings#hosting")
        assert "已接受" in staff.locator("#hosting").inner_text()
        screenshots(staff, artifacts, "engagement-meetings-zh-Hans")

        staff.goto(f"{url}/dashboard/analytics?days=7")
        chart = staff.request.get(f"{url}/api/analytics/booths/{seed['booth']}/chart.svg?metric=visitors&days=7")
        assert 'data-value="1"' in chart.text()
        qr_chart = staff.request.get(f"{url}/api/analytics/booths/{seed['booth']}/chart.svg?metric=qr_visitors&days=7")
        assert 'data-value="1"' in qr_chart.text()
        staff.goto(f"{url}/dashboard/analytics?days=7")
        assert staff.locator("[data-metric=visitors]").inner_text() == "1"
        wait_until(staff, "[...document.querySelectorAll('img[data-chart]')].every(i => i.complete && i.naturalWidth > 0)")
        screenshots(staff, artifacts, "engagement-analytics-zh-Hans")
        staff.goto(f"{url}/booths/{seed['booth']}/poster")
        staff.screenshot(path=str(artifacts / "engagement-poster-zh-Hans-1280.png"), full_page=True)

        # The visitor's bell shows the answer.
        page.goto(f"{url}/me/tour")
        page.wait_for_selector("[data-bell-count]:not([hidden])")
        screenshots(page, artifacts, "engagement-tour-bell-en")

    # --- the e-mails arrived, each in its recipient's language
    card_mail = _wait_mail(mail_server, seed["staff"], "收到新名片")
    assert "Anna Schmidt" in card_mail.get_body(("plain",)).get_content()
    _wait_mail(mail_server, seed["staff"], "新的会面请求")
    accepted = _wait_mail(mail_server, seed["visitor"], "Meeting confirmed")
    assert "圆桌 12" in accepted.get_body(("plain",)).get_content()
    assert any(p.get_content_type() == "text/calendar" for p in accepted.iter_attachments())
