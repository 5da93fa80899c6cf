"""Matchmaking: the expert directory, hosts' slots, requests, answers and .ics invitations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import meetings
from booths.engagement.models import Meeting, MeetingSlot
from booths.errors import BoothsError, Invalid
from booths.exhibition.models import Booth
from cloudexpo.accounts import User
from cloudexpo.i18n import pick
from cloudexpo.mail import Attachment
from cloudexpo.permissions import require
from web.context import counter, notifier, principal, services
from web.errors import wants_json
from web.forms import read_input
from web.params import optional_query_id, path_int
from web.shapes.engagement import meeting_json, meeting_slot_json, profile_json
from web.templating import render


def _bool(value: Any) -> bool:
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


async def _summary(session: AsyncSession, meeting: Meeting, host: User, visitor: User) -> str:
    """The invitation's title: who meets whom (with the exhibitor's booth when there is one)."""
    if meeting.exhibitor_id is not None:
        booth = await session.scalar(select(Booth).where(Booth.exhibitor_id == meeting.exhibitor_id).limit(1))
        if booth is not None:
            return f"Cloud Expo: {visitor.display_name} × {pick(booth.name, 'en').text or booth.number} ({booth.number})"
    return f"Cloud Expo: {visitor.display_name} × {host.display_name}"


async def invitation_for(request: Request, session: AsyncSession, meeting: Meeting, slot: MeetingSlot,
                         method: str = "REQUEST") -> bytes:
    host = await session.get(User, meeting.host_id)
    visitor = await session.get(User, meeting.visitor_id)
    assert host is not None and visitor is not None
    return meetings.invitation(meeting, slot, host=host, visitor=visitor,
                               public_url=services(request).settings.resolved_public_url,
                               summary=await _summary(session, meeting, host, visitor), method=method)


# --- directory and host pages ---------------------------------------------------------------


async def experts_page(request: Request) -> Response:
    field = request.query_params.get("field") or None
    lang = request.query_params.get("language") or None
    q = (request.query_params.get("q") or "").strip()[:100] or None
    async with services(request).db.session() as session:
        experts = await meetings.list_experts(session, field=field, language=lang, q=q)
        fields = await meetings.expert_fields(session)
        slots = {u.id: await meetings.open_slots(session, host_id=u.id) for u, _ in experts}
    return render(request, "engagement/experts.html", {
        "experts": experts, "fields": fields, "field": field or "", "q": q or "", "language_filter": lang or "",
        "slots": slots,
    })


async def api_experts(request: Request) -> Response:
    async with services(request).db.session() as session:
        experts = await meetings.list_experts(session, field=request.query_params.get("field") or None,
                                              language=request.query_params.get("language") or None,
                                              q=request.query_params.get("q") or None)
        fields = await meetings.expert_fields(session)
    return JSONResponse({"fields": fields, "experts": [profile_json(u, p) for u, p in experts]})


async def api_set_expert(request: Request) -> Response:
    data = await read_input(request)
    async with services(request).db.session() as session:
        profile = await meetings.set_expert(session, principal(request), path_int(request, "user_id"),
                                            _bool(data.get("is_expert", True)))
        if any(k in data for k in meetings.PROFILE_FIELDS) or "languages" in data:
            # A moderator fills in the expert's directory entry on their behalf.
            from cloudexpo.permissions import Principal

            await meetings.save_profile(session, Principal(user_id=profile.user_id), data)
        user = await session.get(User, profile.user_id)
        await session.commit()
    assert user is not None
    return JSONResponse(profile_json(user, profile))


async def host_page(request: Request) -> Response:
    """A host's open slots, to request one."""
    host_id = path_int(request, "user_id")
    async with services(request).db.session() as session:
        host = await session.get(User, host_id)
        profile = await meetings.get_profile(session, host_id)
        if host is None or not host.active:
            raise Invalid(f"There is no host {host_id}.")
        slots = await meetings.open_slots(session, host_id=host_id)
    return render(request, "engagement/host.html", {"host": host, "profile": profile, "slots": slots})


