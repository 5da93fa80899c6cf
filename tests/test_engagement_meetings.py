"""Meetings: expert directory, slots, requests, answers, no double booking, time zones, .ics invitations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from icalendar import Calendar

from cloudexpo.services import Services
from tests.test_engagement_support import make_expo, role_client, soon


async def _expert(signed_in: Any, make_user: Any, make_client: Any, moderator: Any, field: str = "计量",
                  languages: list[str] | None = None) -> tuple[Any, int]:
    email, password, uid = await make_user("visitor")
    r = await moderator.put(f"/api/experts/{uid}", json={
        "is_expert": True, "institution": "中国计量科学研究院", "field": field, "languages": languages or ["zh", "en"]})
    assert r.status_code == 200, r.text
    client = await make_client()
    await client.sign_in(email, password)
    return client, uid


@pytest.mark.exhibition_zone("Asia/Shanghai")  # its times are given in Chengdu's
async def test_directory_offer_request_accept_and_invitations(signed_in: Any, make_user: Any, make_client: Any,
                                                              services: Services) -> None:
    await make_expo(services)
    moderator = await signed_in("moderator")
    expert, expert_id = await _expert(signed_in, make_user, make_client, moderator)
    await _expert(signed_in, make_user, make_client, moderator, field="标准化", languages=["zh"])
    directory = (await make_client())
    everyone = (await directory.get("/api/experts")).json()
    assert len(everyone["experts"]) == 2 and set(everyone["fields"]) == {"计量", "标准化"}
    only = (await directory.get("/api/experts?field=计量")).json()["experts"]
    assert [e["user_id"] for e in only] == [expert_id]
    assert len((await directory.get("/api/experts?language=en")).json()["experts"]) == 1
    page = await directory.get("/experts?field=计量")
    assert page.status_code == 200 and "中国计量科学研究院" in page.text

    # 14:00 in Chengdu (the exhibition's zone), given without an offset, is 06:00 UTC.
    day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date()
    r = await expert.post("/api/meeting-slots", json={"starts_at": f"{day}T14:00", "minutes": 30, "mode": "table",
                                                      "location": "圆桌 12"})
    assert r.status_code == 201, r.text
    slot = r.json()
    assert slot["starts_at"] == f"{day}T06:00:00+00:00"
    # The same moment given in Berlin time is the same slot: refused as overlapping.
    r = await expert.post("/api/meeting-slots", json={"starts_at": f"{day}T08:15+02:00", "minutes": 30,
                                                      "mode": "online", "location": "https://meet.example.org/x"})
    assert r.status_code == 409 and "overlaps" in r.json()["detail"]

    visitor = await signed_in("visitor")
    rival = await signed_in("visitor")
    r = await visitor.post(f"/api/meeting-slots/{slot['id']}/requests", json={"note": "请教计量溯源"})
    assert r.status_code == 201, r.text
    meeting = r.json()
    assert meeting["state"] == "pending"
    r2 = await rival.post(f"/api/meeting-slots/{slot['id']}/requests", json={"note": "me too"})
    assert r2.status_code == 201
    # The visitor cannot hold two meetings at once.
    other_slot = (await (await _expert(signed_in, make_user, make_client, moderator))[0].post(
        "/api/meeting-slots", json={"starts_at": f"{day}T14:10", "minutes": 30, "mode": "table", "location": "T3"})).json()
    clash = await visitor.post(f"/api/meeting-slots/{other_slot['id']}/requests", json={})
    assert clash.status_code == 409 and "two meetings" in clash.json()["detail"]

    # Only the host answers.
    assert (await rival.post(f"/api/meetings/{meeting['id']}/accept")).status_code == 403
    r = await expert.post(f"/api/meetings/{meeting['id']}/accept")
    assert r.status_code == 200 and r.json()["state"] == "accepted" and r.json()["location"] == "圆桌 12"
    # The rival's request for the same slot was declined; the slot is no longer open.
    assert (await rival.get("/api/meetings")).json()["requested"][0]["state"] == "declined"
    assert (await directory.get(f"/api/meeting-slots?host={expert_id}")).json()["slots"] == []
    again = await expert.post(f"/api/meetings/{r2.json()['id']}/accept")
    assert again.status_code == 409

    for client in (visitor, expert):
        ics = await client.get(f"/api/meetings/{meeting['id']}.ics")
        assert ics.status_code == 200
        event = next(iter(Calendar.from_ical(ics.content).walk("VEVENT")))
        assert event.decoded("dtstart") == dt.datetime.combine(day, dt.time(6, 0), dt.UTC)
        assert str(event.get("location")) == "圆桌 12"
        assert "mailto:" in str(event.get("organizer"))
    assert (await rival.get(f"/api/meetings/{meeting['id']}.ics")).status_code == 404

    # Notifications in the app: the host got the request, the visitor the answer.
    host_notes = (await expert.get("/api/notifications")).json()
    assert host_notes["unread"] >= 2 and host_notes["items"][-1]["kind"] == "meeting_requested"
    kinds = {n["kind"] for n in (await visitor.get("/api/notifications")).json()["items"]}
    assert "meeting_accepted" in kinds
    r = await visitor.post("/api/notifications/read", json={})
    assert r.json()["unread"] == 0

    page = await expert.get("/meetings")
    assert page.status_code == 200 and "请教计量溯源" in page.text


async def test_double_booking_is_refused_by_the_database_too(services: Services, make_user: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    from booths.engagement.models import Meeting, MeetingSlot

    _, _, host = await make_user("visitor")
    _, _, visitor = await make_user("visitor")
    _, _, visitor2 = await make_user("visitor")
    start = soon(30)
    async with services.db.session() as session:
        slot = MeetingSlot(host_id=host, starts_at=start, ends_at=start + dt.timedelta(minutes=30), mode="table",
                           location="T1")
        session.add(slot)
        await session.flush()
        for who in (visitor, visitor2):
            session.add(Meeting(slot_id=slot.id, host_id=host, visitor_id=who, starts_at=start,
                                ends_at=slot.ends_at, state="accepted", uid=f"m{who}"))
        with pytest.raises(IntegrityError):
            await session.flush()
    async with services.db.session() as session:
        slot = MeetingSlot(host_id=host, starts_at=start, ends_at=start + dt.timedelta(minutes=30), mode="table",
                           location="T1")
        session.add(slot)
        slot2 = MeetingSlot(host_id=host, starts_at=start, ends_at=start + dt.timedelta(minutes=20), mode="table",
                            location="T2")
        session.add(slot2)
        with pytest.raises(IntegrityError):
            await session.flush()


@pytest.mark.parametrize("body, status, field", [
    ({"starts_at": "2020-09-01T14:00+08:00", "minutes": 30, "mode": "table", "location": "T1"}, 422, "starts_at"),
    ({"starts_at": "tomorrow", "minutes": 30, "mode": "table", "location": "T1"}, 422, "starts_at"),
    ({"minutes": 30, "mode": "table", "location": "T1"}, 422, "starts_at"),
    ({"starts_at": "2999-09-01T14:00", "minutes": 500, "mode": "table", "location": "T1"}, 422, "ends_at"),
    ({"starts_at": "2999-09-01T14:00", "minutes": 30, "mode": "table", "location": ""}, 422, "location"),
    ({"starts_at": "2999-09-01T14:00", "minutes": 30, "mode": "online", "location": "javascript:alert(1)"}, 422, "location"),
    ({"starts_at": "2999-09-01T14:00", "minutes": 30, "mode": "phone", "location": "x"}, 422, "mode"),
    ({"starts_at": "2999-09-01T14:00", "timezone": "Mars/Olympus", "mode": "table", "location": "x"}, 422, "timezone"),
])
async def test_bad_slots_are_refused(signed_in: Any, services: Services, body: dict[str, Any], status: int,
                                     field: str) -> None:
    expo = await make_expo(services)
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    r = await staff.post("/api/meeting-slots", json=body)
    assert r.status_code == status and r.json()["field"] == field, r.text
    assert (await staff.get(f"/api/meeting-slots?exhibitor={expo.exhibitors['1A-001']}")).json()["slots"] == []


async def test_requests_in_the_past_and_for_unknown_slots(signed_in: Any, services: Services) -> None:
    from booths.engagement.models import MeetingSlot

    expo = await make_expo(services)
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    me = await staff.refresh_csrf()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    async with services.db.session() as session:
        slot = MeetingSlot(host_id=me["id"], exhibitor_id=expo.exhibitors["1A-001"], starts_at=past,
                           ends_at=past + dt.timedelta(minutes=30), mode="table", location="T1")
        session.add(slot)
        await session.commit()
    visitor = await signed_in("visitor")
    r = await visitor.post(f"/api/meeting-slots/{slot.id}/requests", json={"note": "hi"})
    assert r.status_code == 422 and "past" in r.json()["detail"]
    r = await visitor.post("/api/meeting-slots/999999/requests", json={"note": "hi"})
    assert r.status_code == 404
    assert (await visitor.get("/api/meetings")).json()["requested"] == []
    # Staff cannot book their own exhibitor's slot.
    future = (await staff.post("/api/meeting-slots", json={"starts_at": soon(5).isoformat(), "mode": "table",
                                                           "location": "T9"})).json()
    colleague = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    assert (await colleague.post(f"/api/meeting-slots/{future['id']}/requests", json={})).status_code == 422


@pytest.mark.parametrize("role, offer, answer", [
    ("anonymous", 401, 401), ("visitor", 403, 403), ("exhibitor", 201, 200), ("other", 201, 403), ("moderator", 403, 403),
])
async def test_meeting_refusals_by_role(role: str, offer: int, answer: int, signed_in: Any, make_client: Any,
                                        services: Services) -> None:
    expo = await make_expo(services)
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    slot = (await staff.post("/api/meeting-slots", json={"starts_at": soon(10).isoformat(), "mode": "online",
                                                         "location": "https://meet.example.org/byd"})).json()
    visitor = await signed_in("visitor")
    meeting = (await visitor.post(f"/api/meeting-slots/{slot['id']}/requests", json={"note": "电池"})).json()
    client = staff if role == "exhibitor" else await role_client(role, expo, signed_in, make_client)
    r = await client.post("/api/meeting-slots", json={"starts_at": soon(20).isoformat(), "mode": "table",
                                                      "location": "T1"})
    assert r.status_code == offer, r.text
    r = await client.post(f"/api/meetings/{meeting['id']}/accept")
    assert r.status_code == answer, r.text
    if role == "exhibitor":
        leads = (await staff.get("/api/leads")).json()["leads"]
        assert leads[0]["kind"] == "meeting" and leads[0]["message"] == "电池"
