"""Video calls from a booth conversation: ring, answer, hang up; media through the server when direct fails.

- ``POST /api/conversations/{id}/calls`` rings the other side (201 ``{"call", "ice_servers", "forwarder"}``).
- ``GET /calls/{id}``: the call's page, the only one (with go-live) where camera and microphone are allowed.
- ``GET /api/calls/ringing``: the calls ringing the asker now (a page opened mid-ring shows them).
- ``GET /api/calls/{id}``; ``POST /api/calls/{id}/accept`` | ``/decline`` | ``/hangup``.
- ``GET /api/booths/{id}/calls``: the booth's call records (its staff and moderators).

Only the call's two parties (and, while a visitor's call rings the booth, its
staff) see a call; anyone else hears there is none (404). The two browsers
negotiate over ``/ws`` (``call_signal``, :mod:`web.call_signals`) with the ICE
servers handed here (TURN credentials minted per call and person).

When they cannot connect directly, each publishes its camera to the server
(``POST /whip/calls/{id}``) and plays the other's (``POST /whep/calls/{id}``),
both with the bearer token in ``forwarder.token``, which only that party gets.
``DELETE`` on the ``Location`` ends that session. The streams are private,
unlisted, unrecorded (:mod:`streaming.call_media`) and end with the call.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import calls, conversations
from booths.engagement.call_models import Call
from booths.errors import NotFound
from booths.exhibition.models import Booth
from cloudexpo.accounts import User
from cloudexpo.bus import RedisBus
from cloudexpo.messages import message
from cloudexpo.permissions import Principal, require
from cloudexpo.turn import client_ice_servers
from streaming import call_media
from streaming.live import MissingToken, WrongToken
from web.context import principal, services, streaming_runtime
from web.errors import ApiError
from web.forms import refuse_declared_length
from web.headers import CALL_PERMISSIONS
from web.params import path_int
from web.templating import render
from web.webrtc_http import MAX_SDP, bearer, link_header, read_offer

SEND_TOKEN = message("call.send_token", "Send this call's forwarder token as 'Authorization: Bearer <token>'.")
WRONG_TOKEN = message("call.wrong_token", "This is not a forwarder token of call {id}; only its two parties have one.")
NO_SESSION = message("call.no_session", "There is no session {session} of yours in call {id}.")


def _party_view(request: Request, call: Call, user_id: int) -> dict[str, Any]:
    """What one party needs to connect: the ICE servers minted for them, and their forwarder token and URLs."""
    svc = services(request)
    servers = client_ice_servers(svc.settings, f"call{call.id}-{user_id}")
    return {
        "ice_servers": [server.as_dict() for server in servers],
        "forwarder": {  # paths: whichever node the page talks to takes them (it pulls the other side if need be)
            "whip": f"/whip/calls/{call.id}",
            "whep": f"/whep/calls/{call.id}",
            "token": call_media.party_token(svc.secret_key, call.id, user_id),
        },
    }


def _answer(request: Request, call: Call, who: Principal, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"call": calls.call_json(call)}
    if who.user_id is not None and call.party(who.user_id):
        body.update(_party_view(request, call, who.user_id))
    return JSONResponse(body, status_code=status)


async def api_start(request: Request) -> Response:
    who = require(principal(request))
    conversation_id = path_int(request, "conversation_id")
    svc = services(request)
    async with svc.db.session() as session:
        access = await conversations.open_for(session, who, conversation_id)
        talk = access.conversation
        parties = calls.Parties(talk.id, talk.booth_id, talk.exhibitor_id, talk.visitor_id)
        call = await calls.start(session, who, parties)
        rung = await calls.rung_by(session, call)
        booth = await session.get(Booth, talk.booth_id)
        await session.commit()
    caller = {"caller_name": who.display_name, "booth_number": booth.number if booth is not None else ""}
    await calls.announce(svc.bus, call, "ringing", rung=rung, extra=dict.fromkeys(rung, caller))
    return _answer(request, call, who, 201)


async def call_page(request: Request) -> Response:
    """The call's own page: the one place its two parties' camera and microphone are allowed."""
    who = require(principal(request))
    async with services(request).db.session() as session:
        call = await calls.get_for(session, who, path_int(request, "call_id"))
        await session.commit()
    page = render(request, "engagement/call_page.html", call_page=call.id,
                  call_back=f"/conversations/{call.conversation_id}")
    page.headers["Permissions-Policy"] = CALL_PERMISSIONS
    return page


async def api_ringing(request: Request) -> Response:
    """The calls ringing the asker now, with who calls from which booth (for a page opened mid-ring)."""
    who = require(principal(request))
    async with services(request).db.session() as session:
        ringing = await calls.ringing_for(session, who)
        out = []
        for call in ringing:
            caller = await session.get(User, call.caller_id)
            booth = await session.get(Booth, call.booth_id)
            out.append({**calls.call_json(call), "caller_name": caller.display_name if caller else "",
                        "booth_number": booth.number if booth else ""})
        await session.commit()  # calls found past their ringing time are kept as missed
    return JSONResponse({"calls": out})


async def api_call(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        call = await calls.get_for(session, who, path_int(request, "call_id"))
        await session.commit()  # a call found past its ringing time is kept as missed
    return _answer(request, call, who)


async def api_accept(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    async with svc.db.session() as session:
        rung = await _rung_with(session, path_int(request, "call_id"))
        call = await calls.accept(session, who, path_int(request, "call_id"))
        await session.commit()
    # The caller learns how to reach the one who answered; the other staff stop ringing.
    await calls.announce(svc.bus, call, "accepted", rung=rung,
                         extra={call.caller_id: _party_view(request, call, call.caller_id)})
    return _answer(request, call, who)


async def _rung_with(session: Any, call_id: int) -> list[int]:
    """Everyone a call is ringing, to tell them it stopped (before an answer names the callee)."""
    call = await session.get(Call, call_id)
    return [] if call is None else await calls.rung_by(session, call)


async def _close(request: Request, change: Any, event: str) -> Response:
    who = require(principal(request))
    svc = services(request)
    call_id = path_int(request, "call_id")
    async with svc.db.session() as session:
        rung = await _rung_with(session, call_id)
        before = await calls.get_for(session, who, call_id)
        was_open = before.state in ("ringing", "active")
        call = await change(session, who, call_id)
        await session.commit()
    if was_open:
        await call_media.end(streaming_runtime(request).engine, call.id, _parties(call))
        await calls.announce(svc.bus, call, event if event != "ended" else call.state, rung=rung)
    return _answer(request, call, who)


async def api_decline(request: Request) -> Response:
    return await _close(request, calls.decline, "declined")


async def api_hang_up(request: Request) -> Response:
    return await _close(request, calls.hang_up, "ended")


async def api_booth_calls(request: Request) -> Response:
    who = require(principal(request))
    booth_id = path_int(request, "booth_id")
    async with services(request).db.session() as session:
        booth = await session.get(Booth, booth_id)
        if booth is None or not who.can_manage_exhibitor(booth.exhibitor_id):
            raise NotFound(calls.NO_BOOTH(id=booth_id))
        records = await calls.booth_calls(session, booth_id)
    return JSONResponse({"booth_id": booth_id, "calls": [calls.call_json(c) for c in records]})


# --- the forwarder: WHIP in, WHEP out, per call and party -----------------------------------------


def _parties(call: Call) -> list[int]:
    return [call.caller_id, *([call.callee_id] if call.callee_id is not None else [])]


async def _holder(request: Request) -> tuple[Call, int]:
    """The call and the party whose token the request shows (401 without one, 403 with another)."""
    call_id = path_int(request, "call_id")
    token = bearer(request)
    if token is None:
        raise MissingToken(SEND_TOKEN())
    async with services(request).db.session() as session:
        call = await session.get(Call, call_id)
    holder = None if call is None else call_media.token_holder(services(request).secret_key, call_id, _parties(call), token)
    if call is None or holder is None:
        raise WrongToken(WRONG_TOKEN(id=call_id))
    return call, holder


def _created(request: Request, kind: str, call: Call, user_id: int, session_id: str, answer: str) -> Response:
    svc = services(request)
    headers = {"Location": f"{svc.settings.resolved_public_url}/{kind}/calls/{call.id}/{session_id}", "ETag": f'"{session_id}"'}
    link = link_header(client_ice_servers(svc.settings, f"call{call.id}-{user_id}"))
    if link:
        headers["Link"] = link
    return Response(answer, status_code=201, media_type="application/sdp", headers=headers)


async def whip_post(request: Request) -> Response:
    refuse_declared_length(request, MAX_SDP, "SDP offer")
    call, holder = await _holder(request)
    calls.check_active(call)
    offer = await read_offer(request)
    published = await call_media.publish(streaming_runtime(request).engine, call.id, holder, offer)
    redis, node = _cluster(request)
    if redis is not None:
        await call_media.note_holder(redis, services(request).secret_key, call_media.stream_id(call.id, holder), node)
    async with services(request).db.session() as session:
        await calls.note_path(session, call.id, "forwarder")
        await session.commit()
    return _created(request, "whip", call, holder, published.session_id, published.answer_sdp)


async def whep_post(request: Request) -> Response:
    refuse_declared_length(request, MAX_SDP, "SDP offer")
    call, holder = await _holder(request)
    calls.check_active(call)
    other = call.other(holder)
    assert other is not None  # an active call has both parties
    offer = await read_offer(request)
    engine = streaming_runtime(request).engine
    try:
        try:
            viewer = await call_media.play(engine, call.id, other, offer)
        except call_media.OtherSideNotPublishing:
            if not await _pull(request, call, other):
                raise
            viewer = await call_media.play(engine, call.id, other, offer)
    except call_media.OtherSideNotPublishing as exc:
        raise ApiError(409, str(exc), error="not_yet", headers={"Retry-After": "1"}) from None
    return _created(request, "whep", call, holder, viewer.session_id, viewer.answer_sdp)


def _cluster(request: Request) -> tuple[Any, str]:
    """Redis and this node's URL when several nodes share the calls (else ``None``)."""
    svc = services(request)
    if not svc.settings.node_url or not isinstance(svc.bus, RedisBus):
        return None, ""
    return svc.bus.client, svc.settings.node_url


