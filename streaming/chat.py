"""Chat beside a broadcast: messages, moderation, and their place in the broadcast.

Messages are plain text: control characters are removed and whitespace is
folded; nothing is ever interpreted as HTML (pages escape it, scripts set
``textContent``). Each message stores ``offset_ms``, the milliseconds since the
slot went on air (``Slot.live_at``), so the replay can show it at the same
moment; ``created_at`` (UTC) is kept too.

Everything a chat does is published on the bus topic ``slot.{id}`` (see
:func:`topic`), so viewers on every node see it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo.bus import BusError, EventBus
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require
from cloudexpo.ratelimit import RateLimited, RateLimiter, SharedRateLimiter

from .models import ChatMessage, ChatMute, Slot, SlotState
from .schedule import SlotClosed, get_slot, get_visible_slot

log = logging.getLogger(__name__)

MAX_LENGTH = 500
RATE_LIMIT = 1  # messages ...
RATE_WINDOW = 2.0  # ... per this many seconds, per user
MAX_SLOW_SECONDS = 600
HISTORY = 200

_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
)
_SPACES = re.compile(r"[ \t]+")
_NEWLINES = re.compile(r"\n{3,}")


SEND_TEXT = message("chat.send_text", "Send the message as text.")
WRITE_SOMETHING = message("chat.empty", "Write something before sending.")
TOO_LONG = message("chat.too_long", "Keep a message under {limit} characters; this one has {length}.")
CANCELLED = message("chat.slot_cancelled", "Slot {slot} is cancelled; its chat is closed.")
MUTED = message("chat.muted", "A moderator muted you in this chat.")
ONLY_MODERATORS_DELETE = message("chat.delete_forbidden", "Only moderators delete chat messages.")
NO_MESSAGE = message("chat.no_message", "There is no message {id}.")
ONLY_MODERATORS_MUTE = message("chat.mute_forbidden", "Only moderators mute users.")
ONLY_MODERATORS_UNMUTE = message("chat.unmute_forbidden", "Only moderators unmute users.")
ONLY_MODERATORS_SLOW = message("chat.slow_mode_forbidden", "Only moderators set slow mode.")
SLOW_SECONDS = message("chat.slow_mode_seconds", "Slow mode takes whole seconds from 0 (off) to {limit}.")
SLOW_WAIT = message("chat.slow_mode_wait", "Slow mode is on: one message every {every} s. Wait {seconds} s before sending again.")


class ChatError(Exception):
    """A message that cannot be sent; the message says why."""


class ChatMuted(ChatError):
    pass


class SlowModeSeconds(ChatError):
    """Slow mode asked with seconds out of range."""


class SlowMode(RateLimited):
    """Slow mode holds this user's next message for ``retry_after`` seconds."""

    def __init__(self, retry_after: float, every: int) -> None:
        super().__init__(retry_after)
        self.args = (SLOW_WAIT(every=every, seconds=int(retry_after) + 1),)
        self.every = every


def topic(slot_id: int) -> str:
    """The bus topic of a slot: state, viewer counts and chat."""
    return f"slot.{slot_id}"


def staff_topic(slot_id: int) -> str:
    """The bus topic of what only the slot's presenters and moderators see (questions waiting, draft polls)."""
    return f"slot.{slot_id}.staff"


def clean_text(raw: str, limit: int = MAX_LENGTH) -> str:
    """Plain text of at most ``limit`` characters: NFC, no control or direction-override characters, folded whitespace."""
    if not isinstance(raw, str):
        raise ChatError(SEND_TEXT())
    text_value = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n")
    text_value = _CONTROL.sub("", text_value)
    text_value = _SPACES.sub(" ", text_value)
    text_value = _NEWLINES.sub("\n\n", text_value).strip()
    if not text_value:
        raise ChatError(WRITE_SOMETHING())
    if len(text_value) > limit:
        raise ChatError(TOO_LONG(limit=limit, length=len(text_value)))
    return text_value


def offset_ms(slot: Slot, at: dt.datetime) -> int | None:
    """Milliseconds between the slot going on air and ``at``; None before it went on air."""
    if slot.live_at is None:
        return None
    return max(0, int((at - slot.live_at).total_seconds() * 1000))


def message_json(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "slot_id": message.slot_id,
        "user_id": message.user_id,
        "author": message.author,
        "text": "" if message.deleted else message.text,
        "created_at": message.created_at.isoformat(),
        "offset_ms": message.offset_ms,
        "deleted": message.deleted,
    }


