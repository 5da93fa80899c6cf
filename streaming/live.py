"""Going live: joins the schedule (database), the media engine and the event bus.

One :class:`LiveService` per process, made by the composition root around the
process's :class:`~streaming.engine.MediaEngine`. It checks a publisher's
token and window (:func:`check_token`, :func:`check_preview`: the rules
live here, the HTTP layer calls them), moves a slot through scheduled → green
room → live → ended, carries out the moderators' changes (move, cancel,
approve, decline, on air, end, kick), and publishes every change of a slot on the bus
topic ``slot.{id}``:

``{"type": "state", "slot": id, "state": ..., "publisher": "connected" | "interrupted" | null, "live_at": iso | null, "starts_at": iso, "ends_at": iso}``
``{"type": "viewers", "slot": id, "count": n}`` (at most once a second per slot;
WebRTC viewers and the pages playing its live HLS (:mod:`streaming.hls_audience`);
with several nodes, the sum over every node)

A broadcast and its publisher's sessions are two things. A session ends with
a WHIP ``DELETE``, a reload, a lost network or an encoder restart; the
broadcast is then *interrupted* (``publisher: "interrupted"``): viewers keep
their sessions and the same token publishes again, and a new publisher with
the token replaces the one there. The broadcast ends only by an explicit End
(:meth:`LiveService.end`: the slot's staff or a moderator) or when the slot's
current end plus ``overrun`` has passed (the ticker, which reads the end
every few seconds, so an extended slot runs on). Every node's ticker also ends
its own streams of slots that another node ended.

The media engine calls back synchronously on stream state changes; the
service turns them into database updates in tasks of its own.

With several nodes (``cluster``, a :class:`streaming.edges.EdgeService`), the
node receiving a slot's publisher registers as its origin and keeps the claim
alive every tick; a WHEP request on another node makes that node an edge
pulling the broadcast from the origin. An edge's streams never change the
schedule: only the origin's do.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from cloudexpo.bus import EventBus
from cloudexpo.db import Database, utcnow

from . import ticker_queries
from .chat import topic
from .errors import SessionNotFound, StreamNotLive, ViewersFull
from .hls_audience import HlsAudience
from .models import CLOSED_STATES, Slot, SlotState
from .schedule import (
    SlotClosed,
    approve_slot,
    cancel_slot,
    check_can_publish,
    decline_slot,
    get_slot,
    get_stage,
    move_slot,
    rotate_token,
    should_be_on_air,
    token_matches,
)
from .states import PublisherStatus, StreamState

log = logging.getLogger(__name__)

OVERRUN_CHECK_TICKS = 3  # ticks between two looks for broadcasts past their end (a query over every slot)
# A full node asks viewers to try WebRTC again after this many seconds, spread so they do not all come back at once.
RETRY_AFTER = (15, 45)


class Engine(Protocol):
    """What the service uses of :class:`streaming.engine.MediaEngine`."""

    async def publish(self, stream_id: str, offer_sdp: str, *, takeover: bool = True) -> Any: ...
    async def disconnect(self, stream_id: str, session_id: str) -> None: ...
    async def end_stream(self, stream_id: str) -> None: ...
    def publisher_session(self, stream_id: str) -> str | None: ...
    async def watch(self, stream_id: str, offer_sdp: str, *, relay: bool = False) -> Any: ...
    async def leave(self, stream_id: str, session_id: str) -> None: ...
    def state(self, stream_id: str) -> StreamState | None: ...
    def viewer_count(self) -> int: ...
    def stats(self, stream_id: str) -> dict[str, Any]: ...
    def add_state_listener(self, listener: Any) -> None: ...
    async def close(self) -> None: ...

    @property
    def stream_ids(self) -> list[str]: ...


class Cluster(Protocol):
    """What the service uses of :class:`streaming.edges.EdgeService` (several nodes)."""

    registry: Any

    def holds(self, slot_id: int) -> bool: ...
    def pulling(self) -> int: ...
    def originated(self) -> list[int]: ...
    def forget(self, slot_id: int) -> None: ...
    async def ensure(self, slot_id: int) -> bool: ...
    async def prewarm(self, slot_id: int) -> None: ...
    async def forward_leave(self, slot_id: int, session_id: str) -> None: ...
    async def forward_unpublish(self, slot_id: int, session_id: str | None, *, end: bool = True) -> None: ...
    async def broadcast_ended(self, slot_id: int) -> None: ...
    def on_stream_ended(self, slot_id: int) -> None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...


class MissingToken(Exception):
    """No bearer token was given."""


class WrongToken(Exception):
    """The bearer token is not this slot's."""


