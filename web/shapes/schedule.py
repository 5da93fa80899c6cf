"""The JSON of the schedule's pages: a slot with its booth by number and name, its times as people read them,
and where its request stands."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from booths.exhibition.booth_picker import BoothChoice
from streaming.models import CLOSED_STATES, Slot, SlotState
from web.shapes.live import slot_json
from web.times import when_text


def request_state(slot: Slot) -> str:
    """Where an exhibitor's slot stands: ``pending``, ``declined``, ``cancelled``, ``moved`` or ``approved``.

    (A live or ended slot says so in ``state``; this is the schedule's side.)
    """
    if slot.state == SlotState.DECLINED.value:
        return "declined"
    if slot.state == SlotState.CANCELLED.value:
        return "cancelled"
    if not slot.approved:
        return "pending"
    if slot.previous_starts_at is not None:
        return "moved"
    return "approved"


def booth_json(choice: BoothChoice, lang: str) -> dict[str, Any]:
    return {"number": choice.number, "label": choice.label(lang)}


def schedule_slot_json(slot: Slot, lang: str, base: str, zone: ZoneInfo, booth: BoothChoice | None) -> dict[str, Any]:
    out = slot_json(slot, lang, base)
    out.update(
        booth=booth_json(booth, lang) if booth is not None else None,
        when=when_text(slot.starts_at, slot.ends_at, zone=zone, lang=lang),
        request=request_state(slot),
        open=slot.state not in CLOSED_STATES,
        previous_starts_at=slot.previous_starts_at.isoformat() if slot.previous_starts_at else None,
        previous_ends_at=slot.previous_ends_at.isoformat() if slot.previous_ends_at else None,
        previous_when=when_text(slot.previous_starts_at, slot.previous_ends_at, zone=zone, lang=lang)
        if slot.previous_starts_at else None,
        decline_reason=slot.decline_reason,
        sequence=slot.sequence,
    )
    return out
