"""The schedule: overlaps (pure and in the database), moderators' and exhibitors' slot API,
the iCalendar feeds, the programme pages and `cloudexpo slot`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from icalendar import Calendar

from cloudexpo.services import Services
from streaming.chat import topic
from streaming.schedule import find_overlap, overlaps
from streaming.seed import seed_programme
from tests.live_support import make_slot, slot_row
from tests.test_booths_support import make_expo
from web.times import day_text

T0 = dt.datetime(2023, 9, 1, 6, 0, tzinfo=dt.UTC)


@dataclass
class Iv:
    starts_at: dt.datetime
    ends_at: dt.datetime


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_overlap_is_half_open() -> None:
    assert overlaps(at(0), at(60), at(30), at(90))
    assert overlaps(at(0), at(60), at(10), at(20))
    assert overlaps(at(10), at(20), at(0), at(60))
    assert not overlaps(at(0), at(60), at(60), at(90))  # back to back is fine
    assert not overlaps(at(60), at(90), at(0), at(60))


def test_find_overlap_names_the_earliest_clash() -> None:
    others = [Iv(at(120), at(180)), Iv(at(30), at(70)), Iv(at(200), at(260))]
    assert find_overlap(at(0), at(40), others) is others[1]
    assert find_overlap(at(60), at(150), others) is others[1]
    assert find_overlap(at(70), at(120), others) is None


async def test_overlap_on_the_same_stage_is_refused_with_the_clash(signed_in: Any, services: Services) -> None:
    moderator = await signed_in("moderator")
    first = await moderator.post("/api/slots", json={"stage": "release-a", "title": "First", "booth_id": 1, "starts_at": "2030-05-01T10:00+08:00", "minutes": 60})
    assert first.status_code == 404  # no such stage yet
    await make_slot(services, start_in=dt.timedelta(days=3000))  # creates the stage release-a
    first = await moderator.post("/api/slots", json={"stage": "release-a", "title": "First", "booth_id": 1, "starts_at": "2030-05-01T10:00+08:00", "minutes": 60})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["whip_token"].startswith("cxw_") and body["whip_url"].endswith(f"/whip/{body['id']}")
    clash = await moderator.post("/api/slots", json={"stage": "release-a", "title": "Second", "booth_id": 2, "starts_at": "2030-05-01T10:30+08:00", "minutes": 60})
    assert clash.status_code == 409
    assert clash.json()["error"] == "overlap"
    assert clash.json()["clash"]["id"] == body["id"]
    assert f"时段 {body['id']}“First”" in clash.json()["message"]  # in the asker's language (zh-Hans by default)
    after = await moderator.post("/api/slots", json={"stage": "release-a", "title": "Second", "booth_id": 2, "starts_at": "2030-05-01T11:00+08:00", "minutes": 60})
    assert after.status_code == 201
    # another stage at the same time is fine
    await make_slot(services, stage="release-b", start_in=dt.timedelta(days=3000))
    other = await moderator.post("/api/slots", json={"stage": "release-b", "title": "Parallel", "booth_id": 3, "starts_at": "2030-05-01T10:00+08:00", "minutes": 60})
    assert other.status_code == 201
    # moving onto the clash is refused too; cancelling frees the time
    moved = await moderator.patch(f"/api/slots/{after.json()['id']}", json={"starts_at": "2030-05-01T10:30+08:00"})
    assert moved.status_code == 409 and moved.json()["clash"]["id"] == body["id"]
    assert (await moderator.post(f"/api/slots/{body['id']}/cancel")).status_code == 200
    moved = await moderator.patch(f"/api/slots/{after.json()['id']}", json={"starts_at": "2030-05-01T10:30+08:00"})
    assert moved.status_code == 200, moved.text


async def test_bad_slot_input_says_what_to_fix(signed_in: Any, services: Services) -> None:
    await make_slot(services, start_in=dt.timedelta(days=3000))
    moderator = await signed_in("moderator")
    bad = await moderator.post("/api/slots", json={"stage": "release-a", "title": "X", "booth_id": 1, "starts_at": "tomorrow", "minutes": 30})
    assert bad.status_code == 422 and "ISO" in bad.json()["detail"]
    both = await moderator.post("/api/slots", json={"stage": "release-a", "title": "X", "booth_id": 1, "forum": "F", "starts_at": "2031-01-01T10:00", "minutes": 30})
    assert both.status_code == 422


async def test_exhibitor_requests_a_slot_and_a_moderator_approves(signed_in: Any, services: Services) -> None:
    await make_slot(services, start_in=dt.timedelta(days=3000))
    expo = await make_expo(services)
    owner = expo.exhibitors["1A-001"]
    exhibitor = await signed_in("exhibitor", owner)
    visitor = await signed_in("visitor")
    moderator = await signed_in("moderator")
    payload = {"stage": "release-a", "title": "Our new robot", "booth_id": expo.booths["1A-001"], "starts_at": "2031-02-01T10:00+08:00", "minutes": 30}
    assert (await visitor.post("/api/slot-requests", json=payload)).status_code == 403
    requested = await exhibitor.post("/api/slot-requests", json=payload)
    assert requested.status_code == 201, requested.text
    slot_id = requested.json()["id"]
    assert requested.json()["approved"] is False and requested.json()["exhibitor_id"] == owner
    assert (await exhibitor.post(f"/api/slots/{slot_id}/approve")).status_code == 403
    assert (await exhibitor.post("/api/slots", json=payload)).status_code == 403
    # not on the public programme until approved
    assert (await visitor.get(f"/api/slots/{slot_id}")).status_code == 404
    assert (await exhibitor.get(f"/api/slots/{slot_id}")).status_code == 200
    assert (await moderator.post(f"/api/slots/{slot_id}/approve")).status_code == 200
    assert (await slot_row(services, slot_id)).approved
    assert (await visitor.get(f"/api/slots/{slot_id}")).status_code == 200


async def test_every_moderator_change_of_a_slot_is_published_on_its_topic(signed_in: Any, services: Services) -> None:
    """Move, approve and cancel publish the slot's state event (the domain does it, not the route)."""
    slot_id, _ = await make_slot(services, start_in=dt.timedelta(days=2000))
    moderator = await signed_in("moderator")
    async with await services.bus.subscribe(topic(slot_id)) as events:
        moved = await moderator.patch(f"/api/slots/{slot_id}", json={"minutes": 45})
        assert moved.status_code == 200, moved.text
        event = (await events.get(timeout=5)).data
        assert event["type"] == "state" and event["slot"] == slot_id
        assert dt.datetime.fromisoformat(event["ends_at"]) - dt.datetime.fromisoformat(event["starts_at"]) == dt.timedelta(minutes=45)
        assert (await moderator.post(f"/api/slots/{slot_id}/approve")).status_code == 200
        assert (await events.get(timeout=5)).data["state"] == "scheduled"
        assert (await moderator.post(f"/api/slots/{slot_id}/cancel")).status_code == 200
        assert (await events.get(timeout=5)).data["state"] == "cancelled"


