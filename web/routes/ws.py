"""``/ws``: one websocket per page for live state, viewer counts and chat.

The client sends JSON messages::

    {"type": "subscribe", "slots": [12, 13]}     # follow these slots (also ?slots=12,13)
    {"type": "chat", "slot": 12, "text": "..."}  # signed-in users
    {"type": "react", "slot": 12, "kind": "like"}  # a followed slot, while on air
    {"type": "watching", "slot": 12, "via": "hls"}  # the page plays the slot's live HLS (null: stopped)
    {"type": "ping"}
    {"type": "presence", "booth": 7, "here": true}  # booth staff "at the booth" (web.presence_socket)
    {"type": "watch_booth", "booth": 7}             # who is at a booth, now and on each change
    {"type": "call_signal", "call": 7, "kind": "offer", "sdp": "..."}  # a call's two parties (web.call_signals)

and receives what is published on the bus topics ``slot.{id}`` (``state``,
``viewers``, ``chat``, ``chat_deleted``, ``muted``, ``pinned``, ``slow_mode``,
``reactions`` — counts per interval from each node, see :mod:`streaming.reactions`; the Q&A's
and polls' changes — see ``web/routes/qa.py`` — and, for the slot's presenters and moderators,
``slot.{id}.staff``; events that queued up for
the socket during a burst arrive together as one frame holding a JSON array
of them, in order; for visitors one frame per burst written to every socket of the slot,
:mod:`web.broadcast`), a ``snapshot`` per slot
when it subscribes, and ``error`` answers to its own messages: the HTTP error
shape (``code``, ``message`` in the page's language, ``detail`` in English)
with ``status`` and the ``ref`` the client gave. ``muted`` and ``unmuted``
(``user_id``) let a muted visitor's page disable and re-enable its input. A signed-in
user also receives their own ``notification`` events (bus topic ``user.{id}``),
which keep the bell's unread count live, and the messages of their booth conversations
(``conversation_message``, ``conversation_read``, ``conversation_lead``). A socket playing a slot's live
HLS (``watching``; one slot at a time, one it follows) counts as one of the
slot's viewers until it says it stopped or closes (:mod:`streaming.hls_audience`). Because it
reads the bus, a client on one node sees what happens on every node.

Frames are text of at most :data:`MAX_MESSAGE` bytes holding a JSON object
(a ``call_signal`` carrying an SDP offer: up to ``web.call_signals.MAX_SIGNAL``).
A binary frame closes the socket with 1003 (unsupported data), a larger one
with 1009 (too big; the server, started with ``ws_max_size`` of
:data:`MAX_FRAME`, closes bigger frames before reading them); JSON that is
malformed, too deep or holds numbers beyond 64 bits is answered with an
``error`` message. A client's fault is never logged as a server error.

The ``Origin`` header must name this site (``CLOUDEXPO_PUBLIC_URL``'s host or
the Host the browser asked for): a page elsewhere cannot use a visitor's
cookies over a websocket (cross-site websocket hijacking).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from cloudexpo.bus import Subscription
from cloudexpo.messages import Said, message, said_by
from cloudexpo.permissions import NotSignedIn
from cloudexpo.ratelimit import RateLimited
from cloudexpo.values import parse_id
from streaming.audience import runs
from streaming.chat import ChatError, ChatMuted, message_json, staff_topic, topic
from streaming.live import state_event
from streaming.models import Slot
from streaming.reactions import ReactionError
from streaming.schedule import ScheduleError, may_see
from web import call_signals
from web.broadcast import broadcaster, sink_of
from web.call_signals import MAX_SIGNAL
from web.context import principal, services, streaming_runtime
from web.errors import ApiError, error_body, request_language
from web.forms import parse_json
from web.middleware import WEBSOCKET_SEND
from web.presence_socket import BoothPresence

log = logging.getLogger(__name__)

MAX_SLOTS = 20
MAX_MESSAGE = 4096
#: The server's own frame limit (uvicorn ``ws_max_size``): bigger frames are refused unread.
MAX_FRAME = 16 * 1024
#: How uvicorn serves websockets, for ``cloudexpo serve`` and the tests' servers alike: the sans-I/O
#: protocol (whose transport :mod:`web.broadcast` writes a slot's frames to), frames up to :data:`MAX_FRAME`,
#: no per-message deflate (the frames are small JSON; a compressor and decompressor per socket would be
#: some 50 KB each of thousands of sockets, and a broadcast frame goes to every socket as the same bytes).
SERVER_OPTIONS: dict[str, Any] = {"ws": "websockets-sansio", "ws_max_size": MAX_FRAME, "ws_per_message_deflate": False}
UNSUPPORTED_DATA = 1003
MESSAGE_TOO_BIG = 1009

TOO_MANY_SLOTS = message("ws.too_many_slots", "Follow at most {limit} slots on one connection.")
NO_SLOT = message("ws.no_slot", "There is no slot {slot}.")
SLOT_ID = message("ws.slot_id", "'slot' is the id of a slot.")
SIGN_IN_TO_CHAT = message("ws.sign_in_to_chat", "Sign in to chat.")
FOLLOW_TO_REACT = message("ws.follow_to_react", "Subscribe to slot {slot} before reacting to it.")
SEND_OBJECTS = message("ws.send_objects", 'Send JSON objects like {{"type": "subscribe", "slots": [1]}}.')
UNKNOWN_TYPE = message("ws.unknown_type", "Unknown message type {kind}; use subscribe, chat, react, watching or ping.")
WATCH_VIA = message("ws.watch_via", 'Say "via": "hls" while the page plays the live HLS stream, or null when it stopped.')
WATCH_FOLLOWED = message("ws.watch_followed", "Subscribe to slot {slot} before saying the page watches it.")


def origin_allowed(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: it cannot carry a visitor's cookies for another site
    netloc = urlsplit(origin).netloc.lower()
    public = urlsplit(services(websocket).settings.resolved_public_url).netloc.lower()
    host = websocket.headers.get("host", "").lower()
    return bool(netloc) and netloc in {public, host}


class Connection:
    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self.svc = services(websocket)
        self.streaming = streaming_runtime(websocket)
        self.principal = principal(websocket)
        # a followed slot's own subscription and task, or None when its topic's broadcast writes to this socket
        self.subs: dict[int, tuple[Subscription, asyncio.Task[None]] | None] = {}
        self.personal: tuple[Subscription, asyncio.Task[None]] | None = None
        self.presence = BoothPresence(self)
        self.send_lock = asyncio.Lock()
        self.hls_slot: int | None = None  # the slot whose live HLS this page plays (streaming.hls_audience)
        # frames go straight to the server (web.middleware.WebsocketSend), past the middlewares' wrappers
        direct = websocket.scope.get(WEBSOCKET_SEND)
        self._send_frame: Callable[[Message], Awaitable[None]] | None = direct
        # a slot's events written straight to the socket, one frame for all (web.broadcast)
        self.sink = sink_of(websocket, direct)

    async def follow_own_notifications(self) -> None:
        if self.principal.user_id is None:
            return
        sub = await self.svc.bus.subscribe(f"user.{self.principal.user_id}", maxsize=50)
        self.personal = (sub, asyncio.create_task(self._forward(sub)))

    def follow(self, sub: Subscription) -> asyncio.Task[None]:
        """Forward a subscription's events to this socket until the task is cancelled."""
        return asyncio.create_task(self._forward(sub))

    async def send(self, data: dict[str, Any]) -> None:
        await self.send_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    async def send_text(self, text: str) -> None:
        async with self.send_lock:
            if self._send_frame is None:
                await self.ws.send_text(text)
            else:
                try:
                    await self._send_frame({"type": "websocket.send", "text": text})
                except OSError as exc:  # the client left (the server's ClientDisconnected), as Starlette's own send says it
                    raise WebSocketDisconnect(code=1006) from exc

    async def refuse(self, status: int, said: str, ref: Any = None, **extra: Any) -> None:
        """An ``error`` message in the one error shape, in the page's language."""
        body = error_body(status, said, language=request_language(self.ws), **extra)
        await self.send({"type": "error", "status": status, "ref": ref, **body})

    async def subscribe(self, slot_ids: list[int]) -> None:
        live = self.streaming.live

        def snapshot(slot: Slot) -> dict[str, Any]:
            return {**state_event(slot, live.publisher_status(slot.id)), "type": "snapshot", "viewers": live.viewers(slot.id)}

        for slot_id in slot_ids:
            if slot_id in self.subs:
                continue
            if len(self.subs) >= MAX_SLOTS:
                await self.refuse(400, TOO_MANY_SLOTS(limit=MAX_SLOTS))
                return
            async with self.svc.db.session() as db:
                slot = await db.get(Slot, slot_id)
            if slot is None or not may_see(slot, self.principal):
                await self.refuse(404, NO_SLOT(slot=slot_id))
                continue
            if self.sink is not None and not runs(self.principal, slot):
                with self.sink.hold():  # the slot's events from the join on follow its snapshot
                    await broadcaster(self.ws, self.svc.bus).join(topic(slot_id), self.sink)
                    self.subs[slot_id] = None
                    await self.send(snapshot(slot))
                continue
            # the slot's presenters and moderators also follow what only they see (questions waiting, draft polls),
            # on their own subscription so that the two topics' events keep their order
            topics = (topic(slot_id), staff_topic(slot_id)) if runs(self.principal, slot) else (topic(slot_id),)
            sub = await self.svc.bus.subscribe(*topics, maxsize=200)
            task = asyncio.create_task(self._forward(sub))
            self.subs[slot_id] = (sub, task)
            await self.send(snapshot(slot))

    async def _forward(self, sub: Subscription) -> None:
        """Bus events out to the client, each encoded once for every socket (:attr:`Event.text`).

        What queued up while this socket waited its turn (a burst of chat to thousands of
        sockets) goes in one frame, a JSON array of the events in order: one send per socket
        and burst instead of one per event.
        """
        with contextlib.suppress(Exception):
            while True:
                event = await sub.get()
                more = sub.waiting()
                if more:
                    await self.send_text("[" + ",".join([event.text, *(e.text for e in more)]) + "]")
                else:
                    await self.send_text(event.text)

    async def chat(self, message: dict[str, Any]) -> None:
        chat = self.streaming.chat
        slot_id = parse_id(message.get("slot"))
        if slot_id is None:
            await self.refuse(422, SLOT_ID(), message.get("ref"))
            return
        try:
            async with self.svc.db.session() as db:
                posted = await chat.post(db, self.principal, slot_id, str(message.get("text", "")))
            await self.send({"type": "chat_ok", "id": posted.id, "ref": message.get("ref"), "message": message_json(posted)})
        except NotSignedIn:
            await self.refuse(401, SIGN_IN_TO_CHAT(), message.get("ref"))
        except RateLimited as exc:
            await self.refuse(429, _said(exc), message.get("ref"), retry_after=exc.retry_after)
        except ChatMuted as exc:
            await self.refuse(403, _said(exc), message.get("ref"))
        except (ChatError, ScheduleError, ValueError, TypeError) as exc:
            await self.refuse(422, _said(exc), message.get("ref"))

    async def react(self, message: dict[str, Any]) -> None:
        """One tap, counted by this node (no answer when it counts: the interval's counts come to everyone)."""
        slot_id = parse_id(message.get("slot"))
        ref = message.get("ref")
        if slot_id is None:
            await self.refuse(422, SLOT_ID(), ref)
            return
        if slot_id not in self.subs:  # following it checked that the asker may see it
            await self.refuse(400, FOLLOW_TO_REACT(slot=slot_id), ref)
            return
        key = f"user:{self.principal.user_id}" if self.principal.user_id is not None else f"socket:{id(self)}"
        try:
            await self.streaming.reactions.react(slot_id, message.get("kind"), key=key)
        except RateLimited as exc:
            await self.refuse(429, _said(exc), ref, retry_after=exc.retry_after)
        except ReactionError as exc:
            await self.refuse(422, _said(exc), ref)
        except ScheduleError as exc:
            await self.refuse(409, _said(exc), ref)

    async def watching(self, message: dict[str, Any]) -> None:
        """The page started (``via: "hls"``) or stopped (``via: null``) playing a slot's live HLS."""
        slot_id = parse_id(message.get("slot"))
        via = message.get("via")
        if slot_id is None:
            await self.refuse(422, SLOT_ID(), message.get("ref"))
        elif via not in ("hls", None):
            await self.refuse(422, WATCH_VIA(), message.get("ref"))
        elif slot_id not in self.subs:
            await self.refuse(409, WATCH_FOLLOWED(slot=slot_id), message.get("ref"))
        elif via == "hls":
            self._stop_watching()
            self.hls_slot = slot_id
            self.streaming.live.hls_audience.join(slot_id)
        elif self.hls_slot == slot_id:
            self._stop_watching()

    def _stop_watching(self) -> None:
        if self.hls_slot is not None:
            self.streaming.live.hls_audience.leave(self.hls_slot)
            self.hls_slot = None

    async def call_signal(self, message: dict[str, Any]) -> None:
        try:
            await call_signals.relay(self.svc.db, self.svc.bus, self.principal, message)
        except call_signals.SignalRefused as exc:
            await self.refuse(exc.status, exc.said, message.get("ref"))

    async def close(self) -> None:
        self._stop_watching()
        await self.presence.close()
        if self.personal is not None:
            self.personal[1].cancel()
            await self.personal[0].close()
            self.personal = None
        for slot_id, own in self.subs.items():
            if own is None:
                assert self.sink is not None
                await broadcaster(self.ws, self.svc.bus).leave(topic(slot_id), self.sink)
            else:
                own[1].cancel()
                await own[0].close()
        self.subs.clear()
        if self.sink is not None:
            self.sink.close()


