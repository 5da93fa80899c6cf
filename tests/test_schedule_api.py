"""The schedule's API: every path runs the overlap check and names the clash; who may do what;
each change tells the exhibitor in the app and by e-mail (aiosmtpd) in their language; the iCalendar
feed carries a move with a higher SEQUENCE."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from cloudexpo.app import Runtime
from cloudexpo.i18n import day_text
from cloudexpo.mail import SmtpMailer
from cloudexpo.services import Services
from streaming.models import Slot, StageKind
from streaming.schedule import ensure_stage
from tests.live_support import slot_row
from tests.test_booths_support import make_expo
from tests.test_engagement_support import set_language, smtp_inbox, wait_for

pytestmark = pytest.mark.exhibition_zone("Asia/Shanghai")  # its times and messages are written in it
ZONE = ZoneInfo("Asia/Shanghai")
DAY = (dt.datetime.now(ZONE) + dt.timedelta(days=5)).date().isoformat()


def at(hm: str) -> str:
    """A time on :data:`DAY` in the exhibition's zone, as the forms send it (no zone: the exhibition's)."""
    return f"{DAY}T{hm}"


def launch(booth: str, start: str, end: str, stage: str = "release-a", title: str = "Launch") -> dict[str, Any]:
    return {"booth": booth, "stage": stage, "title": {"en": title, "zh-Hans": "新品发布"}, "starts_at": at(start),
            "ends_at": at(end)}


async def stages(services: Services) -> None:
    async with services.db.session() as db:
        for position, slug in enumerate(("release-a", "release-b")):
            await ensure_stage(db, slug, {"en": slug.title(), "zh-Hans": "发布厅"}, kind=StageKind.RELEASE,
                               position=position)
        await ensure_stage(db, "main-forum", {"en": "Main forum"}, kind=StageKind.FORUM, position=9)
        await db.commit()


@pytest.fixture
async def world(services: Services, signed_in: Any, make_client: Any) -> dict[str, Any]:
    expo = await make_expo(services)
    await stages(services)
    return {
        "expo": expo,
        "anonymous": await make_client(),
        "visitor": await signed_in("visitor"),
        "owner": await signed_in("exhibitor", expo.exhibitors["1A-001"]),
        "other": await signed_in("exhibitor", expo.exhibitors["1A-002"]),
        "moderator": await signed_in("moderator"),
        "admin": await signed_in("admin"),
    }


def refused_with_clash(response: Any, clash_id: int, booth: str) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "overlap" and body["clash"]["id"] == clash_id and body["clash"]["booth"] == booth
    assert str(clash_id) in body["detail"] and booth in body["detail"], body["detail"]
    assert "Asia/Shanghai" in body["detail"]


async def test_every_path_runs_the_overlap_check_and_names_the_clash(world: dict[str, Any], services: Services) -> None:
    mod, owner = world["moderator"], world["owner"]
    taken = await mod.post("/api/slots", json=launch("1A-002", "10:00", "11:00", title="Tea"))
    assert taken.status_code == 201, taken.text
    a = taken.json()
    assert a["booth"] == {"number": "1A-002", "label": "1A-002 · 蒙頂山茶葉展臺"} and a["request"] == "approved"

    # adding
    clash = await mod.post("/api/slots", json=launch("1A-003", "10:30", "11:30"))
    refused_with_clash(clash, a["id"], "1A-002")
    assert "10:00–11:00" in clash.json()["detail"]
    # in the asker's language: slot, title, booth and times in the exhibition's zone
    english = await mod.post("/api/slots", json=launch("1A-003", "10:30", "11:30"), headers={"Accept-Language": "en"})
    assert english.json()["detail"].startswith(f"This overlaps slot {a['id']} “Tea” of booth 1A-002, ")
    assert "10:00–11:00 Asia/Shanghai, on the same stage" in english.json()["detail"]
    # an exhibitor's request
    refused_with_clash(await owner.post("/api/slot-requests", json=launch("1A-001", "10:45", "11:15")), a["id"], "1A-002")
    request = await owner.post("/api/slot-requests", json=launch("1A-001", "11:00", "11:30"))
    assert request.status_code == 201 and request.json()["request"] == "pending"
    r = request.json()
    # moving a request onto the programme's slot
    refused_with_clash(await mod.patch(f"/api/slots/{r['id']}", json={"starts_at": at("10:50"), "minutes": 30}),
                       a["id"], "1A-002")
    # pending requests do not block each other or the moderator; approval decides
    second = await owner.post("/api/slot-requests", json=launch("1A-001", "11:00", "11:30", title="Again"))
    assert second.status_code == 201
    assert (await mod.post(f"/api/slots/{r['id']}/approve")).status_code == 200
    refused_with_clash(await mod.post(f"/api/slots/{second.json()['id']}/approve"), r["id"], "1A-001")
    # resizing (extending the taken slot into the approved request)
    refused_with_clash(await mod.patch(f"/api/slots/{a['id']}", json={"ends_at": at("11:15")}), r["id"], "1A-001")
    # moving to another stage where the time is taken
    b = (await mod.post("/api/slots", json=launch("1A-003", "10:00", "11:00", stage="release-b"))).json()
    refused_with_clash(await mod.patch(f"/api/slots/{a['id']}", json={"stage": "release-b"}), b["id"], "1A-003")
    # the way out: move the clashing request, then approve it
    moved = await mod.patch(f"/api/slots/{second.json()['id']}", json={"starts_at": at("12:00"), "ends_at": at("12:30")})
    assert moved.status_code == 200 and moved.json()["sequence"] == 1
    approved = await mod.post(f"/api/slots/{second.json()['id']}/approve")
    assert approved.status_code == 200 and approved.json()["request"] == "moved"
    assert approved.json()["previous_starts_at"] == dt.datetime.fromisoformat(at("11:00")).replace(tzinfo=ZONE).astimezone(dt.UTC).isoformat()


async def test_concurrent_adds_of_one_time_put_one_slot_on_the_programme(world: dict[str, Any]) -> None:
    """The stage is locked while its overlaps are checked: of simultaneous adds, one wins, the others name it."""
    mod = world["moderator"]
    answers = await asyncio.gather(*(mod.post("/api/slots", json=launch(booth, "18:00", "18:30"))
                                     for booth in ("1A-001", "1A-002", "1A-003", "1A-001", "1A-002", "1A-003")))
    made = [a for a in answers if a.status_code == 201]
    assert len(made) == 1, [a.status_code for a in answers]
    for answer in answers:
        if answer is not made[0]:
            assert answer.status_code == 409 and answer.json()["clash"]["id"] == made[0].json()["id"]


async def test_a_running_slot_changes_only_its_end(world: dict[str, Any], services: Services) -> None:
    mod = world["moderator"]
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    made = await mod.post("/api/slots", json={"booth": "1A-001", "stage": "release-a", "title": "Now",
                                              "starts_at": (now - dt.timedelta(minutes=5)).isoformat(), "minutes": 30})
    assert made.status_code == 201, made.text
    slot_id = made.json()["id"]
    async with services.db.session() as db:
        row = await db.get(Slot, slot_id)
        assert row is not None
        row.state, row.live_at = "live", now - dt.timedelta(minutes=5)
        await db.commit()
    longer = await mod.patch(f"/api/slots/{slot_id}", json={"ends_at": (now + dt.timedelta(minutes=40)).isoformat()})
    assert longer.status_code == 200, longer.text
    assert longer.json()["ends_at"] == (now + dt.timedelta(minutes=40)).isoformat()
    shorter = await mod.patch(f"/api/slots/{slot_id}", json={"ends_at": (now + dt.timedelta(minutes=10)).isoformat()})
    assert shorter.status_code == 200
    past = await mod.patch(f"/api/slots/{slot_id}", json={"ends_at": (now - dt.timedelta(minutes=1)).isoformat()})
    assert past.status_code == 422 and past.json()["field"] == "ends_at"
    start = await mod.patch(f"/api/slots/{slot_id}", json={"starts_at": (now + dt.timedelta(minutes=1)).isoformat(),
                                                           "minutes": 20})
    assert start.status_code == 409 and "only its end" in start.json()["detail"]
    # a running slot's new end reaches its watchers: the row and the bus event carry it
    assert (await slot_row(services, slot_id)).ends_at == now + dt.timedelta(minutes=10)


async def test_refusals_per_role(world: dict[str, Any], services: Services) -> None:
    body = launch("1A-001", "15:00", "15:30")
    expected = {"anonymous": 401, "visitor": 403, "other": 403, "owner": 201, "moderator": 201, "admin": 201}
    for who, status in expected.items():
        answer = await world[who].post("/api/slot-requests", json={**body, "starts_at": at(f"{15 + len(who) % 5}:00"),
                                                                   "ends_at": at(f"{15 + len(who) % 5}:30")})
        assert answer.status_code == status, (who, answer.text)
    other = await world["other"].post("/api/slot-requests", json=body)
    assert other.json()["error"] == "forbidden" and "1A-001" in other.json()["detail"]
    assert "your own booths" in other.json()["detail"]
    # the booth must be named; an unknown or ambiguous one says what to type
    missing = await world["owner"].post("/api/slot-requests", json={k: v for k, v in body.items() if k != "booth"})
    assert missing.status_code == 422 and missing.json()["field"] == "booth"
    unknown = await world["owner"].post("/api/slot-requests", json={**body, "booth": "9Z-999"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "booth" and "1A-001" in unknown.json()["detail"]
    ambiguous = await world["moderator"].post("/api/slots", json={**body, "booth": "1A-00"})
    assert ambiguous.status_code == 422 and "matches 3 booths" in ambiguous.json()["detail"]
    by_name = await world["moderator"].post("/api/slots", json={**body, "booth": "BYD Company Ltd.",
                                                                 "starts_at": at("20:00"), "ends_at": at("20:30")})
    assert by_name.status_code == 201 and by_name.json()["booth"]["number"] == "1A-001"
    # launches go on the release zone
    forum = await world["owner"].post("/api/slot-requests", json={**body, "stage": "main-forum"})
    assert forum.status_code == 422 and forum.json()["field"] == "stage"
    # the booth picker: staff see their own booths, moderators all
    assert [b["number"] for b in (await world["owner"].get("/api/booth-choices?q=")).json()["booths"]] == ["1A-001"]
    assert [b["number"] for b in (await world["moderator"].get("/api/booth-choices?q=茶")).json()["booths"]] == ["1A-002"]
    assert (await world["visitor"].get("/api/booth-choices?q=1A")).status_code == 403

    # deciding: only moderators; declining needs the reason the exhibitor will read
    request = (await world["owner"].post("/api/slot-requests", json={**body, "starts_at": at("21:00"),
                                                                     "ends_at": at("21:30")})).json()
    for who in ("anonymous", "visitor", "other", "owner"):
        for action in ("approve", "decline", "cancel"):
            answer = await world[who].post(f"/api/slots/{request['id']}/{action}", json={"reason": "No"})
            assert answer.status_code == (401 if who == "anonymous" else 403), (who, action)
        assert (await world[who].patch(f"/api/slots/{request['id']}", json={"minutes": 20})).status_code in (401, 403)
    no_reason = await world["moderator"].post(f"/api/slots/{request['id']}/decline", json={"reason": "  "})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    declined = await world["moderator"].post(f"/api/slots/{request['id']}/decline",
                                             json={"reason": "Hall A is closed that evening."})
    assert declined.status_code == 200 and declined.json()["request"] == "declined"
    assert declined.json()["decline_reason"] == "Hall A is closed that evening."
    again = await world["admin"].post(f"/api/slots/{request['id']}/approve")
    assert again.status_code == 409
    on_programme = await world["moderator"].post(f"/api/slots/{by_name.json()['id']}/decline", json={"reason": "x"})
    assert on_programme.status_code == 409 and "cancel it instead" in on_programme.json()["detail"]


async def test_changes_tell_the_exhibitor_in_the_app_and_by_mail(
        world: dict[str, Any], services: Services, runtime: Runtime) -> None:
    box, controller = smtp_inbox()
    try:
        notifier = runtime.booths.notifier
        notifier.mailer = SmtpMailer(f"smtp://127.0.0.1:{box.port}", "Cloud Expo <noreply@expo.example.org>")
        owner_me = await world["owner"].refresh_csrf()
        await set_language(services, owner_me["id"], "zh-Hans")
        mod_me = await world["moderator"].refresh_csrf()
        request = (await world["owner"].post("/api/slot-requests", json=launch("1A-001", "10:00", "10:30"))).json()
        moved = await world["moderator"].patch(f"/api/slots/{request['id']}",
                                               json={"starts_at": at("14:00"), "ends_at": at("14:45")})
        assert moved.status_code == 200
        mails = await wait_for(lambda: box.to(owner_me["email"]))
        mail = mails[0]
        assert mail["Subject"] == "发布时间已调整：新品发布"
        assert mail["Content-Language"] == "zh-Hans"
        text = mail.get_body(("plain",)).get_content()
        day = day_text(dt.datetime.combine(dt.date.fromisoformat(DAY), dt.time(12)), "zh-Hans", dt.datetime.now(ZONE).date())
        assert f"由 {day} 10:00（Asia/Shanghai）调整为 {day} 14:00（Asia/Shanghai）开始，45 分钟，发布厅。" in text, text
        assert "展位 1A-001" in text and "/dashboard/live" in text
        unread = (await world["owner"].get("/api/notifications")).json()
        assert unread["unread"] == 1 and unread["items"][0]["kind"] == "launch_moved"
        # the moderator who made the change is not told about it
        assert (await world["moderator"].get("/api/notifications")).json()["unread"] == 0
        assert not box.to(mod_me["email"])

        declined = await world["moderator"].post(f"/api/slots/{request['id']}/decline",
                                                 json={"reason": "发布厅 A 当天下午彩排。"})
        assert declined.status_code == 200
        mails = await wait_for(lambda: len(box.to(owner_me["email"])) >= 2 and box.to(owner_me["email"]))
        text = mails[1].get_body(("plain",)).get_content()
        assert mails[1]["Subject"] == "发布申请未通过：新品发布" and "原因：发布厅 A 当天下午彩排。" in text
    finally:
        controller.stop()


async def test_the_calendar_feed_carries_a_move(world: dict[str, Any], services: Services) -> None:
    mod = world["moderator"]
    made = (await mod.post("/api/slots", json=launch("1A-001", "09:00", "09:30", title="Saloon"))).json()

    def event(body: bytes) -> Any:
        found = [e for e in Calendar.from_ical(body).walk("VEVENT") if str(e["uid"]).startswith(f"slot-{made['id']}@")]
        assert len(found) == 1
        return found[0]

    before = event((await world["anonymous"].get("/programme.ics")).content)
    assert int(before["sequence"]) == 0
    assert before.decoded("dtstart") == dt.datetime.fromisoformat(at("09:00")).replace(tzinfo=ZONE)
    moved = await mod.patch(f"/api/slots/{made['id']}", json={"starts_at": at("16:00"), "ends_at": at("16:30")})
    assert moved.status_code == 200
    after = event((await world["anonymous"].get("/programme/release-a.ics")).content)
    assert int(after["sequence"]) == 1
    assert after.decoded("dtstart") == dt.datetime.fromisoformat(at("16:00")).replace(tzinfo=ZONE)
    assert after.decoded("last-modified") >= before.decoded("last-modified")
    await mod.post(f"/api/slots/{made['id']}/cancel")
    cancelled = event((await world["anonymous"].get("/programme.ics")).content)
    assert int(cancelled["sequence"]) == 2 and str(cancelled["status"]) == "CANCELLED"
