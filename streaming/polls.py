"""Polls at a launch: prepared before (a draft) or made on air, opened, voted, closed.

A poll has a question, :data:`MIN_OPTIONS` to :data:`MAX_OPTIONS` options and
is single or multiple choice. The slot's runners (:func:`streaming.audience.runs`)
make, open, close and delete polls; signed-in users vote while a poll is open
(voting again replaces their vote). Results are live for everyone, always:
the voter gets the new counts in the answer, and every page gets them on the
bus at most every :data:`TALLY_EVERY` seconds a poll and node (a burst of a
thousand votes is a couple of events, not a thousand, each read once); opening,
closing and deleting go out at once. Drafts are seen by the runners only.
Closed polls stay, with their results, for the replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo.bus import EventBus
from cloudexpo.db import Database, utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Principal, require
from cloudexpo.ratelimit import RateLimiter, SharedRateLimiter

from .audience import (
    AudienceConflict,
    AudienceError,
    AudienceNotFound,
    announce,
    count_for_booth,
    open_slot,
    require_runs,
    runs,
)
from .chat import ChatError, clean_text
from .models import Slot
from .qa_models import Poll, PollState, PollVote
from .schedule import get_visible_slot

MAX_QUESTION = 300
MAX_OPTION = 120
MIN_OPTIONS, MAX_OPTIONS = 2, 10
VOTE_LIMIT, VOTE_WINDOW = 30, 60.0
TALLY_EVERY = 0.5  # seconds between two announcements of a poll's running results (per node)

log = logging.getLogger(__name__)

NO_POLL = message("polls.no_poll", "There is no poll {id}.")
OPTIONS = message("polls.options", "Give between {low} and {high} options, as a list of texts.")
SAME_OPTION = message("polls.same_option", "Option '{option}' is there twice; make each option different.")
CHOICES = message("polls.choices", "'choices' is a list of option numbers from 0 to {last}.")
ONE_CHOICE = message("polls.one_choice", "This poll takes one choice; send one option number.")
NOT_OPEN = message("polls.not_open", "Poll {id} is not open for votes.")
ALREADY = message("polls.already", "Poll {id} is already {state}.")
MULTIPLE = message("polls.multiple", "'multiple' is true or false.")


def poll_json(poll: Poll, counts: dict[int, int], voters: int, *, mine: list[int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": poll.id,
        "slot_id": poll.slot_id,
        "question": poll.question,
        "options": [{"text": text, "votes": counts.get(i, 0)} for i, text in enumerate(poll.options)],
        "multiple": poll.multiple,
        "state": poll.state,
        "voters": voters,
        "created_at": poll.created_at.isoformat(),
        "opened_at": poll.opened_at.isoformat() if poll.opened_at else None,
        "closed_at": poll.closed_at.isoformat() if poll.closed_at else None,
    }
    if mine is not None:
        out["mine"] = mine
    return out


def _text(raw: Any, limit: int, field: str) -> str:
    try:
        return clean_text(raw, limit)
    except ChatError as exc:
        raise AudienceError(exc.args[0], field) from None


def parse_options(raw: Any) -> list[str]:
    if isinstance(raw, str):  # a form's textarea: one option a line
        raw = [line for line in raw.splitlines() if line.strip()]
    if not isinstance(raw, list) or not MIN_OPTIONS <= len(raw) <= MAX_OPTIONS:
        raise AudienceError(OPTIONS(low=MIN_OPTIONS, high=MAX_OPTIONS), "options")
    options = [_text(item, MAX_OPTION, "options") for item in raw]
    seen: set[str] = set()
    for option in options:
        if option.casefold() in seen:
            raise AudienceError(SAME_OPTION(option=option), "options")
        seen.add(option.casefold())
    return options


def parse_choices(poll: Poll, raw: Any) -> list[int]:
    last = len(poll.options) - 1
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw or any(
        not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= last for c in raw
    ):
        raise AudienceError(CHOICES(last=last), "choices")
    choices = sorted(set(raw))
    if not poll.multiple and len(choices) != 1:
        raise AudienceError(ONE_CHOICE(), "choices")
    return choices


class Polls:
    def __init__(self, database: Database, bus: EventBus, limiter: RateLimiter | SharedRateLimiter | None = None) -> None:
        self.database = database
        self.bus = bus
        self.limiter = limiter or RateLimiter(VOTE_LIMIT, VOTE_WINDOW)
        self._tallies: dict[int, asyncio.Task[None]] = {}  # poll id -> its next announcement of results

    async def close(self) -> None:
        """Send the results still waiting for their turn."""
        pending, self._tallies = list(self._tallies.items()), {}
        for poll_id, task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._tally(poll_id)

    def _tally_soon(self, poll_id: int) -> None:
        """The poll's results go out within :data:`TALLY_EVERY`, once for every vote until then."""
        if poll_id not in self._tallies:
            self._tallies[poll_id] = asyncio.create_task(self._tally_after(poll_id), name=f"poll-{poll_id}-tally")

    async def _tally_after(self, poll_id: int) -> None:
        await asyncio.sleep(TALLY_EVERY)
        self._tallies.pop(poll_id, None)  # before reading: a vote from now on waits for the next round
        await self._tally(poll_id)

    async def _tally(self, poll_id: int) -> None:
        try:
            async with self.database.session() as db:
                poll = await db.get(Poll, poll_id)
                if poll is not None and poll.state == PollState.OPEN.value:  # closing announced its own results
                    await self._announce(db, poll)
        except Exception:
            log.exception("polls: the results of poll %d could not be announced", poll_id)

    async def results(self, db: AsyncSession, polls: Iterable[Poll]) -> dict[int, tuple[dict[int, int], int]]:
        """Votes per option and voters, per poll."""
        ids = [p.id for p in polls]
        out: dict[int, tuple[dict[int, int], int]] = {i: ({}, 0) for i in ids}
        if not ids:
            return out
        counts: dict[int, Counter[int]] = {i: Counter() for i in ids}
        for poll_id, choice, n in (await db.execute(
            select(PollVote.poll_id, PollVote.choice, func.count()).where(PollVote.poll_id.in_(ids))
            .group_by(PollVote.poll_id, PollVote.choice)
        )).all():
            counts[poll_id][choice] = n
        voters = dict((await db.execute(
            select(PollVote.poll_id, func.count(func.distinct(PollVote.user_id))).where(PollVote.poll_id.in_(ids))
            .group_by(PollVote.poll_id)
        )).all())
        return {i: (dict(counts[i]), int(voters.get(i, 0))) for i in ids}

    async def _json(self, db: AsyncSession, poll: Poll) -> dict[str, Any]:
        counts, voters = (await self.results(db, [poll]))[poll.id]
        return poll_json(poll, counts, voters)

    async def _announce(self, db: AsyncSession, poll: Poll) -> dict[str, Any]:
        body = await self._json(db, poll)
        public = None if poll.state == PollState.DRAFT.value else {"type": "poll", "poll": body}
        await announce(self.bus, poll.slot_id, public, {"type": "poll_staff", "poll": body})
        return body

    async def listing(self, db: AsyncSession, who: Principal, slot_id: int) -> list[dict[str, Any]]:
        """The slot's polls, newest first, with the asker's own choices (``mine``); drafts for runners only."""
        slot = await get_visible_slot(db, slot_id, who)
        query = select(Poll).where(Poll.slot_id == slot_id)
        if not runs(who, slot):
            query = query.where(Poll.state != PollState.DRAFT.value)
        polls = (await db.scalars(query.order_by(Poll.id.desc()))).all()
        results = await self.results(db, polls)
        mine: dict[int, list[int]] = {p.id: [] for p in polls}
        if who.user_id is not None and polls:
            for poll_id, choice in (await db.execute(
                select(PollVote.poll_id, PollVote.choice).where(
                    PollVote.user_id == who.user_id, PollVote.poll_id.in_(list(mine))
                ).order_by(PollVote.choice)
            )).all():
                mine[poll_id].append(choice)
        return [poll_json(p, *results[p.id], mine=mine[p.id]) for p in polls]

    async def create(self, db: AsyncSession, who: Principal, slot_id: int, data: dict[str, Any]) -> dict[str, Any]:
        require(who)
        assert who.user_id is not None
        slot = await open_slot(db, slot_id, who)
        require_runs(who, slot)
        question = _text(data.get("question", ""), MAX_QUESTION, "question")
        options = parse_options(data.get("options"))
        multiple = data.get("multiple", False)
        if not isinstance(multiple, bool):
            raise AudienceError(MULTIPLE(), "multiple")
        now = utcnow()
        opening = data.get("open") is True
        poll = Poll(slot_id=slot.id, question=question, options=options, multiple=multiple, created_by=who.user_id,
                    state=PollState.OPEN.value if opening else PollState.DRAFT.value, created_at=now,
                    opened_at=now if opening else None)
        db.add(poll)
        await db.commit()
        return await self._announce(db, poll)

    async def _poll(self, db: AsyncSession, who: Principal, poll_id: int) -> tuple[Slot, Poll]:
        poll = await db.get(Poll, poll_id)
        if poll is None:
            raise AudienceNotFound(NO_POLL(id=poll_id))
        slot = await get_visible_slot(db, poll.slot_id, who)
        if poll.state == PollState.DRAFT.value and not runs(who, slot):
            raise AudienceNotFound(NO_POLL(id=poll_id))
        return slot, poll

    async def move(self, db: AsyncSession, who: Principal, poll_id: int, state: PollState) -> dict[str, Any]:
        """Open a draft, or close an open poll."""
        require(who)
        slot, poll = await self._poll(db, who, poll_id)
        require_runs(who, slot)
        before = PollState.DRAFT.value if state is PollState.OPEN else PollState.OPEN.value
        if poll.state != before:
            raise AudienceConflict(ALREADY(id=poll_id, state=poll.state))
        poll.state = state.value
        if state is PollState.OPEN:
            poll.opened_at = utcnow()
        else:
            poll.closed_at = utcnow()
        await db.commit()
        return await self._announce(db, poll)

    async def remove(self, db: AsyncSession, who: Principal, poll_id: int) -> None:
        require(who)
        slot, poll = await self._poll(db, who, poll_id)
        require_runs(who, slot)
        await db.delete(poll)
        await db.commit()
        await announce(self.bus, slot.id, {"type": "poll_removed", "id": poll_id}, {"type": "poll_removed", "id": poll_id})

    async def vote(self, db: AsyncSession, who: Principal, poll_id: int, raw: Any) -> dict[str, Any]:
        """``who``'s choices (replacing an earlier vote); the poll with its counts and ``mine``."""
        require(who)
        assert who.user_id is not None
        slot, poll = await self._poll(db, who, poll_id)
        if poll.state != PollState.OPEN.value:
            raise AudienceConflict(NOT_OPEN(id=poll_id))
        choices = parse_choices(poll, raw)
        await self.limiter.check(f"pvote:{who.user_id}")
        earlier = await db.scalar(select(func.count()).where(PollVote.poll_id == poll.id, PollVote.user_id == who.user_id))
        await db.execute(delete(PollVote).where(PollVote.poll_id == poll.id, PollVote.user_id == who.user_id))
        db.add_all([PollVote(poll_id=poll.id, user_id=who.user_id, choice=c) for c in choices])
        await db.commit()
        body = await self._json(db, poll)
        self._tally_soon(poll.id)
        if not earlier:
            await count_for_booth(self.bus, slot, "poll_votes")
        return {**body, "mine": choices}


async def polls_timeline(
    db: AsyncSession, polls: Polls, slot_id: int, at: Callable[[dt.datetime], float | None]
) -> list[dict[str, Any]]:
    """The polls that went to the audience, with their final results, where they opened (``at``) and closed (``closed_at_s``)."""
    rows = (await db.scalars(
        select(Poll).where(Poll.slot_id == slot_id, Poll.state != PollState.DRAFT.value).order_by(Poll.opened_at, Poll.id)
    )).all()
    results = await polls.results(db, rows)
    out = []
    for poll in rows:
        opened = at(poll.opened_at) if poll.opened_at else None
        if opened is None:
            continue
        closed = at(poll.closed_at) if poll.closed_at else None
        out.append({**poll_json(poll, *results[poll.id]), "at": round(max(0.0, opened), 3),
                    "closed_at_s": None if closed is None else round(max(0.0, closed), 3)})
    return out
