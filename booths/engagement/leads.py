"""The leads inbox: every card, chat contact (shared with consent) and meeting of one exhibitor.

Only that exhibitor's staff and moderators see it. Each lead has a status
(new, contacted, qualified, closed) and a note. A withdrawn card takes its
lead with it.

CSV export (UTF-8 with a byte-order mark, so that spreadsheet programs open
Chinese right; one row per lead; times in UTC, ISO 8601), columns in order:

============== ===========================================================
lead_id        the lead's number
kind           card (left on the booth), chat (shared from a launch's chat), conversation
               (shared in a conversation at the booth) or meeting
status         new, contacted, qualified or closed
name           the visitor's name
organisation   their organisation (cards; meetings: from their profile)
title          their job title
email          their e-mail address
phone          their phone number
message        the card's message, or the meeting request's note
booth          the booth number the card was left on
meeting_start  the meeting's start (meetings only)
meeting_state  pending, accepted, declined or cancelled (meetings only)
note           the exhibitor's own note
created_at     when the lead arrived
updated_at     when its status or note last changed
============== ===========================================================
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement.models import LEAD_STATUSES, Card, Lead, Meeting, Profile
from booths.errors import Invalid, NotFound
from booths.exhibition.models import Booth
from cloudexpo.accounts import Role, User
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require, require_exhibitor_access

STATUS = message("lead.status", "'status' is one of {statuses}.")
STAFF_ONLY = message("lead.staff_only", "Only exhibitor staff and moderators keep leads.")
NO_LEAD = message("lead.no_lead", "There is no lead {id} in your inbox.")
NOTE_TEXT = message("lead.note_text", "'note' must be text.")
NOTE_LONG = message("lead.note_long", "'note' is longer than 4000 characters.")

CSV_COLUMNS = (
    "lead_id", "kind", "status", "name", "organisation", "title", "email", "phone", "message", "booth",
    "meeting_start", "meeting_state", "note", "created_at", "updated_at",
)


@dataclass
class LeadView:
    lead: Lead
    name: str = ""
    organisation: str = ""
    title: str = ""
    email: str = ""
    phone: str = ""
    message: str = ""
    booth: str = ""
    meeting_start: dt.datetime | None = None
    meeting_state: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.lead.id, "kind": self.lead.kind, "status": self.lead.status, "note": self.lead.note,
            "name": self.name, "organisation": self.organisation, "title": self.title, "email": self.email,
            "phone": self.phone, "message": self.message, "booth": self.booth,
            "meeting_start": self.meeting_start.isoformat() if self.meeting_start else None,
            "meeting_state": self.meeting_state or None,
            "created_at": self.lead.created_at.isoformat(), "updated_at": self.lead.updated_at.isoformat(),
        }

    def csv_row(self) -> list[str]:
        data = self.as_json()
        return [
            str(self.lead.id), self.lead.kind, self.lead.status, self.name, self.organisation, self.title, self.email,
            self.phone, self.message, self.booth, data["meeting_start"] or "", self.meeting_state, self.lead.note,
            data["created_at"], data["updated_at"],
        ]


async def inbox(session: AsyncSession, principal: Principal, exhibitor_id: int, *, status: str | None = None,
                kind: str | None = None) -> list[LeadView]:
    """The exhibitor's leads, newest first (staff of this exhibitor or a moderator only)."""
    require_exhibitor_access(principal, exhibitor_id)
    if status and status not in LEAD_STATUSES:
        raise Invalid(STATUS(statuses=", ".join(LEAD_STATUSES)), "status")
    query = select(Lead).where(Lead.exhibitor_id == exhibitor_id)
    if status:
        query = query.where(Lead.status == status)
    if kind:
        query = query.where(Lead.kind == kind)
    leads = list((await session.scalars(query.order_by(Lead.created_at.desc(), Lead.id.desc()))).all())
    card_ids = [x.card_id for x in leads if x.card_id is not None]
    meeting_ids = [x.meeting_id for x in leads if x.meeting_id is not None]
    cards: dict[int, tuple[Card, str]] = {}
    if card_ids:
        rows = await session.execute(
            select(Card, Booth.number).join(Booth, Booth.id == Card.booth_id).where(Card.id.in_(card_ids))
        )
        cards = {c.id: (c, number) for c, number in rows.all()}
    meetings: dict[int, tuple[Meeting, User, Profile | None]] = {}
    if meeting_ids:
        rows2 = await session.execute(
            select(Meeting, User, Profile).join(User, User.id == Meeting.visitor_id)
            .outerjoin(Profile, Profile.user_id == User.id).where(Meeting.id.in_(meeting_ids))
        )
        meetings = {m.id: (m, u, p) for m, u, p in rows2.all()}
    views: list[LeadView] = []
    for lead in leads:
        view = LeadView(lead)
        if lead.card_id in cards:
            card, number = cards[lead.card_id]
            view.name, view.organisation, view.title = card.name, card.organisation, card.title
            view.email, view.phone, view.message, view.booth = card.email, card.phone, card.message, number
        elif lead.meeting_id in meetings:
            meeting, user, profile = meetings[lead.meeting_id]
            view.name, view.email, view.message = user.display_name, user.email, meeting.note
            if profile is not None:
                view.organisation = profile.organisation or profile.institution
                view.title, view.phone = profile.title, profile.phone
            view.meeting_start, view.meeting_state = meeting.starts_at, meeting.state
        else:
            continue
        views.append(view)
    return views


async def update(session: AsyncSession, principal: Principal, lead_id: int, data: dict[str, Any]) -> Lead:
    require(principal)
    if not (principal.is_moderator or principal.role is Role.EXHIBITOR):
        raise Forbidden(STAFF_ONLY())
    lead = await session.get(Lead, lead_id)
    if lead is None or not principal.can_manage_exhibitor(lead.exhibitor_id):
        # Another exhibitor's lead is "not there" for this asker: its existence is not told.
        raise NotFound(NO_LEAD(id=lead_id))
    if "status" in data:
        status = str(data["status"] or "")
        if status not in LEAD_STATUSES:
            raise Invalid(STATUS(statuses=", ".join(LEAD_STATUSES)), "status")
        lead.status = status
    if "note" in data:
        note = data["note"]
        if not isinstance(note, str):
            raise Invalid(NOTE_TEXT(), "note")
        if len(note) > 4000:
            raise Invalid(NOTE_LONG(), "note")
        lead.note = note.strip()
    lead.updated_at = utcnow()
    await session.flush()
    return lead


def to_csv(views: list[LeadView]) -> bytes:
    """The inbox as CSV: UTF-8 with a BOM, one row per lead, :data:`CSV_COLUMNS`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for view in views:
        writer.writerow([_safe_cell(v) for v in view.csv_row()])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _safe_cell(value: str) -> str:
    """Keep spreadsheet programs from running a visitor's text as a formula."""
    if value and value[0] in "=+-@\t\r" and not _is_number(value):
        return "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


async def new_count(session: AsyncSession, exhibitor_id: int) -> int:
    """Leads of the exhibitor nobody has answered yet (status ``new``): the dashboard's count."""
    query = select(func.count(Lead.id)).where(Lead.exhibitor_id == exhibitor_id, Lead.status == "new")
    return int(await session.scalar(query) or 0)
