"""The dashboard's tasks: what waits for the person signed in, each with its count and the page that handles it.

Exhibitors see new leads, launches (requests waiting for a moderator, launches
coming up) and today's meetings; moderators see applications and launch
requests waiting for review and what is on air; everybody with meetings sees
today's and the requests waiting for their answer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement import leads, meetings
from booths.exhibition import applications
from cloudexpo.permissions import Principal
from streaming.models import SlotState
from streaming.schedule import list_slots


@dataclass(frozen=True)
class Task:
    key: str  # names the task for the template (its label and wording)
    count: int
    href: str
    urgent: bool = False  # something waits for this person's answer


def today_bounds(timezone: str, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Today in the exhibition's time zone, as two UTC moments."""
    zone = ZoneInfo(timezone)
    local = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    start = dt.datetime.combine(local.date(), dt.time(), zone)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


async def tasks_for(session: AsyncSession, who: Principal, timezone: str) -> list[Task]:
    if not who.signed_in:
        return []
    now = dt.datetime.now(dt.UTC)
    out: list[Task] = []
    if who.is_moderator:
        out.append(Task("applications", await applications.pending_count(session), "/moderate/applications", urgent=True))
    if who.is_moderator or who.exhibitor_id is not None:
        slots = await list_slots(session, start=now, include_requests=True, exhibitor_id=None if who.is_moderator else who.exhibitor_id)
        waiting = sum(1 for s in slots if not s.approved and s.state == SlotState.SCHEDULED.value)
        on_air = sum(1 for s in slots if s.approved and s.state in (SlotState.LIVE.value, SlotState.GREEN_ROOM.value))
        coming = sum(1 for s in slots if s.approved and s.state == SlotState.SCHEDULED.value)
        out.append(Task("launch_requests", waiting, "/dashboard/live", urgent=who.is_moderator))
        if who.is_moderator:
            out.append(Task("on_air", on_air, "/moderate/live"))
        else:
            out.append(Task("launches", coming + on_air, "/dashboard/live"))
    if who.exhibitor_id is not None and not who.is_moderator:
        out.append(Task("leads", await leads.new_count(session, who.exhibitor_id), "/dashboard/leads", urgent=True))
    today, answer = await meetings.day_counts(session, who, today_bounds(timezone, now))
    out.append(Task("meetings_today", today, "/meetings"))
    if answer:
        out.append(Task("meeting_requests", answer, "/meetings", urgent=True))
    return out
