"""A slot over JSON (as each asker may see it, its token and figures), the watch page and the go-live page.

Putting slots on the programme and exhibitors' requests are ``web/routes/schedule.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement.bookmarks import marked
from booths.exhibition.directory import can_see
from booths.exhibition.models import Booth
from cloudexpo.i18n import pick
from cloudexpo.permissions import Principal, require, require_exhibitor_access
from cloudexpo.settings import Settings
from cloudexpo.turn import client_ice_servers
from streaming import replays
from streaming.chat import MAX_SLOW_SECONDS, message_json
from streaming.models import Slot, SlotState, Stage
from streaming.pins import current_pin, pin_json
from streaming.reactions import KINDS
from streaming.schedule import (
    get_visible_slot,
    token_of,
)
from web.audience import audience_panel
from web.context import (
    language,
    live_service,
    principal,
    services,
    streaming_runtime,
)
from web.headers import GO_LIVE_PERMISSIONS
from web.params import path_int
from web.shapes.live import slot_json, slot_urls
from web.templating import render


def may_manage(who: Principal, slot: Slot) -> bool:
    """The booth's staff or a moderator: sees the token and the preview."""
    return who.can_manage_exhibitor(slot.exhibitor_id)


# --- JSON API -----------------------------------------------------------------------------


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
    return JSONResponse({
        "slot": slot.id,
        "state": slot.state,
        "publisher": live.publisher_status(slot.id),
        # the session the server takes media from: a console whose session is not this one was replaced
        "publish_session": live.publish_session(slot.id, slot.publish_session),
        "starts_at": slot.starts_at.isoformat(),
        "ends_at": slot.ends_at.isoformat(),
        "overrun_seconds": int(live.overrun.total_seconds()),
        "now": dt.datetime.now(dt.UTC).isoformat(),
        "viewers": live.viewers(slot.id),
        "stats": stats,
        "warnings": warnings,
    })


# --- pages --------------------------------------------------------------------------------


def page_ice_servers(settings: Settings, who: Principal) -> list[dict[str, Any]]:
    """``iceServers`` for the page's RTCPeerConnection: TURN credentials minted for this visit."""
    return [s.as_dict() for s in client_ice_servers(settings, None if who.user_id is None else f"user{who.user_id}")]


def playback_urls(request: Request, slot: Slot, *, preview: bool) -> dict[str, str | None]:
    """Where the watch page plays from: WHEP (ours, or the external cluster's with
    ``CLOUDEXPO_EGRESS_WHEP_URL``), and the live HLS playlist while the slot is on air
    (WHEP answers also link it), which the page falls back to when WebRTC cannot connect."""
    settings = services(request).settings
    whep = f"/whep/{slot.id}"
    if settings.egress_whep_url and not preview:  # the green-room preview stays on our own WHEP
        whep = settings.egress_whep_url.format(slot=slot.id)
    on_air = slot.state == SlotState.LIVE.value or (preview and slot.state == SlotState.GREEN_ROOM.value)
    return {"whep": whep, "hls": streaming_runtime(request).live_hls.url(slot.id) if on_air else None}


async def _slot_and_stage(request: Request) -> tuple[Slot, Stage | None]:
    async with services(request).db.session() as db:
        slot = await get_visible_slot(db, path_int(request, "slot_id"), principal(request))
        stage = await db.get(Stage, slot.stage_id)
        return slot, stage


async def chat_panel(request: Request, slot: Slot, who: Principal) -> dict[str, Any]:
    """What live/chat_panel.html needs: the chat's last messages, whether the asker is muted in it,
    what is pinned, slow mode, and whether the asker pins (moderators and the presenters)."""
    chat = streaming_runtime(request).chat
    async with services(request).db.session() as db:
        history = [message_json(m) for m in await chat.history(db, slot.id, limit=100)]
        muted = who.user_id is not None and await chat.is_muted(db, slot.id, who.user_id)
        pin = pin_json(await current_pin(db, slot.id))
    return {"history": history, "muted": muted, "pin": pin, "slow_seconds": slot.chat_slow_seconds,
            "can_pin": who.can_manage_exhibitor(slot.exhibitor_id), "max_slow_seconds": MAX_SLOW_SECONDS}


