"""Visitors on launch day: "Remind me" (in the app and by e-mail, ten minutes before and when it goes
live, in each recipient's language, once across nodes and restarts), and the "Live now / Up next" strip."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from booths.engagement.notify import Notifier, send_reminders
from cloudexpo.app import Runtime
from cloudexpo.mail import SmtpMailer
from cloudexpo.services import Services
from streaming.models import Slot
from tests.live_support import make_slot
from tests.test_engagement_support import make_expo, set_language, wait_for


async def _visitor(signed_in: Any, services: Services, language: str) -> tuple[Any, dict[str, Any]]:
    client = await signed_in("visitor")
    me = await client.refresh_csrf()
    await set_language(services, me["id"], language)
    return client, me


async def _go_live(services: Services, slot_id: int) -> None:
    async with services.db.session() as db:
        slot = await db.get(Slot, slot_id)
        assert slot is not None
        slot.state, slot.live_at = "live", dt.datetime.now(dt.UTC)
        await db.commit()


async def test_remind_me_mails_before_and_when_live_in_each_language_once(
        inbox: Any, app: Any, services: Services, runtime: Runtime, signed_in: Any) -> None:
    expo = await make_expo(services)
    slot_id, _ = await make_slot(services, start_in=dt.timedelta(minutes=8), booth_id=expo.booths["1A-001"],
                                 stage="release-remind")
    later_id, _ = await make_slot(services, start_in=dt.timedelta(minutes=40), booth_id=expo.booths["1A-001"],
                                  stage="release-later")
    notifier = runtime.booths.notifier
    notifier.mailer = SmtpMailer(f"smtp://127.0.0.1:{inbox.port}", "Cloud Expo <noreply@expo.example.org>")
    hant, hant_me = await _visitor(signed_in, services, "zh-Hant")
    en, en_me = await _visitor(signed_in, services, "en")
    quitter, quitter_me = await _visitor(signed_in, services, "zh-Hans")
    for client in (hant, en, quitter):
        asked = await client.post("/api/bookmarks", json={"kind": "launch", "id": slot_id})
        assert asked.status_code == 201, asked.text
        assert (await client.post("/api/bookmarks", json={"kind": "launch", "id": later_id})).status_code == 201
    # Cancelling the reminder: nothing is sent to this visitor.
    assert (await quitter.delete(f"/api/bookmarks/launch/{slot_id}")).json()["bookmarked"] is False

    # Two nodes run the loop at the same moment: each visitor is told once (the launch 40 minutes out not yet).
    other_node = Notifier.from_services(services)
    other_node.mailer = notifier.mailer
    told = await asyncio.gather(send_reminders(services, notifier), send_reminders(services, other_node))
    assert sum(told) == 2, told
    await notifier.drain()
    await other_node.drain()
    starting = {m["To"].addresses[0].addr_spec: m for m in inbox.messages}
    assert set(starting) == {hant_me["email"], en_me["email"]}
    assert starting[hant_me["email"]]["Subject"] == "即將開始：新品发布"
    assert "將於" in starting[hant_me["email"]].get_body(("plain",)).get_content()
    assert starting[en_me["email"]]["Subject"] == "Starting soon: Launch on release-remind"
    assert f"/live/{slot_id}" in starting[en_me["email"]].get_body(("plain",)).get_content()

    # A restarted node (a new notifier, state only in the database) tells nobody again.
    restarted = Notifier.from_services(services)
    restarted.mailer = notifier.mailer
    assert await send_reminders(services, restarted) == 0

    # It goes live: the second notice, in the app and by mail, once.
    await _go_live(services, slot_id)
    told = await asyncio.gather(send_reminders(services, notifier), send_reminders(services, other_node))
    assert sum(told) == 2, told
    await notifier.drain()
    await other_node.drain()
    live_mails = await wait_for(lambda: [m for m in inbox.messages if "Live now" in m["Subject"] or "正在直播" in m["Subject"]])
    assert sorted(m["Subject"] for m in live_mails) == ["Live now: Launch on release-remind", "正在直播：新品发布"]
    assert len(inbox.to(quitter_me["email"])) == 0
    assert await send_reminders(services, restarted) == 0

    items = (await en.get("/api/notifications?lang=en")).json()["items"]
    assert [i["kind"] for i in items[:2]] == ["launch_live", "launch_starting"]
    assert items[0]["url"] == f"/live/{slot_id}" and "is live now" in items[0]["body"]
    hant_items = (await hant.get("/api/notifications?lang=zh-Hant")).json()
    assert hant_items["unread"] == 2 and hant_items["items"][0]["title"] == "正在直播：新品发布"


async def test_asking_while_live_sends_no_live_notice(app: Any, services: Services, runtime: Runtime,
                                                      signed_in: Any) -> None:
    slot_id, _ = await make_slot(services, stage="release-already", state="live",
                                 live_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
    visitor, _ = await _visitor(signed_in, services, "en")
    assert (await visitor.post("/api/bookmarks", json={"kind": "launch", "id": slot_id})).status_code == 201
    assert await send_reminders(services, runtime.booths.notifier) == 0


async def test_the_strip_shows_live_and_next_with_reminders(app: Any, services: Services, signed_in: Any,
                                                          client: Any) -> None:
    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    live_id, _ = await make_slot(services, stage="release-strip-a", booth_id=booth, state="live",
                                 live_at=dt.datetime.now(dt.UTC))
    next_id, _ = await make_slot(services, stage="release-strip-b", start_in=dt.timedelta(hours=2), booth_id=booth)
    elsewhere_id, _ = await make_slot(services, stage="release-strip-c", start_in=dt.timedelta(hours=1),
                                      booth_id=expo.booths["1A-002"])

    home = await client.get("/?lang=en")
    strip = re.search(r"<section[^>]*data-live-strip.*?</section>", home.text, re.S)
    assert strip is not None
    assert f'href="/live/{live_id}"' in strip.group(0) and f'href="/live/{next_id}"' in strip.group(0)
    assert "Live now" in strip.group(0) and "Up next" in strip.group(0)
    assert f'/signin?next=/live/{next_id}' in strip.group(0)  # anonymous: sign in to be reminded
    assert f"data-slots=\"{live_id},{elsewhere_id},{next_id}\"" in strip.group(0)

    visitor = await signed_in("visitor")
    await visitor.post("/api/bookmarks", json={"kind": "launch", "id": next_id})
    mine = await visitor.get(f"/live/strip?booth={booth}&lang=zh-Hans")
    assert mine.status_code == 200 and mine.headers["cache-control"] == "no-store"
    assert f"/live/{elsewhere_id}" not in mine.text
    assert re.search(rf'data-bookmark-id="{next_id}"[^>]*\s+aria-pressed="true"', mine.text)
    assert "已设提醒" in mine.text and "正在直播" in mine.text and "即将开始" in mine.text

    # The watch page: back to the booth, the card form and a meeting; "Remind me" before the start.
    watch = await visitor.get(f"/live/{next_id}?lang=en")
    assert 'href="/booths/1A-001"' in watch.text
    assert f'href="/booths/{booth}/contact#card"' in watch.text and f'href="/booths/{booth}/contact#meet"' in watch.text
    assert 'data-bookmark-kind="launch"' in watch.text and "Reminder set" in watch.text
    bad = await client.get("/live/strip?booth=x", headers={"Accept": "application/json"})
    assert bad.status_code == 400 and bad.json()["field"] == "booth"


async def test_following_a_booth_tells_when_each_of_its_launches_goes_live(
        app: Any, services: Services, runtime: Runtime, signed_in: Any) -> None:
    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    first, _ = await make_slot(services, stage="release-follow-a", booth_id=booth, start_in=dt.timedelta(hours=1))
    second, _ = await make_slot(services, stage="release-follow-b", booth_id=booth, start_in=dt.timedelta(hours=3))
    fan, _ = await _visitor(signed_in, services, "en")
    both, _ = await _visitor(signed_in, services, "en")
    for client in (fan, both):
        followed = await client.post("/api/bookmarks", json={"kind": "booth_live", "id": booth})
        assert followed.status_code == 201, followed.text
    await both.post("/api/bookmarks", json={"kind": "launch", "id": first})  # the reminder tells this one
    assert (await fan.post("/api/bookmarks", json={"kind": "booth_live", "id": 999_999})).status_code == 404
    notifier = runtime.booths.notifier

    await _go_live(services, first)
    assert await send_reminders(services, notifier) == 2  # fan by the follow, both by the reminder: once each
    assert await send_reminders(services, notifier) == 0
    await _go_live(services, second)
    assert await send_reminders(services, notifier) == 2  # the next launch of the booth: both follows
    fan_items = (await fan.get("/api/notifications?lang=en")).json()["items"]
    assert [(i["kind"], i["url"]) for i in fan_items] == [("launch_live", f"/live/{second}"), ("launch_live", f"/live/{first}")]
    tour = (await fan.get("/api/bookmarks?kind=booth_live")).json()
    assert tour["items"][0]["url"] == "/booths/1A-001"