async def test_ical_feeds_parse_back(client: Any, services: Services) -> None:
    async with services.db.session() as db:
        await seed_programme(db, services.secret_key)
        await db.commit()
    whole = await client.get("/programme.ics")
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(whole.content)
    events = cal.walk("VEVENT")
    assert len(events) >= 15
    opening = next(e for e in events if "Opening" in str(e["SUMMARY"]) or "开幕" in str(e["SUMMARY"]))
    assert opening.decoded("DTSTART") == dt.datetime(2023, 9, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Chengdu
    assert str(opening["UID"]).startswith("slot-")
    assert str(opening["URL"]).startswith("http://testserver/live/")
    per_stage = Calendar.from_ical((await client.get("/programme/closing.ics")).content)
    assert [str(e["LOCATION"]) for e in per_stage.walk("VEVENT")] and len(per_stage.walk("VEVENT")) == 1
    english = Calendar.from_ical((await client.get("/programme/closing.ics?lang=en")).content)
    assert "Chengdu Quality Initiative" in str(english.walk("VEVENT")[0]["SUMMARY"])
    assert (await client.get("/programme/nowhere.ics")).status_code == 404


async def test_programme_pages(client: Any, services: Services) -> None:
    async with services.db.session() as db:
        await seed_programme(db, services.secret_key)
        await db.commit()
    page = await client.get("/programme?day=2023-09-01&lang=en")
    assert page.status_code == 200
    assert "Opening ceremony and main forum" in page.text and "Sub-forum: Quality education" in page.text
    stage = await client.get("/programme/closing?day=2023-09-02&lang=en")
    assert "Chengdu Quality Initiative" in stage.text and "Opening ceremony" not in stage.text
    now = await client.get("/api/live/now")
    assert now.status_code == 200 and now.json()["next"]
    conference = await client.get("/conference?lang=en")
    assert conference.status_code == 200 and "Matchmaking" in conference.text
    assert (await client.get("/programme/nowhere")).status_code == 404


@pytest.mark.exhibition_zone(local_hour=0)
async def test_just_after_midnight_the_programme_opens_on_today_with_the_launch_still_on_air(client: Any, services: Services) -> None:
    """Just past midnight in the exhibition's zone, a launch that began yesterday is still on air and the next
    one is later today: the programme opens on today and shows both; the day list offers yesterday and today,
    and yesterday's page shows the launch that crossed midnight too."""
    zone = ZoneInfo(services.settings.timezone)
    now = dt.datetime.now(zone)
    since_midnight = int((now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() // 60)
    crossing, _ = await make_slot(services, start_in=-dt.timedelta(minutes=since_midnight + 20), minutes=since_midnight + 50,
                                  stage="release-a", booth_id=None, exhibitor_id=None, state="live")
    today, yesterday = now.date().isoformat(), (now.date() - dt.timedelta(days=1)).isoformat()
    alone = (await client.get("/api/programme?lang=en")).json()  # the launch on air is today's too
    assert alone["day"] == today and alone["days"] == [yesterday, today], (alone["day"], alone["days"])
    later, _ = await make_slot(services, start_in=dt.timedelta(hours=2), stage="release-b", booth_id=None, exhibitor_id=None)

    opened = (await client.get("/api/programme?lang=en")).json()
    assert opened["day"] == today and opened["days"] == [yesterday, today], (opened["day"], opened["days"])
    shown = {row["id"]: row["state"] for stage in opened["stages"] for row in stage["slots"]}
    assert shown == {crossing: "live", later: "scheduled"}, shown
    before = (await client.get(f"/api/programme?day={yesterday}&lang=en")).json()
    assert [row["id"] for stage in before["stages"] for row in stage["slots"]] == [crossing]
    page = (await client.get("/programme?lang=en")).text
    assert f'data-slot="{crossing}"' in page and f'data-slot="{later}"' in page
    # Each page writes the launch's other day: today's where it began, yesterday's where it ends.
    row = next(r for st in before["stages"] for r in st["slots"])
    began, ends = (dt.datetime.fromisoformat(row[k]).astimezone(zone) for k in ("starts_at", "ends_at"))
    assert row["local_start"] == f"{began:%H:%M}" and row["local_end"] == f"{day_text(ends, 'en', now.date())} {ends:%H:%M}"
    assert f">{day_text(began, 'en', now.date())} {began:%H:%M}</time>–<time" in page
    plain = next(r for st in opened["stages"] for r in st["slots"] if r["id"] == later)
    assert len(plain["local_start"]) == len(plain["local_end"]) == 5, plain  # a launch within the day: times only
    assert f'<option value="{yesterday}"' in page and f'<option value="{today}"' in page


async def test_seed_is_idempotent(services: Services) -> None:
    async with services.db.session() as db:
        first = await seed_programme(db, services.secret_key)
        await db.commit()
    async with services.db.session() as db:
        again = await seed_programme(db, services.secret_key)
        await db.commit()
    assert first["sessions"] == 11 and first["launches"] >= 1
    assert again == {"stages": 0, "sessions": 0, "launches": 0}


async def test_demo_restart_opens_a_new_launch_when_the_last_one_ended(services: Services) -> None:
    """Stopping the demo ends its launch; the next start must still have one open now."""
    from sqlalchemy import select

    from cloudexpo.db import utcnow
    from streaming.models import Slot, SlotState

    async with services.db.session() as db:
        await seed_programme(db, services.secret_key)
        await db.commit()
    now = utcnow()
    async with services.db.session() as db:
        open_now = (await db.scalars(select(Slot).where(Slot.starts_at <= now, Slot.ends_at > now, Slot.booth_id.is_not(None)))).all()
        assert open_now
        for slot in open_now:
            slot.state = SlotState.ENDED.value
        await db.commit()
    async with services.db.session() as db:
        again = await seed_programme(db, services.secret_key)
        await db.commit()
    assert again["launches"] >= 1
    async with services.db.session() as db:
        states = (await db.scalars(select(Slot.state).where(Slot.starts_at <= utcnow(), Slot.ends_at > utcnow(), Slot.booth_id.is_not(None)))).all()
    assert "scheduled" in states


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_cli_slot_add_json_and_list(tmp_path: Path, backend: str) -> None:
    from cloudexpo.cli import cli

    env = {"CLOUDEXPO_DATA_DIR": str(tmp_path / "data"), "CLOUDEXPO_SECRET_KEY": "cli-test", "CLOUDEXPO_PUBLIC_URL": "https://expo.example.org"}
    runner = CliRunner()
    import asyncio

    from cloudexpo.app import open_database
    from cloudexpo.settings import load_settings

    settings = load_settings(env)

    async def seed() -> None:
        db = open_database(settings)
        await db.migrate()
        async with db.session() as session:
            await seed_programme(session, settings.resolved_secret_key())
            await session.commit()
        await db.close()

    asyncio.run(seed())
    result = runner.invoke(cli, ["slot", "add", "--stage", "release-b", "--title", "CLI launch", "--booth", "5", "--start", "2031-03-01T10:00", "--minutes", "20", "--json"], env=env)
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    assert row["whip_url"] == f"https://expo.example.org/whip/{row['id']}"
    assert row["whep_url"] == f"https://expo.example.org/whep/{row['id']}"
    assert row["watch_url"] == f"https://expo.example.org/live/{row['id']}"
    assert row["whip_token"].startswith("cxw_")
    assert row["starts_at"] == "2031-03-01T02:00:00+00:00"  # Asia/Shanghai
    clash = runner.invoke(cli, ["slot", "add", "--stage", "release-b", "--title", "Clash", "--booth", "6", "--start", "2031-03-01T10:10", "--minutes", "20"], env=env)
    assert clash.exit_code != 0 and f"slot {row['id']}" in clash.output
    neither = runner.invoke(cli, ["slot", "add", "--stage", "release-b", "--title", "X", "--start", "now", "--minutes", "20"], env=env)
    assert neither.exit_code == 2
    now = runner.invoke(cli, ["slot", "add", "--stage", "main-forum", "--title", "Now", "--forum", "Main forum", "--start", "now", "--minutes", "5", "--json"], env=env)
    assert now.exit_code == 0, now.output
    listing = runner.invoke(cli, ["slot", "list"], env=env)
    assert listing.exit_code == 0 and "CLI launch" in listing.output and "release-b" in listing.output
