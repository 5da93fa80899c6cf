"""The programme: pages per day and stage, the conference information, iCalendar feeds."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement.bookmarks import marked
from cloudexpo.i18n import pick
from cloudexpo.messages import message
from cloudexpo.values import MAX_YEAR, MIN_YEAR, in_zone
from streaming.models import Slot, Stage, StageKind
from streaming.schedule import get_stage, list_slots, list_stages, shown_state
from streaming.schedule import on_air as is_on_air
from web.context import language, live_service, principal, services
from web.errors import ApiError
from web.live_strip import live_strip
from web.params import optional_query_id
from web.shapes.live import slot_json
from web.templating import render
from web.times import day_text

DAY_SHAPE = message("programme.day_shape", "Give the day as YYYY-MM-DD, like 2023-09-01.")
DAY_YEARS = message("programme.day_years", "Give a day between the years {low} and {high}.")


def _day(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, DAY_SHAPE()) from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ApiError(400, DAY_YEARS(low=MIN_YEAR, high=MAX_YEAR))
    return day


def _later(moment: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``moment + delta``, or the calendar's last moment where that is beyond it (a launch stored on
    9999-12-31 by another tool never breaks the programme)."""
    try:
        return moment + delta
    except OverflowError:
        return dt.datetime.max.replace(tzinfo=moment.tzinfo)


