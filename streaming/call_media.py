"""A video call's media through the server, when the two browsers cannot reach each other directly.

Each party publishes its camera to a private stream of the media engine
(WHIP, ``call-{call}-{user}``) and plays the other party's (WHEP): the same
no-decoding forwarder as broadcasts, with none of a broadcast's extras. The
streams are not slots: the recorder, the live HLS writer, egress and the
schedule's viewer counts follow ``slot-`` streams only, so a call is never
recorded, listed or counted as a launch.

Who may publish or play is proved by a token per call and party
(:func:`party_token`), which only that party is handed; it names the stream.

With several nodes the two parties may reach different ones: the node
receiving a party's camera notes itself in Redis (:func:`note_holder`), and a
node asked for a stream it does not have pulls it once from there
(:func:`pull`, the engine's relay, as an edge pulls a broadcast). A call stream
whose source is gone (the party hung up or left, or the pull's origin ended
it) ends at once (:func:`end_when_source_gone`): calls have no "back in a moment".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import httpx

from .engine import PublishSession, ViewerSession
from .errors import StreamNotLive
from .origins import namespace
from .states import StreamState

PREFIX = "call-"
HOLDER_SECONDS = 4 * 3600  # how long a node's claim on a call stream lasts (longer than any call)


class Engine(Protocol):
    """What calls use of :class:`streaming.engine.MediaEngine`."""

    async def publish(self, stream_id: str, offer_sdp: str, *, takeover: bool = True) -> PublishSession: ...
    async def watch(self, stream_id: str, offer_sdp: str, *, relay: bool = False) -> ViewerSession: ...
    async def leave(self, stream_id: str, session_id: str) -> None: ...
    async def disconnect(self, stream_id: str, session_id: str) -> None: ...
    async def end_stream(self, stream_id: str) -> None: ...
    async def relay(self, stream_id: str, signal: Callable[[str], Awaitable[str]]) -> str: ...


class OtherSideNotPublishing(StreamNotLive):
    """The other party has not published to the forwarder yet (or not on this node)."""


def stream_id(call_id: int, user_id: int) -> str:
    """The engine's stream of one party's camera in a call."""
    return f"{PREFIX}{call_id}-{user_id}"


def party_token(secret: str, call_id: int, user_id: int) -> str:
    """The bearer token with which ``user_id`` publishes and plays in call ``call_id``."""
    mac = hmac.new(secret.encode(), f"call-forwarder|{call_id}|{user_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def token_holder(secret: str, call_id: int, parties: Iterable[int], token: str | None) -> int | None:
    """Which party ``token`` belongs to (None: neither)."""
    if not token:
        return None
    for user_id in parties:
        if hmac.compare_digest(party_token(secret, call_id, user_id), token):
            return user_id
    return None


async def publish(engine: Engine, call_id: int, user_id: int, offer_sdp: str) -> PublishSession:
    """The party's camera in; a new offer (a reload) takes over from the last one."""
    return await engine.publish(stream_id(call_id, user_id), offer_sdp, takeover=True)


async def play(engine: Engine, call_id: int, other_id: int, offer_sdp: str) -> ViewerSession:
    """The other party's camera out; :class:`OtherSideNotPublishing` until they have published."""
    try:
        return await engine.watch(stream_id(call_id, other_id), offer_sdp)
    except StreamNotLive:
        raise OtherSideNotPublishing(
            "The other side has not started sending through the server yet; try again in a second."
        ) from None


async def end(engine: Engine, call_id: int, parties: Iterable[int]) -> None:
    """The call ended: both parties' streams end, with every session on them."""
    for user_id in parties:
        await engine.end_stream(stream_id(call_id, user_id))


def _holder_key(secret: str, stream: str) -> str:
    return f"cloudexpo:cluster:{namespace(secret)}:call:{stream}"


async def note_holder(redis: Any, secret: str, stream: str, node_url: str) -> None:
    """This node receives ``stream``: the others pull it from here."""
    await redis.set(_holder_key(secret, stream), node_url, ex=HOLDER_SECONDS)


async def holder(redis: Any, secret: str, stream: str) -> str | None:
    value = await redis.get(_holder_key(secret, stream))
    return value.decode() if isinstance(value, bytes) else value


async def pull(engine: Engine, stream: str, origin: str, play_url: str, token: str) -> None:
    """Pull ``stream`` from the node ``origin`` that receives it, playing it there with the asking party's token."""
    async def signal(offer: str) -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            try:
                response = await http.post(f"{origin}{play_url}", content=offer, headers={
                    "Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                raise OtherSideNotPublishing(f"the node {origin} holding the other side does not answer: {exc}") from exc
        if response.status_code != 201:
            raise OtherSideNotPublishing("The other side has not started sending through the server yet; try again in a second.")
        return response.text

    await engine.relay(stream, signal)


def end_when_source_gone(engine: Engine) -> Callable[[str, StreamState], None]:
    """An engine state listener: a call stream whose publisher (or pull) is gone ends."""
    tasks: set[asyncio.Task[None]] = set()

    def listener(stream: str, state: StreamState) -> None:
        if stream.startswith(PREFIX) and state == StreamState.PUBLISHER_GONE:
            task = asyncio.ensure_future(engine.end_stream(stream))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    return listener