def _said(exc: BaseException) -> Said | str:
    return said_by(exc) or str(exc)


def _slot_ids(value: Any) -> list[int]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    out = []
    for item in value[:MAX_SLOTS]:
        slot_id = parse_id(item.strip() if isinstance(item, str) else item)
        if slot_id is not None:
            out.append(slot_id)
    return out


async def endpoint(websocket: WebSocket) -> None:
    if not origin_allowed(websocket):
        await websocket.close(code=1008, reason="cross-site websocket refused")
        return
    await websocket.accept()
    conn = Connection(websocket)
    try:
        await conn.send({"type": "hello", "signed_in": conn.principal.signed_in, "user_id": conn.principal.user_id, "moderator": conn.principal.is_moderator})
        await conn.follow_own_notifications()
        if websocket.query_params.get("slots"):
            await conn.subscribe(_slot_ids(websocket.query_params["slots"]))
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            raw = frame.get("text")
            if raw is None:
                await websocket.close(UNSUPPORTED_DATA, "send JSON as text frames")
                break
            body = raw.encode("utf-8", "surrogatepass")
            if len(body) > MAX_SIGNAL:
                await websocket.close(MESSAGE_TOO_BIG, f"send at most {MAX_MESSAGE} bytes per message")
                break
            try:
                message = parse_json(body)
            except ApiError as exc:
                message = exc
            # Only a call's signal (an SDP offer with its candidates) may be bigger than MAX_MESSAGE.
            if len(body) > MAX_MESSAGE and not (isinstance(message, dict) and message.get("type") == "call_signal"):
                await websocket.close(MESSAGE_TOO_BIG, f"send at most {MAX_MESSAGE} bytes per message")
                break
            if isinstance(message, ApiError):
                await conn.refuse(400, message.detail)
                continue
            if not isinstance(message, dict):
                await conn.refuse(400, SEND_OBJECTS())
                continue
            kind = message.get("type")
            if kind == "subscribe":
                await conn.subscribe(_slot_ids(message.get("slots")))
            elif kind == "chat":
                await conn.chat(message)
            elif kind == "presence":
                await conn.presence.beat(message)
            elif kind == "watch_booth":
                await conn.presence.watch(message)
            elif kind == "react":
                await conn.react(message)
            elif kind == "watching":
                await conn.watching(message)
            elif kind == "call_signal":
                await conn.call_signal(message)
            elif kind == "ping":
                await conn.send({"type": "pong"})
            else:
                await conn.refuse(400, UNKNOWN_TYPE(kind=repr(kind)))
    except WebSocketDisconnect:
        pass
    finally:
        await conn.close()


routes: list[BaseRoute] = [WebSocketRoute("/ws", endpoint)]
