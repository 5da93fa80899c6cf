"""Matchmaking meetings: hosts offer time slots, visitors request them, hosts answer.

Hosts are exhibitor staff (their slots belong to their exhibitor, and any of
its staff may answer) and experts (users whose profile is flagged
``is_expert`` by a moderator: institution, field, languages), like the
experts of national standards, metrology and quality institutions who met
enterprises at round tables in Chengdu. A slot is online (a link) or at a
table (its name). Times are stored in UTC; a time given without an offset
is read in the exhibition's time zone (or the one the request names).

Nobody is booked twice: a new slot may not overlap the host's other slots
or meetings, a request may not overlap the visitor's pending or accepted
meetings or their own slots, and a slot takes one accepted meeting. The
database enforces the same (``uq_meetings_slot_accepted``,
``uq_meetings_visitor_start``, ``uq_meeting_slots_host_start``), so that two
requests racing past the checks still cannot both win.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement.models import MEETING_MODES, Lead, Meeting, MeetingSlot, Profile
from booths.errors import Conflict, Invalid, NotFound
from cloudexpo.accounts import Role, User
from cloudexpo.db import utcnow
from cloudexpo.messages import message, said_by
from cloudexpo.permissions import Forbidden, Principal, require
from cloudexpo.values import BadValue, parse_int, parse_moment, time_zone

LANGUAGES_LIST = message("meeting.languages", '\'languages\' is a list of language names or codes, like ["zh", "en"].')
NOT_TEXT = message("meeting.not_text", "'{name}' must be text.")
TOO_LONG = message("meeting.too_long", "'{name}' is longer than {limit} characters.")
NO_USER = message("meeting.no_user", "There is no user {id}.")
HOSTING = message("meeting.busy_hosting", "meeting slot {slot} ({time} UTC) that you host")
IN_MEETING = message("meeting.busy_meeting", "meeting {meeting} ({time} UTC)")
LENGTH = message("meeting.length", "A meeting lasts {low} to {high} minutes; this one lasts {length}.")
PAST_OFFER = message("meeting.past_offer", "This time is in the past; offer a time from now on.")
MODE = message("meeting.mode", "'mode' is one of {modes}.")
LOCATION_LONG = message("meeting.location_long", "'location' is longer than 300 characters.")
ONLINE_LINK = message("meeting.online_link", "An online meeting's location is its link, starting with https://.")
TABLE_NAME = message("meeting.table_name", "Name the table for a meeting at a table, like “Round table 12”.")
HOSTS_ONLY = message("meeting.hosts_only", "Only exhibitor staff and experts offer meeting times.")
OVERLAPS = message("meeting.overlaps", "This time overlaps your {reason}; choose another time.")
SAME_START = message("meeting.same_start", "You already offer a slot starting at this time.")
NO_SLOT = message("meeting.no_slot", "There is no meeting slot {id}.")
HOST_WITHDRAWS = message("meeting.host_withdraws", "Only the host can withdraw this slot.")
NOTE_LONG = message("meeting.note_long", "The note is longer than 2000 characters.")
SLOT_GONE = message("meeting.slot_gone", "There is no meeting slot {id}; it may have been withdrawn.")
PAST_SLOT = message("meeting.past_slot", "This slot is in the past; choose one from now on.")
OWN_SLOT = message("meeting.own_slot", "This is your own slot; visitors request it.")
BOOKED = message("meeting.booked", "This slot is already booked; choose another one.")
TWO_PLACES = message("meeting.two_places", "You already have a {reason} at this time; you cannot be in two meetings at once.")
ALREADY_ASKED = message("meeting.already_asked", "You already have a meeting request at this time.")
HOST_ANSWERS = message("meeting.host_answers", "Only the host of this meeting can answer it.")
TOO_LATE = message("meeting.too_late", "This meeting's time has passed; it can no longer be accepted.")
TAKEN = message("meeting.taken", "This slot is already booked by another accepted request.")
JUST_TAKEN = message("meeting.just_taken", "This slot was booked a moment ago; reload and check.")
WHO_CANCELS = message("meeting.who_cancels", "Only the visitor or the host can cancel this meeting.")
NO_MEETING = message("meeting.no_meeting", "There is no meeting {id}.")
REQUEST_IS = message("meeting.request_is", "This request is already {state}.")
MEETING_IS = message("meeting.meeting_is", "This meeting is already {state}.")
STATES = {  # a meeting's state as the messages above name it
    "pending": message("meeting.state_pending", "pending")(),
    "accepted": message("meeting.state_accepted", "accepted")(),
    "declined": message("meeting.state_declined", "declined")(),
    "cancelled": message("meeting.state_cancelled", "cancelled")(),
}

MIN_MINUTES = 5
MAX_MINUTES = 240
OPEN_STATES = ("pending", "accepted")
PROFILE_FIELDS = {"institution": 200, "field": 80, "title": 120, "organisation": 200, "phone": 40, "bio": 4000}


# --- profiles and the expert directory -------------------------------------------------


async def get_profile(session: AsyncSession, user_id: int) -> Profile | None:
    return await session.get(Profile, user_id)


async def save_profile(session: AsyncSession, principal: Principal, data: dict[str, Any]) -> Profile:
    """The principal edits their own profile (``is_expert`` is the moderators' to set)."""
    require(principal)
    profile = await session.get(Profile, principal.user_id)
    if profile is None:
        profile = Profile(user_id=principal.user_id, languages=[])
        session.add(profile)
    for name, limit in PROFILE_FIELDS.items():
        if name in data:
            value = data[name]
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise Invalid(NOT_TEXT(name=name), name)
            if len(value.strip()) > limit:
                raise Invalid(TOO_LONG(name=name, limit=limit), name)
            setattr(profile, name, value.strip())
    if "languages" in data:
        langs = data["languages"]
        if isinstance(langs, str):
            langs = [x.strip() for x in langs.split(",") if x.strip()]
        if not isinstance(langs, list) or not all(isinstance(x, str) and 0 < len(x) <= 20 for x in langs):
            raise Invalid(LANGUAGES_LIST(), "languages")
        profile.languages = langs[:10]
    if "timezone" in data:
        tz = str(data["timezone"] or "").strip()
        if tz:
            zone_or_error(tz)
        profile.timezone = tz
    profile.updated_at = utcnow()
    await session.flush()
    return profile


async def set_expert(session: AsyncSession, principal: Principal, user_id: int, is_expert: bool) -> Profile:
    """A moderator lists (or unlists) a user in the expert directory."""
    require(principal, Role.MODERATOR)
    if await session.get(User, user_id) is None:
        raise NotFound(NO_USER(id=user_id))
    profile = await session.get(Profile, user_id)
    if profile is None:
        profile = Profile(user_id=user_id, languages=[])
        session.add(profile)
    profile.is_expert = is_expert
    profile.updated_at = utcnow()
    await session.flush()
    return profile


async def list_experts(session: AsyncSession, *, field: str | None = None, language: str | None = None,
                       q: str | None = None) -> list[tuple[User, Profile]]:
    query = (
        select(User, Profile).join(Profile, Profile.user_id == User.id)
        .where(Profile.is_expert.is_(True), User.active.is_(True))
    )
    if field:
        query = query.where(Profile.field == field)
    rows = [(u, p) for u, p in (await session.execute(query.order_by(Profile.field, User.display_name))).all()]
    if language:
        rows = [(u, p) for u, p in rows if language.lower() in {x.lower() for x in p.languages or []}]
    if q:
        needle = q.casefold()
        rows = [(u, p) for u, p in rows if needle in f"{u.display_name} {p.institution} {p.field} {p.bio}".casefold()]
    return rows


async def expert_fields(session: AsyncSession) -> list[str]:
    rows = await session.scalars(
        select(Profile.field).where(Profile.is_expert.is_(True), Profile.field != "").distinct().order_by(Profile.field)
    )
    return list(rows.all())


# --- times -----------------------------------------------------------------------------


def zone_or_error(name: str) -> ZoneInfo:
    try:
        return time_zone(name)
    except BadValue as exc:
        raise Invalid(said_by(exc) or str(exc), "timezone") from None


def parse_time(value: Any, name: str, tz: str) -> dt.datetime:
    """An ISO time; without an offset it is read in ``tz``. Returns aware UTC."""
    try:
        return parse_moment(value, name, zone_or_error(tz))
    except BadValue as exc:
        raise Invalid(said_by(exc) or str(exc), name) from None


def overlaps(a_start: dt.datetime, a_end: dt.datetime, b_start: dt.datetime, b_end: dt.datetime) -> bool:
    return a_start < b_end and b_start < a_end


async def busy(session: AsyncSession, user_id: int, start: dt.datetime, end: dt.datetime,
               *, ignore_meeting: int | None = None) -> str | None:
    """Why the user cannot be in a meeting from start to end, or None if they are free."""
    slot = await session.scalar(
        select(MeetingSlot).where(
            MeetingSlot.host_id == user_id, MeetingSlot.cancelled.is_(False),
            MeetingSlot.starts_at < end, MeetingSlot.ends_at > start,
        ).limit(1)
    )
    if slot is not None:
        return HOSTING(slot=slot.id, time=f"{slot.starts_at:%Y-%m-%d %H:%M}")
    query = select(Meeting).where(
        Meeting.visitor_id == user_id, Meeting.state.in_(OPEN_STATES), Meeting.starts_at < end, Meeting.ends_at > start
    )
    if ignore_meeting is not None:
        query = query.where(Meeting.id != ignore_meeting)
    meeting = await session.scalar(query.limit(1))
    if meeting is not None:
        return IN_MEETING(meeting=meeting.id, time=f"{meeting.starts_at:%Y-%m-%d %H:%M}")
    return None


# --- slots ------------------------------------------------------------------------------


@dataclass
class SlotInput:
    starts_at: dt.datetime
    ends_at: dt.datetime
    mode: str
    location: str


def parse_slot(data: dict[str, Any], tz: str, now: dt.datetime) -> SlotInput:
    tz = str(data.get("timezone") or tz)
    start = parse_time(data.get("starts_at"), "starts_at", tz)
    if data.get("ends_at"):
        end = parse_time(data.get("ends_at"), "ends_at", tz)
    else:
        try:
            minutes = parse_int(data.get("minutes") or 30, "minutes", -10**6, 10**6)
        except BadValue as exc:
            raise Invalid(said_by(exc) or str(exc), "minutes") from None
        end = start + dt.timedelta(minutes=minutes)
    length = (end - start).total_seconds() / 60
    if length < MIN_MINUTES or length > MAX_MINUTES:
        raise Invalid(LENGTH(low=MIN_MINUTES, high=MAX_MINUTES, length=f"{length:.0f}"), "ends_at")
    if start <= now:
        raise Invalid(PAST_OFFER(), "starts_at")
    mode = str(data.get("mode") or "online")
    if mode not in MEETING_MODES:
        raise Invalid(MODE(modes=", ".join(MEETING_MODES)), "mode")
    location = str(data.get("location") or "").strip()
    if len(location) > 300:
        raise Invalid(LOCATION_LONG(), "location")
    if mode == "online" and location and not location.startswith(("https://", "http://")):
        raise Invalid(ONLINE_LINK(), "location")
    if mode == "table" and not location:
        raise Invalid(TABLE_NAME(), "location")
    return SlotInput(start, end, mode, location)


async def is_host(session: AsyncSession, principal: Principal) -> bool:
    if principal.role is Role.EXHIBITOR and principal.exhibitor_id is not None:
        return True
    profile = await session.get(Profile, principal.user_id) if principal.signed_in else None
    return bool(profile and profile.is_expert)


async def offer(session: AsyncSession, principal: Principal, data: dict[str, Any], *, tz: str,
                now: dt.datetime | None = None) -> MeetingSlot:
    """A host offers a time; refused if it overlaps anything the host already has."""
    require(principal)
    if not await is_host(session, principal):
        raise Forbidden(HOSTS_ONLY())
    now = now or utcnow()
    slot_in = parse_slot(data, tz, now)
    assert principal.user_id is not None
    reason = await busy(session, principal.user_id, slot_in.starts_at, slot_in.ends_at)
    if reason is not None:
        raise Conflict(OVERLAPS(reason=reason), "starts_at")
    slot = MeetingSlot(
        host_id=principal.user_id,
        exhibitor_id=principal.exhibitor_id if principal.role is Role.EXHIBITOR else None,
        starts_at=slot_in.starts_at, ends_at=slot_in.ends_at, mode=slot_in.mode, location=slot_in.location,
    )
    session.add(slot)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(SAME_START(), "starts_at") from None
    return slot


def can_answer(principal: Principal, host_id: int, exhibitor_id: int | None) -> bool:
    return principal.signed_in and (
        principal.user_id == host_id or (exhibitor_id is not None and principal.is_staff_of(exhibitor_id))
    )


async def cancel_slot(session: AsyncSession, principal: Principal, slot_id: int) -> list[Meeting]:
    """The host withdraws a slot; its open requests are cancelled (returned, to tell the visitors)."""
    require(principal)
    slot = await session.get(MeetingSlot, slot_id)
    if slot is None or slot.cancelled:
        raise NotFound(NO_SLOT(id=slot_id))
    if not (can_answer(principal, slot.host_id, slot.exhibitor_id) or principal.is_moderator):
        raise Forbidden(HOST_WITHDRAWS())
    slot.cancelled = True
    meetings = list((await session.scalars(
        select(Meeting).where(Meeting.slot_id == slot.id, Meeting.state.in_(OPEN_STATES))
    )).all())
    for meeting in meetings:
        meeting.state = "cancelled"
        meeting.decided_at = utcnow()
    await session.flush()
    return meetings


async def open_slots(session: AsyncSession, *, host_id: int | None = None, exhibitor_id: int | None = None,
                     now: dt.datetime | None = None) -> list[MeetingSlot]:
    """Future, not cancelled, not yet accepted slots of a host or an exhibitor."""
    now = now or utcnow()
    taken = select(Meeting.slot_id).where(Meeting.state == "accepted")
    query = select(MeetingSlot).where(
        MeetingSlot.cancelled.is_(False), MeetingSlot.starts_at > now, MeetingSlot.id.not_in(taken)
    )
    if host_id is not None:
        query = query.where(MeetingSlot.host_id == host_id)
    if exhibitor_id is not None:
        query = query.where(MeetingSlot.exhibitor_id == exhibitor_id)
    return list((await session.scalars(query.order_by(MeetingSlot.starts_at))).all())


# --- requests and answers ---------------------------------------------------------------


async def request(session: AsyncSession, principal: Principal, slot_id: int, note: str,
                  now: dt.datetime | None = None) -> Meeting:
    """A visitor asks for a slot; the host answers later."""
    require(principal)
    assert principal.user_id is not None
    now = now or utcnow()
    note = (note or "").strip()
    if len(note) > 2000:
        raise Invalid(NOTE_LONG(), "note")
    slot = await session.get(MeetingSlot, slot_id)
    if slot is None or slot.cancelled:
        raise NotFound(SLOT_GONE(id=slot_id), "slot_id")
    if slot.starts_at <= now:
        raise Invalid(PAST_SLOT(), "slot_id")
    if slot.host_id == principal.user_id or (slot.exhibitor_id is not None and principal.is_staff_of(slot.exhibitor_id)):
        raise Invalid(OWN_SLOT(), "slot_id")
    accepted = await session.scalar(select(Meeting.id).where(Meeting.slot_id == slot.id, Meeting.state == "accepted"))
    if accepted is not None:
        raise Conflict(BOOKED(), "slot_id")
    reason = await busy(session, principal.user_id, slot.starts_at, slot.ends_at)
    if reason is not None:
        raise Conflict(TWO_PLACES(reason=reason), "slot_id")
    meeting = Meeting(
        slot_id=slot.id, host_id=slot.host_id, exhibitor_id=slot.exhibitor_id, visitor_id=principal.user_id,
        starts_at=slot.starts_at, ends_at=slot.ends_at, note=note, state="pending",
        uid=f"meeting-{secrets.token_hex(8)}",
    )
    session.add(meeting)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(ALREADY_ASKED(), "slot_id") from None
    if meeting.exhibitor_id is not None:  # a request to an exhibitor is a lead from the start
        session.add(Lead(exhibitor_id=meeting.exhibitor_id, kind="meeting", meeting_id=meeting.id))
        await session.flush()
    return meeting


@dataclass
class Decision:
    meeting: Meeting
    others_declined: list[Meeting]


async def decide(session: AsyncSession, principal: Principal, meeting_id: int, accept: bool) -> Decision:
    """The host accepts (declining the slot's other requests) or declines a request."""
    require(principal)
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(NO_MEETING(id=meeting_id))
    if not can_answer(principal, meeting.host_id, meeting.exhibitor_id):
        raise Forbidden(HOST_ANSWERS())
    if meeting.state != "pending":
        raise Conflict(REQUEST_IS(state=STATES.get(meeting.state, meeting.state)))
    others: list[Meeting] = []
    if accept:
        if meeting.starts_at <= utcnow():
            raise Conflict(TOO_LATE())
        taken = await session.scalar(
            select(Meeting.id).where(Meeting.slot_id == meeting.slot_id, Meeting.state == "accepted")
        )
        if taken is not None:
            raise Conflict(TAKEN())
        meeting.state = "accepted"
        others = list((await session.scalars(
            select(Meeting).where(Meeting.slot_id == meeting.slot_id, Meeting.id != meeting.id, Meeting.state == "pending")
        )).all())
        for other in others:
            other.state = "declined"
            other.decided_at = utcnow()
    else:
        meeting.state = "declined"
    meeting.decided_at = utcnow()
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(JUST_TAKEN()) from None
    return Decision(meeting, others)


async def cancel(session: AsyncSession, principal: Principal, meeting_id: int) -> Meeting:
    """The visitor (or the host) calls a pending or accepted meeting off."""
    require(principal)
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(NO_MEETING(id=meeting_id))
    if principal.user_id != meeting.visitor_id and not can_answer(principal, meeting.host_id, meeting.exhibitor_id):
        raise Forbidden(WHO_CANCELS())
    if meeting.state not in OPEN_STATES:
        raise Conflict(MEETING_IS(state=STATES.get(meeting.state, meeting.state)))
    meeting.state = "cancelled"
    meeting.decided_at = utcnow()
    await session.flush()
    return meeting


async def get_meeting(session: AsyncSession, principal: Principal, meeting_id: int) -> tuple[Meeting, MeetingSlot]:
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(NO_MEETING(id=meeting_id))
    if principal.user_id != meeting.visitor_id and not can_answer(principal, meeting.host_id, meeting.exhibitor_id) \
            and not principal.is_moderator:
        raise NotFound(NO_MEETING(id=meeting_id))
    slot = await session.get(MeetingSlot, meeting.slot_id)
    assert slot is not None
    return meeting, slot


async def mine(session: AsyncSession, principal: Principal) -> dict[str, list[tuple[Meeting, MeetingSlot]]]:
    """The principal's meetings: ``hosting`` (their own or their exhibitor's) and ``requested``."""
    require(principal)
    hosting_cond: Any = Meeting.host_id == principal.user_id
    if principal.role is Role.EXHIBITOR and principal.exhibitor_id is not None:
        hosting_cond = or_(hosting_cond, Meeting.exhibitor_id == principal.exhibitor_id)
    base = select(Meeting, MeetingSlot).join(MeetingSlot, MeetingSlot.id == Meeting.slot_id)
    hosting = (await session.execute(base.where(hosting_cond).order_by(Meeting.starts_at))).all()
    requested = (await session.execute(base.where(Meeting.visitor_id == principal.user_id).order_by(Meeting.starts_at))).all()
    return {"hosting": [(m, s) for m, s in hosting], "requested": [(m, s) for m, s in requested]}


async def own_slots(session: AsyncSession, principal: Principal) -> list[MeetingSlot]:
    require(principal)
    cond: Any = MeetingSlot.host_id == principal.user_id
    if principal.role is Role.EXHIBITOR and principal.exhibitor_id is not None:
        cond = or_(cond, MeetingSlot.exhibitor_id == principal.exhibitor_id)
    query = select(MeetingSlot).where(and_(cond, MeetingSlot.cancelled.is_(False))).order_by(MeetingSlot.starts_at)
    return list((await session.scalars(query)).all())


async def due_reminders(session: AsyncSession, within: dt.timedelta, now: dt.datetime | None = None) -> list[Meeting]:
    """Accepted meetings starting within ``within`` that were not reminded yet (marked now)."""
    now = now or utcnow()
    due = list((await session.scalars(
        select(Meeting).where(
            Meeting.state == "accepted", Meeting.reminded_at.is_(None),
            Meeting.starts_at > now, Meeting.starts_at <= now + within,
        )
    )).all())
    for meeting in due:
        meeting.reminded_at = now
    await session.flush()
    return due


# --- invitations --------------------------------------------------------------------------


def invitation(meeting: Meeting, slot: MeetingSlot, *, host: User, visitor: User, public_url: str,
               summary: str, method: str = "REQUEST") -> bytes:
    """The .ics invitation both sides get: the same UID, times in UTC, organiser the host."""
    from icalendar import Calendar, Event, vCalAddress, vText

    cal = Calendar()
    cal.add("prodid", "-//Cloud Expo//Meetings//EN")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", meeting.uid + "@" + public_url.split("://", 1)[-1])
    event.add("dtstamp", utcnow())
    event.add("dtstart", meeting.starts_at)
    event.add("dtend", meeting.ends_at)
    event.add("summary", summary)
    event.add("sequence", 0 if meeting.state != "cancelled" else 1)
    event.add("status", "CANCELLED" if meeting.state in ("cancelled", "declined") else "CONFIRMED")
    if slot.mode == "online" and slot.location:
        event.add("location", slot.location)
        event.add("url", slot.location)
    else:
        event.add("location", slot.location or "Cloud Expo")
    description = meeting.note or ""
    event.add("description", f"{description}\n\n{public_url}/meetings".strip())
    organizer = vCalAddress(f"mailto:{host.email}")
    organizer.params["cn"] = vText(host.display_name)
    event["organizer"] = organizer
    for person, role in ((host, "CHAIR"), (visitor, "REQ-PARTICIPANT")):
        attendee = vCalAddress(f"mailto:{person.email}")
        attendee.params["cn"] = vText(person.display_name)
        attendee.params["role"] = vText(role)
        attendee.params["partstat"] = vText("ACCEPTED" if meeting.state == "accepted" else "NEEDS-ACTION")
        event.add("attendee", attendee, encode=False)
    cal.add_component(event)
    return cal.to_ical()


async def day_counts(session: AsyncSession, principal: Principal, day: tuple[dt.datetime, dt.datetime]) -> tuple[int, int]:
    """The principal's accepted meetings starting within ``day`` (start, end), and requests waiting for their answer."""
    mine_now = await mine(session, principal)
    start, end = day
    both = [m for m, _ in (*mine_now["hosting"], *mine_now["requested"])]
    today = len({m.id for m in both if m.state == "accepted" and start <= m.starts_at < end})
    waiting = sum(1 for m, _ in mine_now["hosting"] if m.state == "pending")
    return today, waiting

