"""The moderators' control room: every stage, what is live, and the buttons.

Put a slot on air, end it, kick its publisher, rotate its token; the
publisher's figures from the media engine. Changing the schedule (add, move,
resize, cancel, approve, decline) is ``web/routes/schedule.py``. End is also
the slot's staff's (the go-live page's confirmed End button).
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cloudexpo.i18n import pick
from cloudexpo.permissions import require, require_exhibitor_access
from streaming.models import Stage
from streaming.schedule import (
    get_slot,
    get_visible_slot,
    list_slots,
    list_stages,
    rotate_token,
)
from web.audience import audience_panel
from web.context import language, live_service, moderator, principal, services, streaming_runtime
from web.params import optional_query_id, path_int
from web.shapes.live import slot_json
from web.templating import render


def _slot_id(request: Request) -> int:
    return path_int(request, "slot_id")


async def api_on_air(request: Request) -> Response:
    moderator(request)
    slot = await live_service(request).on_air(_slot_id(request))
    return JSONResponse(slot_json(slot, language(request), services(request).settings.resolved_public_url))


async def api_end(request: Request) -> Response:
    """End the broadcast for everyone (the replay closes): the slot's staff while it runs, or a moderator."""
    who = require(principal(request))
    async with services(request).db.session() as db:
        slot = await get_visible_slot(db, _slot_id(request), who)
    require_exhibitor_access(who, slot.exhibitor_id)
    slot = await live_service(request).end(slot.id, running_only=not who.is_moderator)
    return JSONResponse(slot_json(slot, language(request), services(request).settings.resolved_public_url))


async def api_kick(request: Request) -> Response:
    moderator(request)
    slot, token = await live_service(request).kick(_slot_id(request))
    body = slot_json(slot, language(request), services(request).settings.resolved_public_url)
    body["whip_token"] = token
    return JSONResponse(body)


async def api_rotate(request: Request) -> Response:
    moderator(request)
    svc = services(request)
    async with svc.db.session() as db:
        slot = await get_slot(db, _slot_id(request))
        token = await rotate_token(db, svc.secret_key, slot)
        await db.commit()
    return JSONResponse({"id": slot.id, "whip_token": token})


async def status_rows(request: Request) -> list[dict[str, object]]:
    """Every stage with its current or next slot and the engine's figures."""
    svc = services(request)
    live = live_service(request)
    lang = language(request)
    now = dt.datetime.now(dt.UTC)
    base = svc.settings.resolved_public_url
    async with svc.db.session() as db:
        stages = await list_stages(db)
        slots = await list_slots(db, start=now - dt.timedelta(hours=1), end=now + dt.timedelta(days=2), include_requests=True)
        active = await list_slots(db, states=["live", "green_room"])
    by_stage: dict[int, list[dict[str, object]]] = {s.id: [] for s in stages}
    seen: set[int] = set()
    for slot in [*active, *slots]:
        if slot.id in seen or slot.state in ("cancelled", "declined"):
            continue
        seen.add(slot.id)
        row = slot_json(slot, lang, base, viewers=live.viewers(slot.id))
        row["publisher"] = live.publisher_status(slot.id)
        stats = live.stats(slot.id)
        row["stats"] = None
        if stats:
            row["stats"] = {k: stats.get(k) for k in ("publisher_bitrate", "fps", "packets_lost", "packets_in", "viewers", "codec", "bframes_detected", "publisher_connected")}
        by_stage.setdefault(slot.stage_id, []).append(row)
    return [
        {"id": s.id, "slug": s.slug, "name": pick(s.name, lang).text, "kind": s.kind, "slots": sorted(by_stage.get(s.id, []), key=lambda r: str(r["starts_at"]))}
        for s in stages
    ]


async def api_status(request: Request) -> Response:
    moderator(request)
    return JSONResponse({"stages": await status_rows(request)})


async def control_page(request: Request) -> Response:
    """Every stage; below, the Q&A and polls of one slot (``?qa=``, else the first one on air)."""
    who = moderator(request)
    stages = await status_rows(request)
    choices = [row for stage in stages for row in stage["slots"]]  # type: ignore[attr-defined]
    wanted = optional_query_id(request, "qa")
    if wanted is None:
        wanted = next((int(r["id"]) for r in choices if r["state"] == "live"), int(choices[0]["id"]) if choices else None)
    audience = slot = None
    if wanted is not None:
        async with services(request).db.session() as db:
            slot = await get_slot(db, wanted)
            muted = await streaming_runtime(request).chat.is_muted(db, slot.id, who.user_id or 0)
        audience = audience_panel(slot, who, muted, own_socket=True)
    return render(request, "live/control.html", {"stages": stages, "qa_choices": choices, "slot": slot, "audience": audience})


routes: list[BaseRoute] = [
    Route("/api/slots/{slot_id:int}/on-air", api_on_air, methods=["POST"]),
    Route("/api/slots/{slot_id:int}/end", api_end, methods=["POST"]),
    Route("/api/slots/{slot_id:int}/kick", api_kick, methods=["POST"]),
    Route("/api/slots/{slot_id:int}/token", api_rotate, methods=["POST"]),
    Route("/api/live/status", api_status, methods=["GET"]),
    Route("/moderate/live", control_page, methods=["GET"]),
]

__all__ = ["Stage", "routes"]
