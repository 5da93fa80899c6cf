"""The "Live now / Up next" strip: what is on air and the next launches, for the whole programme or one booth.

The home page renders it in place; booth pages load it from ``GET /live/strip?booth=ID``
(their HTML is cached for anonymous visitors, the strip must not be), and
``static/js/live_strip.js`` reloads it whenever a ``state`` event of one of
its slots arrives over ``/ws``, so it follows the programme without a reload.
Each coming launch carries the visitor's "Remind me" (a launch bookmark).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from booths.engagement.bookmarks import marked
from cloudexpo.i18n import pick
from streaming.models import Slot, SlotState
from streaming.schedule import list_slots, list_stages
from streaming.schedule import on_air as is_on_air
from web.context import language, live_service, principal, services

#: Coming launches shown: on the home page, and on a booth page.
NEXT_ON_HOME = 4
NEXT_ON_BOOTH = 3
#: A slot that should have started this long ago but is not on air yet still counts as "up next".
LATE_FOR = dt.timedelta(minutes=30)
LOOK_AHEAD = dt.timedelta(days=14)


@dataclass(frozen=True)
class StripItem:
    """One launch as the strip shows it."""

    id: int
    title: str
    stage: str
    state: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    viewers: int = 0
    reminded: bool = False  # the visitor asked to be reminded (a launch bookmark)


@dataclass(frozen=True)
class LiveStrip:
    live: list[StripItem] = field(default_factory=list)
    next: list[StripItem] = field(default_factory=list)
    booth_id: int | None = None

    @property
    def slot_ids(self) -> list[int]:
        return [item.id for item in (*self.live, *self.next)]

    @property
    def empty(self) -> bool:
        return not self.live and not self.next


async def live_strip(request: HTTPConnection, booth_id: int | None = None) -> LiveStrip:
    """What is live and next (for one booth when ``booth_id`` is given), with the visitor's reminders."""
    svc = services(request)
    lang = language(request)
    live = live_service(request)
    now = dt.datetime.now(dt.UTC)
    async with svc.db.session() as db:
        stages = {s.id: pick(s.name, lang).text for s in await list_stages(db)}
        on_air = [s for s in await list_slots(db, states=[SlotState.LIVE.value]) if is_on_air(s, live.overrun)]
        coming = await list_slots(db, start=now, end=now + LOOK_AHEAD,
                                  states=[SlotState.SCHEDULED.value, SlotState.GREEN_ROOM.value])
        if booth_id is not None:
            on_air = [s for s in on_air if s.booth_id == booth_id]
            coming = [s for s in coming if s.booth_id == booth_id]
        coming = [s for s in coming if s.starts_at >= now - LATE_FOR][:NEXT_ON_BOOTH if booth_id else NEXT_ON_HOME]
        reminded = await marked(db, principal(request).user_id, "launch", [s.id for s in coming])

    def item(slot: Slot) -> StripItem:
        return StripItem(slot.id, pick(slot.title, lang).text, stages.get(slot.stage_id, ""), slot.state,
                         slot.starts_at, slot.ends_at, live.viewers(slot.id), slot.id in reminded)

    return LiveStrip([item(s) for s in on_air], [item(s) for s in coming], booth_id)