class NothingToEnd(SlotClosed):
    """The slot's staff pressed End on a slot with no broadcast running."""


class NotWatchable(SlotClosed):
    """The slot is not live."""


class PreviewOnly(NotWatchable):
    """The slot is in the green room: only its preview (the token, a moderator, the booth's staff) may watch."""


@dataclass(frozen=True)
class Published:
    slot_id: int
    session_id: str
    answer_sdp: str
    state: str
    took_over: bool
    codec: str | None


def stream_id(slot_id: int) -> str:
    """The engine's stream id for a slot (the recorder uses the same)."""
    return f"slot-{slot_id}"


def slot_id_of(stream: str) -> int | None:
    if stream.startswith("slot-") and stream[5:].isdigit():
        return int(stream[5:])
    return None


def check_token(slot: Slot, token: str | None) -> None:
    """The WHIP rule: a publisher sends the slot's current token as a bearer token."""
    if not token:
        raise MissingToken("Send the slot's token as 'Authorization: Bearer <token>' (OBS: Settings → Stream → Bearer Token).")
    if not token_matches(slot, token):
        raise WrongToken(
            f"This is not slot {slot.id}'s token; copy it again from the go-live page (a moderator may have rotated it)."
        )


def check_preview(slot: Slot, *, preview: bool) -> None:
    """The green-room rule: a slot in the green room may be watched only as a preview (token, moderator, staff)."""
    if slot.state == SlotState.GREEN_ROOM.value and not preview:
        raise PreviewOnly(
            f"Slot {slot.id} is in the green room (starting soon); its preview needs the slot's token "
            "as 'Authorization: Bearer <token>', or the sign-in of a moderator or the booth's staff."
        )


def check_watchable(slot: Slot, *, preview: bool) -> None:
    """A live slot is public; one in the green room only for its preview; any other is not watchable."""
    check_preview(slot, preview=preview)
    if slot.state not in (SlotState.LIVE.value, SlotState.GREEN_ROOM.value):
        raise NotWatchable(
            f"Slot {slot.id} is {slot.state.replace('_', ' ')}, not live; watch it when it is on air."
        )


def state_event(slot: Slot, publisher: PublisherStatus | None) -> dict[str, Any]:
    return {
        "type": "state",
        "slot": slot.id,
        "state": slot.state,
        "publisher": publisher,
        "live_at": slot.live_at.isoformat() if slot.live_at else None,
        "starts_at": slot.starts_at.isoformat(),
        "ends_at": slot.ends_at.isoformat(),
    }


