"""The booth page cache: what a booth page shows to everyone who does not manage the booth.

One per process, owned by the composition root's runtime (several apps run in
one test process, each with its own); :meth:`BoothPageCache.start` begins
listening for writes, :meth:`BoothPageCache.close` stops.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as OrmSession

from cloudexpo.db import Database
from streaming.models import Slot

if TYPE_CHECKING:
    from web.page_contexts import BoothPage


class BoothPageCache:
    """What a booth page shows to everyone who does not manage the booth, per booth, for ``ttl`` seconds.

    A booth page needs three queries (booth with its products, media with the
    product pictures, staff), two more (launches, replays) for the few booths
    with slots (:meth:`booths_with_slots`); visitors mostly read. Staff of the booth and
    moderators never use the cache (they see their edits at once, and more
    than visitors). Every entry is dropped as soon as this process writes to a
    table a booth page shows (an ORM flush, or UPDATE/INSERT/DELETE through a
    session, heard from :meth:`start` to :meth:`close`); writes by other
    processes show after ``ttl``. Media URLs are signed for an hour, far longer
    than ``ttl``.
    """

    TABLES = frozenset({"booths", "exhibitors", "zones", "halls", "products", "assets", "users", "slots", "replays"})

    def __init__(self, ttl: float = 30.0, max_size: int = 4096) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._items: dict[str, tuple[float, BoothPage]] = {}
        # Ids of the booths that have any slot (few do): the others need no launches or replays query.
        self._slot_booths: tuple[float, frozenset[int]] | None = None
        self._listening = False

    def get(self, ref: str) -> BoothPage | None:
        item = self._items.get(ref)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, ref: str, data: BoothPage) -> None:
        if not self._listening:
            return  # without hearing writes, a cached page could stay stale for ttl
        if len(self._items) >= self.max_size:
            self._items.clear()
        self._items[ref] = (time.monotonic() + self.ttl, data)

    def clear(self) -> None:
        self._items.clear()
        self._slot_booths = None

    async def booths_with_slots(self, db: Database) -> frozenset[int]:
        """Booths with at least one slot, in one query per ``ttl`` (dropped with the pages on a slot write)."""
        item = self._slot_booths
        if item is not None and item[0] >= time.monotonic():
            return item[1]
        expires = time.monotonic() + self.ttl
        rows = await db.read(lambda s: s.scalars(select(Slot.booth_id).where(Slot.booth_id.is_not(None)).distinct()).all())
        ids = frozenset(booth_id for booth_id in rows if booth_id is not None)
        self._slot_booths = (expires, ids)
        return ids

    # -- hearing writes ----------------------------------------------------------------

    def _on_flush(self, session: OrmSession, _context: Any) -> None:
        if any(
            getattr(obj, "__tablename__", None) in self.TABLES
            for obj in (*session.new, *session.dirty, *session.deleted)
        ):
            self.clear()

    def _on_execute(self, state: ORMExecuteState) -> None:
        if state.is_update or state.is_delete or state.is_insert:
            table = getattr(state.statement, "table", None)
            if getattr(table, "name", None) in self.TABLES:
                self.clear()

    async def start(self) -> None:
        """Listen to every session of this process (SQLAlchemy's events are per class, not per engine)."""
        if not self._listening:
            event.listen(OrmSession, "after_flush", self._on_flush)
            event.listen(OrmSession, "do_orm_execute", self._on_execute)
            self._listening = True

    async def close(self) -> None:
        if self._listening:
            event.remove(OrmSession, "after_flush", self._on_flush)
            event.remove(OrmSession, "do_orm_execute", self._on_execute)
            self._listening = False
        self.clear()