def _end_day(end: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The day a slot ends on in ``zone``: an end at midnight ends the day before, not the one it opens."""
    return in_zone(end - dt.timedelta(microseconds=1), zone).date()


def _days_touched(slots: list[Slot], zone: ZoneInfo) -> set[dt.date]:
    """The days of the exhibition's zone each slot is on: the day it starts and, for one running past midnight,
    the day it ends (its page shows it as well)."""
    return {d for slot in slots for d in (in_zone(slot.starts_at, zone).date(), _end_day(slot.ends_at, zone))}


def _clock(moment: dt.datetime, day: dt.date, zone: ZoneInfo, lang: str, today: dt.date, *, end: bool = False) -> str:
    """``23:30`` on the page of ``day``; with its own day (``Sun, Dec 6 23:30``) for a launch that began the day
    before or ends the day after."""
    local = in_zone(moment, zone)
    on = _end_day(moment, zone) if end else local.date()
    return local.strftime("%H:%M") if on == day else f"{day_text(local, lang, today)} {local:%H:%M}"


async def programme_data(request: Request, stage_slug: str | None) -> dict[str, Any]:
    svc = services(request)
    zone = ZoneInfo(svc.settings.timezone)
    lang = language(request)
    base = svc.settings.resolved_public_url
    live = live_service(request)
    kind = request.query_params.get("kind")
    async with svc.db.session() as db:
        stages = await list_stages(db)
        stage = await get_stage(db, stage_slug) if stage_slug else None
        slots = await list_slots(db, stage_id=stage.id if stage else None)
    if kind in (StageKind.RELEASE.value, StageKind.FORUM.value):
        kinds = {s.id for s in stages if s.kind == kind}
        slots = [s for s in slots if s.stage_id in kinds]
    days = sorted(_days_touched(slots, zone))
    today = dt.datetime.now(zone).date()
    day = _day(request.query_params.get("day"))
    if day is None:
        upcoming = [d for d in days if d >= today]
        day = upcoming[0] if upcoming else (days[-1] if days else today)
    day_start = dt.datetime.combine(day, dt.time(0), zone)
    day_end = _later(day_start, dt.timedelta(days=1))
    todays = [s for s in slots if s.starts_at < day_end and s.ends_at > day_start]
    shown_stages = [s for s in stages if (stage is None or s.id == stage.id) and (kind not in ("release", "forum") or s.kind == kind)]
    by_stage: dict[int, list[dict[str, Any]]] = {s.id: [] for s in shown_stages}
    if todays:
        first = in_zone(min(s.starts_at for s in todays), zone)
        last = in_zone(max(s.ends_at for s in todays), zone)
        span_start = first.replace(minute=0, second=0, microsecond=0)
        span_end = _later(last, dt.timedelta(minutes=59)).replace(minute=0, second=0, microsecond=0)
    else:
        span_start, span_end = _later(day_start, dt.timedelta(hours=8)), _later(day_start, dt.timedelta(hours=18))
    span = max((span_end - span_start).total_seconds(), 3600)
    for slot in todays:
        if slot.stage_id not in by_stage:
            continue
        row = slot_json(slot, lang, base, viewers=live.viewers(slot.id))
        row["state"] = shown_state(slot, live.overrun)  # a slot still marked live past its end shows as ended
        row["left"] = round(max(0.0, (slot.starts_at - span_start).total_seconds() / span * 100), 2)
        row["width"] = round(max(1.5, min((slot.ends_at - max(slot.starts_at, span_start)).total_seconds() / span * 100, 100 - row["left"])), 2)
        row["local_start"] = _clock(slot.starts_at, day, zone, lang, today)
        row["local_end"] = _clock(slot.ends_at, day, zone, lang, today, end=True)
        by_stage[slot.stage_id].append(row)
    hours = []
    cursor = span_start
    while cursor <= span_end:
        hours.append({"label": cursor.strftime("%H:%M"), "left": round((cursor - span_start).total_seconds() / span * 100, 2)})
        if cursor == (cursor := _later(cursor, dt.timedelta(hours=1))):
            break  # the calendar's last hour
    live_now = [r for rows in by_stage.values() for r in rows if r["state"] == "live"]
    coming = [r["id"] for rows in by_stage.values() for r in rows if r["state"] in ("scheduled", "green_room")]
    async with svc.db.session() as db:
        reminded = await marked(db, principal(request).user_id, "launch", coming)
    return {
        "day": day.isoformat(),
        "days": [d.isoformat() for d in days],
        # each day as pages write dates (web/times.py): "Sun, Dec 6", "12月6日周日", with the year when not this one
        "day_labels": {d.isoformat(): day_text(dt.datetime.combine(d, dt.time(12)), lang, today) for d in {*days, day}},
        "today": today.isoformat(),
        "stage": {"slug": stage.slug, "name": pick(stage.name, lang).text} if stage else None,
        "kind": kind if kind in ("release", "forum") else None,
        "stages": [
            {"id": s.id, "slug": s.slug, "kind": s.kind, "name": pick(s.name, lang).text, "venue": pick(s.venue, lang).text, "slots": by_stage.get(s.id, [])}
            for s in shown_stages
        ],
        "all_stages": [{"slug": s.slug, "name": pick(s.name, lang).text, "kind": s.kind} for s in stages],
        "hours": hours,
        "live_now": live_now,
        "reminded": sorted(reminded),
    }


async def programme_page(request: Request) -> Response:
    data = await programme_data(request, request.path_params.get("stage"))
    return render(request, "live/programme.html", {"programme": data})


async def programme_json(request: Request) -> Response:
    return JSONResponse(await programme_data(request, request.query_params.get("stage")))


async def conference_page(request: Request) -> Response:
    svc = services(request)
    lang = language(request)
    zone = ZoneInfo(svc.settings.timezone)
    async with svc.db.session() as db:
        stages = await list_stages(db, StageKind.FORUM)
        slots = await list_slots(db)
    forum_ids = {s.id: s for s in stages}
    sessions = []
    speakers: dict[str, dict[str, Any]] = {}
    for slot in slots:
        stage = forum_ids.get(slot.stage_id)
        if stage is None:
            continue
        sessions.append({
            "id": slot.id,
            "title": pick(slot.title, lang).text,
            "description": pick(slot.description, lang).text,
            "stage": pick(stage.name, lang).text,
            "venue": pick(stage.venue, lang).text,
            "when": f"{in_zone(slot.starts_at, zone):%Y-%m-%d %H:%M}–{in_zone(slot.ends_at, zone):%H:%M}",
            "state": slot.state,
            "speakers": slot.speakers,
        })
        for speaker in slot.speakers:
            name = str(speaker.get("name", ""))
            entry = speakers.setdefault(name, {"name": name, "affiliation": pick(speaker.get("affiliation") or {}, lang).text if isinstance(speaker.get("affiliation"), dict) else str(speaker.get("affiliation") or ""), "sessions": []})
            entry["sessions"].append(pick(slot.title, lang).text)
    return render(request, "live/conference.html", {"sessions": sessions, "speakers": list(speakers.values())})


def build_calendar(slots: list[Slot], stages: dict[int, Stage], lang: str, base: str, name: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Cloud Expo//Programme//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    host = urlsplit(base).hostname or "cloudexpo"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for slot in slots:
        stage = stages.get(slot.stage_id)
        event = Event()
        event.add("uid", f"slot-{slot.id}@{host}")
        event.add("dtstamp", now)
        # One more on each move, resize or cancellation (RFC 5545 3.8.7.4), so calendars replace the old times.
        event.add("sequence", slot.sequence)
        event.add("dtstart", slot.starts_at.astimezone(dt.UTC))
        event.add("dtend", slot.ends_at.astimezone(dt.UTC))
        event.add("summary", pick(slot.title, lang).text or f"Slot {slot.id}")
        description = pick(slot.description, lang).text
        speakers = ", ".join(str(s.get("name", "")) for s in slot.speakers if s.get("name"))
        parts = [p for p in (description, speakers, f"{base}/live/{slot.id}") if p]
        event.add("description", "\n\n".join(parts))
        if stage is not None:
            event.add("location", pick(stage.name, lang).text)
        event.add("url", f"{base}/live/{slot.id}")
        event.add("status", "CANCELLED" if slot.state == "cancelled" else "CONFIRMED")
        event.add("last-modified", slot.updated_at.astimezone(dt.UTC).replace(microsecond=0))
        cal.add_component(event)
    return cal.to_ical()


async def ics(request: Request) -> Response:
    svc = services(request)
    lang = language(request)
    slug = request.path_params.get("stage")
    async with svc.db.session() as db:
        stages = {s.id: s for s in await list_stages(db)}
        stage = await get_stage(db, slug) if slug else None
        slots = await list_slots(db, stage_id=stage.id if stage else None)
    name = "Light of Quality — programme"
    if stage is not None:
        name = f"{pick(stage.name, lang).text} — Light of Quality"
    body = build_calendar(slots, stages, lang, svc.settings.resolved_public_url, name)
    filename = f"programme-{stage.slug}.ics" if stage else "programme.ics"
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": f'inline; filename="{filename}"',
        "Cache-Control": "public, max-age=300",
    })


async def live_now(request: Request) -> Response:
    """What is live and the next few slots, for the home page."""
    svc = services(request)
    lang = language(request)
    base = svc.settings.resolved_public_url
    live = live_service(request)
    now = dt.datetime.now(dt.UTC)
    async with svc.db.session() as db:
        stages = {s.id: s for s in await list_stages(db)}
        on_air = [s for s in await list_slots(db, states=["live"]) if is_on_air(s, live.overrun)]
        upcoming = await list_slots(db, start=now, end=now + dt.timedelta(days=14), states=["scheduled", "green_room"])
    upcoming = [s for s in upcoming if s.starts_at >= now - dt.timedelta(minutes=30)][:5]
    return JSONResponse({
        "live": [slot_json(s, lang, base, stages.get(s.stage_id), viewers=live.viewers(s.id)) for s in on_air],
        "next": [slot_json(s, lang, base, stages.get(s.stage_id)) for s in upcoming],
    })


async def strip_fragment(request: Request) -> Response:
    """The "Live now / Up next" strip alone, for ``static/js/live_strip.js`` (``?booth=ID``: that booth's)."""
    booth_id = optional_query_id(request, "booth")
    strip = await live_strip(request, booth_id)
    response = render(request, "partials/live_strip.html", {"strip": strip})
    response.headers["Cache-Control"] = "no-store"
    return response


routes: list[BaseRoute] = [
    Route("/live/strip", strip_fragment, methods=["GET"]),
    Route("/api/live/now", live_now, methods=["GET"]),
    Route("/programme.ics", ics, methods=["GET", "HEAD"]),
    Route("/programme/{stage}.ics", ics, methods=["GET", "HEAD"]),
    Route("/programme", programme_page, methods=["GET", "HEAD"]),
    Route("/programme/{stage}", programme_page, methods=["GET", "HEAD"]),
    Route("/api/programme", programme_json, methods=["GET"]),
    Route("/conference", conference_page, methods=["GET", "HEAD"]),
]
