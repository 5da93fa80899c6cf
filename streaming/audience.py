"""What Q&A and polls share: who runs them at a slot, their refusals, and how they reach every page.

The slot's presenters (staff of the slot's exhibitor) and moderators run the
Q&A and the polls. A change goes out on the bus twice: what everyone may see
on the slot's topic (:func:`streaming.chat.topic`), and what only those who
run it see (questions waiting for approval, draft polls, the authors of
anonymous questions) on :func:`streaming.chat.staff_topic`, which ``/ws``
follows for them.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo.bus import BusError, EventBus
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require

from .chat import staff_topic, topic
from .models import Slot, SlotState
from .qa_models import Poll, PollVote, Question
from .reaction_models import ReactionCount
from .schedule import SlotClosed, get_visible_slot

log = logging.getLogger(__name__)

PRESENTERS_ONLY = message("audience.presenters_only", "Only this launch's presenters and moderators can do this.")
CANCELLED = message("audience.slot_cancelled", "Slot {slot} is cancelled; its Q&A and polls are closed.")


class AudienceError(Exception):
    """Input that does not make a question, an answer, a poll or a vote; the message says what to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AudienceNotFound(AudienceError):
    """No such question or poll (or not one the asker may see)."""


class AudienceConflict(AudienceError):
    """Not now: the poll is not open, or already closed."""


def runs(who: Principal, slot: Slot) -> bool:
    """The slot's presenters (its exhibitor's staff) and moderators run its Q&A and polls."""
    return who.can_manage_exhibitor(slot.exhibitor_id)


def require_runs(who: Principal, slot: Slot) -> None:
    require(who)
    if not runs(who, slot):
        raise Forbidden(PRESENTERS_ONLY())


async def open_slot(db: AsyncSession, slot_id: int, who: Principal) -> Slot:
    """The slot, as ``who`` may see it, refusing a cancelled one."""
    slot = await get_visible_slot(db, slot_id, who)
    if slot.state == SlotState.CANCELLED.value:
        raise SlotClosed(CANCELLED(slot=slot_id))
    return slot


async def announce(bus: EventBus, slot_id: int, public: dict[str, Any] | None, staff: dict[str, Any] | None) -> None:
    """Send a change to every page (``public``) and to the slot's runners (``staff``); the bus reconnects by itself."""
    try:
        if public is not None:
            await bus.publish(topic(slot_id), {**public, "slot": slot_id})
        if staff is not None:
            await bus.publish(staff_topic(slot_id), {**staff, "slot": slot_id})
    except BusError as exc:  # stored all the same: pages see it when they next load
        log.warning("audience: change in slot %d kept but not sent live: %s", slot_id, exc)


async def count_for_booth(bus: EventBus, slot: Slot, metric: str) -> None:
    """The booth's analytics count questions and poll votes (booths.engagement.analytics follows this topic)."""
    if slot.booth_id is None:
        return
    try:
        await bus.publish("analytics", {"booth_id": slot.booth_id, "metric": metric, "value": 1})
    except BusError:
        pass


async def per_launch(db: AsyncSession, booth_id: int) -> list[dict[str, Any]]:
    """Each launch of a booth with its questions, poll votes, reactions and peak viewers, newest first (the booth's analytics)."""
    slots = (await db.scalars(
        select(Slot).where(Slot.booth_id == booth_id, Slot.state.notin_(("cancelled", "declined"))).order_by(Slot.starts_at.desc())
    )).all()
    ids = [s.id for s in slots]
    if not ids:
        return []
    questions = dict((await db.execute(
        select(Question.slot_id, func.count()).where(Question.slot_id.in_(ids), Question.deleted.is_(False)).group_by(Question.slot_id)
    )).all())
    ballots = select(PollVote.poll_id, PollVote.user_id).distinct().subquery()  # one per voter and poll
    votes = dict((await db.execute(
        select(Poll.slot_id, func.count()).join(ballots, ballots.c.poll_id == Poll.id)
        .where(Poll.slot_id.in_(ids)).group_by(Poll.slot_id)
    )).all())
    reactions = dict((await db.execute(
        select(ReactionCount.slot_id, func.sum(ReactionCount.total)).where(ReactionCount.slot_id.in_(ids)).group_by(ReactionCount.slot_id)
    )).all())
    return [{"slot": s, "questions": int(questions.get(s.id, 0)), "poll_votes": int(votes.get(s.id, 0)),
             "reactions": int(reactions.get(s.id, 0) or 0), "viewers": s.peak_viewers} for s in slots]
