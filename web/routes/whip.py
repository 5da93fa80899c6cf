"""WHIP ingest and WHEP playback (RFC 9725 and its WHEP sibling) for schedule slots.

``POST /whip/{slot}`` with ``application/sdp`` and ``Authorization: Bearer``
answers ``201`` with the SDP answer, ``Location`` (the session, for
``DELETE``), ``ETag`` and the ICE servers as ``Link: <...>; rel="ice-server"`` (TURN with a
credential minted for the session, ``cloudexpo.turn``).
``DELETE`` on the session ends that session, not the broadcast: the slot is
interrupted and the same token publishes again (OBS's Stop and Start, a
reloaded go-live page); a new ``POST`` replaces a session still there.
Ending the broadcast is ``POST /api/slots/{id}/end``.
``/whep/{slot}`` is the same for viewers: public while the slot is live; the
green-room preview needs the slot's token or a moderator's or the booth's
staff's sign-in; another node of the deployment pulling the broadcast (an
edge) shows a short-lived edge token (``streaming.edge_token``). A node with
``CLOUDEXPO_MAX_WEBRTC_VIEWERS`` viewers answers visitors ``503`` with
``Retry-After`` and ``Link: <live.m3u8>; rel="alternate"; type="application/vnd.apple.mpegurl"``:
the broadcast's live HLS playlist in object storage (``streaming.live_hls``), which
players play until a place frees up. Trickle ICE (``PATCH``) is not supported: offers and answers
carry every candidate, and ``PATCH`` is answered ``405``.

Every refusal is JSON ``{"error", "detail"}`` saying what to fix (``web.errors``). Browsers get
CORS headers on every answer (``web.cors``), and ``OPTIONS`` preflights are answered.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cloudexpo.permissions import Forbidden
from cloudexpo.turn import client_ice_servers
from streaming import edge_token
from streaming.errors import ViewersFull
from streaming.live import (
    MissingToken,
    PreviewOnly,
    WrongToken,
    check_preview,
    check_token,
)
from streaming.schedule import SlotNotFound, get_slot, may_see, token_matches
from web.context import live_service, page_principal, principal, services, streaming_runtime
from web.cors import WithHeaders
from web.errors import ApiError
from web.forms import refuse_declared_length
from web.params import path_id
from web.webrtc_http import MAX_SDP, bearer, link_header, read_offer

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, Link, ETag, Accept-Patch, Retry-After",
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


def hls_link(url: str) -> str:
    """The live HLS playlist as a ``Link`` value (what a full node offers instead of WebRTC)."""
    return f'<{url}>; rel="alternate"; type="application/vnd.apple.mpegurl"'


def slot_id_param(request: Request) -> int | None:
    return path_id(request, "slot_id")


def _created(
    request: Request, kind: str, slot_id: int, session_id: str, answer: str,
    extra: dict[str, str] | None = None, links: list[str] | None = None,
) -> Response:
    svc = services(request)
    location = f"{svc.settings.resolved_public_url}/{kind}/{slot_id}/{session_id}"
    headers = {"Location": location, "ETag": f'"{session_id}"', **(extra or {})}
    link = ", ".join(filter(None, [link_header(client_ice_servers(svc.settings, session_id)), *(links or [])]))
    if link:
        headers["Link"] = link
    return Response(answer, status_code=201, media_type="application/sdp", headers=headers)


async def options(request: Request) -> Response:
    methods = SESSION_METHODS if "session_id" in request.path_params else RESOURCE_METHODS
    headers = {"Access-Control-Allow-Methods": methods, "Allow": methods}
    if "session_id" not in request.path_params:
        headers["Accept-Post"] = "application/sdp"
        link = link_header(client_ice_servers(services(request).settings))
        if link:
            headers["Link"] = link
    return Response(status_code=204, headers=headers)


async def whip_post(request: Request) -> Response:
    refuse_declared_length(request, MAX_SDP, "SDP offer")  # before any database or token work
    slot_id = slot_id_param(request)
    if slot_id is None:
        raise ApiError(404, "There is no slot at this address; copy the WHIP URL from the go-live page.")
    token = bearer(request)
    async with services(request).db.session() as db:
        slot = await get_slot(db, slot_id)
    if not token_matches(slot, token) and not may_see(slot, principal(request)):
        raise SlotNotFound(f"There is no slot {slot_id}.")
    check_token(slot, token)
    offer = await read_offer(request)
    published = await live_service(request).publish(slot_id, token, offer)
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
        raise ApiError(404, "There is no slot at this address.")
    if not await _may_end(request, slot_id):
        if bearer(request) is None and not principal(request).signed_in:
            raise MissingToken("Send the slot's token as 'Authorization: Bearer <token>' to end this publishing session.")
        if bearer(request) is None and not page_principal(request).signed_in:
            raise Forbidden(CSRF_NEEDED)
        raise WrongToken("This is not the slot's token; only its publisher, its staff or a moderator ends this publishing session.")
    await live_service(request).unpublish(slot_id, session_id)
    return Response(status_code=200)


async def whep_post(request: Request) -> Response:
    refuse_declared_length(request, MAX_SDP, "SDP offer")  # before any database or token work
    slot_id = slot_id_param(request)
    if slot_id is None:
        raise ApiError(404, "There is no slot at this address.")
    async with services(request).db.session() as db:
        slot = await get_slot(db, slot_id)
    token = bearer(request)
    if token is not None and edge_token.looks_like(token):
        if not edge_token.is_valid(services(request).secret_key, slot_id, token):
            raise WrongToken("This edge token is expired, for another slot or not signed with this deployment's secret key.")
        offer = await read_offer(request)
        relay = await live_service(request).watch(slot_id, offer, preview=True, relay=True)
        return _created(request, "whep", slot_id, relay.session_id, relay.answer_sdp)
    if token is not None and not token_matches(slot, token):
        raise WrongToken("This is not the slot's token; leave the Authorization header out to watch when it is live.")
    who = page_principal(request)
    preview = token is not None or who.can_manage_exhibitor(slot.exhibitor_id)
    if not preview and not may_see(slot, principal(request)):
        raise SlotNotFound(f"There is no slot {slot_id}.")
    try:
        check_preview(slot, preview=preview)
    except PreviewOnly as exc:  # 401 or 403 here (the route knows who asked), not the domain's 409
        if principal(request).signed_in and not who.signed_in:
            raise WrongToken(f"{exc} {CSRF_NEEDED}") from None
        raise (WrongToken(str(exc)) if who.signed_in else MissingToken(str(exc))) from None
    offer = await read_offer(request)
    try:
        viewer = await live_service(request).watch(slot_id, offer, preview=preview)
    except ViewersFull as exc:
        headers = {"Retry-After": str(exc.retry_after), "Link": hls_link(streaming_runtime(request).live_hls.url(slot_id))}
        raise ApiError(503, str(exc), error="viewers_full", headers=headers) from None
    # The live HLS playlist rides along, for a player whose WebRTC then does not connect.
    return _created(request, "whep", slot_id, viewer.session_id, viewer.answer_sdp,
                    links=[hls_link(streaming_runtime(request).live_hls.url(slot_id))])


async def whep_delete(request: Request) -> Response:
    slot_id = slot_id_param(request)
    if slot_id is None:
        raise ApiError(404, "There is no slot at this address.")
    await live_service(request).leave(slot_id, str(request.path_params["session_id"]))
    return Response(status_code=200)


async def patch(request: Request) -> Response:
    raise ApiError(405, NO_TRICKLE, headers={"Allow": SESSION_METHODS})


async def resource_not_allowed(request: Request) -> Response:
    raise ApiError(405, f"{request.method} is not used here: POST an SDP offer (application/sdp).", headers={"Allow": RESOURCE_METHODS})


_CORS = [Middleware(WithHeaders, headers=CORS)]

routes: list[BaseRoute] = [
    Route("/whip/{slot_id}", whip_post, middleware=_CORS, methods=["POST"]),
    Route("/whip/{slot_id}", options, middleware=_CORS, methods=["OPTIONS"]),
    Route("/whip/{slot_id}", resource_not_allowed, middleware=_CORS, methods=["GET", "PUT", "PATCH", "DELETE"]),
    Route("/whip/{slot_id}/{session_id}", whip_delete, middleware=_CORS, methods=["DELETE"]),
    Route("/whip/{slot_id}/{session_id}", patch, middleware=_CORS, methods=["PATCH"]),
    Route("/whip/{slot_id}/{session_id}", options, middleware=_CORS, methods=["OPTIONS"]),
    Route("/whep/{slot_id}", whep_post, middleware=_CORS, methods=["POST"]),
    Route("/whep/{slot_id}", options, middleware=_CORS, methods=["OPTIONS"]),
    Route("/whep/{slot_id}", resource_not_allowed, middleware=_CORS, methods=["GET", "PUT", "PATCH", "DELETE"]),
    Route("/whep/{slot_id}/{session_id}", whep_delete, middleware=_CORS, methods=["DELETE"]),
    Route("/whep/{slot_id}/{session_id}", patch, middleware=_CORS, methods=["PATCH"]),
    Route("/whep/{slot_id}/{session_id}", options, middleware=_CORS, methods=["OPTIONS"]),
]
