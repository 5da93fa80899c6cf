"""Q&A at a launch: visitors ask and upvote; the presenters and moderators approve, answer, pin, dismiss.

A question is plain text (:func:`streaming.chat.clean_text`, at most
:data:`MAX_LENGTH` characters). A chat mute applies here too. Each user asks
at most :data:`ASK_LIMIT` questions per :data:`ASK_WINDOW` seconds and votes
at most :data:`VOTE_LIMIT` times per :data:`VOTE_WINDOW` (both shared by every
node with the Redis bus). A vote toggles: one per user and question.

The audience sees approved questions that are neither dismissed nor deleted,
anonymous ones without their author; the slot's runners
(:func:`streaming.audience.runs`) see every question with its author.
Lists come sorted as the presenter wants them: pinned first, then by votes,
then oldest first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo.bus import EventBus
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require
from cloudexpo.ratelimit import RateLimiter, SharedRateLimiter

from .audience import (
    AudienceError,
    AudienceNotFound,
    announce,
    count_for_booth,
    open_slot,
    require_runs,
    runs,
)
from .chat import MUTED as CHAT_MUTED
from .chat import Chat, ChatError, ChatMuted, clean_text, offset_ms
from .models import Slot
from .qa_models import Question, QuestionVote
from .schedule import get_slot, get_visible_slot

MAX_LENGTH = 300
MAX_ANSWER = 1000
ASK_LIMIT, ASK_WINDOW = 3, 60.0
VOTE_LIMIT, VOTE_WINDOW = 60, 60.0

NO_QUESTION = message("qa.no_question", "There is no question {id}.")
ONLY_MODERATORS_DELETE = message("qa.delete_forbidden", "Only moderators delete questions.")
NOT_YET_VISIBLE = message("qa.not_visible", "Question {id} is not open for votes.")
FLAG = message("qa.flag", "'{name}' is true or false.")
ANSWER_TEXT = message("qa.answer_text", "Send the answer as text.")

FLAGS = ("approved", "pinned", "dismissed", "answered_live")


def visible(question: Question) -> bool:
    return question.approved and not question.dismissed and not question.deleted


def sort_key(question: Question) -> tuple[int, int, int]:
    return (0 if question.pinned else 1, -question.votes, question.id)


def question_json(question: Question, *, staff: bool = False) -> dict[str, Any]:
    """A question as the audience sees it, or (``staff``) with its author and state."""
    out: dict[str, Any] = {
        "id": question.id,
        "slot_id": question.slot_id,
        "author": None if question.anonymous and not staff else question.author,
        "anonymous": question.anonymous,
        "text": question.text,
        "votes": question.votes,
        "pinned": question.pinned,
        "answer": question.answer,
        "answered_live": question.answered_live,
        "answered": bool(question.answer) or question.answered_live,
        "answered_at": question.answered_at.isoformat() if question.answered_at else None,
        "created_at": question.created_at.isoformat(),
        "offset_ms": question.offset_ms,
    }
    if staff:
        out.update(user_id=question.user_id, approved=question.approved, dismissed=question.dismissed)
    return out


class Questions:
    """Q&A rules and the rate limits (shared by every node with the Redis bus)."""

    def __init__(
        self, bus: EventBus, chat: Chat, *,
        ask_limiter: RateLimiter | SharedRateLimiter | None = None,
        vote_limiter: RateLimiter | SharedRateLimiter | None = None,
    ) -> None:
        self.bus = bus
        self.chat = chat
        self.ask_limiter = ask_limiter or RateLimiter(ASK_LIMIT, ASK_WINDOW)
        self.vote_limiter = vote_limiter or RateLimiter(VOTE_LIMIT, VOTE_WINDOW)

    async def _announce(self, slot: Slot, question: Question) -> None:
        public = (
            {"type": "question", "question": question_json(question)}
            if visible(question) else {"type": "question_removed", "id": question.id}
        )
        await announce(self.bus, slot.id, public, {"type": "question_staff", "question": question_json(question, staff=True)})

    async def listing(self, db: AsyncSession, who: Principal, slot_id: int) -> tuple[Slot, list[Question], set[int]]:
        """The slot's questions as ``who`` may see them, sorted, and the ids ``who`` voted for."""
        slot = await get_visible_slot(db, slot_id, who)
        query = select(Question).where(Question.slot_id == slot_id, Question.deleted.is_(False))
        if not runs(who, slot):
            query = query.where(Question.approved.is_(True), Question.dismissed.is_(False))
        rows = sorted((await db.scalars(query)).all(), key=sort_key)
        voted: set[int] = set()
        if who.user_id is not None and rows:
            voted = set((await db.scalars(
                select(QuestionVote.question_id).where(
                    QuestionVote.user_id == who.user_id, QuestionVote.question_id.in_([q.id for q in rows])
                )
            )).all())
        return slot, rows, voted

    async def ask(self, db: AsyncSession, who: Principal, slot_id: int, raw: Any, *, anonymous: bool = False) -> Question:
        require(who)
        assert who.user_id is not None
        slot = await open_slot(db, slot_id, who)
        try:
            body = clean_text(raw, MAX_LENGTH)
        except ChatError as exc:
            raise AudienceError(exc.args[0], "text") from None
        if await self.chat.is_muted(db, slot_id, who.user_id):
            raise ChatMuted(CHAT_MUTED())
        await self.ask_limiter.check(f"ask:{who.user_id}")
        now = utcnow()
        question = Question(
            slot_id=slot_id, user_id=who.user_id, author=who.display_name or "—", anonymous=bool(anonymous),
            text=body, approved=not slot.qa_moderated or runs(who, slot), pinned=False, dismissed=False,
            deleted=False, votes=0, answered_live=False, created_at=now, offset_ms=offset_ms(slot, now),
        )
        db.add(question)
        await db.commit()
        await self._announce(slot, question)
        await count_for_booth(self.bus, slot, "questions")
        return question

    async def _question(self, db: AsyncSession, who: Principal, question_id: int) -> tuple[Slot, Question]:
        question = await db.get(Question, question_id)
        if question is None or question.deleted:
            raise AudienceNotFound(NO_QUESTION(id=question_id))
        slot = await get_visible_slot(db, question.slot_id, who)
        if not visible(question) and not runs(who, slot):
            raise AudienceNotFound(NO_QUESTION(id=question_id))
        return slot, question

    async def vote(self, db: AsyncSession, who: Principal, question_id: int) -> tuple[Question, bool]:
        """Add ``who``'s vote, or take it back when given already; returns the question and whether it is now voted."""
        require(who)
        assert who.user_id is not None
        slot, question = await self._question(db, who, question_id)
        if not visible(question):
            raise AudienceError(NOT_YET_VISIBLE(id=question_id))
        await self.vote_limiter.check(f"qvote:{who.user_id}")
        removed = await db.execute(
            delete(QuestionVote).where(QuestionVote.question_id == question.id, QuestionVote.user_id == who.user_id)
        )
        voted = not removed.rowcount  # type: ignore[attr-defined]
        if voted:
            db.add(QuestionVote(question_id=question.id, user_id=who.user_id))
        try:
            await db.flush()
        except IntegrityError:  # the same user's other tab voted in between: that vote stands
            await db.rollback()
            again = await db.get(Question, question_id, populate_existing=True)
            assert again is not None
            return again, True
        # counted in the database, so two nodes' votes at once add up
        await db.execute(
            update(Question).where(Question.id == question.id)
            .values(votes=Question.votes + (1 if voted else -1))
        )
        await db.commit()
        await db.refresh(question)
        await self._announce(slot, question)
        return question, voted

    async def change(self, db: AsyncSession, who: Principal, question_id: int, data: dict[str, Any]) -> Question:
        """Approve, pin, dismiss, answer (text and/or "answered live"): the slot's runners only."""
        require(who)
        slot, question = await self._question(db, who, question_id)
        require_runs(who, slot)
        for name in FLAGS:
            if name in data:
                value = data[name]
                if not isinstance(value, bool):
                    raise AudienceError(FLAG(name=name), name)
                setattr(question, name, value)
        if "answer" in data:
            raw = data["answer"]
            if raw is None or raw == "":
                question.answer = None
            elif not isinstance(raw, str):
                raise AudienceError(ANSWER_TEXT(), "answer")
            else:
                try:
                    question.answer = clean_text(raw, MAX_ANSWER)
                except ChatError as exc:
                    raise AudienceError(exc.args[0], "answer") from None
        answered = bool(question.answer) or question.answered_live
        if answered and question.answered_at is None:
            question.answered_at, question.answered_by = utcnow(), who.user_id
        elif not answered:
            question.answered_at = question.answered_by = None
        await db.commit()
        await self._announce(slot, question)
        return question

    async def delete(self, db: AsyncSession, who: Principal, question_id: int) -> Question:
        require(who)
        if not who.is_moderator:
            raise Forbidden(ONLY_MODERATORS_DELETE())
        question = await db.get(Question, question_id)
        if question is None or question.deleted:
            raise AudienceNotFound(NO_QUESTION(id=question_id))
        slot = await get_slot(db, question.slot_id)
        question.deleted = True
        await db.commit()
        await self._announce(slot, question)
        return question

    async def set_moderated(self, db: AsyncSession, who: Principal, slot_id: int, moderated: Any) -> Slot:
        """Whether questions wait for approval before the audience sees them."""
        slot = await get_visible_slot(db, slot_id, who)
        require_runs(who, slot)
        if not isinstance(moderated, bool):
            raise AudienceError(FLAG(name="moderated"), "moderated")
        slot.qa_moderated = moderated
        await db.commit()
        await announce(self.bus, slot.id, None, {"type": "qa_settings", "moderated": moderated})
        return slot


async def questions_timeline(
    db: AsyncSession, slot_id: int, at: Callable[[dt.datetime], float | None]
) -> list[dict[str, Any]]:
    """The questions the audience saw, each with its place in the replay (``at``) and its answer's (``answer_at``)."""
    rows: Iterable[Question] = (
        await db.scalars(select(Question).where(Question.slot_id == slot_id).order_by(Question.created_at, Question.id))
    ).all()
    out = []
    for question in rows:
        if not visible(question):
            continue
        asked = at(question.created_at)
        if asked is None:
            continue
        answered = at(question.answered_at) if question.answered_at else None
        out.append({**question_json(question), "at": round(max(0.0, asked), 3),
                    "answer_at": None if answered is None else round(max(0.0, answered), 3)})
    return out
