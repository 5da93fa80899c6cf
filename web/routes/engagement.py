"""My tour (bookmarks), business cards, the visitor's profile and their own data.

Also the helpers the other engagement route modules share (``counter``,
``notifier``, ``visitor_key``). Partials for other areas' pages:
``engagement/booth_panel.html`` (bookmark button, card form and meeting
link; needs ``booth``), ``engagement/bookmark_button.html`` (needs
``bm_kind`` and ``bm_id``) and ``engagement/card_form.html`` (needs ``booth``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import delete, select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import bookmarks, cards, meetings, notify
from booths.engagement.models import (
    BOOKMARK_KINDS,
    Bookmark,
    Card,
    Conversation,
    ConversationMessage,
    MailOptOut,
    Meeting,
    MeetingSlot,
    Notification,
    Profile,
)
from booths.errors import Invalid
from cloudexpo.accounts import User
from cloudexpo.messages import message
from cloudexpo.permissions import require
from cloudexpo.values import parse_id
from web.context import counter, language, notifier, principal, services
from web.errors import wants_json
from web.forms import back, read_input
from web.page_contexts import BoothContactPage
from web.params import path_int
from web.shapes.engagement import card_json, profile_json
from web.templating import render
from web.visits import count_booth_view

# --- shared helpers ---------------------------------------------------------------------------

BOOKMARK_ID = message("bookmark.id", "'id' is the number of the booth, product, launch or replay to bookmark.")


# --- bookmarks ---------------------------------------------------------------------------------


async def tour_page(request: Request) -> Response:
    who = require(principal(request))
    kind = request.query_params.get("kind") or None
    sort = request.query_params.get("sort") or "newest"
    if kind not in (None, *BOOKMARK_KINDS):
        kind = None
    if sort not in bookmarks.SORTS:
        sort = "newest"
    async with services(request).db.session() as session:
        items = await bookmarks.tour(session, who, kind=kind, sort=sort, language=language(request))
        mine = await meetings.mine(session, who)
        own_cards = await cards.list_own(session, who)
    return render(request, "engagement/tour.html", {
        "items": items, "kind": kind or "", "sort": sort, "kinds": BOOKMARK_KINDS, "sorts": bookmarks.SORTS,
        "requested": mine["requested"], "cards": own_cards,
    })


async def tour_ics(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    async with svc.db.session() as session:
        items = await bookmarks.tour(session, who, kind="launch", sort="time")
    body = bookmarks.tour_calendar(items, public_url=svc.settings.resolved_public_url, language=language(request),
                                   timezone=svc.settings.timezone)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="cloudexpo-tour.ics"'})


async def api_bookmarks(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        items = await bookmarks.tour(session, who, kind=request.query_params.get("kind") or None,
                                     sort=request.query_params.get("sort") or "newest", language=language(request))
    return JSONResponse({"items": [i.as_json(language(request)) for i in items]})


def _target(data: dict[str, Any]) -> tuple[str, int]:
    kind = str(data.get("kind") or "")
    bookmarks.check_kind(kind)
    target = parse_id(data.get("id"))
    if target is None:
        raise Invalid(BOOKMARK_ID(), "id")
    return kind, target


async def api_add_bookmark(request: Request) -> Response:
    who = require(principal(request))
    kind, target = _target(await read_input(request))
    async with services(request).db.session() as session:
        mark = await bookmarks.add(session, who, kind, target)
        await session.commit()
    if not wants_json(request):
        return RedirectResponse(back(request), status_code=303)
    return JSONResponse({"kind": mark.kind, "id": mark.target_id, "bookmarked": True}, status_code=201)


async def api_remove_bookmark(request: Request) -> Response:
    who = require(principal(request))
    kind = request.path_params["kind"]
    async with services(request).db.session() as session:
        await bookmarks.remove(session, who, kind, path_int(request, "target_id"))
        await session.commit()
    return JSONResponse({"kind": kind, "id": path_int(request, "target_id"), "bookmarked": False})


async def api_bookmark_state(request: Request) -> Response:
    who = principal(request)
    kind = request.path_params["kind"]
    bookmarks.check_kind(kind)
    async with services(request).db.session() as session:
        state = await bookmarks.bookmarked(session, who.user_id, kind, path_int(request, "target_id"))
    return JSONResponse({"kind": kind, "id": path_int(request, "target_id"), "bookmarked": state,
                         "signed_in": who.signed_in})


# --- business cards ----------------------------------------------------------------------------


async def leave_card(request: Request) -> Response:
    """POST a card for a booth's exhibitor (JSON, or the form of ``card_form.html``)."""
    who = principal(request)
    svc = services(request)
    booth_id = path_int(request, "booth_id")
    data = await read_input(request)
    form = not wants_json(request)
    try:
        async with svc.db.session() as session:
            card, booth = await cards.leave(session, who, booth_id, data, language=language(request))
            batch = notifier(request).batch()
            await notify.card_received(batch, session, card, booth)
            await session.commit()
            await batch.deliver(session)
    except Invalid as exc:
        if form:
            return RedirectResponse(f"/booths/{booth_id}/contact?card_error={exc.field or ''}#card", status_code=303)
        raise
    counter(request).add(booth.id, "cards")
    withdraw = f"/api/cards/{card.id}?token={cards.withdraw_token(svc.secret_key, card.id)}"
    if form:
        return RedirectResponse(f"/booths/{booth_id}/contact?card=sent#card", status_code=303)
    return JSONResponse({"card": card_json(card), "withdraw_url": withdraw}, status_code=201)


