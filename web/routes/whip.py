"""WHIP ingest and WHEP playback (RFC 9725 and its WHEP sibling) for schedule slots.

``POST /whip/{slot}`` with ``application/sdp`` and ``Authorization: Bearer``
answers ``201`` with the SDP answer, ``Location`` (the session, for
``DELETE``), ``ETag`` and the ICE servers as ``Link: <...>; rel="ice-server"``.
``/whep/{slot}`` is the same for viewers: public while the slot is live; the
green-room preview needs the slot's token or a moderator's or the booth's
staff's sign-in. Trickle ICE (``PATCH``) is not supported: offers and answers
carry every candidate, and ``PATCH`` is answered ``405``.

Every refusal is JSON ``{"error", "detail"}`` saying what to fix. Browsers get
CORS headers on every answer, and ``OPTIONS`` preflights are answered.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cloudexpo.settings import IceServer
from streaming.errors import SessionNotFound, StreamNotLive, UnusableOffer
from streaming.live import LiveService, MissingToken, WrongToken
from streaming.models import SlotState
from streaming.schedule import SlotClosed, SlotNotFound, get_slot, may_see, token_matches
from web.context import page_principal, principal, services
from web.errors import error_body

MAX_SDP = 64 * 1024
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch",
    "Access-Control-Max-Age": "600",
}
RESOURCE_METHODS = "POST, OPTIONS"
SESSION_METHODS = "DELETE, OPTIONS"
CSRF_NEEDED = (
    "The sign-in cookie counts here only from a Cloud Expo page: send the page's X-CSRF-Token "
    "header (or the slot's token as 'Authorization: Bearer <token>')."
)
NO_TRICKLE = (
    "Trickle ICE and ICE restarts (PATCH) are not supported: send an offer with every candidate "
    "gathered (wait for ICE gathering to complete), and POST a new offer to reconnect."
)


def live_service(request: Request) -> LiveService:
    return services(request).extras["live"]


def _error(status: int, detail: str, *, error: str | None = None, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, detail, error, **extra), status_code=status, headers={**CORS, **(headers or {})})


def bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def link_header(servers: list[IceServer]) -> str | None:
    """ICE servers as RFC 9725 ``Link`` values."""
    links = []
    for server in servers:
        for url in server.urls:
            value = f'<{url}>; rel="ice-server"'
            if server.username is not None:
                value += f'; username="{server.username}"; credential="{server.credential or ""}"; credential-type="password"'
            links.append(value)
    return ", ".join(links) or None


def slot_id_param(request: Request) -> int | None:
    raw = request.path_params.get("slot_id", "")
    return int(raw) if str(raw).isdigit() else None


async def _read_offer(request: Request) -> str | JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/sdp":
        return _error(
            415,
            f"Send the SDP offer as 'Content-Type: application/sdp' (got {content_type or 'none'}).",
            headers={"Accept-Post": "application/sdp"},
        )
    body = await request.body()
    if len(body) > MAX_SDP:
        return _error(413, f"An SDP offer of at most {MAX_SDP // 1024} KiB, please.")
    try:
        offer = body.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "The SDP offer is not UTF-8 text.")
    if not offer.lstrip().startswith("v=0"):
        return _error(400, "The body is not an SDP offer (it must start with 'v=0').")
    return offer


def _created(request: Request, kind: str, slot_id: int, session_id: str, answer: str, extra: dict[str, str] | None = None) -> Response:
    svc = services(request)
    location = f"{svc.settings.resolved_public_url}/{kind}/{slot_id}/{session_id}"
    headers = {**CORS, "Location": location, "ETag": f'"{session_id}"', **(extra or {})}
    link = link_header(svc.settings.ice_servers)
    if link:
        headers["Link"] = link
    return Response(answer, status_code=201, media_type="application/sdp", headers=headers)


async def options(request: Request) -> Response:
    methods = SESSION_METHODS if "session_id" in request.path_params else RESOURCE_METHODS
    headers = {**CORS, "Access-Control-Allow-Methods": methods, "Allow": methods}
    if "session_id" not in request.path_params:
        headers["Accept-Post"] = "application/sdp"
        link = link_header(services(request).settings.ice_servers)
        if link:
            headers["Link"] = link
    return Response(status_code=204, headers=headers)


async def whip_post(request: Request) -> Response:
    slot_id = slot_id_param(request)
    if slot_id is None:
        return _error(404, "There is no slot at this address; copy the WHIP URL from the go-live page.")
    token = bearer(request)
    try:
        async with services(request).db.session() as db:
            slot = await get_slot(db, slot_id)
        if not token_matches(slot, token) and not may_see(slot, principal(request)):
            raise SlotNotFound(f"There is no slot {slot_id}.")
        if token is None:
            raise MissingToken("Send the slot's token as 'Authorization: Bearer <token>' (OBS: Settings → Stream → Bearer Token).")
        if not token_matches(slot, token):
            raise WrongToken(
                f"This is not slot {slot_id}'s token; copy it again from the go-live page (a moderator may have rotated it)."
            )
        offer = await _read_offer(request)
        if isinstance(offer, Response):
            return offer
        published = await live_service(request).publish(slot_id, token, offer)
    except SlotNotFound as exc:
        return _error(404, f"{exc} Copy the WHIP URL from the go-live page.")
    except MissingToken as exc:
        return _error(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="whip"'})
    except WrongToken as exc:
        return _error(403, str(exc))
    except SlotClosed as exc:
        return _error(409, str(exc))
    except UnusableOffer as exc:
        return _error(400, f"The offer cannot be used: {exc}. Send H.264 (packetization-mode=1) or VP8 video and Opus audio.", error="unusable_offer")
    return _created(request, "whip", slot_id, published.session_id, published.answer_sdp, {"X-Slot-State": published.state})


async def _may_end(request: Request, slot_id: int) -> bool:
    """The slot's token, or a moderator's or the booth staff's sign-in from one of our pages."""
    async with services(request).db.session() as db:
        slot = await get_slot(db, slot_id)
    token = bearer(request)
    allowed = token_matches(slot, token) or page_principal(request).can_manage_exhibitor(slot.exhibitor_id)
    if not allowed and not may_see(slot, principal(request)):
        raise SlotNotFound(f"There is no slot {slot_id}.")
    return allowed


