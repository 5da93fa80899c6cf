"""A slot's events to thousands of ``/ws`` sockets: one frame encoded per burst, written to every socket.

A server's websocket frame to a client is not masked, so a text frame is the
same bytes for every socket that follows a topic. One :class:`Topic` per
followed topic and process holds the one bus subscription for all of them;
what arrived since its last send goes out as one frame (one event, or a JSON
array of them in order, as the pages unpack), built once and written straight
to each socket's transport — no per-socket queue, task wake-up, ASGI message
or protocol object per delivery. A topic's first event waits a moment for
the rest of its burst (until :data:`QUIET` passes with nothing new, at most
:func:`window`: about as long as a send to all its sockets takes, at most
:data:`MAX_WINDOW`; and never sooner than a window after the last send),
then everything that came goes out together; what comes during a send waits
for the next. A burst of chat
costs one write per socket, not one per message and socket: the write system
call is most of what a delivery costs.

A socket is written to this way only when the server is uvicorn's
``websockets-sansio`` protocol (as ``cloudexpo serve`` runs it); its own
frames (replies, snapshots, pings, close) still go through that protocol,
each written whole, so the two never interleave inside a frame and a socket
sees its frames in the order they were written. The frames are not
compressed (RSV1 clear), which a client that negotiated per-message deflate
reads as an uncompressed message (RFC 7692 §6); ``cloudexpo serve`` does not
offer deflate on websockets anyway (``web.routes.ws.SERVER_OPTIONS``).

A socket too slow to keep up (its transport paused writing: more than the
transport's high-water mark waits for the client) is not written to; its
events wait in a backlog of at most :data:`BACKLOG`, the oldest lost beyond
that (``dropped``), as a slow bus subscriber loses them, and go out in one
frame when the transport drains. It never holds up the other sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from collections import deque
from collections.abc import Iterator
from typing import Any

from starlette.requests import HTTPConnection

from cloudexpo.bus import Event, EventBus, Subscription

log = logging.getLogger(__name__)

#: How long a topic's first event waits for the rest of its burst, per socket following the topic ...
WINDOW_PER_SOCKET = 40e-6
#: ... and at most (2,500 sockets and more).
MAX_WINDOW = 0.1
#: A burst is over when this long passes with no new event (and the window since the last send has run):
#: a burst of chat that is all in after 30 ms goes then, not after the whole window.
QUIET = 0.02
#: Events that come alone, at most one per interval and node (the reactions' and viewers' counts): nothing
#: follows them to wait for, so they go at once (with whatever came in the same turn of the loop).
AT_ONCE = frozenset({"reactions", "viewers"})
#: Sockets written to between two turns of the event loop.
CHUNK = 1000
#: Events kept for a socket too slow to take them (beyond that the oldest are lost), and at most in one frame.
BACKLOG = 200
#: Events one topic's subscription holds between two sends (far more than a burst of chat).
QUEUE = 10_000

_FIN_TEXT = 0x81


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame holding ``payload`` (RFC 6455 §5.2), as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((_FIN_TEXT, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", _FIN_TEXT, 126, n) + payload
    return struct.pack("!BBQ", _FIN_TEXT, 127, n) + payload


def window(sockets: int) -> float:
    """Seconds a burst's first event waits for the rest: the more sockets a send costs, the more events share it.

    About as long as writing to that many sockets takes, so sending a topic takes at most about half a core
    however fast its events come, and a small audience gets its events without a noticeable wait.
    """
    return min(MAX_WINDOW, sockets * WINDOW_PER_SOCKET)


def _utf8(event: Event) -> bytes:
    try:
        return event.text.encode()
    except UnicodeEncodeError:  # a lone surrogate from a client's JSON escape: send it escaped
        return json.dumps(event.data, separators=(",", ":")).encode()


def payload_of(events: list[Event]) -> bytes:
    """One event's JSON, or a JSON array of several, in order."""
    if len(events) == 1:
        return _utf8(events[0])
    return b"[" + b",".join([_utf8(e) for e in events]) + b"]"


class Sink:
    """One socket's transport, written to directly (see the module's note)."""

    __slots__ = ("_drain", "_protocol", "backlog", "dropped", "held", "transport")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self.transport: asyncio.Transport = protocol.transport
        self.backlog: deque[Event] = deque()
        self.dropped = 0
        self.held = 0  # while above 0, events wait in the backlog (the socket's own frame goes first)
        self._drain: asyncio.Task[None] | None = None

    @property
    def gone(self) -> bool:
        p = self._protocol
        return bool(p.close_sent or p.disconnected or self.transport.is_closing())

    def write(self, frame: bytes, events: list[Event]) -> None:
        """``frame`` (``events``, encoded) to the socket, or into its backlog while it is slow."""
        p = self._protocol  # what `gone` says, without a call per socket and frame
        if p.close_sent or p.disconnected or self.transport.is_closing():
            return
        if self.backlog or self.held or not p.writable.is_set():
            self._hold(events)
            return
        self.transport.write(frame)

    def _hold(self, events: list[Event]) -> None:
        self.backlog.extend(events)
        over = len(self.backlog) - BACKLOG
        for _ in range(over):
            self.backlog.popleft()
        if over > 0:
            self.dropped += over
        if self._drain is None and not self.held:
            self._drain = asyncio.create_task(self._send_backlog())

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Topics' events wait while the socket sends its own frames (a snapshot after joining), then follow them."""
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1
            if not self.held and self.backlog and self._drain is None:
                self._drain = asyncio.create_task(self._send_backlog())

    async def _send_backlog(self) -> None:
        try:
            await self._protocol.writable.wait()
            if self.held:  # the socket's own frame goes first; releasing the hold sends the backlog
                return
            if self.backlog and not self.gone:
                self.transport.write(text_frame(payload_of(list(self.backlog))))
            self.backlog.clear()
        finally:
            self._drain = None

    def close(self) -> None:
        if self._drain is not None:
            self._drain.cancel()