async def meetings_page(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        mine = await meetings.mine(session, who)
        own = await meetings.own_slots(session, who)
        host = await meetings.is_host(session, who)
        ids = {m.visitor_id for m, _ in mine["hosting"]} | {m.host_id for m, _ in mine["requested"]}
        people = {u.id: u for u in (await session.scalars(select(User).where(User.id.in_(ids)))).all()} if ids else {}
    booked = {m.slot_id for m, _ in mine["hosting"] if m.state == "accepted"}
    return render(request, "engagement/meetings.html", {
        "hosting": mine["hosting"], "requested": mine["requested"], "own_slots": own, "is_host": host,
        "people": people, "booked": booked, "exhibition_tz": services(request).settings.timezone,
    })


# --- slots -------------------------------------------------------------------------------------


async def api_offer(request: Request) -> Response:
    who = principal(request)
    data = await read_input(request)
    try:
        async with services(request).db.session() as session:
            slot = await meetings.offer(session, who, data, tz=services(request).settings.timezone)
            await session.commit()
    except BoothsError as exc:
        if not wants_json(request):
            return RedirectResponse(f"/meetings?error={exc.field or 'slot'}#offer", status_code=303)
        raise
    if not wants_json(request):
        return RedirectResponse("/meetings#slots", status_code=303)
    return JSONResponse(meeting_slot_json(slot), status_code=201)


async def api_slots(request: Request) -> Response:
    host = optional_query_id(request, "host")
    exhibitor = optional_query_id(request, "exhibitor")
    if host is None and exhibitor is None:
        raise Invalid("Name whose slots to list: ?host=USER_ID or ?exhibitor=ID.", "host")
    async with services(request).db.session() as session:
        slots = await meetings.open_slots(session, host_id=host, exhibitor_id=exhibitor)
    return JSONResponse({"slots": [meeting_slot_json(s) for s in slots]})


async def api_cancel_slot(request: Request) -> Response:
    async with services(request).db.session() as session:
        cancelled = await meetings.cancel_slot(session, principal(request), path_int(request, "slot_id"))
        batch = notifier(request).batch()
        for meeting in cancelled:
            host = await session.get(User, meeting.host_id)
            await batch.add(session, meeting.visitor_id, "meeting_cancelled", {
                "name": host.display_name if host else "", "time": meeting.starts_at.isoformat()}, "/meetings")
        await session.commit()
        await batch.deliver(session)
    if not wants_json(request):
        return RedirectResponse("/meetings#slots", status_code=303)
    return JSONResponse({"cancelled": True, "meetings_cancelled": [m.id for m in cancelled]})


# --- requests and answers -------------------------------------------------------------------------


async def api_request(request: Request) -> Response:
    who = principal(request)
    data = await read_input(request)
    slot_id = path_int(request, "slot_id")
    try:
        async with services(request).db.session() as session:
            meeting = await meetings.request(session, who, slot_id, str(data.get("note") or ""))
            batch = notifier(request).batch()
            await batch.add(session, meeting.host_id, "meeting_requested", {
                "name": who.display_name, "time": meeting.starts_at.isoformat(), "note": meeting.note or "—",
            }, "/meetings")
            await session.commit()
            await batch.deliver(session)
    except BoothsError as exc:
        if not wants_json(request):
            return RedirectResponse(f"/meetings?error={exc.field or 'request'}&detail={exc}", status_code=303)
        raise
    if meeting.exhibitor_id is not None:
        async with services(request).db.session() as session:
            booth_id = await session.scalar(select(Booth.id).where(Booth.exhibitor_id == meeting.exhibitor_id).limit(1))
        if booth_id is not None:
            counter(request).add(booth_id, "meetings")
    if not wants_json(request):
        return RedirectResponse("/meetings#requested", status_code=303)
    return JSONResponse(meeting_json(meeting), status_code=201)


async def _answer(request: Request, accept: bool) -> Response:
    who = principal(request)
    async with services(request).db.session() as session:
        decision = await meetings.decide(session, who, path_int(request, "meeting_id"), accept)
        meeting = decision.meeting
        slot = await session.get(MeetingSlot, meeting.slot_id)
        host = await session.get(User, meeting.host_id)
        assert slot is not None and host is not None
        batch = notifier(request).batch()
        if accept:
            ics = await invitation_for(request, session, meeting, slot)
            attachment = [Attachment("invitation.ics", "text/calendar; method=REQUEST", ics)]
            visitor = await session.get(User, meeting.visitor_id)
            location = slot.location or slot.mode
            await batch.add(session, meeting.visitor_id, "meeting_accepted", {
                "host": host.display_name, "time": meeting.starts_at.isoformat(), "location": location,
            }, "/meetings", attachments=attachment)
            await batch.add(session, meeting.host_id, "meeting_accepted", {
                "host": visitor.display_name if visitor else "", "time": meeting.starts_at.isoformat(),
                "location": location,
            }, "/meetings", attachments=attachment)
        else:
            await batch.add(session, meeting.visitor_id, "meeting_declined", {
                "host": host.display_name, "time": meeting.starts_at.isoformat()}, "/meetings")
        for other in decision.others_declined:
            await batch.add(session, other.visitor_id, "meeting_declined", {
                "host": host.display_name, "time": other.starts_at.isoformat()}, "/meetings")
        await session.commit()
        await batch.deliver(session)
    if not wants_json(request):
        return RedirectResponse("/meetings#hosting", status_code=303)
    return JSONResponse(meeting_json(meeting, slot))


async def api_accept(request: Request) -> Response:
    return await _answer(request, True)


async def api_decline(request: Request) -> Response:
    return await _answer(request, False)


async def api_cancel(request: Request) -> Response:
    who = principal(request)
    async with services(request).db.session() as session:
        meeting = await meetings.cancel(session, who, path_int(request, "meeting_id"))
        other_id = meeting.host_id if who.user_id == meeting.visitor_id else meeting.visitor_id
        batch = notifier(request).batch()
        await batch.add(session, other_id, "meeting_cancelled", {
            "name": who.display_name, "time": meeting.starts_at.isoformat()}, "/meetings")
        await session.commit()
        await batch.deliver(session)
    if not wants_json(request):
        return RedirectResponse("/meetings", status_code=303)
    return JSONResponse(meeting_json(meeting))


async def api_mine(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        mine = await meetings.mine(session, who)
    return JSONResponse({key: [meeting_json(m, s) for m, s in rows] for key, rows in mine.items()})


async def api_ics(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        meeting, slot = await meetings.get_meeting(session, who, path_int(request, "meeting_id"))
        method = "CANCEL" if meeting.state in ("cancelled", "declined") else "PUBLISH"
        body = await invitation_for(request, session, meeting, slot, method)
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="meeting-{meeting.id}.ics"'})


routes: list[BaseRoute] = [
    Route("/experts", experts_page, methods=["GET"]),
    Route("/experts/{user_id:int}", host_page, methods=["GET"]),
    Route("/meetings", meetings_page, methods=["GET"]),
    Route("/meetings/slots", api_offer, methods=["POST"]),
    Route("/meetings/slots/{slot_id:int}/cancel", api_cancel_slot, methods=["POST"]),
    Route("/meetings/slots/{slot_id:int}/request", api_request, methods=["POST"]),
    Route("/meetings/{meeting_id:int}/accept", api_accept, methods=["POST"]),
    Route("/meetings/{meeting_id:int}/decline", api_decline, methods=["POST"]),
    Route("/meetings/{meeting_id:int}/cancel", api_cancel, methods=["POST"]),
    Route("/api/experts", api_experts, methods=["GET"]),
    Route("/api/experts/{user_id:int}", api_set_expert, methods=["PUT"]),
    Route("/api/meeting-slots", api_slots, methods=["GET"]),
    Route("/api/meeting-slots", api_offer, methods=["POST"]),
    Route("/api/meeting-slots/{slot_id:int}", api_cancel_slot, methods=["DELETE"]),
    Route("/api/meeting-slots/{slot_id:int}/requests", api_request, methods=["POST"]),
    Route("/api/meetings", api_mine, methods=["GET"]),
    Route("/api/meetings/{meeting_id:int}/accept", api_accept, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/decline", api_decline, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}/cancel", api_cancel, methods=["POST"]),
    Route("/api/meetings/{meeting_id:int}.ics", api_ics, methods=["GET"]),
]