async def whip_delete(request: Request) -> Response:
    slot_id = slot_id_param(request)
    session_id = str(request.path_params["session_id"])
    if slot_id is None:
        return _error(404, "There is no slot at this address.")
    try:
        if not await _may_end(request, slot_id):
            if bearer(request) is None and not principal(request).signed_in:
                return _error(401, "Send the slot's token as 'Authorization: Bearer <token>' to end the broadcast.", headers={"WWW-Authenticate": 'Bearer realm="whip"'})
            if bearer(request) is None and not page_principal(request).signed_in:
                return _error(403, CSRF_NEEDED)
            return _error(403, "This is not the slot's token; only its publisher or a moderator ends the broadcast.")
        await live_service(request).unpublish(slot_id, session_id)
    except SlotNotFound as exc:
        return _error(404, str(exc))
    except SessionNotFound:
        return _error(404, "There is no such publishing session (it ended already).")
    return Response(status_code=200, headers=CORS)


async def whep_post(request: Request) -> Response:
    slot_id = slot_id_param(request)
    if slot_id is None:
        return _error(404, "There is no slot at this address.")
    try:
        async with services(request).db.session() as db:
            slot = await get_slot(db, slot_id)
        token = bearer(request)
        if token is not None and not token_matches(slot, token):
            return _error(403, "This is not the slot's token; leave the Authorization header out to watch when it is live.")
        who = page_principal(request)
        preview = token is not None or who.can_manage_exhibitor(slot.exhibitor_id)
        if not preview and not may_see(slot, principal(request)):
            raise SlotNotFound(f"There is no slot {slot_id}.")
        if slot.state == SlotState.GREEN_ROOM.value and not preview:
            detail = (
                f"Slot {slot_id} is in the green room (starting soon); its preview needs the slot's token "
                "as 'Authorization: Bearer <token>', or the sign-in of a moderator or the booth's staff."
            )
            if principal(request).signed_in and not who.signed_in:
                return _error(403, f"{detail} {CSRF_NEEDED}")
            if who.signed_in:
                return _error(403, detail)
            return _error(401, detail, headers={"WWW-Authenticate": 'Bearer realm="whep"'})
        offer = await _read_offer(request)
        if isinstance(offer, Response):
            return offer
        viewer = await live_service(request).watch(slot_id, offer, preview=preview)
    except SlotNotFound as exc:
        return _error(404, str(exc))
    except SlotClosed as exc:
        return _error(409, str(exc))
    except StreamNotLive as exc:
        return _error(409, f"{exc}; try again when the slot is live.")
    except UnusableOffer as exc:
        return _error(400, f"The offer cannot be used: {exc}. Offer to receive H.264 or VP8 video and Opus audio (recvonly).", error="unusable_offer")
    return _created(request, "whep", slot_id, viewer.session_id, viewer.answer_sdp)


async def whep_delete(request: Request) -> Response:
    slot_id = slot_id_param(request)
    if slot_id is None:
        return _error(404, "There is no slot at this address.")
    try:
        await live_service(request).leave(slot_id, str(request.path_params["session_id"]))
    except SessionNotFound:
        return _error(404, "There is no such viewing session (it ended already).")
    return Response(status_code=200, headers=CORS)


async def patch(request: Request) -> Response:
    return _error(405, NO_TRICKLE, headers={"Allow": SESSION_METHODS})


async def resource_not_allowed(request: Request) -> Response:
    return _error(405, f"{request.method} is not used here: POST an SDP offer (application/sdp).", headers={"Allow": RESOURCE_METHODS})


routes: list[BaseRoute] = [
    Route("/whip/{slot_id}", whip_post, methods=["POST"]),
    Route("/whip/{slot_id}", options, methods=["OPTIONS"]),
    Route("/whip/{slot_id}", resource_not_allowed, methods=["GET", "PUT", "PATCH", "DELETE"]),
    Route("/whip/{slot_id}/{session_id}", whip_delete, methods=["DELETE"]),
    Route("/whip/{slot_id}/{session_id}", patch, methods=["PATCH"]),
    Route("/whip/{slot_id}/{session_id}", options, methods=["OPTIONS"]),
    Route("/whep/{slot_id}", whep_post, methods=["POST"]),
    Route("/whep/{slot_id}", options, methods=["OPTIONS"]),
    Route("/whep/{slot_id}", resource_not_allowed, methods=["GET", "PUT", "PATCH", "DELETE"]),
    Route("/whep/{slot_id}/{session_id}", whep_delete, methods=["DELETE"]),
    Route("/whep/{slot_id}/{session_id}", patch, methods=["PATCH"]),
    Route("/whep/{slot_id}/{session_id}", options, methods=["OPTIONS"]),
]
