"""Helpers for the live tests: stages and slots straight in the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloudexpo.services import Services
from streaming.models import Slot, StageKind
from streaming.schedule import SlotInput, create_slot, ensure_stage, token_of


async def make_slot(
    services: Services,
    *,
    start_in: dt.timedelta = dt.timedelta(minutes=-1),
    minutes: int = 30,
    booth_id: int | None = 7,
    exhibitor_id: int | None = 70,
    stage: str = "release-a",
    kind: StageKind = StageKind.RELEASE,
    **changes: Any,
) -> tuple[int, str]:
    """A slot (id, WHIP token) starting ``start_in`` from now on ``stage``."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    async with services.db.session() as db:
        st = await ensure_stage(db, stage, {"en": stage, "zh-Hans": stage}, kind=kind)
        slot = await create_slot(db, services.secret_key, SlotInput(
            stage_id=st.id,
            title={"en": f"Launch on {stage}", "zh-Hans": "新品发布"},
            starts_at=now + start_in,
            ends_at=now + start_in + dt.timedelta(minutes=minutes),
            booth_id=booth_id,
            exhibitor_id=exhibitor_id,
            forum=None if booth_id is not None else "Main forum",
        ))
        for key, value in changes.items():
            setattr(slot, key, value)
        await db.commit()
        return slot.id, token_of(services.secret_key, slot)


async def slot_row(services: Services, slot_id: int) -> Slot:
    async with services.db.session() as db:
        slot = await db.get(Slot, slot_id)
        assert slot is not None
        return slot
