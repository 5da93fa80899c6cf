"""The live ticker's database queries (:meth:`streaming.live.LiveService.tick_once`).

Each runs once a tick or every few ticks, so each is one query over the slots it
needs: the node's own broadcasts, the broadcasts past their end, a slot's peak audience.
The reads go through :meth:`cloudexpo.db.Database.read` (one trip to a reading
thread; an awaited session statement hops between threads about four times).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cloudexpo.db import Database, utcnow

from .models import CLOSED_STATES, Slot, SlotState


async def due_and_closed(db: Database, mine: set[int]) -> tuple[set[int], list[int]]:
    """Of the slots ``mine``: (green-room slots whose start time came, closed slots)."""
    if not mine:
        return set(), []
    statement = select(Slot.id, Slot.state, Slot.starts_at <= utcnow()).where(Slot.id.in_(mine))
    rows = await db.read(lambda session: session.execute(statement).all())
    due = {slot_id for slot_id, state, started in rows if state == SlotState.GREEN_ROOM.value and started}
    return due, [slot_id for slot_id, state, _ in rows if state in CLOSED_STATES]


async def overrun_slots(db: Database, overrun: dt.timedelta) -> list[int]:
    """Slots on air or in the green room whose current end plus ``overrun`` has passed."""
    statement = select(Slot.id).where(
        Slot.state.in_([SlotState.LIVE.value, SlotState.GREEN_ROOM.value]),
        Slot.ends_at <= utcnow() - overrun,
    )
    return await db.read(lambda session: list(session.scalars(statement).all()))


async def note_peak(db: Database, slot_id: int, count: int) -> None:
    """Raise the slot's peak audience to ``count`` when it is higher."""
    async with db.session() as session:
        slot = await session.get(Slot, slot_id)
        if slot is not None and count > slot.peak_viewers:
            slot.peak_viewers = count
            await session.commit()
