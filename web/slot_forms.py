"""Reading a slot from a form or JSON: stage, times in the exhibition's zone, the booth by number or name.

The moderators' timeline, their API and the exhibitors' request form all send
the same fields: ``stage`` (slug or id), ``starts_at`` (ISO; without a zone it
is the exhibition's), ``ends_at`` or ``minutes``, ``title`` (text or
``{language: text}``), and ``booth``: a booth number (``1A-001``) or a booth's
or company's name, resolved by :mod:`booths.exhibition.booth_picker`. API
clients may still send ``booth_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request

from booths.exhibition.booth_picker import resolve_booth
from cloudexpo.messages import message
from streaming.schedule import MAX_SLOT, SlotInput, get_stage, localized
from web.context import exhibition_zone, services
from web.errors import ApiError
from web.params import body_int, parse_time

MAX_MINUTES = MAX_SLOT // dt.timedelta(minutes=1)
STAGE_REQUIRED = message("schedule.stage_required", "'stage' is required: a stage id or slug.")
SPEAKERS_SHAPE = message("schedule.speakers_shape", "'speakers' must be a list of people, each with a 'name' and an optional 'affiliation'.")
BOOTH_TEXT = message("schedule.booth_text", "'booth' is a booth number like 1A-001 or a company's name.")


def slot_times(data: dict[str, Any], zone: Any) -> tuple[dt.datetime, dt.datetime]:
    """``starts_at`` and ``ends_at``, or ``starts_at`` + ``minutes``."""
    starts_at = parse_time(data.get("starts_at") or data.get("start"), "starts_at", zone)
    if data.get("ends_at"):
        return starts_at, parse_time(data.get("ends_at"), "ends_at", zone)
    minutes = body_int(data, "minutes", low=1, high=MAX_MINUTES)
    return starts_at, starts_at + dt.timedelta(minutes=minutes or 0)


async def booth_of_form(request: Request, data: dict[str, Any]) -> int | None:
    """The booth the form names: ``booth`` (number or name) or, from API clients, ``booth_id``."""
    typed = data.get("booth")
    if typed not in (None, ""):
        if not isinstance(typed, str | int):
            raise ApiError(422, BOOTH_TEXT(), extra={"field": "booth"})
        async with services(request).db.session() as db:
            return (await resolve_booth(db, str(typed))).id
    return body_int(data, "booth_id", required=False)


async def slot_input(request: Request, data: dict[str, Any], *, exhibitor_id: int | None = None) -> SlotInput:
    zone = exhibition_zone(request)
    stage_key = data.get("stage") or data.get("stage_id")
    if stage_key in (None, ""):
        raise ApiError(422, STAGE_REQUIRED(), extra={"field": "stage"})
    async with services(request).db.session() as db:
        stage = await get_stage(db, str(stage_key))
    starts_at, ends_at = slot_times(data, zone)
    speakers = data.get("speakers") or []
    if not isinstance(speakers, list) or not all(isinstance(s, dict) and s.get("name") for s in speakers):
        raise ApiError(422, SPEAKERS_SHAPE(), extra={"field": "speakers"})
    forum = data.get("forum") or None
    return SlotInput(
        stage_id=stage.id,
        title=localized(data.get("title"), "title", max_length=200),
        description=localized(data.get("description"), "description", required=False, max_length=4000),
        starts_at=starts_at,
        ends_at=ends_at,
        booth_id=await booth_of_form(request, data),
        exhibitor_id=exhibitor_id if exhibitor_id is not None else body_int(data, "exhibitor_id", required=False),
        forum=str(forum)[:200] if forum else None,
        speakers=speakers,
    )
