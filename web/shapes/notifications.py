"""The JSON of a signed-in user's notifications."""

from __future__ import annotations

from typing import Any

from booths.engagement.models import Notification
from booths.engagement.notify import render


def notification_json(note: Notification, language: str, timezone: str) -> dict[str, Any]:
    title, body = render(note.kind, note.params or {}, language, timezone)
    return {
        "id": note.id, "kind": note.kind, "title": title, "body": body, "url": note.url,
        "read": note.read_at is not None, "created_at": note.created_at.isoformat(),
    }