async def _pull(request: Request, call: Call, other: int) -> bool:
    """The other party's camera reaches another node: pull it here from there (False: nowhere yet)."""
    redis, node = _cluster(request)
    if redis is None:
        return False
    stream = call_media.stream_id(call.id, other)
    origin = await call_media.holder(redis, services(request).secret_key, stream)
    if origin is None or origin == node:
        return False
    await call_media.pull(streaming_runtime(request).engine, stream, origin, f"/whep/calls/{call.id}", bearer(request) or "")
    return True


async def whip_delete(request: Request) -> Response:
    call, holder = await _holder(request)
    session_id = str(request.path_params["session_id"])
    try:
        await streaming_runtime(request).engine.disconnect(call_media.stream_id(call.id, holder), session_id)
    except Exception:
        raise NotFound(NO_SESSION(session=session_id, id=call.id)) from None
    return Response(status_code=200)


async def whep_delete(request: Request) -> Response:
    call, holder = await _holder(request)
    session_id = str(request.path_params["session_id"])
    other = call.other(holder)
    try:
        await streaming_runtime(request).engine.leave(call_media.stream_id(call.id, other or 0), session_id)
    except Exception:
        raise NotFound(NO_SESSION(session=session_id, id=call.id)) from None
    return Response(status_code=200)


routes: list[BaseRoute] = [
    Route("/api/conversations/{conversation_id}/calls", api_start, methods=["POST"]),
    Route("/calls/{call_id}", call_page, methods=["GET"]),
    Route("/api/calls/ringing", api_ringing, methods=["GET"]),
    Route("/api/calls/{call_id}", api_call, methods=["GET"]),
    Route("/api/calls/{call_id}/accept", api_accept, methods=["POST"]),
    Route("/api/calls/{call_id}/decline", api_decline, methods=["POST"]),
    Route("/api/calls/{call_id}/hangup", api_hang_up, methods=["POST"]),
    Route("/api/booths/{booth_id}/calls", api_booth_calls, methods=["GET"]),
    Route("/whip/calls/{call_id}", whip_post, methods=["POST"]),
    Route("/whep/calls/{call_id}", whep_post, methods=["POST"]),
    Route("/whip/calls/{call_id}/{session_id}", whip_delete, methods=["DELETE"]),
    Route("/whep/calls/{call_id}/{session_id}", whep_delete, methods=["DELETE"]),
]
