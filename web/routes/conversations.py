"""Booth conversations: who is at a booth, one-to-one talk between a visitor and its staff, the inbox.

JSON under ``/api`` (shapes in :mod:`web.shapes.conversations`), the inbox
page ``/conversations``, and the moderators' view of reported ones. Every
message is stored, then published on the bus topic ``user.{id}`` of each
participant (``conversation_message``), which their open pages receive over
``/ws`` on whichever node they are. A visitor's message while nobody is at
the booth also reaches the staff as a notification with an e-mail
(``booth_message``), once per batch of unread messages.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import cards, conversations, notify
from booths.engagement.conversations import Access
from booths.engagement.models import Conversation, ConversationMessage
from booths.errors import NotFound
from booths.exhibition.directory import can_see, staff_of
from booths.exhibition.models import Booth
from cloudexpo.accounts import User
from cloudexpo.i18n import LANGUAGES, pick
from cloudexpo.permissions import Principal, require
from cloudexpo.services import Services
from web.context import booths_runtime, counter, language, notifier, principal, services
from web.forms import read_input
from web.params import path_int
from web.presence_socket import presence_of
from web.shapes.conversations import conversation_json, message_json
from web.shapes.engagement import card_json
from web.templating import render


async def _summary_json(session: Any, who: Principal, access: Access, lang: str) -> dict[str, Any]:
    view = await conversations.summary(session, who, access.conversation)
    return (await _views_json(session, [view], lang))[0]


async def _views_json(session: Any, views: list[conversations.Summary], lang: str) -> list[dict[str, Any]]:
    leads = await conversations.lead_ids(session, [v.conversation.card_id for v in views if v.conversation.card_id])
    senders = {u.id: u for u in (await session.scalars(
        select(User).where(User.id.in_({v.last.sender_id for v in views if v.last is not None and v.last.sender_id}))
    )).all()}
    # moderators see whether the visitor is blocked, to block or unblock them from the conversation
    blocked = await conversations.blocked_among(session, {v.visitor.id for v in views if v.side == "moderator"})
    return [conversation_json(v, lang, lead_id=leads.get(v.conversation.card_id or 0),
                              last_sender=senders.get(v.last.sender_id) if v.last and v.last.sender_id else None,
                              visitor_blocked=v.visitor.id in blocked)
            for v in views]


async def publish(svc: Services, session: Any, access: Access, event: dict[str, Any], *,
                  with_conversation: bool = False) -> None:
    """Tell every participant's open pages, each with their own view (unread counts, side)."""
    conversation = access.conversation
    for user_id in await conversations.recipients(session, conversation):
        user = await session.get(User, user_id)
        if user is None:
            continue
        who = Principal.from_user(user)
        lang = user.language if user.language in LANGUAGES else svc.settings.default_language
        data = dict(event)
        if with_conversation:
            data["conversation"] = await _summary_json(session, who, access, lang)
        data["unread"] = await conversations.unread_total(session, who)
        with contextlib.suppress(Exception):  # stored already: a page that missed it loads it on its next fetch
            await svc.bus.publish(f"user.{user_id}", data)


async def _tell_absent_staff(request: Request, session: Any, access: Access, note: ConversationMessage,
                             booth: Booth, previous_read: int, previous_last: int) -> None:
    """Nobody at the booth: staff get a notification and an e-mail, once per batch of unread messages."""
    if await booths_runtime(request).presence.staff(booth.id):
        return
    if previous_read < previous_last:
        return  # they have not read the earlier message yet: they were told about it
    batch = notifier(request).batch()
    who = principal(request)
    text = note.text if len(note.text) <= 200 else note.text[:199] + "…"
    for staff in await staff_of(session, booth.exhibitor_id):
        await batch.add(session, staff.id, "booth_message", {
            "name": who.display_name, "booth": booth.number, "text": text,
        }, f"/conversations/{access.conversation.id}")
    await session.commit()
    await batch.deliver(session)


