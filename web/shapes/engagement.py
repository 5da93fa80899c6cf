"""The JSON of engagement: business cards, meeting slots, meetings and expert profiles."""

from __future__ import annotations

from typing import Any

from booths.engagement.cards import FIELDS
from booths.engagement.models import Card, Meeting, MeetingSlot, Profile
from cloudexpo.accounts import User


def card_json(card: Card) -> dict[str, Any]:
    return {
        "id": card.id,
        "booth_id": card.booth_id,
        "source": card.source,
        **{name: getattr(card, name) for name in FIELDS},
        "consent": card.consent,
        "created_at": card.created_at.isoformat(),
    }


def meeting_slot_json(slot: MeetingSlot) -> dict[str, Any]:
    return {
        "id": slot.id, "host_id": slot.host_id, "exhibitor_id": slot.exhibitor_id,
        "starts_at": slot.starts_at.isoformat(), "ends_at": slot.ends_at.isoformat(),
        "mode": slot.mode, "location": slot.location, "cancelled": slot.cancelled,
    }


def meeting_json(meeting: Meeting, slot: MeetingSlot | None = None) -> dict[str, Any]:
    out = {
        "id": meeting.id, "slot_id": meeting.slot_id, "host_id": meeting.host_id, "exhibitor_id": meeting.exhibitor_id,
        "visitor_id": meeting.visitor_id, "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(), "note": meeting.note, "state": meeting.state,
        "created_at": meeting.created_at.isoformat(),
    }
    if slot is not None:
        out["mode"] = slot.mode
        # The link or table is for the two people in the meeting, once accepted.
        out["location"] = slot.location if meeting.state == "accepted" else ""
    return out


def profile_json(user: User, profile: Profile | None) -> dict[str, Any]:
    return {
        "user_id": user.id, "name": user.display_name,
        "is_expert": bool(profile and profile.is_expert),
        "institution": profile.institution if profile else "",
        "field": profile.field if profile else "",
        "languages": list(profile.languages or []) if profile else [],
        "title": profile.title if profile else "",
        "bio": profile.bio if profile else "",
    }