class Chat:
    """Chat rules: mutes, closed chats and the rate limit (shared by every node with the Redis bus)."""

    def __init__(self, bus: EventBus, limiter: RateLimiter | SharedRateLimiter | None = None) -> None:
        self.bus = bus
        self.limiter = limiter or RateLimiter(RATE_LIMIT, RATE_WINDOW)

    async def is_muted(self, db: AsyncSession, slot_id: int, user_id: int) -> bool:
        found = await db.scalar(
            select(ChatMute.id).where(
                ChatMute.user_id == user_id,
                or_(ChatMute.slot_id == slot_id, ChatMute.slot_id.is_(None)),
            )
        )
        return found is not None

    async def post(
        self, db: AsyncSession, principal: Principal, slot_id: int, raw: str
    ) -> ChatMessage:
        """Store and publish a message; raises ChatError, ChatMuted, RateLimited, NotSignedIn."""
        require(principal)
        assert principal.user_id is not None
        slot = await get_visible_slot(db, slot_id, principal)
        if slot.state == SlotState.CANCELLED.value:
            raise SlotClosed(CANCELLED(slot=slot_id))
        body = clean_text(raw)
        if await self.is_muted(db, slot_id, principal.user_id):
            raise ChatMuted(MUTED())
        now = utcnow()
        await self.hold_for_slow_mode(db, principal, slot, now)
        await self.limiter.check(f"chat:{principal.user_id}")
        message = ChatMessage(
            slot_id=slot_id,
            user_id=principal.user_id,
            author=principal.display_name or "—",
            text=body,
            created_at=now,
            offset_ms=offset_ms(slot, now),
            deleted=False,
        )
        db.add(message)
        await db.commit()
        try:
            await self.bus.publish(
                topic(slot_id), {"type": "chat", "slot": slot_id, "message": message_json(message)}
            )
        except BusError as exc:  # kept: the history shows it, and the bus reconnects by itself
            log.warning("chat: message %d kept but not sent live: %s", message.id, exc)
        return message

    async def hold_for_slow_mode(self, db: AsyncSession, principal: Principal, slot: Slot, now: dt.datetime) -> None:
        """Raise :class:`SlowMode` while the user's last message is too recent (moderators and the presenters write freely)."""
        every = slot.chat_slow_seconds or 0
        if every <= 0 or principal.can_manage_exhibitor(slot.exhibitor_id):
            return
        last = await db.scalar(
            select(func.max(ChatMessage.created_at)).where(
                ChatMessage.slot_id == slot.id, ChatMessage.user_id == principal.user_id
            )
        )
        if last is None:
            return
        if last.tzinfo is None:  # SQLite hands back naive UTC from an aggregate
            last = last.replace(tzinfo=dt.UTC)
        wait = every - (now - last).total_seconds()
        if wait > 0:
            raise SlowMode(wait, every)

    async def set_slow_mode(self, db: AsyncSession, principal: Principal, slot_id: int, seconds: Any) -> Slot:
        """Moderators set the seconds between a user's messages (0 turns slow mode off); pages learn it live."""
        if not principal.is_moderator:
            raise Forbidden(ONLY_MODERATORS_SLOW())
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= MAX_SLOW_SECONDS:
            raise SlowModeSeconds(SLOW_SECONDS(limit=MAX_SLOW_SECONDS))
        slot = await get_slot(db, slot_id)
        slot.chat_slow_seconds = seconds
        await db.commit()
        try:
            await self.bus.publish(topic(slot_id), {"type": "slow_mode", "slot": slot_id, "seconds": seconds})
        except BusError as exc:  # it holds; pages learn it at their next message
            log.warning("chat: slow mode of slot %d not sent live: %s", slot_id, exc)
        return slot

    async def history(
        self, db: AsyncSession, slot_id: int, limit: int = HISTORY
    ) -> list[ChatMessage]:
        """The latest messages (deleted ones left out), oldest first."""
        rows = await db.scalars(
            select(ChatMessage)
            .where(ChatMessage.slot_id == slot_id, ChatMessage.deleted.is_(False))
            .order_by(ChatMessage.id.desc())
            .limit(limit)
        )
        return list(reversed(rows.all()))

    async def delete(self, db: AsyncSession, principal: Principal, message_id: int) -> ChatMessage:
        if not principal.is_moderator:
            raise Forbidden(ONLY_MODERATORS_DELETE())
        message = await db.get(ChatMessage, message_id)
        if message is None:
            raise ChatError(NO_MESSAGE(id=message_id))
        message.deleted = True
        message.deleted_by = principal.user_id
        await db.commit()
        await self.bus.publish(
            topic(message.slot_id),
            {"type": "chat_deleted", "slot": message.slot_id, "id": message.id},
        )
        return message

    async def mute(
        self, db: AsyncSession, principal: Principal, slot_id: int | None, user_id: int,
        *, seen_in: int | None = None,
    ) -> ChatMute:
        """Mute in one slot's chat, or everywhere (``slot_id`` None; ``seen_in`` is the chat it was done from)."""
        if not principal.is_moderator:
            raise Forbidden(ONLY_MODERATORS_MUTE())
        assert principal.user_id is not None
        if slot_id is not None:
            await get_slot(db, slot_id)
        mute = ChatMute(slot_id=slot_id, user_id=user_id, muted_by=principal.user_id)
        db.add(mute)
        await db.commit()
        await self._tell(slot_id or seen_in, "muted", user_id)
        return mute

    async def _tell(self, slot_id: int | None, kind: str, user_id: int) -> None:
        """Tell the chat's open pages that a user was muted or unmuted (their input follows)."""
        if slot_id is None:
            return
        try:
            await self.bus.publish(topic(slot_id), {"type": kind, "slot": slot_id, "user_id": user_id})
        except BusError as exc:  # the mute holds; the page learns it at its next message
            log.warning("chat: %s of user %d in slot %d not sent live: %s", kind, user_id, slot_id, exc)

    async def unmute(
        self, db: AsyncSession, principal: Principal, slot_id: int | None, user_id: int
    ) -> int:
        """Lift a user's mutes in one slot's chat (``slot_id``) or everywhere (None)."""
        if not principal.is_moderator:
            raise Forbidden(ONLY_MODERATORS_UNMUTE())
        rows = (
            await db.scalars(
                select(ChatMute).where(
                    ChatMute.user_id == user_id,
                    ChatMute.slot_id == slot_id
                    if slot_id is not None
                    else ChatMute.slot_id.is_(None),
                )
            )
        ).all()
        for row in rows:
            await db.delete(row)
        await db.commit()
        if rows and slot_id is not None and not await self.is_muted(db, slot_id, user_id):
            await self._tell(slot_id, "unmuted", user_id)
        return len(rows)
