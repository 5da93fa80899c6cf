"""Running the schedule: the moderators' day timeline and its API, and exhibitors' launch requests.

Moderators add a slot (choosing the booth by number or name), move it in
time or to another stage, extend or shorten it (a running slot's end too),
cancel it, and approve or decline exhibitors' requests with a reason. Every
path runs the schedule's overlap check (``streaming.schedule``), whose
refusal names the clash. Each change is told to the exhibitor in the app and
by e-mail (``web.slot_notices``), published on the slot's bus topic by the
live service (a running broadcast follows its new end), and reaches the
iCalendar feeds with a higher SEQUENCE.

Exhibitors' staff request launches for their own booths only, from a picker
of their booths, and follow each request on ``/dashboard/live``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.exhibition.booth_picker import booth_choices, booth_labels
from cloudexpo.i18n import pick
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require
from cloudexpo.values import MAX_YEAR, MIN_YEAR
from streaming.models import Slot, Stage, StageKind
from streaming.schedule import (
    check_future_end,
    create_slot,
    get_slot,
    list_slots,
    list_stages,
    request_slot,
    token_of,
)
from web.context import exhibition_zone, language, live_service, moderator, principal, services
from web.errors import ApiError
from web.forms import read_input
from web.params import body_int, parse_time, path_int
from web.shapes.live import slot_json
from web.shapes.schedule import booth_json, schedule_slot_json
from web.slot_forms import MAX_MINUTES, slot_input
from web.slot_notices import tell_exhibitor
from web.templating import render
from web.times import day_text

MODERATORS_ONLY = message("schedule.moderators_only", "Only moderators put slots on the programme; exhibitors request one from their dashboard.")
STAFF_ONLY = message("schedule.staff_only", "Launch requests are for exhibitors' staff; moderators schedule launches.")
BOOTH_REQUIRED = message("schedule.booth_required", "'booth' is required: the number of the booth the launch is for, like 1A-001.")
RELEASE_ONLY = message("schedule.release_only", "Launches go on a release-zone stage.")
DAY_SHAPE = message("schedule.day_shape", "Give the day as YYYY-MM-DD, like 2026-12-07.")
DAY_YEARS = message("schedule.day_years", "Give a day between the years {low} and {high}.")


def _slot_id(request: Request) -> int:
    return path_int(request, "slot_id")


def staff_or_moderator(request: Request) -> Principal:
    """An exhibitor's staff or a moderator; anyone else is refused."""
    who = require(principal(request))
    if who.exhibitor_id is None and not who.is_moderator:
        raise Forbidden(STAFF_ONLY())
    return who


async def _shaped(request: Request, slots: list[Slot]) -> list[dict[str, Any]]:
    """Slots as the schedule's pages show them: booth by number and name, times in the exhibition's zone."""
    lang = language(request)
    zone = exhibition_zone(request)
    base = services(request).settings.resolved_public_url
    async with services(request).db.session() as db:
        booths = await booth_labels(db, {s.booth_id for s in slots if s.booth_id is not None})
    return [schedule_slot_json(s, lang, base, zone, booths.get(s.booth_id) if s.booth_id else None) for s in slots]


async def _answer(request: Request, slot: Slot, status_code: int = 200) -> Response:
    return JSONResponse((await _shaped(request, [slot]))[0], status_code=status_code)


# --- changing slots (moderators) -----------------------------------------------------------


async def api_create_slot(request: Request) -> Response:
    """Moderators put a slot on a stage; the booth's exhibitor is told."""
    who = require(principal(request))
    if not who.is_moderator:
        raise Forbidden(MODERATORS_ONLY())
    data = await read_input(request)
    svc = services(request)
    form = await slot_input(request, data)
    check_future_end(form.ends_at)
    async with svc.db.session() as db:
        slot = await create_slot(db, svc.secret_key, form)
        await db.commit()
        stage = await db.get(Stage, slot.stage_id)
    await tell_exhibitor(request, slot, "launch_added")
    body = (await _shaped(request, [slot]))[0]
    body["stage"] = slot_json(slot, language(request), svc.settings.resolved_public_url, stage).get("stage")
    body["whip_token"] = token_of(svc.secret_key, slot)
    return JSONResponse(body, status_code=201)


async def api_move(request: Request) -> Response:
    """Move a slot in time or to another stage, or change its end (a running slot's too)."""
    moderator(request)
    data = await read_input(request)
    zone = exhibition_zone(request)
    slot_id = _slot_id(request)
    async with services(request).db.session() as db:
        before = (await get_slot(db, slot_id)).sequence
    slot = await live_service(request).move(
        slot_id,
        starts_at=parse_time(data["starts_at"], "starts_at", zone) if data.get("starts_at") else None,
        ends_at=parse_time(data["ends_at"], "ends_at", zone) if data.get("ends_at") else None,
        minutes=body_int(data, "minutes", low=1, high=MAX_MINUTES) if data.get("minutes") else None,
        stage=str(data["stage"]) if data.get("stage") else None,
    )
    if slot.sequence != before:
        await tell_exhibitor(request, slot, "launch_moved")
    return await _answer(request, slot)


