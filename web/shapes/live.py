"""The JSON of the live programme: slots and their URLs."""

from __future__ import annotations

from typing import Any

from cloudexpo.i18n import pick
from streaming.models import Slot, Stage


def slot_urls(base: str, slot_id: int) -> dict[str, str]:
    return {
        "whip_url": f"{base}/whip/{slot_id}",
        "whep_url": f"{base}/whep/{slot_id}",
        "watch_url": f"{base}/live/{slot_id}",
        "golive_url": f"{base}/dashboard/live/{slot_id}",
    }


def slot_json(slot: Slot, lang: str, base: str, stage: Stage | None = None, *, viewers: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": slot.id,
        "stage_id": slot.stage_id,
        "booth_id": slot.booth_id,
        "exhibitor_id": slot.exhibitor_id,
        "forum": slot.forum,
        "title": pick(slot.title, lang).text,
        "titles": slot.title,
        "description": pick(slot.description, lang).text,
        "speakers": slot.speakers,
        "starts_at": slot.starts_at.isoformat(),
        "ends_at": slot.ends_at.isoformat(),
        "state": slot.state,
        "approved": slot.approved,
        "requested_by": slot.requested_by,
        "live_at": slot.live_at.isoformat() if slot.live_at else None,
        "ended_at": slot.ended_at.isoformat() if slot.ended_at else None,
        **slot_urls(base, slot.id),
    }
    if stage is not None:
        out["stage"] = {"id": stage.id, "slug": stage.slug, "name": pick(stage.name, lang).text, "kind": stage.kind}
    if viewers is not None:
        out["viewers"] = viewers
    return out