class LiveService:
    """Publishing and watching slots through the media engine, one per process."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        engine: Engine,
        secret_key: str,
        green_room: dt.timedelta,
        *,
        overrun: dt.timedelta = dt.timedelta(minutes=5),
        tick: float = 1.0,
        cluster: Cluster | None = None,
        max_viewers: int = 0,
    ) -> None:
        self.db = db
        self.cluster = cluster
        self.bus = bus
        self.engine = engine
        self.secret_key = secret_key
        self.green_room = green_room
        self.overrun = overrun  # how long past its end a running broadcast may go on
        self.tick = tick
        self._closing = False
        self._ticks = 0
        self.max_viewers = max_viewers  # WebRTC viewers this node takes (0: no limit); previews always get in
        self._joining = 0  # viewers whose offer is being answered, counted against max_viewers
        self._viewers: dict[int, int] = {}
        self.hls_audience = HlsAudience()  # this node's pages playing a slot's live HLS (counted as its viewers)
        self._cluster_view: dict[int, tuple[str, int]] = {}  # slot -> (publisher status, viewers) from the origins
        self._kicked: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        engine.add_state_listener(self._on_engine_state)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self.cluster is not None:
            await self.cluster.start()
        self._ticker = asyncio.create_task(self._run_ticker(), name="live-ticker")

    async def close(self) -> None:
        # Streams end with the process, broadcasts do not: their slots stay live (interrupted)
        # for the publisher to reconnect to the next process, or end by the schedule.
        self._closing = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ticker
        if self.cluster is not None:
            await self.cluster.close()
        await self.engine.close()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- publishing (WHIP) ---------------------------------------------------------------

    async def publish(self, slot_id: int, token: str | None, offer_sdp: str) -> Published:
        async with self.db.session() as db:
            slot = await get_slot(db, slot_id)
            check_token(slot, token)
            check_can_publish(slot, self.green_room, overrun=self.overrun)
        sid = stream_id(slot_id)
        # A publisher with the token replaces the one there (a reload, OBS reconnecting before
        # the old session timed out); the old session is closed and viewers stay.
        self._kicked.discard(slot_id)
        if self.cluster is not None:
            self.cluster.forget(slot_id)  # this node is the origin now, even if it was an edge
        session = await self.engine.publish(sid, offer_sdp, takeover=True)
        if self.cluster is not None:
            await self.cluster.registry.claim(slot_id)
        async with self._lock, self.db.session() as db:
            slot = await get_slot(db, slot_id, for_update=True)
            now = utcnow()
            slot.publish_session = session.session_id
            slot.publishing_since = now
            if should_be_on_air(slot, now):
                self._go_live(slot, now)
            elif slot.state == SlotState.SCHEDULED.value:
                slot.state = SlotState.GREEN_ROOM.value
            await db.commit()
            event = state_event(slot, PublisherStatus.CONNECTED)
        await self.bus.publish(topic(slot_id), event)
        codec = getattr(getattr(session, "video_codec", None), "describe", lambda: None)()
        return Published(
            slot_id,
            session.session_id,
            session.answer_sdp,
            event["state"],
            bool(session.took_over),
            codec,
        )

    def _go_live(self, slot: Slot, now: dt.datetime) -> None:
        slot.state = SlotState.LIVE.value
        if slot.live_at is None:
            slot.live_at = now

    async def unpublish(self, slot_id: int, session_id: str) -> None:
        """The publisher's DELETE ends its session, not the broadcast: the slot is interrupted.

        A session that was already replaced raises :class:`SessionNotFound`
        unless the schedule still names it (then it is forgotten there).
        """
        try:
            await self.engine.disconnect(stream_id(slot_id), session_id)
        except SessionNotFound:
            async with self.db.session() as db:
                slot = await get_slot(db, slot_id)
                if slot.publish_session != session_id:
                    raise
            # The publisher is on another node (its origin ends the session there), or this
            # process no longer holds it: forget it in the schedule below.
            if self.cluster is not None:
                await self.cluster.forward_unpublish(slot_id, session_id, end=False)
        # The engine's callback does the same in a task; do it now so the answer is final.
        await self._interrupted(slot_id)

    # -- watching (WHEP) -----------------------------------------------------------------

    async def watch(self, slot_id: int, offer_sdp: str, *, preview: bool, relay: bool = False) -> Any:
        """A viewer's WHEP offer; ``relay``: an edge node pulling the broadcast (it never pulls in turn)."""
        async with self.db.session() as db:
            slot = await get_slot(db, slot_id)
        check_watchable(slot, preview=preview)
        if not preview and not relay:
            self._check_room(slot_id)  # before pulling it here: a full node turns viewers to HLS at once
        sid = stream_id(slot_id)
        self._joining += 1
        try:
            if self.cluster is not None and not relay and (self.engine.state(sid) is None or self.cluster.holds(slot_id)):
                await self.cluster.ensure(slot_id)  # received on another node: pull it here (once; or wait for the pull)
            return await self.engine.watch(sid, offer_sdp, relay=relay)
        except StreamNotLive:
            raise NotWatchable(
                f"Slot {slot_id} has no picture yet (its publisher has not connected to this server); try again in a few seconds."
            ) from None
        finally:
            self._joining -= 1

    def prewarm(self, slot_id: int) -> None:
        """A watch page of a slot received on another node was asked for here: start pulling it now, so
        the page's WHEP request, a moment later, finds the pull made or under way (:meth:`watch` shares it)."""
        if self.cluster is not None and self.engine.state(stream_id(slot_id)) is None:
            self._spawn(self.cluster.prewarm(slot_id))

    def _check_room(self, slot_id: int) -> None:
        if self.max_viewers and self.engine.viewer_count() + self._joining >= self.max_viewers:
            raise ViewersFull(
                f"This server has as many live viewers as it takes ({self.max_viewers}); play the live HLS "
                "playlist (the Link header) and try again after Retry-After seconds.",
                slot_id,
                random.randint(*RETRY_AFTER),
            )

    async def leave(self, slot_id: int, session_id: str) -> None:
        try:
            await self.engine.leave(stream_id(slot_id), session_id)
        except SessionNotFound:
            if self.cluster is None:
                raise
            await self.cluster.forward_leave(slot_id, session_id)  # the viewer's node ends it

    # -- moderators ------------------------------------------------------------------------

    async def move(
        self,
        slot_id: int,
        *,
        starts_at: dt.datetime | None = None,
        ends_at: dt.datetime | None = None,
        minutes: int | None = None,
        stage: str | None = None,
    ) -> Slot:
        """Move a slot in time or to another stage (by slug, id or name); it keeps its length unless told."""
        async with self.db.session() as db:
            slot = await get_slot(db, slot_id, for_update=True)
            start = starts_at or slot.starts_at
            if ends_at is not None:
                end = ends_at
            elif minutes:
                end = start + dt.timedelta(minutes=minutes)
            else:
                end = start + (slot.ends_at - slot.starts_at)
            stage_id = (await get_stage(db, stage)).id if stage else None
            await move_slot(db, slot, start, end, stage_id)
            await db.commit()
        await self.bus.publish(topic(slot.id), state_event(slot, self.publisher_status(slot.id)))
        return slot

    async def cancel(self, slot_id: int) -> Slot:
        """Take a slot off the programme; a running broadcast ends with it."""
        async with self._lock, self.db.session() as db:
            slot = await cancel_slot(db, await get_slot(db, slot_id, for_update=True))
            session_id, slot.publish_session = slot.publish_session, None
            await db.commit()
        await self._end_anywhere(slot_id, session_id)
        self._viewers.pop(slot_id, None)
        await self.bus.publish(topic(slot.id), state_event(slot, None))
        return slot

    async def approve(self, slot_id: int) -> Slot:
        """Put an exhibitor's requested slot on the programme."""
        async with self.db.session() as db:
            slot = await approve_slot(db, await get_slot(db, slot_id))
            await db.commit()
        await self.bus.publish(topic(slot.id), state_event(slot, self.publisher_status(slot.id)))
        return slot

    async def decline(self, slot_id: int, reason: str) -> Slot:
        """Say no to an exhibitor's request, with the reason they will read."""
        async with self.db.session() as db:
            slot = await decline_slot(db, await get_slot(db, slot_id, for_update=True), reason)
            await db.commit()
        await self.bus.publish(topic(slot.id), state_event(slot, None))
        return slot

    async def on_air(self, slot_id: int) -> Slot:
        """A moderator's "on air": now if a publisher is connected, else as soon as one is."""
        async with self._lock, self.db.session() as db:
            slot = await get_slot(db, slot_id, for_update=True)
            if slot.state in CLOSED_STATES:
                raise SlotClosed(f"Slot {slot_id} is {slot.state}.")
            slot.on_air_requested = True
            if slot.state == SlotState.GREEN_ROOM.value:
                self._go_live(slot, utcnow())
            await db.commit()
        await self.bus.publish(topic(slot_id), state_event(slot, self.publisher_status(slot_id)))
        return slot

    async def end(self, slot_id: int, *, running_only: bool = False) -> Slot:
        """End the broadcast now: the publisher and every viewer are disconnected; the replay closes.

        ``running_only`` (the slot's staff on the go-live page): refuse with
        :class:`NothingToEnd` unless a broadcast runs (green room or live);
        a moderator may also end a slot that never started.
        """
        async with self.db.session() as db:
            slot = await get_slot(db, slot_id)
            session_id = slot.publish_session
        if running_only and slot.state in CLOSED_STATES:
            raise SlotClosed(f"Slot {slot_id} is already {slot.state}.")
        if running_only and slot.state not in (SlotState.LIVE.value, SlotState.GREEN_ROOM.value):
            raise NothingToEnd(
                f"Slot {slot_id} is not on air yet; there is no broadcast to end (a moderator can cancel the slot)."
            )
        slot = await self._mark_ended(slot_id)  # first, so the engine's "ended" finds the slot closed
        await self._end_anywhere(slot_id, session_id)
        return slot

    async def kick(self, slot_id: int) -> tuple[Slot, str]:
        """Disconnect the publisher and rotate the token; the slot may be published again with the new one."""
        async with self.db.session() as db:
            slot = await get_slot(db, slot_id)
            session_id = slot.publish_session
            token = await rotate_token(db, self.secret_key, slot)
            await db.commit()
        self._kicked.add(slot_id)
        await self._end_anywhere(slot_id, session_id)
        await self._engine_ended(slot_id)
        async with self.db.session() as db:
            slot = await get_slot(db, slot_id)
        return slot, token

    async def _end_anywhere(self, slot_id: int, session_id: str | None) -> None:
        """End the slot's stream here if this node receives it, else on the node that does.

        Its publisher may be interrupted (no session): the stream ends all the
        same. Nodes that miss the message end their streams of the closed slot
        at their next tick.
        """
        sid = stream_id(slot_id)
        if self.engine.state(sid) is not None and not (self.cluster is not None and self.cluster.holds(slot_id)):
            await self.engine.end_stream(sid)
        elif self.cluster is not None:
            await self.cluster.forward_unpublish(slot_id, session_id)

    def publisher_status(self, slot_id: int) -> PublisherStatus | None:
        """The publisher's status, wherever it publishes (with several nodes: as its origin said last tick)."""
        sid = stream_id(slot_id)
        if self.cluster is not None and (self.cluster.holds(slot_id) or self.engine.state(sid) is None):
            seen = self._cluster_view.get(slot_id)
            return PublisherStatus(seen[0]) if seen is not None else None
        state = self.engine.state(sid)
        if state == StreamState.LIVE:
            return PublisherStatus.CONNECTED
        if state == StreamState.PUBLISHER_GONE:
            return PublisherStatus.INTERRUPTED
        return None

    def publish_session(self, slot_id: int, recorded: str | None) -> str | None:
        """The publisher session the slot's media comes from: this node's engine knows it the moment a
        new publisher replaces one; ``recorded`` (the schedule's) where the publisher is elsewhere."""
        if self.cluster is not None and self.cluster.holds(slot_id):
            return recorded
        return self.engine.publisher_session(stream_id(slot_id)) or recorded

    def stats(self, slot_id: int) -> dict[str, Any] | None:
        try:
            return self.engine.stats(stream_id(slot_id))
        except StreamNotLive:
            return None

    def viewers(self, slot_id: int) -> int:
        """Viewers of the slot on every node (as of the last tick)."""
        if self.cluster is not None and self.engine.state(stream_id(slot_id)) is None:
            seen = self._cluster_view.get(slot_id)  # nothing of it here: as its origin said last
            return seen[1] if seen is not None else 0
        return self._viewers.get(slot_id, 0)

    # -- engine callbacks ------------------------------------------------------------------

    def _on_engine_state(self, stream: str, state: StreamState) -> None:
        slot_id = slot_id_of(stream)
        if slot_id is None or self._closing:
            return
        if self.cluster is not None and self.cluster.holds(slot_id):
            if state == StreamState.ENDED:  # an edge's pull ended: the broadcast goes on at its origin
                self.cluster.on_stream_ended(slot_id)
            return
        if state == StreamState.ENDED:
            if self.cluster is not None:
                self._spawn(self.cluster.broadcast_ended(slot_id))
            self._spawn(self._engine_ended(slot_id))
        elif state == StreamState.PUBLISHER_GONE:
            self._spawn(self._interrupted(slot_id))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live: a state update failed", exc_info=task.exception())

    async def _interrupted(self, slot_id: int) -> None:
        """The publisher's session ended: the schedule forgets it and viewers hear "interrupted" (once)."""
        async with self._lock, self.db.session() as db:
            slot = await db.get(Slot, slot_id)
            if slot is None or slot.state in CLOSED_STATES or slot.publish_session is None:
                return
            if self.engine.publisher_session(stream_id(slot_id)) is not None:
                return  # a new publisher took over already (or this node pulls the slot from its origin)
            slot.publish_session = None
            await db.commit()
            event = state_event(slot, PublisherStatus.INTERRUPTED)
        await self.bus.publish(topic(slot_id), event)

    async def _engine_ended(self, slot_id: int) -> None:
        """The stream ended: a live slot ends; a green-room or kicked slot goes back to scheduled."""
        async with self._lock, self.db.session() as db:
            slot = await db.get(Slot, slot_id)
            if slot is None or slot.state in CLOSED_STATES:
                return
            kicked = slot_id in self._kicked
            self._kicked.discard(slot_id)
            if kicked or slot.state == SlotState.GREEN_ROOM.value:
                # Kicked, or left the green room: the slot waits for a publisher again.
                slot.state = SlotState.SCHEDULED.value
            elif slot.state == SlotState.LIVE.value:
                slot.state = SlotState.ENDED.value
                slot.ended_at = utcnow()
            slot.publish_session = None
            slot.publishing_since = None
            await db.commit()
            event = state_event(slot, None)
        self._viewers.pop(slot_id, None)
        await self.bus.publish(topic(slot_id), event)
        await self.bus.publish(topic(slot_id), {"type": "viewers", "slot": slot_id, "count": 0})

    async def _mark_ended(self, slot_id: int) -> Slot:
        async with self._lock, self.db.session() as db:
            slot = await get_slot(db, slot_id, for_update=True)
            if slot.state not in CLOSED_STATES:
                slot.state = SlotState.ENDED.value
                slot.ended_at = utcnow()
            slot.publish_session = None
            await db.commit()
        self._viewers.pop(slot_id, None)
        await self.bus.publish(topic(slot_id), state_event(slot, None))
        return slot

    # -- once a second -----------------------------------------------------------------------

    async def _run_ticker(self) -> None:
        while True:
            try:
                await self.tick_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live: ticker failed")
            await asyncio.sleep(self.tick)

    async def tick_once(self) -> None:
        """Viewer counts that changed (over every node; WebRTC and HLS), green-room slots whose start
        time came, broadcasts past their end."""
        counted: set[int] = set()
        for stream in self.engine.stream_ids:
            slot_id = slot_id_of(stream)
            if slot_id is None:
                continue
            try:
                stats = self.engine.stats(stream)
            except StreamNotLive:
                continue
            counted.add(slot_id)
            count = int(stats.get("viewers", 0)) + self.hls_audience.count(slot_id)
            if self.cluster is not None:
                count = await self.cluster.registry.count_viewers(slot_id, count)
            if self._viewers.get(slot_id) != count:
                self._viewers[slot_id] = count
                await self.bus.publish(
                    topic(slot_id), {"type": "viewers", "slot": slot_id, "count": count}
                )
                if count:
                    await ticker_queries.note_peak(self.db, slot_id, count)
        if self.cluster is not None:
            here = {slot_id_of(s) for s in self.engine.stream_ids}
            for gone in [slot for slot in self._viewers if slot not in here]:
                del self._viewers[gone]  # an edge that stopped pulling: the next pull counts afresh
            await self._share_with_cluster(self.cluster.originated())
            await self.hls_audience.share(self.cluster.registry, counted)
        due, closed = await self._my_slots_to_act_on()
        if due:
            await self._promote_green_room(due)
        self._ticks += 1
        if self._ticks % OVERRUN_CHECK_TICKS == 0:
            await self._end_overruns()
        for slot_id in closed:  # another node (or a moderator elsewhere) ended the slot: its broadcast ends here too
            await self.engine.end_stream(stream_id(slot_id))

    async def _my_slots_to_act_on(self) -> tuple[set[int], list[int]]:
        """One query a tick over this node's broadcasts: (green-room slots whose start time came, closed slots)."""
        mine = {sid for s in self.engine.stream_ids if (sid := slot_id_of(s)) is not None}
        due, closed = await ticker_queries.due_and_closed(self.db, mine)
        if self.cluster is not None:
            due = {slot_id for slot_id in due if not self.cluster.holds(slot_id)}
        return due, closed

    async def _end_overruns(self) -> None:
        """Broadcasts whose slot's current end plus the overrun has passed end (on any node)."""
        for slot_id in await ticker_queries.overrun_slots(self.db, self.overrun):
            log.info("live: slot %s ran past its end; ending its broadcast", slot_id)
            await self.end(slot_id)

    async def _share_with_cluster(self, originated: list[int]) -> None:
        """Say how this node's broadcasts are; learn how the others' are (the claims' heartbeat is the cluster's)."""
        registry = self.cluster.registry  # type: ignore[union-attr]
        for slot_id in originated:
            status = self.publisher_status(slot_id)
            if status is not None:
                await registry.share_status(slot_id, status.value, self._viewers.get(slot_id, 0))
        self._cluster_view = await registry.live_slots()

    async def _promote_green_room(self, due: set[int]) -> None:
        """On air: the green-room slots whose start time came (checked again under the lock)."""
        now = utcnow()
        events = []
        async with self._lock, self.db.session() as db:
            rows = await db.scalars(
                select(Slot).where(
                    Slot.id.in_(due),
                    Slot.state == SlotState.GREEN_ROOM.value,
                    Slot.starts_at <= now,
                )
            )
            for slot in rows.all():
                self._go_live(slot, now)
                events.append(state_event(slot, self.publisher_status(slot.id)))
            if events:
                await db.commit()
        for event in events:
            await self.bus.publish(topic(event["slot"]), event)
