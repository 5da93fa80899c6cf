"""Slots over JSON, the watch page and the exhibitor's go-live pages.

Shared helpers for the other live route modules (programme, chat, control,
ws) live here too: :func:`slot_json`, time parsing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cloudexpo.i18n import pick
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require, require_exhibitor_access
from cloudexpo.settings import Settings
from cloudexpo.turn import client_ice_servers
from streaming import replays
from streaming.chat import message_json
from streaming.models import Slot, SlotState, Stage, StageKind
from streaming.schedule import (
    MAX_SLOT,
    SlotInput,
    create_slot,
    get_stage,
    get_visible_slot,
    list_slots,
    list_stages,
    localized,
    request_slot,
    token_of,
)
from web.context import (
    exhibition_zone,
    language,
    live_service,
    principal,
    services,
    streaming_runtime,
)
from web.errors import ApiError
from web.forms import read_input
from web.headers import GO_LIVE_PERMISSIONS
from web.params import body_int, parse_time, path_int
from web.shapes.live import slot_json, slot_urls
from web.templating import render

MODERATORS_ONLY = message("schedule.moderators_only", "Only moderators put slots on the programme; exhibitors request one from their dashboard.")


def int_field(data: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    return body_int(data, name, required=required)


def may_manage(who: Principal, slot: Slot) -> bool:
    """The booth's staff or a moderator: sees the token and the preview."""
    return who.can_manage_exhibitor(slot.exhibitor_id)


