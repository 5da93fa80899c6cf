"""Telling an exhibitor what a moderator did to their launch: in the app and by e-mail, in their language.

The schedule's routes call :func:`tell_exhibitor` after the change is
committed (``launch_added``, ``launch_approved``, ``launch_declined``,
``launch_moved``, ``launch_cancelled``: see ``booths.engagement.notify``).
The exhibitor's staff and whoever asked for the slot are told; the
moderator who made the change is not.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from booths.exhibition.directory import staff_of
from streaming.models import Slot, Stage
from streaming.schedule import booth_number
from web.context import notifier, principal, services


def notice_params(slot: Slot, stage: Stage | None, booth: str | None) -> dict[str, Any]:
    """What the messages name: the launch, its booth, stage, times (the previous ones for a move) and reason."""
    return {
        "title": dict(slot.title),
        "booth": booth or "—",
        "stage": dict(stage.name) if stage is not None else "",
        "time": slot.starts_at.isoformat(),
        "minutes": str(int((slot.ends_at - slot.starts_at).total_seconds() // 60)),
        "old_time": slot.previous_starts_at.isoformat() if slot.previous_starts_at else "",
        "reason": slot.decline_reason or "",
    }


async def tell_exhibitor(request: Request, slot: Slot, kind: str) -> None:
    """Notify the slot's exhibitor (staff and requester) of ``kind``; nothing for a forum session."""
    if slot.exhibitor_id is None and slot.requested_by is None:
        return
    acting = principal(request).user_id
    async with services(request).db.session() as session:
        recipients = {u.id for u in await staff_of(session, slot.exhibitor_id)} if slot.exhibitor_id else set()
        if slot.requested_by is not None:
            recipients.add(slot.requested_by)
        recipients.discard(acting)
        if not recipients:
            return
        params = notice_params(slot, await session.get(Stage, slot.stage_id), await booth_number(session, slot.booth_id))
        batch = notifier(request).batch()
        for user_id in sorted(recipients):
            await batch.add(session, user_id, kind, params, "/dashboard/live")
        await session.commit()
        await batch.deliver(session)