def chat_data(slot: Slot, who: Principal, panel: dict[str, Any]) -> dict[str, Any]:
    """The chat's part of the page's JSON (web/static/js/chat.js, reactions.js, bullets.js)."""
    return {"slot": slot.id, "moderator": who.is_moderator, "user_id": who.user_id, "muted": panel["muted"],
            "can_pin": panel["can_pin"], "slow_seconds": panel["slow_seconds"], "pin": panel["pin"],
            "exempt": panel["can_pin"], "kinds": KINDS}


async def watch_page(request: Request) -> Response:
    slot, stage = await _slot_and_stage(request)
    who = principal(request)
    svc = services(request)
    panel = await chat_panel(request, slot, who)
    async with svc.db.session() as db:
        replay = await replays.replay_status(db, slot, who) if slot.state == SlotState.ENDED.value else None
        reminded = bool(await marked(db, who.user_id, "launch", [slot.id]))
        booth = await db.get(Booth, slot.booth_id) if slot.booth_id is not None else None
    lang = language(request)
    if slot.state == SlotState.LIVE.value:
        live_service(request).prewarm(slot.id)  # the player's WHEP request follows in a moment
    return render(request, "live/watch.html", {
        "replay_status": replay,
        "booth": booth if booth is not None and can_see(who, booth) else None,
        **panel,
        "audience": audience_panel(slot, who, panel["muted"]),
        "reminded": reminded,
        "slot": slot,
        "stage": stage,
        "title": pick(slot.title, lang).text,
        "description": pick(slot.description, lang).text,
        "stage_name": pick(stage.name, lang).text if stage else "",
        "can_preview": may_manage(who, slot),
        "reaction_kinds": KINDS,
        "viewers": live_service(request).viewers(slot.id),
        "data": {
            **chat_data(slot, who, panel),
            "state": slot.state,
            "publisher": live_service(request).publisher_status(slot.id),
            "starts_at": slot.starts_at.isoformat(),
            "ends_at": slot.ends_at.isoformat(),
            "live_at": slot.live_at.isoformat() if slot.live_at else None,
            "signed_in": who.signed_in,
            "preview": may_manage(who, slot),
            "ice_servers": page_ice_servers(svc.settings, who),
            **playback_urls(request, slot, preview=may_manage(who, slot)),
        },
    })


async def golive_page(request: Request) -> Response:
    """The presenter's console: camera or screen out over WHIP, the audience, the chat, health, time left."""
    who = require(principal(request))
    slot, stage = await _slot_and_stage(request)
    require_exhibitor_access(who, slot.exhibitor_id)
    svc = services(request)
    live = live_service(request)
    panel = await chat_panel(request, slot, who)
    lang = language(request)
    urls = slot_urls(svc.settings.resolved_public_url, slot.id)
    page = render(request, "live/golive.html", {
        "slot": slot,
        "title": pick(slot.title, lang).text,
        "stage_name": pick(stage.name, lang).text if stage else "",
        "whip_url": urls["whip_url"],
        "whip_token": token_of(svc.secret_key, slot),
        "watch_url": urls["watch_url"],
        "viewers": live.viewers(slot.id),
        **panel,
        "audience": audience_panel(slot, who, panel["muted"]),
        "chat_data": chat_data(slot, who, panel),
        "data": {
            "slot": slot.id,
            "whip": f"/whip/{slot.id}",
            "token": token_of(svc.secret_key, slot),
            "state": slot.state,
            "publisher": live.publisher_status(slot.id),
            "ice_servers": page_ice_servers(svc.settings, who),
            "green_room_minutes": svc.settings.green_room_minutes,
            "starts_at": slot.starts_at.isoformat(),
            "ends_at": slot.ends_at.isoformat(),
            "overrun_seconds": int(live.overrun.total_seconds()),
            "now": dt.datetime.now(dt.UTC).isoformat(),
            "timezone": svc.settings.timezone,
        },
    })
    page.headers["Permissions-Policy"] = GO_LIVE_PERMISSIONS  # camera, microphone and screen: only here
    return page


routes: list[BaseRoute] = [
    Route("/api/slots/{slot_id:int}", api_get_slot, methods=["GET"]),
    Route("/api/slots/{slot_id:int}/token", api_slot_token, methods=["GET"]),
    Route("/api/slots/{slot_id:int}/stats", api_slot_stats, methods=["GET"]),
    Route("/live/{slot_id:int}", watch_page, methods=["GET", "HEAD"]),
    Route("/dashboard/live/{slot_id:int}", golive_page, methods=["GET"]),
]

