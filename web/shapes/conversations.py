"""The JSON of booth conversations, their messages and a booth's presence (shapes in ``/work/wt/CONVERSATIONS.md``)."""

from __future__ import annotations

from typing import Any

from booths.engagement.conversations import Summary
from booths.engagement.models import ConversationMessage, Profile
from booths.engagement.presence import initials
from cloudexpo.accounts import User
from cloudexpo.i18n import pick


def person_json(user: User | None) -> dict[str, Any]:
    if user is None:
        return {"id": None, "name": "—", "initials": "?"}
    return {"id": user.id, "name": user.display_name, "initials": initials(user.display_name)}


def message_json(note: ConversationMessage, sender: User | None, *, moderator: bool = False) -> dict[str, Any]:
    """A message as one reader sees it: a removed one without its text, but for a ``moderator``."""
    removed = note.removed_at is not None
    return {
        "id": note.id, "conversation_id": note.conversation_id, "sender": person_json(sender), "side": note.side,
        "text": note.text if moderator or not removed else "", "created_at": note.created_at.isoformat(),
        "removed": removed,
    }


def conversation_json(view: Summary, language: str, *, lead_id: int | None = None,
                      last_sender: User | None = None, visitor_blocked: bool = False) -> dict[str, Any]:
    c, booth = view.conversation, view.booth
    return {
        "id": c.id,
        "booth": {"id": booth.id, "number": booth.number, "name": pick(booth.name, language).text},
        "exhibitor_id": c.exhibitor_id,
        "visitor": person_json(view.visitor),
        "side": view.side,
        "started_at": c.started_at.isoformat(),
        "last_message_at": c.last_message_at.isoformat(),
        "last_message": message_json(view.last, last_sender, moderator=view.side == "moderator")
        if view.last is not None else None,
        "unread": view.unread,
        "lead_id": lead_id,
        "left_message": c.left_message,
        "reported": c.reported_at is not None,
        "report_reason": c.report_reason if view.side == "moderator" else None,
        "visitor_blocked": visitor_blocked if view.side == "moderator" else None,
        "url": f"/conversations/{c.id}",
    }


def staff_json(user: User, profile: Profile | None) -> dict[str, Any]:
    """Who is at the booth: name, their title as the role, the avatar's initials."""
    return {"id": user.id, "name": user.display_name, "role": profile.title if profile else "",
            "initials": initials(user.display_name)}
