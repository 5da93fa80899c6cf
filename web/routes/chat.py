"""Chat beside a broadcast over JSON: read, write, moderate, pin, and react.

Everyone reads; signed-in users write and react (both also possible over
``/ws``); moderators delete messages, mute users and set slow mode;
moderators and the launch's presenters pin a message. Every change goes out
on the bus.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cloudexpo.permissions import require
from streaming.chat import Chat, message_json
from streaming.pins import Pins, pin_json
from streaming.reactions import Reactions
from streaming.schedule import get_slot, get_visible_slot
from web.context import moderator, principal, services, streaming_runtime
from web.forms import read_input
from web.params import body_int, path_int


def chat_service(request: Request) -> Chat:
    return streaming_runtime(request).chat


async def api_history(request: Request) -> Response:
    """The chat's last messages, and whether the asker is muted in it (a page that reconnects reads it again:
    a mute lifted while its socket was down reaches it so)."""
    slot_id = path_int(request, "slot_id")
    who = principal(request)
    chat = chat_service(request)
    async with services(request).db.session() as db:
        await get_visible_slot(db, slot_id, who)
        messages = await chat.history(db, slot_id)
        muted = who.user_id is not None and await chat.is_muted(db, slot_id, who.user_id)
    return JSONResponse({"slot": slot_id, "messages": [message_json(m) for m in messages], "muted": muted})


async def api_post(request: Request) -> Response:
    data = await read_input(request)
    async with services(request).db.session() as db:
        message = await chat_service(request).post(db, principal(request), path_int(request, "slot_id"), data.get("text", ""))
    return JSONResponse(message_json(message), status_code=201)


async def api_delete(request: Request) -> Response:
    moderator(request)
    async with services(request).db.session() as db:
        message = await chat_service(request).delete(db, principal(request), path_int(request, "message_id"))
    return JSONResponse(message_json(message))


async def api_mute(request: Request) -> Response:
    moderator(request)
    data = await read_input(request)
    user_id = body_int(data, "user_id")
    assert user_id is not None
    slot_id = path_int(request, "slot_id")
    scope = None if data.get("everywhere") else slot_id
    async with services(request).db.session() as db:
        await get_slot(db, slot_id)
        mute = await chat_service(request).mute(db, principal(request), scope, user_id, seen_in=slot_id)
    return JSONResponse({"user_id": mute.user_id, "slot_id": mute.slot_id}, status_code=201)


async def api_unmute(request: Request) -> Response:
    moderator(request)
    slot_id = path_int(request, "slot_id")
    async with services(request).db.session() as db:
        removed = await chat_service(request).unmute(db, principal(request), slot_id, path_int(request, "user_id"))
    return JSONResponse({"removed": removed})


def pins_service(request: Request) -> Pins:
    return streaming_runtime(request).pins


def reactions_service(request: Request) -> Reactions:
    return streaming_runtime(request).reactions


async def api_pin(request: Request) -> Response:
    """Pin ``{"message_id": 12}`` (a chat message) or ``{"text": "..."}`` (a notice)."""
    data = await read_input(request)
    message_id = body_int(data, "message_id", required=False)
    async with services(request).db.session() as db:
        pin = await pins_service(request).pin(
            db, principal(request), path_int(request, "slot_id"), message_id=message_id,
            text=None if message_id is not None else data.get("text"),
        )
    return JSONResponse(pin_json(pin), status_code=201)


async def api_unpin(request: Request) -> Response:
    async with services(request).db.session() as db:
        await pins_service(request).unpin(db, principal(request), path_int(request, "slot_id"))
    return JSONResponse({"pin": None})


async def api_slow_mode(request: Request) -> Response:
    """``{"seconds": 30}``: a visitor waits that long between two messages; 0 turns it off."""
    moderator(request)
    data = await read_input(request)
    async with services(request).db.session() as db:
        slot = await chat_service(request).set_slow_mode(db, principal(request), path_int(request, "slot_id"), data.get("seconds"))
    return JSONResponse({"slot": slot.id, "seconds": slot.chat_slow_seconds})


async def api_react(request: Request) -> Response:
    """``{"kind": "like"}``: one tap, counted into this interval's counts (signed-in users; pages use /ws)."""
    who = require(principal(request))
    data = await read_input(request)
    slot_id = path_int(request, "slot_id")
    async with services(request).db.session() as db:
        await get_visible_slot(db, slot_id, who)
    await reactions_service(request).react(slot_id, data.get("kind"), key=f"user:{who.user_id}")
    return JSONResponse({"slot": slot_id, "kind": data.get("kind")}, status_code=202)


routes: list[BaseRoute] = [
    Route("/api/slots/{slot_id:int}/chat", api_history, methods=["GET"]),
    Route("/api/slots/{slot_id:int}/chat", api_post, methods=["POST"]),
    Route("/api/chat/{message_id:int}", api_delete, methods=["DELETE"]),
    Route("/api/slots/{slot_id:int}/mutes", api_mute, methods=["POST"]),
    Route("/api/slots/{slot_id:int}/mutes/{user_id:int}", api_unmute, methods=["DELETE"]),
    Route("/api/slots/{slot_id:int}/pin", api_pin, methods=["POST"]),
    Route("/api/slots/{slot_id:int}/pin", api_unpin, methods=["DELETE"]),
    Route("/api/slots/{slot_id:int}/slow-mode", api_slow_mode, methods=["PUT"]),
    Route("/api/slots/{slot_id:int}/reactions", api_react, methods=["POST"]),
]
