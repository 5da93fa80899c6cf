"""Replays over HTTP: playlists with signed segment URLs, the archive, editing and analytics.

Playlists (``/replays/{id}/index.m3u8`` for the replay, ``/live/{id}/dvr.m3u8``
for rewinding a broadcast that is still live) are written by the app with a
signed (local store) or presigned (S3) URL per segment, so players fetch the
segments straight from storage. Visitors get 404 for a replay that is
unpublished, not playable, or of a deleted or cancelled slot; moderators and
the slot's exhibitor staff see it (``streaming.replays.visible_to``).
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from booths.exhibition.models import Booth
from cloudexpo.i18n import pick
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, NotSignedIn
from streaming import replays
from streaming.models import Slot
from streaming.replay_models import Replay, ReplayState
from streaming.replay_reactions import reactions_timeline
from streaming.schedule import get_visible_slot
from web.context import csrf_token, language, principal, services, streaming_runtime
from web.errors import ApiError
from web.forms import FORM_OVERHEAD, read_body, read_form, read_input
from web.params import optional_query_id, path_int
from web.shapes.replays import replay_json, stats_json
from web.templating import render

SIGN_IN = message("replay.sign_in", "Sign in to change a replay.")
MANAGERS_ONLY = message("replay.managers_only", "Only moderators and this booth's exhibitor can change its replay.")
SECONDS_WATCHED = message("replay.seconds_watched", "'seconds' must be a number of seconds watched since the last report.")
SECONDS = message("replay.seconds", "'{name}' must be a number of seconds.")
CAPTION_FILE = message("replay.caption_file", "Send the caption file in the 'file' field.")

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


def _slot_id(request: Request) -> int:
    return path_int(request, "slot_id", f"There is no slot {request.path_params['slot_id']}.")


def _require_manage(request: Request, slot: Slot) -> None:
    who = principal(request)
    if not who.signed_in:
        raise NotSignedIn(SIGN_IN())
    if not replays.can_manage(who, slot):
        raise Forbidden(MANAGERS_ONLY())


async def _load(request: Request, session: Any) -> tuple[Slot, Replay]:
    return await replays.get_replay(session, _slot_id(request), principal(request))


def _playlist_response(text: str, *, live: bool) -> Response:
    return Response(
        text,
        media_type=PLAYLIST_TYPE,
        headers={"Cache-Control": "no-cache" if live else "private, max-age=30"},
    )


async def replay_playlist(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as db:
        _, replay = await _load(request, db)
    text = await replays.served_playlist(streaming_runtime(request).replay_files, replay)
    return _playlist_response(text, live="#EXT-X-ENDLIST" not in text)


async def dvr_playlist(request: Request) -> Response:
    """The EVENT playlist of a broadcast still on air: rewinding while live."""
    svc = services(request)
    async with svc.db.session() as db:
        _, replay = await _load(request, db)
    text = await replays.served_playlist(streaming_runtime(request).replay_files, replay, apply_trim=False)
    return _playlist_response(text, live=replay.state == ReplayState.RECORDING.value)


async def replay_info(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as db:
        slot, replay = await _load(request, db)
    data = replay_json(svc.store, slot, replay, manage=replays.can_manage(principal(request), slot))
    data["title_text"] = pick(slot.title, language(request)).text
    return JSONResponse(data)


async def replay_chat(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as db:
        _, replay = await _load(request, db)
        messages = await replays.chat_timeline(db, streaming_runtime(request).replay_files, replay)
    return JSONResponse({"messages": messages}, headers={"Cache-Control": "private, max-age=10"})


async def replay_reactions(request: Request) -> Response:
    """Reactions per interval and what was pinned, each with its place in the replay."""
    async with services(request).db.session() as db:
        _, replay = await _load(request, db)
        body = await reactions_timeline(db, streaming_runtime(request).replay_files, replay)
    return JSONResponse(body, headers={"Cache-Control": "private, max-age=10"})


def _visitor(request: Request) -> str:
    who = principal(request)
    if who.user_id is not None:
        return f"u:{who.user_id}"
    return "s:" + hashlib.sha256(csrf_token(request).encode()).hexdigest()[:40]


async def replay_progress(request: Request) -> Response:
    data = await read_input(request)
    try:
        seconds = float(data.get("seconds", 0))
    except (TypeError, ValueError):
        raise ApiError(422, SECONDS_WATCHED(), extra={"field": "seconds"}) from None
    svc = services(request)
    async with svc.db.session() as db:
        slot, replay = await _load(request, db)
        counted = await replays.record_progress(db, replay, _visitor(request), seconds)
    if counted and slot.booth_id is not None:
        # The booth's analytics count replay views too (booths.engagement.analytics listens on this topic).
        with contextlib.suppress(Exception):
            await svc.bus.publish("analytics", {"booth_id": slot.booth_id, "metric": "replay_views", "value": 1})
    return Response(status_code=204)


async def replay_stats(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as db:
        slot, replay = await _load(request, db)
        _require_manage(request, slot)
        return JSONResponse(stats_json(replay))


def _number(data: dict[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(422, SECONDS(name=name), extra={"field": name}) from None


async def replay_update(request: Request) -> Response:
    """PATCH: ``published`` (bool), ``trim_start`` / ``trim_end`` (seconds, snapped to keyframes)."""
    data = await read_input(request)
    svc = services(request)
    async with svc.db.session() as db:
        slot, replay = await _load(request, db)
        _require_manage(request, slot)
        if "published" in data:
            value = data["published"]
            if isinstance(value, str):
                value = value.lower() in ("1", "true", "yes", "on")
            await replays.set_published(db, replay, bool(value))
        if "trim_start" in data or "trim_end" in data:
            await replays.set_trim(db, svc.store, replay, _number(data, "trim_start"), _number(data, "trim_end"))
            streaming_runtime(request).replay_files.spawn_mp4(replay.slot_id)
        body = replay_json(svc.store, slot, replay, manage=True)
    return JSONResponse(body)


async def replay_delete(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as db:
        slot, replay = await _load(request, db)
        _require_manage(request, slot)
        removed = await replays.delete_replay(db, streaming_runtime(request).replay_files, replay)
    return JSONResponse({"deleted": True, "objects_removed": removed})


async def captions_put(request: Request) -> Response:
    """PUT the WebVTT file as the body (``text/vtt``) or as the ``file`` field of a form."""
    lang = request.path_params["lang"]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await read_form(request, replays.MAX_CAPTION_BYTES + FORM_OVERHEAD)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, CAPTION_FILE(), extra={"field": "file"})
        body = await upload.read(replays.MAX_CAPTION_BYTES + 1)
    else:
        body = await read_body(request, replays.MAX_CAPTION_BYTES, "caption file")
    svc = services(request)
    async with svc.db.session() as db:
        slot, replay = await _load(request, db)
        _require_manage(request, slot)
        await replays.put_captions(db, svc.store, replay, lang, body)
        return JSONResponse(replay_json(svc.store, slot, replay, manage=True), status_code=201)


async def captions_delete(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as db:
        slot, replay = await _load(request, db)
        _require_manage(request, slot)
        await replays.delete_captions(db, svc.store, replay, request.path_params["lang"])
    return Response(status_code=204)


def _item_json(item: replays.ReplayItem, lang: str) -> dict[str, Any]:
    return {
        "slot_id": item.slot_id,
        "booth_id": item.booth_id,
        "title": item.title,
        "title_text": pick(item.title, lang).text,
        "starts_at": item.starts_at.isoformat(),
        "duration": round(item.duration, 1),
        "state": item.state,
        "on_air": item.on_air,
        "published": item.published,
        "views": item.views,
        "url": f"/live/{item.slot_id}",
    }


async def replay_list_api(request: Request) -> Response:
    """GET /api/replays?q=&booth_id=: the archive as JSON."""
    booth = optional_query_id(request, "booth_id")
    query = request.query_params.get("q", "").strip()[:100] or None
    async with services(request).db.session() as db:
        items = await replays.list_replays(
            db, booth_id=booth, query=query, principal=principal(request)
        )
    lang = language(request)
    return JSONResponse({"replays": [_item_json(i, lang) for i in items]})


async def archive_page(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()[:100]
    async with services(request).db.session() as db:
        items = await replays.list_replays(db, query=query or None, principal=principal(request))
    return render(request, "live/archive.html", {"replays": items, "query": query})


async def replay_page(request: Request) -> Response:
    """A replay on its own page, with the chat as it happened, its booth and the booth's other replays.

    A broadcast whose replay is gone (removed, never recorded, unpublished) is
    explained on its watch page (``/live/{id}``), so this page sends there.
    """
    who = principal(request)
    async with services(request).db.session() as db:
        slot = await get_visible_slot(db, _slot_id(request), who)
        if await replays.replay_status(db, slot, who) not in ("ready", "coming"):
            return RedirectResponse(f"/live/{slot.id}", status_code=303)
        slot, _ = await _load(request, db)
        booth = await db.get(Booth, slot.booth_id) if slot.booth_id is not None else None
        if booth is not None and not (booth.visible or who.can_manage_exhibitor(booth.exhibitor_id)):
            booth = None
        others = [
            item for item in await replays.list_replays(db, booth_id=slot.booth_id, principal=who, limit=6)
            if item.slot_id != slot.id
        ][:5] if slot.booth_id is not None else []
    return render(request, "live/replay_page.html", {"slot": slot, "booth": booth, "replays": others, "pick": pick})


routes: list[BaseRoute] = [
    Route("/replays", archive_page, methods=["GET"]),
    Route("/replays/{slot_id}", replay_page, methods=["GET"]),
    Route("/replays/{slot_id}/index.m3u8", replay_playlist, methods=["GET"]),
    Route("/live/{slot_id}/dvr.m3u8", dvr_playlist, methods=["GET"]),
    Route("/api/replays", replay_list_api, methods=["GET"]),
    Route("/api/replays/{slot_id}", replay_info, methods=["GET"]),
    Route("/api/replays/{slot_id}", replay_update, methods=["PATCH"]),
    Route("/api/replays/{slot_id}", replay_delete, methods=["DELETE"]),
    Route("/api/replays/{slot_id}/chat", replay_chat, methods=["GET"]),
    Route("/api/replays/{slot_id}/reactions", replay_reactions, methods=["GET"]),
    Route("/api/replays/{slot_id}/progress", replay_progress, methods=["POST"]),
    Route("/api/replays/{slot_id}/stats", replay_stats, methods=["GET"]),
    Route("/api/replays/{slot_id}/captions/{lang}", captions_put, methods=["PUT"]),
    Route("/api/replays/{slot_id}/captions/{lang}", captions_delete, methods=["DELETE"]),
]
