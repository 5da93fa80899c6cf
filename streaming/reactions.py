"""Reactions at a launch: viewers tap a few emoji, the server sends out counts per interval.

A tap is never a message of its own on the bus: each app node adds up its
viewers' taps per slot for an interval of :data:`INTERVAL_MS` (aligned on the
clock, so every node's intervals start together) and publishes the counts
once, as a ``reactions`` event on the slot's topic::

    {"type": "reactions", "slot": 12, "at": 1765000000500, "interval_ms": 500,
     "counts": {"like": 3, "heart": 1}, "sent": 1765000001001}

(``at``: the interval's start and ``sent``: when it was published, both Unix
milliseconds). A page adds up what every node sends for an interval. Each
node stores its counts too (:class:`~streaming.reaction_models.ReactionCount`)
for the replay and the exhibitor's analytics. Taps are limited per user (or per
connection for visitors who are not signed in) and count only while the slot is
on air.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from cloudexpo.bus import BusError, EventBus
from cloudexpo.db import Database
from cloudexpo.messages import message
from cloudexpo.ratelimit import RateLimiter

from .chat import topic
from .models import Slot, SlotState
from .reaction_models import ReactionCount
from .schedule import SlotClosed

log = logging.getLogger(__name__)

#: The emoji a viewer can tap, by name (pages show the emoji; the API takes the name).
KINDS: dict[str, str] = {"like": "👍", "heart": "❤️", "clap": "👏", "party": "🎉", "wow": "😮"}
INTERVAL_MS = 500
TAPS = 8  # taps ...
TAPS_WINDOW = 1.0  # ... per this many seconds, per user or connection
#: How long a slot's on-air state is trusted before it is read again.
STATE_TTL = 2.0

UNKNOWN_KIND = message("reactions.unknown_kind", "React with one of {kinds}, not {kind}.")
NOT_ON_AIR = message("reactions.not_on_air", "Reactions open when the broadcast is on air.")


class ReactionError(ValueError):
    """A tap that names no reaction."""


class Reactions:
    """This node's counts for the current interval, published and stored when it ends."""

    def __init__(
        self, db: Database, bus: EventBus, *, interval_ms: int = INTERVAL_MS,
        limiter: RateLimiter | None = None, node: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.bus = bus
        self.interval_ms = interval_ms
        self.limiter = limiter or RateLimiter(TAPS, TAPS_WINDOW)
        self.node = node or secrets.token_hex(4)
        self._clock = clock
        self._counts: dict[int, Counter[str]] = {}
        # slot -> (on air, live_at, read at (monotonic))
        self._slots: dict[int, tuple[bool, dt.datetime | None, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._reading: dict[int, asyncio.Future[None]] = {}
        self._storing: set[asyncio.Task[None]] = set()  # stores run beside the next intervals, never before a publish

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reactions")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()  # the last interval's taps are stored, not lost
        except Exception as exc:
            log.warning("reactions: the last interval was not sent: %s", exc)
        await self.settled()

    async def react(self, slot_id: int, kind: Any, *, key: str) -> None:
        """Count one tap of ``kind`` by ``key`` (a user or a connection).

        The caller has checked that the asker may see the slot. Raises
        :class:`ReactionError`, :class:`~cloudexpo.ratelimit.RateLimited` or
        :class:`~streaming.schedule.SlotClosed` (not on air).
        """
        if not isinstance(kind, str) or kind not in KINDS:
            raise ReactionError(UNKNOWN_KIND(kinds=", ".join(KINDS), kind=repr(kind)[:40]))
        self.limiter.hit(f"react:{key}")
        if not await self._on_air(slot_id):
            raise SlotClosed(NOT_ON_AIR())
        counts = self._counts.get(slot_id)
        if counts is None:
            counts = self._counts[slot_id] = Counter()
        counts[kind] += 1

    async def _on_air(self, slot_id: int) -> bool:
        """Whether the slot is live: read once, then refreshed in the background while taps use what is known."""
        known = self._slots.get(slot_id)
        if known is not None:
            if time.monotonic() - known[2] >= STATE_TTL and slot_id not in self._reading:
                self._read_state(slot_id)
            return known[0]
        await self._read_state(slot_id)
        return self._slots[slot_id][0]

    def _read_state(self, slot_id: int) -> asyncio.Future[None]:
        """One read of the slot's state at a time, however many taps ask for it."""
        reading = self._reading.get(slot_id)
        if reading is None:
            reading = self._reading[slot_id] = asyncio.ensure_future(self._read(slot_id))
        return reading

    async def _read(self, slot_id: int) -> None:
        try:
            async with self.db.session() as db:
                slot = await db.get(Slot, slot_id)
            live = slot is not None and slot.state == SlotState.LIVE.value
            self._slots[slot_id] = (live, slot.live_at if slot is not None else None, time.monotonic())
        finally:
            self._reading.pop(slot_id, None)

    async def _run(self) -> None:
        while True:
            now_ms = self._clock() * 1000
            boundary = (now_ms // self.interval_ms + 1) * self.interval_ms
            await asyncio.sleep((boundary - now_ms) / 1000)
            began = time.monotonic()
            try:
                await self.flush(int(boundary) - self.interval_ms)
            except Exception:  # one bad interval must not end the counting
                log.exception("reactions: an interval was not sent")
            took = time.monotonic() - began
            if took * 1000 > self.interval_ms:
                log.warning("reactions: sending an interval took %.0f ms (intervals are %d ms)", took * 1000, self.interval_ms)

    async def flush(self, started_ms: int | None = None) -> None:
        """Publish and store the counts gathered since the last flush, as the interval starting at ``started_ms``."""
        if not self._counts:
            return
        taken, self._counts = self._counts, {}
        if started_ms is None:
            started_ms = int(self._clock() * 1000 // self.interval_ms * self.interval_ms)
        sent = int(self._clock() * 1000)
        for slot_id, counts in taken.items():
            event = {"type": "reactions", "slot": slot_id, "at": started_ms, "interval_ms": self.interval_ms,
                     "counts": dict(counts), "sent": sent}
            try:
                await self.bus.publish(topic(slot_id), event)
            except BusError as exc:  # stored all the same; the page misses one burst
                log.warning("reactions: counts of slot %d not sent live: %s", slot_id, exc)
        task = asyncio.create_task(self._store(taken, dt.datetime.fromtimestamp(started_ms / 1000, dt.UTC)))
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)

    async def settled(self) -> None:
        """Wait until every interval sent so far is stored."""
        while self._storing:
            await asyncio.gather(*self._storing, return_exceptions=True)

    async def _store(self, taken: dict[int, Counter[str]], started: dt.datetime) -> None:
        try:
            await self._write(taken, started)
        except Exception as exc:  # the counts went out live; only the replay and analytics miss them
            log.warning("reactions: an interval of %d slot(s) was not stored: %s", len(taken), exc)

    async def _write(self, taken: dict[int, Counter[str]], started: dt.datetime) -> None:
        async with self.db.session() as db:
            for slot_id, counts in taken.items():
                known = self._slots.get(slot_id)
                live_at = known[1] if known is not None else None
                db.add(ReactionCount(
                    slot_id=slot_id, node=self.node, started_at=started, counts=dict(counts),
                    total=sum(counts.values()),
                    offset_ms=None if live_at is None else max(0, int((started - live_at).total_seconds() * 1000)),
                ))
            await db.commit()


def add_up(rows: list[ReactionCount]) -> dict[str, int]:
    """The counts of several intervals (or nodes) together."""
    total: Counter[str] = Counter()
    for row in rows:
        total.update({k: int(v) for k, v in row.counts.items() if k in KINDS})
    return dict(total)