async def api_card_prefill(request: Request) -> Response:
    async with services(request).db.session() as session:
        values = await cards.prefill(session, principal(request))
    return JSONResponse({"signed_in": principal(request).signed_in, "values": values})


async def api_my_cards(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        rows = await cards.list_own(session, who)
    return JSONResponse({"cards": [card_json(c) | {"booth_number": b.number} for c, b in rows]})


async def api_withdraw_card(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as session:
        await cards.withdraw(session, principal(request), path_int(request, "card_id"),
                             token=request.query_params.get("token", ""), secret=svc.secret_key)
        await session.commit()
    if not wants_json(request) and request.method == "POST":
        return RedirectResponse("/me/tour#cards", status_code=303)
    return JSONResponse({"withdrawn": True})


async def contact_page(request: Request) -> Response:
    """A booth's contact page: bookmark it, leave a card, book a meeting (also the QR codes' mobile landing)."""
    from booths.exhibition.directory import get_booth

    who = principal(request)
    svc = services(request)
    async with svc.db.session() as session:
        bundle = await get_booth(session, who, str(path_int(request, "booth_id")), with_products=False)
        values = await cards.prefill(session, who)
        slots = await meetings.open_slots(session, exhibitor_id=bundle.booth.exhibitor_id)
        hosts = {u.id: u for u in (await session.scalars(select(User).where(User.id.in_({s.host_id for s in slots})))).all()}
        marked = await bookmarks.bookmarked(session, who.user_id, "booth", bundle.booth.id)
    count_booth_view(request, bundle.booth.id)
    return render(request, "engagement/contact.html", BoothContactPage(
        booth=bundle.booth, exhibitor=bundle.exhibitor, zone=bundle.zone, card_values=values,
        slots=slots, hosts=hosts, bookmarked=marked,
        card_sent=request.query_params.get("card") == "sent",
        card_error=request.query_params.get("card_error"),
    ))


# --- profile ------------------------------------------------------------------------------------


async def api_profile(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        user = await session.get(User, who.user_id)
        profile = await meetings.get_profile(session, who.user_id)  # type: ignore[arg-type]
    assert user is not None
    return JSONResponse(profile_json(user, profile) | {
        "organisation": profile.organisation if profile else "", "phone": profile.phone if profile else "",
        "timezone": profile.timezone if profile else "",
    })


async def api_save_profile(request: Request) -> Response:
    who = require(principal(request))
    data = await read_input(request)
    async with services(request).db.session() as session:
        await meetings.save_profile(session, who, data)
        await session.commit()
    return await api_profile(request)


# --- the visitor's own data -----------------------------------------------------------------------


async def my_data(session: Any, user_id: int) -> dict[str, Any]:
    user = await session.get(User, user_id)
    profile = await session.get(Profile, user_id)

    def rows(model: Any, *conds: Any) -> Any:
        return session.scalars(select(model).where(*conds))

    def plain(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        out = {}
        for col in obj.__table__.columns:
            if col.key in skip:
                continue
            value = getattr(obj, col.key)
            out[col.key] = value.isoformat() if isinstance(value, dt.datetime | dt.date) else value
        return out

    return {
        "account": plain(user, ("password_hash",)) if user else None,
        "profile": plain(profile) if profile else None,
        "bookmarks": [plain(x) for x in (await rows(Bookmark, Bookmark.user_id == user_id)).all()],
        "cards": [plain(x) for x in (await rows(Card, Card.user_id == user_id)).all()],
        "meeting_slots": [plain(x) for x in (await rows(MeetingSlot, MeetingSlot.host_id == user_id)).all()],
        "meetings": [plain(x) for x in (await rows(Meeting, (Meeting.visitor_id == user_id) | (Meeting.host_id == user_id))).all()],
        "notifications": [plain(x) for x in (await rows(Notification, Notification.user_id == user_id)).all()],
        "conversations": [plain(x) for x in (await rows(Conversation, Conversation.visitor_id == user_id)).all()],
        "conversation_messages": [plain(x) for x in (await rows(ConversationMessage, ConversationMessage.sender_id == user_id)).all()],
        "mail_opt_outs": [x.kind for x in (await rows(MailOptOut, MailOptOut.user_id == user_id)).all()],
    }


async def api_my_data(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        data = await my_data(session, who.user_id)  # type: ignore[arg-type]
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(body, media_type="application/json; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="cloudexpo-my-data.json"'})


async def api_delete_my_data(request: Request) -> Response:
    """Delete the visitor's bookmarks, cards (and the leads made from them), meeting requests,
    offered slots, notifications, conversations with booths, opt-outs and profile. The account itself stays (sign-in, roles)."""
    who = require(principal(request))
    uid = who.user_id
    async with services(request).db.session() as session:
        counts = {}
        for name, model, cond in (
            ("bookmarks", Bookmark, Bookmark.user_id == uid),
            ("cards", Card, Card.user_id == uid),
            ("meetings", Meeting, Meeting.visitor_id == uid),
            ("meeting_slots", MeetingSlot, MeetingSlot.host_id == uid),
            ("notifications", Notification, Notification.user_id == uid),
            ("conversations", Conversation, Conversation.visitor_id == uid),  # with their messages
            ("mail_opt_outs", MailOptOut, MailOptOut.user_id == uid),
            ("profile", Profile, Profile.user_id == uid),
        ):
            result = await session.execute(delete(model).where(cond))
            counts[name] = int(getattr(result, "rowcount", 0) or 0)
        await session.commit()
    if not wants_json(request):
        return RedirectResponse("/me/data?deleted=1", status_code=303)
    return JSONResponse({"deleted": counts})


async def data_page(request: Request) -> Response:
    require(principal(request))
    return render(request, "engagement/data.html", {"deleted": request.query_params.get("deleted") == "1"})


async def api_delete_my_data_form(request: Request) -> Response:
    await read_input(request)
    return await api_delete_my_data(request)


routes: list[BaseRoute] = [
    Route("/me/tour", tour_page, methods=["GET"]),
    Route("/me/tour.ics", tour_ics, methods=["GET"]),
    Route("/me/data", data_page, methods=["GET"]),
    Route("/me/data/delete", api_delete_my_data_form, methods=["POST"]),
    Route("/booths/{booth_id:int}/contact", contact_page, methods=["GET"]),
    Route("/booths/{booth_id:int}/card", leave_card, methods=["POST"]),
    Route("/me/bookmarks", api_add_bookmark, methods=["POST"]),
    Route("/api/bookmarks", api_bookmarks, methods=["GET"]),
    Route("/api/bookmarks", api_add_bookmark, methods=["POST"]),
    Route("/api/bookmarks/{kind}/{target_id:int}", api_bookmark_state, methods=["GET"]),
    Route("/api/bookmarks/{kind}/{target_id:int}", api_remove_bookmark, methods=["DELETE"]),
    Route("/api/booths/{booth_id:int}/cards", leave_card, methods=["POST"]),
    Route("/api/cards/prefill", api_card_prefill, methods=["GET"]),
    Route("/api/me/cards", api_my_cards, methods=["GET"]),
    Route("/api/cards/{card_id:int}", api_withdraw_card, methods=["DELETE"]),
    Route("/me/cards/{card_id:int}/withdraw", api_withdraw_card, methods=["POST"]),
    Route("/api/profile", api_profile, methods=["GET"]),
    Route("/api/profile", api_save_profile, methods=["PUT"]),
    Route("/api/me/data", api_my_data, methods=["GET"]),
    Route("/api/me/data", api_delete_my_data, methods=["DELETE"]),
]


def _openapi() -> dict[str, Any]:
    """The engagement area's paths for ``/api/openapi.json`` (see :mod:`web.openapi`)."""
    from web.openapi import op, param

    obj: dict[str, Any] = {"type": "object"}
    tag = ("engagement",)
    pid = {"type": "integer"}

    def path(name: str) -> dict[str, Any]:
        return param(name, "path", pid)

    days = param("days", schema={"type": "integer", "minimum": 1, "maximum": 366}, description="Days back from today")
    bookmark_body = {"type": "object", "required": ["kind", "id"], "properties": {
        "kind": {"type": "string", "enum": list(BOOKMARK_KINDS)}, "id": pid}}
    card_body = {"type": "object", "required": ["name", "consent"], "properties": {
        **{k: {"type": "string"} for k in cards.FIELDS}, "consent": {"type": "boolean", "const": True},
        "source": {"type": "string", "enum": list(cards.SOURCES)}, "slot_id": pid}}
    slot_body = {"type": "object", "required": ["starts_at", "mode"], "properties": {
        "starts_at": {"type": "string", "description": "ISO 8601; without an offset, in `timezone` or the exhibition's"},
        "ends_at": {"type": "string"}, "minutes": {"type": "integer", "minimum": 5, "maximum": 240},
        "timezone": {"type": "string"}, "mode": {"type": "string", "enum": ["online", "table"]},
        "location": {"type": "string", "description": "The link (online) or the table"}}}
    errors = ("401", "404", "422")
    return {"paths": {
        "/api/bookmarks": {
            "get": op("My bookmarks, filtered and sorted", obj, tags=tag, errors=("401", "422"), params=[
                param("kind", schema={"type": "string", "enum": list(BOOKMARK_KINDS)}),
                param("sort", schema={"type": "string", "enum": list(bookmarks.SORTS)})]),
            "post": op("Bookmark a booth, product, launch or replay", obj, status="201", body=bookmark_body,
                       tags=tag, errors=errors)},
        "/api/bookmarks/{kind}/{target_id}": {
            "get": op("Whether I bookmarked it", obj, tags=tag, params=[param("kind", "path"), path("target_id")]),
            "delete": op("Remove a bookmark", obj, tags=tag, errors=("401", "422"),
                         params=[param("kind", "path"), path("target_id")])},
        "/api/booths/{booth_id}/cards": {"post": op(
            "Leave a business card for the booth's exhibitor (consent required)", obj, status="201", body=card_body,
            tags=tag, errors=("404", "422"), params=[path("booth_id")])},
        "/api/cards/prefill": {"get": op("My card's values, for the form", obj, tags=tag, errors=())},
        "/api/me/cards": {"get": op("Cards I left", obj, tags=tag, errors=("401",))},
        "/api/cards/{card_id}": {"delete": op("Withdraw a card (signed in, or ?token= from leaving it)", obj, tags=tag,
                                              errors=("403", "404"), params=[path("card_id"), param("token")])},
        "/api/profile": {"get": op("My profile", obj, tags=tag, errors=("401",)),
                         "put": op("Edit my profile", obj, body=obj, tags=tag, errors=("401", "422"))},
        "/api/me/data": {"get": op("Download my data (JSON)", obj, tags=tag, errors=("401",)),
                         "delete": op("Delete my engagement data", obj, tags=tag, errors=("401",))},
        "/api/experts": {"get": op("The expert directory", obj, tags=tag, errors=(), params=[
            param("field"), param("language"), param("q")])},
        "/api/experts/{user_id}": {"put": op("List a user as an expert (moderators)", obj, body=obj, tags=tag,
                                             errors=("401", "403", "404"), params=[path("user_id")])},
        "/api/meeting-slots": {
            "get": op("Open meeting slots of a host or exhibitor", obj, tags=tag, errors=("422",),
                      params=[param("host", schema=pid), param("exhibitor", schema=pid)]),
            "post": op("Offer a meeting slot (exhibitor staff, experts)", obj, status="201", body=slot_body, tags=tag,
                       errors=("401", "403", "422"))},
        "/api/meeting-slots/{slot_id}": {"delete": op("Withdraw a slot", obj, tags=tag, errors=("401", "403", "404"),
                                                      params=[path("slot_id")])},
        "/api/meeting-slots/{slot_id}/requests": {"post": op(
            "Request a slot", obj, status="201", tags=tag, errors=errors, params=[path("slot_id")],
            body={"type": "object", "properties": {"note": {"type": "string"}}})},
        "/api/meetings": {"get": op("My meetings: hosting and requested", obj, tags=tag, errors=("401",))},
        "/api/meetings/{meeting_id}/accept": {"post": op("Accept (the host)", obj, tags=tag,
                                                          errors=("401", "403", "404"), params=[path("meeting_id")])},
        "/api/meetings/{meeting_id}/decline": {"post": op("Decline (the host)", obj, tags=tag,
                                                           errors=("401", "403", "404"), params=[path("meeting_id")])},
        "/api/meetings/{meeting_id}/cancel": {"post": op("Cancel (either side)", obj, tags=tag,
                                                          errors=("401", "403", "404"), params=[path("meeting_id")])},
        "/api/meetings/{meeting_id}.ics": {"get": op("The meeting's iCalendar invitation", None, tags=tag,
                                                      errors=("401", "404"), params=[path("meeting_id")])},
        "/api/leads": {"get": op("The leads inbox", obj, tags=tag, errors=("401", "403", "422"), params=[
            param("exhibitor", schema=pid), param("status"), param("kind")])},
        "/api/leads.csv": {"get": op("The leads inbox as CSV (UTF-8 with BOM; columns in booths.engagement.leads)", None,
                                     tags=tag, errors=("401", "403", "422"), params=[param("exhibitor", schema=pid)])},
        "/api/leads/{lead_id}": {"patch": op("Set a lead's status or note", obj, body=obj, tags=tag,
                                             errors=("401", "403", "404", "422"), params=[path("lead_id")])},
        "/api/analytics/events": {"post": op("Report what only the browser knows (time on booth, plays, downloads)",
                                             None, status="204", body=obj, tags=tag, errors=("404", "422"))},
        "/api/analytics/booths/{booth_id}": {"get": op("A booth's analytics by day", obj, tags=tag,
                                                       errors=("401", "403", "404"), params=[path("booth_id"), days])},
        "/api/analytics/booths/{booth_id}.csv": {"get": op("The same as CSV", None, tags=tag,
                                                           errors=("401", "403"), params=[path("booth_id"), days])},
        "/api/analytics/booths/{booth_id}/chart.svg": {"get": op("A chart of one metric (SVG)", None, tags=tag,
                                                                 errors=("401", "403"),
                                                                 params=[path("booth_id"), days, param("metric")])},
        "/api/analytics/overview": {"get": op("Every booth: totals, top booths and zones (moderators)", obj, tags=tag,
                                              errors=("401", "403"), params=[days])},
        "/api/notifications": {"get": op("My notifications and the unread count", obj, tags=tag, errors=())},
        "/api/notifications/read": {"post": op("Mark notifications read (all, or `ids`)", obj, tags=tag,
                                               errors=("401", "422"))},
    }}


OPENAPI = _openapi()