async def api_cancel(request: Request) -> Response:
    moderator(request)
    slot = await live_service(request).cancel(_slot_id(request))
    await tell_exhibitor(request, slot, "launch_cancelled")
    return await _answer(request, slot)


async def api_approve(request: Request) -> Response:
    moderator(request)
    async with services(request).db.session() as db:
        was_approved = (await get_slot(db, _slot_id(request))).approved
    slot = await live_service(request).approve(_slot_id(request))
    if not was_approved:
        await tell_exhibitor(request, slot, "launch_approved")
    return await _answer(request, slot)


async def api_decline(request: Request) -> Response:
    """Say no to an exhibitor's request; ``reason`` is what they read."""
    moderator(request)
    data = await read_input(request)
    slot = await live_service(request).decline(_slot_id(request), str(data.get("reason") or ""))
    await tell_exhibitor(request, slot, "launch_declined")
    return await _answer(request, slot)


# --- requests (exhibitors' staff) ------------------------------------------------------------


async def api_request_slot(request: Request) -> Response:
    """Exhibitor staff ask for a launch slot for one of their own booths; a moderator approves it."""
    who = staff_or_moderator(request)
    data = {k: v for k, v in (await read_input(request)).items() if k != "forum"}
    if data.get("booth") in (None, "") and data.get("booth_id") in (None, ""):
        raise ApiError(422, BOOTH_REQUIRED(), extra={"field": "booth"})
    svc = services(request)
    form = await slot_input(request, data, exhibitor_id=None if who.is_moderator else who.exhibitor_id)
    async with svc.db.session() as db:
        release = {s.id for s in await list_stages(db, StageKind.RELEASE)}
        if form.stage_id not in release:
            raise ApiError(422, RELEASE_ONLY(), extra={"field": "stage"})
        slot = await request_slot(db, svc.secret_key, form, who)
        await db.commit()
    return await _answer(request, slot, 201)


async def api_booth_choices(request: Request) -> Response:
    """The booth picker: booths matching ``q`` (number or name); staff see their own booths only."""
    who = staff_or_moderator(request)
    lang = language(request)
    async with services(request).db.session() as db:
        found = await booth_choices(db, request.query_params.get("q", "")[:100],
                                    exhibitor_id=None if who.is_moderator else who.exhibitor_id)
    return JSONResponse({"booths": [booth_json(c, lang) for c in found]})


# --- the day timeline (moderators) ---------------------------------------------------------------


def _day(request: Request, today: dt.date) -> dt.date:
    raw = request.query_params.get("day")
    if not raw:
        return today
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, DAY_SHAPE(), extra={"field": "day"}) from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ApiError(400, DAY_YEARS(low=MIN_YEAR, high=MAX_YEAR), extra={"field": "day"})
    return day


