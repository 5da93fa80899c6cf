"""Reactions and pins on a replay's timeline, in sync like its chat (:func:`streaming.replays.replay_clock`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .pins import all_pins
from .reaction_models import ReactionCount
from .reactions import KINDS
from .replay_models import Replay
from .replays import ReplayFiles, replay_clock


async def reactions_timeline(db: AsyncSession, files: ReplayFiles, replay: Replay) -> dict[str, Any]:
    """``intervals``: the counts of every node added up per interval, each with its place (``at``, seconds);
    ``pins``: what was pinned from ``at`` to ``until`` (None: to the end)."""
    place = await replay_clock(files, replay)
    rows = (await db.scalars(
        select(ReactionCount).where(ReactionCount.slot_id == replay.slot_id).order_by(ReactionCount.started_at)
    )).all()
    merged: dict[Any, Counter[str]] = {}
    for row in rows:
        merged.setdefault(row.started_at, Counter()).update({k: int(v) for k, v in row.counts.items() if k in KINDS})
    intervals = []
    for started, counts in merged.items():
        at = place(started)
        if at is not None:
            intervals.append({"at": at, "counts": dict(counts)})
    pins = []
    for pin in await all_pins(db, replay.slot_id):
        at = place(pin.pinned_at)
        until = place(pin.unpinned_at) if pin.unpinned_at is not None else None
        if at is None and until is None and pin.unpinned_at is not None:
            continue  # pinned and unpinned outside the replay
        pins.append({"at": at or 0.0, "until": until, "author": pin.author, "text": pin.text})
    return {"intervals": intervals, "pins": pins, "kinds": KINDS}