class Topic:
    """A topic's sockets in this process and the one subscription that feeds them."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.sinks: set[Sink] = set()
        self.sub: Subscription | None = None
        self.task: asyncio.Task[None] | None = None
        self.held = 0  # events taken from the subscription, not yet sent
        # sockets that joined while events were on their way: how many of the next send's events are not theirs
        self.skips: dict[Sink, int] = {}
        self.frames = 0
        self.deliveries = 0

    async def run(self, sub: Subscription) -> None:
        """Wait for an event, let the rest of its burst come (:meth:`gather`; not for :data:`AT_ONCE`), send them
        all in one frame; again."""
        loop = asyncio.get_running_loop()
        sent_at = -1e9
        while True:
            first = await sub.get()
            self.held = 1
            if first.data.get("type") in AT_ONCE:
                await asyncio.sleep(0)
            else:
                await self.gather(sub, sent_at)
            events = [first, *sub.waiting()]
            self.held = 0
            sent_at = loop.time()
            await self.send(events)

    async def gather(self, sub: Subscription, sent_at: float) -> None:
        """Let the rest of a burst come: until :data:`QUIET` passes with nothing new, and the window has run
        since the last send (so sends to this topic take at most about half a core however fast events come),
        but never longer than the window from the burst's first event."""
        loop = asyncio.get_running_loop()
        limit = window(len(self.sinks))
        now = loop.time()
        deadline = now + limit
        earliest = min(deadline, sent_at + limit)
        seen = sub.queued
        while now < deadline:
            await asyncio.sleep(min(QUIET, deadline - now))
            now = loop.time()
            if sub.queued == seen and now >= earliest:
                return
            seen = sub.queued

    async def send(self, events: list[Event]) -> None:
        """``events`` to every socket of the topic, one frame per :data:`BACKLOG` of them."""
        for at in range(0, len(events), BACKLOG):
            await self._send_frame(events[at : at + BACKLOG])

    async def _send_frame(self, events: list[Event]) -> None:
        """``events`` in one frame to every socket of the topic, :data:`CHUNK` sockets between two turns of the loop."""
        frame = text_frame(payload_of(events))
        sinks = tuple(self.sinks)
        skips, self.skips = self.skips, {}
        for at in range(0, len(sinks), CHUNK):
            if at:
                await asyncio.sleep(0)  # other work (media, requests) runs between chunks
            for sink in sinks[at : at + CHUNK]:
                try:
                    if sink in skips:
                        if own := events[skips[sink] :]:
                            sink.write(text_frame(payload_of(own)), own)
                    else:
                        sink.write(frame, events)
                except Exception:  # one broken socket never stops the others' frames
                    log.exception("broadcast: a frame for %s could not be written", self.topic)
        self.frames += 1
        self.deliveries += len(sinks)

    def waiting(self) -> int:
        """Events this topic has taken in and not yet sent."""
        return self.held + (self.sub.queued if self.sub is not None else 0)


class Broadcaster:
    """Every :class:`Topic` of one process, joined and left by ``/ws`` sockets."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.topics: dict[str, Topic] = {}
        self._lock = asyncio.Lock()

    async def join(self, topic: str, sink: Sink) -> None:
        """From now on, ``topic``'s events reach ``sink`` (not those already on their way when it joins)."""
        async with self._lock:
            entry = self.topics.get(topic)
            if entry is None:
                entry = Topic(topic)
                entry.sub = await self.bus.subscribe(topic, maxsize=QUEUE)
                entry.task = asyncio.create_task(entry.run(entry.sub), name=f"broadcast {topic}")
                self.topics[topic] = entry
            if skip := entry.waiting():
                entry.skips[sink] = skip
            entry.sinks.add(sink)

    async def leave(self, topic: str, sink: Sink) -> None:
        async with self._lock:
            entry = self.topics.get(topic)
            if entry is None:
                return
            entry.sinks.discard(sink)
            entry.skips.pop(sink, None)
            if entry.sinks:
                return
            del self.topics[topic]
            if entry.task is not None:
                entry.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await entry.task
            if entry.sub is not None:
                await entry.sub.close()


def sink_of(websocket: HTTPConnection, send: Any) -> Sink | None:
    """A direct writer for this socket when the server's ``send`` is uvicorn's sansio protocol, else None."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:  # pragma: no cover - uvicorn is a dependency
        return None
    protocol = getattr(send, "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol) or protocol.transport is None:
        return None
    return Sink(protocol)


def broadcaster(websocket: HTTPConnection, bus: EventBus) -> Broadcaster:
    """This app's :class:`Broadcaster` (one per process and bus)."""
    state = websocket.app.state
    found: Broadcaster | None = getattr(state, "broadcaster", None)
    if found is None or found.bus is not bus:
        found = Broadcaster(bus)
        state.broadcaster = found
    return found
