"""A pinned message at a launch: one chat message, or a notice, shown above the chat and on the player.

Moderators and the slot's presenters (its exhibitor's staff) pin and unpin;
pinning replaces what was pinned. Every change goes out on the slot's bus
topic as ``{"type": "pinned", "slot": 12, "pin": {...}}`` (``pin`` null when
unpinned). Rows stay when unpinned (``unpinned_at``), so the replay shows what
was pinned at each moment.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo.bus import BusError, EventBus
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require

from .chat import NO_MESSAGE, ChatError, clean_text, topic
from .models import ChatMessage, ChatPin
from .schedule import get_visible_slot

log = logging.getLogger(__name__)

ONLY_PRESENTERS_PIN = message("chat.pin_forbidden", "Only moderators and the launch's presenters pin messages.")
PIN_WHAT = message("chat.pin_what", "Pin a chat message (message_id) or write a notice (text).")


def pin_json(pin: ChatPin | None) -> dict[str, Any] | None:
    if pin is None:
        return None
    return {"id": pin.id, "message_id": pin.message_id, "author": pin.author, "text": pin.text,
            "pinned_at": pin.pinned_at.isoformat()}


async def current_pin(db: AsyncSession, slot_id: int) -> ChatPin | None:
    return await db.scalar(
        select(ChatPin).where(ChatPin.slot_id == slot_id, ChatPin.unpinned_at.is_(None)).order_by(ChatPin.id.desc()).limit(1)
    )


async def all_pins(db: AsyncSession, slot_id: int) -> list[ChatPin]:
    """Every pin the slot had, oldest first (for the replay)."""
    return list((await db.scalars(select(ChatPin).where(ChatPin.slot_id == slot_id).order_by(ChatPin.pinned_at, ChatPin.id))).all())


class Pins:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def pin(
        self, db: AsyncSession, principal: Principal, slot_id: int, *,
        message_id: int | None = None, text: Any = None,
    ) -> ChatPin:
        """Pin chat message ``message_id`` of this slot, or a notice ``text`` signed by the asker."""
        require(principal)
        assert principal.user_id is not None
        slot = await get_visible_slot(db, slot_id, principal)
        if not principal.can_manage_exhibitor(slot.exhibitor_id):
            raise Forbidden(ONLY_PRESENTERS_PIN())
        if message_id is not None:
            found = await db.get(ChatMessage, message_id)
            if found is None or found.slot_id != slot_id or found.deleted:
                raise ChatError(NO_MESSAGE(id=message_id))
            author, body = found.author, found.text
        elif text is not None:
            author, body = principal.display_name or "—", clean_text(text)
        else:
            raise ChatError(PIN_WHAT())
        now = utcnow()
        await self._unpin_all(db, slot_id, now)
        pin = ChatPin(slot_id=slot_id, message_id=message_id, author=author, text=body,
                      pinned_by=principal.user_id, pinned_at=now)
        db.add(pin)
        await db.commit()
        await self._tell(slot_id, pin)
        return pin

    async def unpin(self, db: AsyncSession, principal: Principal, slot_id: int) -> None:
        require(principal)
        slot = await get_visible_slot(db, slot_id, principal)
        if not principal.can_manage_exhibitor(slot.exhibitor_id):
            raise Forbidden(ONLY_PRESENTERS_PIN())
        await self._unpin_all(db, slot_id, utcnow())
        await db.commit()
        await self._tell(slot_id, None)

    async def _unpin_all(self, db: AsyncSession, slot_id: int, now: Any) -> None:
        for pin in (await db.scalars(select(ChatPin).where(ChatPin.slot_id == slot_id, ChatPin.unpinned_at.is_(None)))).all():
            pin.unpinned_at = now

    async def _tell(self, slot_id: int, pin: ChatPin | None) -> None:
        try:
            await self.bus.publish(topic(slot_id), {"type": "pinned", "slot": slot_id, "pin": pin_json(pin)})
        except BusError as exc:  # it holds; pages show it when they load
            log.warning("chat: pin of slot %d not sent live: %s", slot_id, exc)
