"""Edges: a node asked for a broadcast it does not receive pulls it once from the origin.

One :class:`EdgeService` per process when the deployment has several nodes
(``CLOUDEXPO_REDIS_URL`` and ``CLOUDEXPO_NODE_URL``). A WHEP request for a
slot whose publisher is on another node (the *origin*, found in
:class:`streaming.origins.OriginRegistry`) makes this node an *edge* for the
slot: it POSTs a recvonly offer to the origin's internal WHEP URL with an
:mod:`edge token <streaming.edge_token>` and feeds what it receives into its
own engine (:meth:`streaming.engine.MediaEngine.relay`), which forwards it to
every local viewer as it would a local publisher's packets: its own GOP cache
and NACK ring, keyframe requests upstream, no decoding. Concurrent requests
for the same slot share one pull.

Every :data:`HEARTBEAT` the service renews the origin claims of the broadcasts
this node receives from their publishers, and every :data:`CHECK_INTERVAL` it
looks after its pulls:

* the slot's origin changed (the publisher reconnected to another node) or
  the pull failed (the origin died): pull again from whichever node is now
  the origin; the local viewers keep their sessions (the engine takes the new
  source over like a reconnecting publisher);
* a local broadcast whose publisher left while the slot's origin moved
  elsewhere: this node becomes an edge for it too, so its viewers follow;
* no local viewer for :data:`LINGER` seconds: the pull stops (a viewer
  coming back within that time gets the picture at once, GOP cache and all);
  a viewer still joining, or whose watch page started the pull
  (:meth:`streaming.live.LiveService.prewarm`), counts for :data:`JOINING` seconds.

Nodes tell each other what only the origin or a viewer's node can carry out
over the bus topic ``cluster.<namespace>``: ``ended`` (the origin's broadcast
ended: edges drop their viewers), ``leave`` (a viewer's WHEP DELETE reached
another node) and ``unpublish`` (the publisher's WHIP DELETE did).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from cloudexpo.bus import EventBus, Subscription

from . import edge_token
from .errors import SessionNotFound, StreamNotLive
from .live import slot_id_of, stream_id
from .origins import OriginRegistry, namespace
from .states import StreamState

log = logging.getLogger(__name__)

CHECK_INTERVAL = 0.5  # seconds between two looks at the origins of this node's pulls
HEARTBEAT = 1.0  # seconds between two renewals of this node's origin claims
LINGER = 30.0  # seconds a pull goes on after its last local viewer left
PULL_TIMEOUT = 5.0  # seconds the origin has to answer a pull's WHEP POST
JOINING = 5.0  # seconds a pull counts as watched after a viewer's join (or its watch page) asked for it


class PullFailed(StreamNotLive):
    """The origin did not give this node the broadcast."""


@dataclass
class _Pull:
    slot_id: int
    origin: str  # the origin node's URL this pull comes from
    session_id: str  # the relay's session in this node's engine
    upstream: str | None  # the origin's WHEP session URL (on the origin's node URL), for DELETE
    idle_since: float | None = None
    wanted_at: float = 0.0  # when a viewer's join (or its watch page) last asked for it


class EdgeService:
    """This node's pulls of broadcasts received elsewhere (see module doc).

    :param engine: the process's :class:`~streaming.engine.MediaEngine`.
    :param registry: where origins are registered.
    :param bus: the event bus, for the ``cluster`` topic.
    """

    def __init__(
        self,
        engine: Any,
        registry: OriginRegistry,
        bus: EventBus,
        secret_key: str,
        *,
        linger: float = LINGER,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.bus = bus
        self.secret_key = secret_key
        self.linger = linger
        self.check_interval = check_interval
        self.topic = f"cluster.{namespace(secret_key)}"
        self._pulls: dict[int, _Pull] = {}
        self._pulling: dict[int, asyncio.Future[_Pull]] = {}
        self._retry_at: dict[int, float] = {}
        self._http = httpx.AsyncClient(timeout=PULL_TIMEOUT)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None
        self.pulls_started = 0
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._subscription = await self.bus.subscribe(self.topic)
        self._tasks = [
            asyncio.create_task(self._run_heartbeat(), name="origin-heartbeat"),
            asyncio.create_task(self._run_checks(), name="edge-checks"),
            asyncio.create_task(self._run_messages(self._subscription), name="edge-messages"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._subscription is not None:
            await self._subscription.close()
        self._closed = True
        # The pulls stay known: the engine closes after this service, and its streams' ends must
        # still be taken for an edge's (the broadcast goes on at its origin), never the broadcast's.
        await asyncio.gather(*(self._delete_upstream(pull) for pull in self._pulls.values()))
        await self._http.aclose()

    # -- what the live service asks ----------------------------------------------------------

    def holds(self, slot_id: int) -> bool:
        """Whether this node receives the slot's broadcast from another node (or is about to)."""
        return slot_id in self._pulls or slot_id in self._pulling

    def pulling(self) -> int:
        """How many broadcasts this node pulls from other nodes now."""
        return len(self._pulls)

    def forget(self, slot_id: int) -> None:
        """A publisher connected here: this node is the slot's origin now, no longer an edge."""
        pull = self._pulls.pop(slot_id, None)
        if pull is not None:
            self._spawn(self._delete_upstream(pull))

    async def ensure(self, slot_id: int) -> bool:
        """Make sure this node receives the slot (pulling it from its origin); False if no other node has it."""
        pull = self._pulls.get(slot_id)
        if pull is not None and self.engine.state(stream_id(slot_id)) is not None:
            pull.wanted_at = time.monotonic()
            return True
        origin = await self.registry.origin(slot_id)
        if origin is None or origin == self.registry.node_url:
            return False
        try:
            pull = await self._pull(slot_id, origin)
            pull.wanted_at = time.monotonic()
        except StreamNotLive:
            raise
        except Exception as exc:  # the origin's answer could not be used, or its connection failed at once
            raise PullFailed(f"pulling slot {slot_id} from {origin} failed: {exc}") from exc
        return True

    async def prewarm(self, slot_id: int) -> None:
        """:meth:`ensure` for a watch page asked for here (its player's WHEP request follows)."""
        with contextlib.suppress(StreamNotLive):  # not live anywhere (yet): the WHEP request will say so
            await self.ensure(slot_id)

    async def forward_leave(self, slot_id: int, session_id: str) -> None:
        """A viewer's WHEP DELETE for a session this node does not hold: the node holding it ends it."""
        await self.bus.publish(self.topic, {"type": "leave", "slot": slot_id, "session": session_id})

    async def forward_unpublish(self, slot_id: int, session_id: str | None, *, end: bool = True) -> None:
        """The origin, wherever it is, ends the slot's stream (End, kick: ``end``) or only the
        publisher's session (its WHIP DELETE reached another node: the broadcast is interrupted)."""
        await self.bus.publish(self.topic, {"type": "unpublish", "slot": slot_id, "session": session_id, "end": end})

    async def broadcast_ended(self, slot_id: int) -> None:
        """This node was the slot's origin and its broadcast ended: every edge drops it."""
        await self.registry.release(slot_id)
        await self.bus.publish(self.topic, {"type": "ended", "slot": slot_id, "origin": self.registry.node_url})

    def on_stream_ended(self, slot_id: int) -> None:
        """The engine ended the slot's stream here (grace ran out, or a pull stopped)."""
        if self._closed:
            return  # shutting down: the upstream sessions are deleted already
        pull = self._pulls.pop(slot_id, None)
        if pull is not None:
            self._spawn(self._delete_upstream(pull))
            self._spawn(self.registry.forget_count(slot_id))

    # -- pulling ---------------------------------------------------------------------------------

    async def _pull(self, slot_id: int, origin: str) -> _Pull:
        running = self._pulling.get(slot_id)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[_Pull] = asyncio.get_running_loop().create_future()
        self._pulling[slot_id] = future
        try:
            pull = await self._connect(slot_id, origin)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        else:
            future.set_result(pull)
            return pull
        finally:
            self._pulling.pop(slot_id, None)

    async def _connect(self, slot_id: int, origin: str) -> _Pull:
        upstream: list[str] = []

        async def signal(offer: str) -> str:
            url = f"{origin}/whep/{slot_id}"
            headers = {
                "Content-Type": "application/sdp",
                "Authorization": f"Bearer {edge_token.mint(self.secret_key, slot_id)}",
            }
            try:
                response = await self._http.post(url, content=offer, headers=headers)
            except httpx.HTTPError as exc:
                raise PullFailed(f"the origin {origin} of slot {slot_id} does not answer: {exc}") from exc
            if response.status_code != 201:
                raise PullFailed(
                    f"the origin {origin} refused to relay slot {slot_id}: {response.status_code} {response.text[:200]}"
                )
            location = response.headers.get("location", "")
            if location:
                upstream.append(origin + urlsplit(location).path)
            return response.text

        started = time.monotonic()
        session_id = await self.engine.relay(stream_id(slot_id), signal)
        previous = self._pulls.get(slot_id)
        pull = _Pull(slot_id, origin, session_id, upstream[0] if upstream else None)
        self._pulls[slot_id] = pull
        self._retry_at.pop(slot_id, None)
        self.pulls_started += 1
        if previous is not None and previous.upstream != pull.upstream:
            self._spawn(self._delete_upstream(previous))
        log.info("edge: pulling slot %s from %s (%.0f ms)", slot_id, origin, (time.monotonic() - started) * 1000)
        return pull

    async def _delete_upstream(self, pull: _Pull) -> None:
        if pull.upstream is None:
            return
        with contextlib.suppress(httpx.HTTPError):
            await self._http.delete(pull.upstream, timeout=2.0)

    async def stop(self, slot_id: int) -> None:
        """Stop pulling the slot: its local viewers are disconnected."""
        pull = self._pulls.get(slot_id)
        if pull is None:
            return
        await self.engine.end_stream(stream_id(slot_id))  # the engine's ENDED calls on_stream_ended
        self.on_stream_ended(slot_id)

    # -- the origin's heartbeat, every HEARTBEAT seconds ------------------------------------------------

    def originated(self) -> list[int]:
        """The slots this node receives from their publishers (connected or reconnecting): it is their origin."""
        found = []
        for sid in self.engine.stream_ids:
            slot_id = slot_id_of(sid)
            if slot_id is not None and not self.holds(slot_id) and not self.engine.is_relayed(sid):
                found.append(slot_id)
        return found

    async def _run_heartbeat(self) -> None:
        # A task of its own: a tick slowed down by the database must not let a claim expire.
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self.registry.refresh(self.originated())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("edge: the origin heartbeat failed: %s", exc)

    # -- every CHECK_INTERVAL -----------------------------------------------------------------------

    async def _run_checks(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("edge: checking the pulls failed")

    async def check_once(self) -> None:
        """Follow moved origins, pull again after a failure, stop idle pulls (see module doc)."""
        now = time.monotonic()
        for slot_id, pull in list(self._pulls.items()):
            sid = stream_id(slot_id)
            state = self.engine.state(sid)
            if state is None:
                self._pulls.pop(slot_id, None)
                continue
            viewers = self._local_viewers(sid)
            if viewers or now - pull.wanted_at < JOINING:  # a viewer joining is not in the engine yet
                pull.idle_since = None
            elif pull.idle_since is None:
                pull.idle_since = now
            elif now - pull.idle_since >= self.linger:
                log.info("edge: no viewer of slot %s for %.0f s, stopping the pull", slot_id, self.linger)
                await self.stop(slot_id)
                continue
            origin = await self.registry.origin(slot_id)
            if origin is None or origin == self.registry.node_url:
                continue  # nobody publishes right now (the broadcast is interrupted), or we took over
            if origin != pull.origin or state == StreamState.PUBLISHER_GONE:
                await self._pull_again(slot_id, origin)
        for sid in self.engine.stream_ids:
            orphan = slot_id_of(sid)
            if orphan is None or self.holds(orphan) or self.engine.state(sid) != StreamState.PUBLISHER_GONE:
                continue
            origin = await self.registry.origin(orphan)
            if origin is not None and origin != self.registry.node_url:
                # our publisher reconnected to another node: our viewers follow it from there
                await self._pull_again(orphan, origin)

    async def _pull_again(self, slot_id: int, origin: str) -> None:
        if time.monotonic() < self._retry_at.get(slot_id, 0.0):
            return
        try:
            await self._pull(slot_id, origin)
        except Exception as exc:
            self._retry_at[slot_id] = time.monotonic() + 1.0
            log.warning("edge: pulling slot %s from %s failed: %s", slot_id, origin, exc)

    def _local_viewers(self, sid: str) -> int:
        try:
            return int(self.engine.stats(sid).get("viewers", 0))
        except StreamNotLive:
            return 0

    # -- the cluster topic -----------------------------------------------------------------------

    async def _run_messages(self, subscription: Subscription) -> None:
        async for event in subscription:
            try:
                await self.on_message(event.data)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("edge: a cluster message failed: %r", event.data)

    async def on_message(self, message: dict[str, Any]) -> None:
        slot_id = message.get("slot")
        if not isinstance(slot_id, int):
            return
        kind = message.get("type")
        sid = stream_id(slot_id)
        if kind == "ended" and slot_id in self._pulls and message.get("origin") == self._pulls[slot_id].origin:
            await self.stop(slot_id)
        elif kind == "leave":
            with contextlib.suppress(SessionNotFound):
                await self.engine.leave(sid, str(message.get("session")))
        elif kind == "unpublish" and slot_id not in self._pulls:
            if message.get("end", True):
                await self.engine.end_stream(sid)
            else:
                with contextlib.suppress(SessionNotFound):
                    await self.engine.disconnect(sid, str(message.get("session")))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("edge: %s", task.exception())