async def api_start(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    rt = booths_runtime(request)
    booth_id = path_int(request, "booth_id")
    data = await read_input(request)
    async with svc.db.session() as session:
        existing = await session.scalar(select(Conversation.id).where(
            Conversation.booth_id == booth_id, Conversation.visitor_id == who.user_id))
        conversations.clean_text(data.get("text"))  # a bad message uses up no allowance
        if existing is None:
            await rt.conversation_starts.check(f"conversation-start:{who.user_id}")
        await rt.conversation_messages.check(f"conversation-message:{who.user_id}")
        staffed = bool(await rt.presence.staff(booth_id))
        previous = await session.get(Conversation, existing) if existing else None
        previous_read = previous.staff_read_id if previous else 0
        previous_last = (await session.scalar(select(func.max(ConversationMessage.id)).where(
            ConversationMessage.conversation_id == existing))) if existing else 0
        access, note, created = await conversations.start(session, who, booth_id, data.get("text"), staffed=staffed)
        await session.commit()
        booth = await session.get(Booth, booth_id)
        assert booth is not None
        sender = await session.get(User, who.user_id)
        lang = language(request)
        body = {"conversation": await _summary_json(session, who, access, lang), "message": message_json(note, sender)}
        await publish(svc, session, access, {"type": "conversation_message", "message": body["message"]},
                      with_conversation=True)
        await _tell_absent_staff(request, session, access, note, booth, previous_read, int(previous_last or 0))
    if created:
        counter(request).add(booth_id, "conversations")
    return JSONResponse(body, status_code=201 if created else 200)


async def api_list(request: Request) -> Response:
    who = require(principal(request))
    booth = request.query_params.get("booth")
    async with services(request).db.session() as session:
        views = await conversations.inbox(session, who, booth_id=int(booth) if booth and booth.isdigit() else None)
        items = await _views_json(session, views, language(request))
        unread = await conversations.unread_total(session, who)
    return JSONResponse({"conversations": items, "unread": unread})


async def api_get(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        access = await conversations.read_for(session, who, path_int(request, "conversation_id"))
        rows = await conversations.history(session, access)
        body = {"conversation": await _summary_json(session, who, access, language(request)),
                "messages": [message_json(m, u, moderator=access.side == "moderator") for m, u in rows]}
    return JSONResponse(body)


async def api_post(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    data = await read_input(request)
    conversation_id = path_int(request, "conversation_id")
    async with svc.db.session() as session:
        access = await conversations.open_for(session, who, conversation_id)  # 404 before counting the hit
        await booths_runtime(request).conversation_messages.check(f"conversation-message:{who.user_id}")
        previous_read = access.conversation.staff_read_id
        previous_last = int(await session.scalar(select(func.max(ConversationMessage.id)).where(
            ConversationMessage.conversation_id == conversation_id)) or 0)
        access, note = await conversations.post(session, who, conversation_id, data.get("text"))
        await session.commit()
        sender = await session.get(User, who.user_id)
        body = {"message": message_json(note, sender)}
        await publish(svc, session, access, {"type": "conversation_message", "message": body["message"]},
                      with_conversation=True)
        if access.side == "visitor":
            booth = await session.get(Booth, access.conversation.booth_id)
            if booth is not None:
                await _tell_absent_staff(request, session, access, note, booth, previous_read, previous_last)
    return JSONResponse(body, status_code=201)


async def api_read(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    async with svc.db.session() as session:
        access = await conversations.open_for(session, who, path_int(request, "conversation_id"))
        await conversations.mark_read(session, access)
        await session.commit()
        await publish(svc, session, access, {"type": "conversation_read", "conversation_id": access.conversation.id,
                                             "side": access.side})
        unread = await conversations.unread_total(session, who)
    return JSONResponse({"unread": unread})


async def api_share_card(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    data = await read_input(request)
    async with svc.db.session() as session:
        access, card, lead = await conversations.share_card(session, who, path_int(request, "conversation_id"), data,
                                                            language=language(request))
        booth = await session.get(Booth, access.conversation.booth_id)
        assert booth is not None
        batch = notifier(request).batch()
        await notify.card_received(batch, session, card, booth)
        await session.commit()
        await batch.deliver(session)
        await publish(svc, session, access, {"type": "conversation_lead", "conversation_id": access.conversation.id,
                                             "lead_id": lead.id})
    counter(request).add(booth.id, "cards")
    return JSONResponse({"card": card_json(card), "lead_id": lead.id}, status_code=201)


async def api_report(request: Request) -> Response:
    who = require(principal(request))
    data = await read_input(request)
    async with services(request).db.session() as session:
        await conversations.report(session, who, path_int(request, "conversation_id"), data.get("reason"))
        await session.commit()
    return JSONResponse({"reported": True})


async def api_presence(request: Request) -> Response:
    svc = services(request)
    booth_id = path_int(request, "booth_id")
    async with svc.db.session() as session:
        booth = await session.get(Booth, booth_id)
        if booth is None or not can_see(principal(request), booth):
            raise NotFound(conversations.NO_BOOTH(booth=booth_id), "booth_id")
    staff = await presence_of(svc, booths_runtime(request).presence, booth_id)
    return JSONResponse({"booth_id": booth_id, "staff": staff, "open": bool(staff),
                         "hours": pick(booth.hours, language(request)).text})


# --- moderation -----------------------------------------------------------------------------------


async def api_reported(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        views = await conversations.reported(session, who)
        items = await _views_json(session, views, language(request))
    return JSONResponse({"conversations": items})


async def api_block(request: Request) -> Response:
    who = require(principal(request))
    data = await read_input(request)
    user_id = data.get("user_id")
    async with services(request).db.session() as session:
        if not isinstance(user_id, int):
            raise NotFound(conversations.NO_USER(id=user_id), "user_id")
        block = await conversations.block(session, who, user_id, data.get("reason"))
        await session.commit()
    return JSONResponse({"user_id": block.user_id, "blocked": True, "reason": block.reason}, status_code=201)


async def api_remove_message(request: Request) -> Response:
    """A moderator removes a message; both sides' open pages hear it (``conversation_message_removed``) and show
    that a moderator removed it."""
    return await _moderate_message(request, conversations.remove_message)


async def api_restore_message(request: Request) -> Response:
    """A moderator restores a removed message; both sides' open pages hear it (``conversation_message_restored``,
    with the message) and show its text again."""
    return await _moderate_message(request, conversations.restore_message)


async def _moderate_message(request: Request, act: Any) -> Response:
    """Remove or restore (``act``) a message; both sides hear the message's new state, the moderator reads it."""
    who = require(principal(request))
    svc = services(request)
    async with svc.db.session() as session:
        access, note = await act(session, who, path_int(request, "message_id"))
        await session.commit()
        sender = await session.get(User, note.sender_id) if note.sender_id else None
        event: dict[str, Any] = {"conversation_id": note.conversation_id}
        if note.removed_at is not None:
            event.update(type="conversation_message_removed", message_id=note.id)
        else:
            event.update(type="conversation_message_restored", message=message_json(note, sender))
        await publish(svc, session, access, event, with_conversation=True)
        body = {"message": message_json(note, sender, moderator=True)}
    return JSONResponse(body)


async def api_unblock(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        await conversations.unblock(session, who, path_int(request, "user_id"))
        await session.commit()
    return JSONResponse({"user_id": path_int(request, "user_id"), "blocked": False})


# --- pages ----------------------------------------------------------------------------------------


async def inbox_page(request: Request) -> Response:
    """The signed-in user's conversations: a list with unread counts and the open one (a full-screen panel on phones)."""
    who = require(principal(request))
    opened = request.path_params.get("conversation_id")
    async with services(request).db.session() as session:
        if opened is not None:
            await conversations.read_for(session, who, path_int(request, "conversation_id"))
        views = await conversations.inbox(session, who)
        items = await _views_json(session, views, language(request))
        booths = []
        if who.exhibitor_id is not None:
            booths = list((await session.scalars(select(Booth).where(Booth.exhibitor_id == who.exhibitor_id))).all())
        reported = await _views_json(session, await conversations.reported(session, who), language(request)) \
            if who.is_moderator else []
        card_values = await cards.prefill(session, who)
    return render(request, "engagement/conversations.html", {
        "items": items, "opened": int(opened) if opened is not None else None, "booths": booths,
        "reported": reported, "card_values": card_values,
    })

routes: list[BaseRoute] = [
    Route("/conversations", inbox_page, methods=["GET"]),
    Route("/conversations/{conversation_id:int}", inbox_page, methods=["GET"]),
    Route("/api/booths/{booth_id:int}/presence", api_presence, methods=["GET"]),
    Route("/api/booths/{booth_id:int}/conversations", api_start, methods=["POST"]),
    Route("/api/conversations", api_list, methods=["GET"]),
    Route("/api/conversations/{conversation_id:int}", api_get, methods=["GET"]),
    Route("/api/conversations/{conversation_id:int}/messages", api_post, methods=["POST"]),
    Route("/api/conversations/{conversation_id:int}/read", api_read, methods=["POST"]),
    Route("/api/conversations/{conversation_id:int}/card", api_share_card, methods=["POST"]),
    Route("/api/conversations/{conversation_id:int}/report", api_report, methods=["POST"]),
    Route("/api/moderation/conversations", api_reported, methods=["GET"]),
    Route("/api/moderation/conversation-blocks", api_block, methods=["POST"]),
    Route("/api/moderation/conversation-blocks/{user_id:int}", api_unblock, methods=["DELETE"]),
    Route("/api/moderation/conversation-messages/{message_id:int}", api_remove_message, methods=["DELETE"]),
    Route("/api/moderation/conversation-messages/{message_id:int}/restore", api_restore_message, methods=["POST"]),
]