async def slot_input(request: Request, data: dict[str, Any], *, exhibitor_id: int | None = None) -> SlotInput:
    zone = exhibition_zone(request)
    stage_key = data.get("stage") or data.get("stage_id")
    if stage_key in (None, ""):
        raise ApiError(422, "'stage' is required: a stage id or slug.", extra={"field": "stage"})
    async with services(request).db.session() as db:
        stage = await get_stage(db, str(stage_key))
    starts_at = parse_time(data.get("starts_at") or data.get("start"), "starts_at", zone)
    if data.get("ends_at"):
        ends_at = parse_time(data.get("ends_at"), "ends_at", zone)
    else:
        minutes = body_int(data, "minutes", low=1, high=MAX_SLOT // dt.timedelta(minutes=1)) or 0
        ends_at = starts_at + dt.timedelta(minutes=minutes)
    speakers = data.get("speakers") or []
    if not isinstance(speakers, list) or not all(isinstance(s, dict) and s.get("name") for s in speakers):
        raise ApiError(422, "'speakers' must be a list of {\"name\": ..., \"affiliation\": ...}.", extra={"field": "speakers"})
    forum = data.get("forum") or None
    return SlotInput(
        stage_id=stage.id,
        title=localized(data.get("title"), "title", max_length=200),
        description=localized(data.get("description"), "description", required=False, max_length=4000),
        starts_at=starts_at,
        ends_at=ends_at,
        booth_id=int_field(data, "booth_id"),
        exhibitor_id=exhibitor_id if exhibitor_id is not None else int_field(data, "exhibitor_id"),
        forum=str(forum)[:200] if forum else None,
        speakers=speakers,
    )


# --- JSON API -----------------------------------------------------------------------------


async def api_create_slot(request: Request) -> Response:
    """Moderators put a slot on a stage."""
    who = require(principal(request))
    if not who.is_moderator:
        raise Forbidden(MODERATORS_ONLY())
    data = await read_input(request)
    svc = services(request)
    async with svc.db.session() as db:
        slot = await create_slot(db, svc.secret_key, await slot_input(request, data))
        await db.commit()
        stage = await db.get(Stage, slot.stage_id)
        body = slot_json(slot, language(request), svc.settings.resolved_public_url, stage)
        body["whip_token"] = token_of(svc.secret_key, slot)
    return JSONResponse(body, status_code=201)


async def api_request_slot(request: Request) -> Response:
    """Exhibitor staff ask for a launch slot for their own booth; a moderator approves it."""
    who = require(principal(request))
    if who.exhibitor_id is None and not who.is_moderator:
        raise Forbidden("Only an exhibitor's staff request launch slots.")
    data = await read_input(request)
    if int_field(data, "booth_id") is None:
        raise ApiError(422, "'booth_id' is required: the booth the launch is for.", extra={"field": "booth_id"})
    svc = services(request)
    data = {k: v for k, v in data.items() if k != "forum"}
    async with svc.db.session() as db:
        release = {s.id for s in await list_stages(db, StageKind.RELEASE)}
        form = await slot_input(request, data, exhibitor_id=None if who.is_moderator else who.exhibitor_id)
        if form.stage_id not in release:
            raise ApiError(422, "Launches go on a release-zone stage.", extra={"field": "stage"})
        slot = await request_slot(db, svc.secret_key, form, who)
        await db.commit()
        body = slot_json(slot, language(request), svc.settings.resolved_public_url)
    return JSONResponse(body, status_code=201)


async def api_get_slot(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    async with svc.db.session() as db:
        slot = await get_visible_slot(db, path_int(request, "slot_id"), who)
        stage = await db.get(Stage, slot.stage_id)
    body = slot_json(slot, language(request), svc.settings.resolved_public_url, stage, viewers=live_service(request).viewers(slot.id))
    body["publisher"] = live_service(request).publisher_status(slot.id)
    return JSONResponse(body)


async def api_slot_token(request: Request) -> Response:
    """The WHIP URL and bearer token, for the booth's staff and moderators."""
    svc = services(request)
    who = require(principal(request))
    async with svc.db.session() as db:
        slot = await get_visible_slot(db, path_int(request, "slot_id"), who)
    require_exhibitor_access(who, slot.exhibitor_id)
    urls = slot_urls(svc.settings.resolved_public_url, slot.id)
    return JSONResponse({"id": slot.id, "whip_url": urls["whip_url"], "whip_token": token_of(svc.secret_key, slot), "whep_url": urls["whep_url"]})


async def api_slot_stats(request: Request) -> Response:
    """The engine's figures for the slot's stream (booth's staff and moderators)."""
    svc = services(request)
    who = require(principal(request))
    async with svc.db.session() as db:
        slot = await get_visible_slot(db, path_int(request, "slot_id"), who)
    require_exhibitor_access(who, slot.exhibitor_id)
    live = live_service(request)
    stats = live.stats(slot.id)
    warnings = []
    if stats and stats.get("bframes_detected"):
        warnings.append({"code": "bframes", "detail": "B-frames detected: they break WebRTC playback. In OBS set the x264 option bframes=0 (Settings → Output → x264 Options)."})
    return JSONResponse({"slot": slot.id, "state": slot.state, "publisher": live.publisher_status(slot.id), "stats": stats, "warnings": warnings})


# --- pages --------------------------------------------------------------------------------


def page_ice_servers(settings: Settings, who: Principal) -> list[dict[str, Any]]:
    """``iceServers`` for the page's RTCPeerConnection: TURN credentials minted for this visit."""
    return [s.as_dict() for s in client_ice_servers(settings, None if who.user_id is None else f"user{who.user_id}")]


async def _slot_and_stage(request: Request) -> tuple[Slot, Stage | None]:
    async with services(request).db.session() as db:
        slot = await get_visible_slot(db, path_int(request, "slot_id"), principal(request))
        stage = await db.get(Stage, slot.stage_id)
        return slot, stage


async def watch_page(request: Request) -> Response:
    slot, stage = await _slot_and_stage(request)
    who = principal(request)
    svc = services(request)
    chat = streaming_runtime(request).chat
    async with svc.db.session() as db:
        history = [message_json(m) for m in await chat.history(db, slot.id, limit=100)]
        replay = await replays.replay_status(db, slot, who) if slot.state == SlotState.ENDED.value else None
    lang = language(request)
    return render(request, "live/watch.html", {
        "replay_status": replay,
        "slot": slot,
        "stage": stage,
        "title": pick(slot.title, lang).text,
        "description": pick(slot.description, lang).text,
        "stage_name": pick(stage.name, lang).text if stage else "",
        "history": history,
        "can_preview": may_manage(who, slot),
        "viewers": live_service(request).viewers(slot.id),
        "data": {
            "slot": slot.id,
            "state": slot.state,
            "whep": f"/whep/{slot.id}",
            "starts_at": slot.starts_at.isoformat(),
            "ends_at": slot.ends_at.isoformat(),
            "live_at": slot.live_at.isoformat() if slot.live_at else None,
            "signed_in": who.signed_in,
            "moderator": who.is_moderator,
            "user_id": who.user_id,
            "preview": may_manage(who, slot),
            "ice_servers": page_ice_servers(svc.settings, who),
        },
    })


async def dashboard_page(request: Request) -> Response:
    """The exhibitor's launches: their slots, and a form to request one."""
    who = require(principal(request))
    if who.exhibitor_id is None and not who.is_moderator:
        raise Forbidden("The live dashboard is for exhibitors' staff and moderators.")
    svc = services(request)
    lang = language(request)
    async with svc.db.session() as db:
        if who.is_moderator:
            slots = await list_slots(db, include_requests=True, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        else:
            slots = await list_slots(db, exhibitor_id=who.exhibitor_id, include_requests=True)
        stages = {s.id: s for s in await list_stages(db)}
    release = [s for s in stages.values() if s.kind == StageKind.RELEASE.value]
    return render(request, "live/dashboard.html", {
        "slots": [slot_json(s, lang, svc.settings.resolved_public_url, stages.get(s.stage_id)) for s in slots],
        "release_stages": [{"slug": s.slug, "name": pick(s.name, lang).text} for s in release],
    })


async def golive_page(request: Request) -> Response:
    who = require(principal(request))
    slot, stage = await _slot_and_stage(request)
    require_exhibitor_access(who, slot.exhibitor_id)
    svc = services(request)
    lang = language(request)
    urls = slot_urls(svc.settings.resolved_public_url, slot.id)
    page = render(request, "live/golive.html", {
        "slot": slot,
        "title": pick(slot.title, lang).text,
        "stage_name": pick(stage.name, lang).text if stage else "",
        "whip_url": urls["whip_url"],
        "whip_token": token_of(svc.secret_key, slot),
        "watch_url": urls["watch_url"],
        "data": {
            "slot": slot.id,
            "whip": f"/whip/{slot.id}",
            "token": token_of(svc.secret_key, slot),
            "state": slot.state,
            "ice_servers": page_ice_servers(svc.settings, who),
            "green_room_minutes": svc.settings.green_room_minutes,
            "starts_at": slot.starts_at.isoformat(),
        },
    })
    page.headers["Permissions-Policy"] = GO_LIVE_PERMISSIONS  # camera, microphone and screen: only here
    return page


routes: list[BaseRoute] = [
    Route("/api/slots", api_create_slot, methods=["POST"]),
    Route("/api/slot-requests", api_request_slot, methods=["POST"]),
    Route("/api/slots/{slot_id:int}", api_get_slot, methods=["GET"]),
    Route("/api/slots/{slot_id:int}/token", api_slot_token, methods=["GET"]),
    Route("/api/slots/{slot_id:int}/stats", api_slot_stats, methods=["GET"]),
    Route("/live/{slot_id:int}", watch_page, methods=["GET", "HEAD"]),
    Route("/dashboard/live", dashboard_page, methods=["GET"]),
    Route("/dashboard/live/{slot_id:int}", golive_page, methods=["GET"]),
]