async def timeline_data(request: Request) -> dict[str, Any]:
    """One day of the release zone in the exhibition's zone: its stages side by side, their slots, open requests."""
    svc = services(request)
    zone = exhibition_zone(request)
    lang = language(request)
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(zone).date()
    day = _day(request, today)
    start = dt.datetime.combine(day, dt.time(0), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
    async with svc.db.session() as db:
        stages = await list_stages(db, StageKind.RELEASE)
        ids = {s.id for s in stages}
        slots = [s for s in await list_slots(db, start=start, end=end, include_requests=True)
                 if s.stage_id in ids and s.state not in ("cancelled", "declined")]
        pending = [s for s in await list_slots(db, start=now, include_requests=True)
                   if not s.approved and s.state == "scheduled" and s.stage_id in ids]
    return {
        "day": day.isoformat(),
        "day_label": day_text(start, lang, today),
        "today": today.isoformat(),
        "prev": (day - dt.timedelta(days=1)).isoformat(),
        "next": (day + dt.timedelta(days=1)).isoformat(),
        "zone": zone.key,
        "day_start": start.isoformat(),
        "day_end": end.isoformat(),
        "now": now.isoformat(),
        "max_minutes": MAX_MINUTES,
        "stages": [{"id": s.id, "slug": s.slug, "name": pick(s.name, lang).text} for s in stages],
        "slots": await _shaped(request, slots),
        "requests": await _shaped(request, pending),
    }


async def api_timeline(request: Request) -> Response:
    moderator(request)
    return JSONResponse(await timeline_data(request))


async def timeline_page(request: Request) -> Response:
    moderator(request)
    return render(request, "live/schedule.html", {"timeline": await timeline_data(request)})


# --- the exhibitor's launches ---------------------------------------------------------------------


async def dashboard_page(request: Request) -> Response:
    """The exhibitor's launches and requests, where each stands, and the form to request one."""
    who = staff_or_moderator(request)
    svc = services(request)
    lang = language(request)
    async with svc.db.session() as db:
        if who.is_moderator:
            slots = await list_slots(db, include_requests=True, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        else:
            slots = await list_slots(db, exhibitor_id=who.exhibitor_id, include_requests=True)
        stages = {s.id: s for s in await list_stages(db)}
        mine = await booth_choices(db, exhibitor_id=who.exhibitor_id, limit=50) if who.exhibitor_id else []
    rows = await _shaped(request, slots)
    for row in rows:
        stage = stages.get(row["stage_id"])
        row["stage_name"] = pick(stage.name, lang).text if stage else ""
    release = [s for s in stages.values() if s.kind == StageKind.RELEASE.value]
    return render(request, "live/dashboard.html", {
        "slots": rows,
        "booths": [booth_json(c, lang) for c in mine],
        "release_stages": [{"slug": s.slug, "name": pick(s.name, lang).text} for s in release],
        "max_minutes": MAX_MINUTES,
    })


routes: list[BaseRoute] = [
    Route("/api/slots", api_create_slot, methods=["POST"]),
    Route("/api/slots/{slot_id:int}", api_move, methods=["PATCH"]),
    Route("/api/slots/{slot_id:int}/cancel", api_cancel, methods=["POST"]),
    Route("/api/slots/{slot_id:int}/approve", api_approve, methods=["POST"]),
    Route("/api/slots/{slot_id:int}/decline", api_decline, methods=["POST"]),
    Route("/api/slot-requests", api_request_slot, methods=["POST"]),
    Route("/api/booth-choices", api_booth_choices, methods=["GET"]),
    Route("/api/schedule", api_timeline, methods=["GET"]),
    Route("/moderate/schedule", timeline_page, methods=["GET"]),
    Route("/dashboard/live", dashboard_page, methods=["GET"]),
]


def _openapi() -> dict[str, Any]:
    """The schedule's paths for ``/api/openapi.json`` (see :mod:`web.openapi`)."""
    from web.openapi import LOCALIZED, op, param

    obj: dict[str, Any] = {"type": "object"}
    tag = ("schedule",)
    slot_id = param("slot_id", "path", {"type": "integer"})
    moment = {"type": "string", "description": "ISO 8601; without an offset, in the exhibition's time zone"}
    booth = {"type": "string", "description": "A booth number (1A-001) or a booth's or company's name"}
    slot_body = {"type": "object", "required": ["stage", "title", "starts_at", "booth"], "properties": {
        "booth": booth, "stage": {"type": "string", "description": "A release-zone stage's slug"},
        "title": {"oneOf": [{"type": "string"}, LOCALIZED]}, "starts_at": moment, "ends_at": moment,
        "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES}}}
    move_body = {"type": "object", "properties": {
        "starts_at": moment, "ends_at": moment, "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES},
        "stage": {"type": "string"}}}
    clash = ("401", "403", "404", "409", "422")
    return {"paths": {
        "/api/slots": {"post": op("Put a launch on a stage (moderators); refused with the clash named", obj,
                                  status="201", body=slot_body, tags=tag, errors=clash)},
        "/api/slots/{slot_id}": {"patch": op("Move a slot, change its stage, extend or shorten it (a running "
                                             "slot: its end only)", obj, params=[slot_id], body=move_body,
                                             tags=tag, errors=clash)},
        "/api/slots/{slot_id}/cancel": {"post": op("Cancel a slot (moderators)", obj, params=[slot_id], tags=tag,
                                                   errors=("401", "403", "404", "409"))},
        "/api/slots/{slot_id}/approve": {"post": op("Approve an exhibitor's request (moderators)", obj,
                                                    params=[slot_id], tags=tag, errors=clash)},
        "/api/slots/{slot_id}/decline": {"post": op("Decline an exhibitor's request with a reason (moderators)", obj,
                                                    params=[slot_id], tags=tag, errors=("401", "403", "404", "409", "422"),
                                                    body={"type": "object", "required": ["reason"], "properties": {
                                                        "reason": {"type": "string", "maxLength": 500}}})},
        "/api/slot-requests": {"post": op("Request a launch for one of your own booths (exhibitors' staff)", obj,
                                          status="201", body=slot_body, tags=tag, errors=clash)},
        "/api/booth-choices": {"get": op("Booths matching a number or name (staff: their own)", obj, tags=tag,
                                         params=[param("q", schema={"type": "string"})], errors=("401", "403"))},
        "/api/schedule": {"get": op("One day of the release zone: stages, slots, waiting requests (moderators)", obj,
                                    tags=tag, params=[param("day", schema={"type": "string", "format": "date"})],
                                    errors=("401", "403"))},
    }}


OPENAPI = _openapi()
