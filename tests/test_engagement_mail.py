"""Notification e-mails through a real SMTP server on 127.0.0.1 (aiosmtpd), read back."""

from __future__ import annotations

import email
import email.policy
from typing import Any
from urllib.parse import parse_qs, urlsplit

from icalendar import Calendar

from cloudexpo.app import Runtime
from cloudexpo.mail import FolderMailer, Mail, SmtpMailer
from cloudexpo.services import Services
from tests.test_engagement_support import make_expo, set_language, soon, wait_for

CARD = {"name": "Anna Schmidt", "organisation": "TÜV Süd", "email": "anna@example.org", "consent": True}




async def test_mails_arrive_in_the_recipients_language_and_unsubscribe_works(
        inbox: Any, app: Any, services: Services, runtime: Runtime, signed_in: Any, make_client: Any) -> None:
    expo = await make_expo(services)
    notifier = runtime.booths.notifier
    notifier.mailer = SmtpMailer(f"smtp://127.0.0.1:{inbox.port}", "Cloud Expo <noreply@expo.example.org>")
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    staff_me = await staff.refresh_csrf()
    await set_language(services, staff_me["id"], "zh-Hant")
    visitor = await signed_in("visitor")
    await (await make_client()).post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD)
    mails = await wait_for(lambda: inbox.to(staff_me["email"]))
    mail = mails[0]
    assert mail["Subject"] == "收到新名片：Anna Schmidt"
    assert mail["Content-Language"] == "zh-Hant"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Anna Schmidt（TÜV Süd）在展位 1A-001 留下了名片" in text
    assert "<h1" in html and "Anna Schmidt" in html and 'lang="zh-Hant"' in html
    assert mail["List-Unsubscribe"].startswith("<http://testserver/unsubscribe?")
    link = mail["List-Unsubscribe"][1:-1]
    assert link in text

    # The link opens a page; confirming stops this kind of mail, without signing in.
    stranger = await make_client()
    page = await stranger.get(link.replace("http://testserver", ""))
    assert page.status_code == 200
    fields = parse_qs(urlsplit(link).query)
    forged = await stranger.post("/unsubscribe", json={"u": fields["u"][0], "k": "card_received", "t": "0" * 32})
    assert forged.status_code == 400
    done = await stranger.post("/unsubscribe", json={k: v[0] for k, v in fields.items()},
                               headers={"Accept": "application/json"})
    assert done.status_code == 200 and done.json()["unsubscribed"] == "card_received"
    await visitor.post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD | {"name": "Second"})
    await notifier.drain()
    assert len(inbox.to(staff_me["email"])) == 1
    assert (await staff.get("/api/notifications")).json()["unread"] == 2  # still told in the app

    # Meeting accepted: both sides get the mail with the same invitation.
    slot = (await staff.post("/api/meeting-slots", json={"starts_at": soon(30).isoformat(), "mode": "online",
                                                         "location": "https://meet.example.org/byd"})).json()
    visitor_me = await visitor.refresh_csrf()
    await set_language(services, visitor_me["id"], "en")
    meeting = (await visitor.post(f"/api/meeting-slots/{slot['id']}/requests", json={"note": "Batteries"})).json()
    request_mail = (await wait_for(lambda: inbox.to(staff_me["email"])[1:]))[0]
    assert request_mail["Subject"].startswith("新的會面請求")
    assert (await staff.post(f"/api/meetings/{meeting['id']}/accept")).status_code == 200
    accepted = (await wait_for(lambda: inbox.to(visitor_me["email"])))[0]
    assert accepted["Subject"].startswith("Meeting confirmed")
    assert "https://meet.example.org/byd" in accepted.get_body(("plain",)).get_content()
    invites = [p for p in accepted.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(invites) == 1
    event = next(iter(Calendar.from_ical(invites[0].get_content()).walk("VEVENT")))
    assert event.decoded("dtstart") == soon(30)
    host_mail = (await wait_for(lambda: [m for m in inbox.to(staff_me["email"]) if "會面已確認" in m["Subject"]]))[0]
    host_invite = next(p for p in host_mail.iter_attachments() if p.get_content_type() == "text/calendar")
    assert next(iter(Calendar.from_ical(host_invite.get_content()).walk("VEVENT")))["uid"] == event["uid"]


async def test_reminders_for_meetings_and_bookmarked_launches(app: Any, services: Services, runtime: Runtime,
                                                              signed_in: Any) -> None:
    import datetime as dt
    import secrets

    from booths.engagement.notify import send_reminders
    from streaming.models import Slot, Stage

    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    async with services.db.session() as session:
        stage = Stage(slug=f"release-{secrets.token_hex(3)}", kind="release", name={"en": "Release zone"})
        session.add(stage)
        await session.flush()
        starts = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
        slot = Slot(stage_id=stage.id, booth_id=expo.booths["1A-001"], title={"en": "BYD launch"}, starts_at=starts,
                    ends_at=starts + dt.timedelta(minutes=30), token_nonce="n", token_hash="h")
        session.add(slot)
        await session.commit()
    assert (await visitor.post("/api/bookmarks", json={"kind": "launch", "id": slot.id})).status_code == 201
    notifier = runtime.booths.notifier
    assert await send_reminders(services, notifier) == 1
    assert await send_reminders(services, notifier) == 0  # told once
    items = (await visitor.get("/api/notifications?lang=en")).json()["items"]
    assert items[0]["kind"] == "launch_starting" and "BYD launch" in items[0]["body"]
    await notifier.drain()
    # The embedded default wrote the mail into the data folder.
    files = list((services.settings.data_dir / "mail").glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert "BYD launch" in message.get_body(("plain",)).get_content()


async def test_folder_mailer_writes_eml(tmp_path: Any) -> None:
    mailer = FolderMailer(tmp_path / "mail", "Cloud Expo <noreply@expo.example.org>")
    await mailer.send(Mail(to="a@example.org", subject="质量之光", text="你好", html="<p>你好</p>"))
    (path,) = (tmp_path / "mail").glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "质量之光" and message.get_body(("html",)).get_content().strip() == "<p>你好</p>"
