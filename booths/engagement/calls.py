"""One-to-one video calls from a booth conversation: who may ring whom, and the call's life.

Either side of a conversation starts a call: the visitor's rings every staff
member of the booth (the first to accept takes it), a staff member's rings the
visitor. The one rung accepts or declines; either party hangs up. A call rings at most :data:`RING_SECONDS`, then it is *missed*. A
conversation has at most one open (ringing or active) call.

Each change is announced on the two parties' own bus topics ``user.{id}``
(which every page of theirs follows over ``/ws``)::

    {"type": "call", "event": "ringing" | "accepted" | "declined" | "ended" | "missed" | "cancelled",
     "call": {...call_json...}}

and the media is negotiated between the two browsers through ``/ws``
(``call_signal``, relayed by :func:`signal_target` to the other party only).
The rows stay as records: calls per booth, answered, minutes talked
(:func:`booth_call_figures`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.errors import Conflict, NotFound
from booths.exhibition.directory import staff_of
from cloudexpo.bus import EventBus
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import SIGN_IN, NotSignedIn, Principal

from .call_models import OPEN_STATES, Call

RING_SECONDS = 45

NO_BOOTH = message("call.no_booth", "There is no booth {id} whose calls you may see.")
NO_CALL = message("call.not_found", "There is no call {id}.")
NOT_IN_CONVERSATION = message("call.not_in_conversation", "Only the visitor and the booth's staff in this conversation can call.")
ALREADY_OPEN = message("call.already_open", "A call in this conversation is already ringing or running; hang it up first.")
ONLY_CALLEE = message("call.only_callee", "Only the person being called can answer or decline this call.")
DECLINE_INSTEAD = message("call.decline_instead", "You are being rung, not in this call yet: accept or decline it.")
NOT_RINGING = message("call.not_ringing", "This call is no longer ringing.")
NOT_ACTIVE = message("call.not_active", "This call is not in progress; its media and signalling work only while both are in it.")


@dataclass(frozen=True)
class Parties:
    """A conversation as calls see it: its booth, the exhibitor whose staff answer it, its visitor."""

    conversation_id: int
    booth_id: int
    exhibitor_id: int
    visitor_id: int


def _expire(call: Call, now: dt.datetime) -> bool:
    """A call ringing longer than :data:`RING_SECONDS` becomes missed; True when it did."""
    if call.state == "ringing" and (now - call.started_at).total_seconds() > RING_SECONDS:
        call.state, call.ended_at = "missed", call.started_at + dt.timedelta(seconds=RING_SECONDS)
        return True
    return False


async def open_call(session: AsyncSession, conversation_id: int) -> Call | None:
    """The conversation's ringing or active call (a ringing one past its time is marked missed first)."""
    rows = (await session.scalars(
        select(Call).where(Call.conversation_id == conversation_id, Call.state.in_(OPEN_STATES))
    )).all()
    now = utcnow()
    open_now = [call for call in rows if not _expire(call, now)]
    return open_now[0] if open_now else None


async def start(session: AsyncSession, who: Principal, parties: Parties) -> Call:
    """``who`` (a side of the conversation, checked by its caller) rings the other side."""
    if who.user_id is None:
        raise NotSignedIn(SIGN_IN())
    if who.user_id == parties.visitor_id:
        callee = None  # every staff member of the booth is rung
    elif who.is_staff_of(parties.exhibitor_id):
        callee = parties.visitor_id
    else:
        raise NotFound(NOT_IN_CONVERSATION())
    running = await open_call(session, parties.conversation_id)
    if running is not None:
        raise Conflict(ALREADY_OPEN())
    call = Call(conversation_id=parties.conversation_id, booth_id=parties.booth_id, exhibitor_id=parties.exhibitor_id,
                caller_id=who.user_id, callee_id=callee, state="ringing", started_at=utcnow())
    session.add(call)
    await session.flush()
    return call


async def get_for(session: AsyncSession, who: Principal, call_id: int) -> Call:
    """The call, for one of its two parties; anyone else hears there is no such call."""
    call = await session.get(Call, call_id)
    if call is None or not (call.party(who.user_id) or _rung(call, who)):
        if who.user_id is None:
            raise NotSignedIn(SIGN_IN())
        raise NotFound(NO_CALL(id=call_id))
    _expire(call, utcnow())
    return call


def _rung(call: Call, who: Principal) -> bool:
    """A visitor's call still ringing the booth: every staff member of it is rung."""
    return call.callee_id is None and call.state == "ringing" and who.is_staff_of(call.exhibitor_id)


async def _rung_call(session: AsyncSession, who: Principal, call_id: int) -> Call:
    """The call, still ringing, and ``who`` is the one rung (its callee, or staff of the booth a visitor rings)."""
    call = await get_for(session, who, call_id)
    if call.state != "ringing":
        raise Conflict(NOT_RINGING())
    if not (who.user_id == call.callee_id or _rung(call, who)):
        raise Conflict(ONLY_CALLEE())
    return call


async def accept(session: AsyncSession, who: Principal, call_id: int) -> Call:
    call = await _rung_call(session, who, call_id)
    call.state, call.answered_at, call.callee_id = "active", utcnow(), who.user_id
    return call


async def decline(session: AsyncSession, who: Principal, call_id: int) -> Call:
    call = await _rung_call(session, who, call_id)
    call.state, call.ended_at, call.ended_by = "declined", utcnow(), who.user_id
    return call


async def hang_up(session: AsyncSession, who: Principal, call_id: int) -> Call:
    """Either party ends the call: a ringing call is cancelled, an active one ended; a closed one stays as it is."""
    call = await get_for(session, who, call_id)
    if not call.party(who.user_id):
        raise Conflict(DECLINE_INSTEAD())  # a staff member rung with the others declines; they are not in it yet
    if call.state in OPEN_STATES:
        call.state = "cancelled" if call.state == "ringing" else "ended"
        call.ended_at, call.ended_by = utcnow(), who.user_id
    return call


async def rung_by(session: AsyncSession, call: Call) -> list[int]:
    """Who a ringing call rings: its callee, or every staff member of the booth for a visitor's call."""
    if call.state != "ringing":
        return []
    if call.callee_id is not None:
        return [call.callee_id]
    return [user.id for user in await staff_of(session, call.exhibitor_id)]


async def ringing_for(session: AsyncSession, who: Principal) -> list[Call]:
    """The calls ringing ``who`` now (a page that opens mid-ring shows it), newest first."""
    if who.user_id is None:
        return []
    rung = Call.callee_id == who.user_id
    if who.exhibitor_id is not None and who.is_staff_of(who.exhibitor_id):
        rung = rung | ((Call.callee_id.is_(None)) & (Call.exhibitor_id == who.exhibitor_id))
    found = (await session.scalars(
        select(Call).where(Call.state == "ringing", Call.caller_id != who.user_id, rung).order_by(Call.id.desc())
    )).all()
    now = utcnow()
    return [call for call in found if not _expire(call, now)]


async def note_path(session: AsyncSession, call_id: int, path: str) -> None:
    """Record how the call's media went (``direct`` or ``forwarder``; the forwarder, once used, stays)."""
    call = await session.get(Call, call_id)
    if call is not None and call.path != "forwarder":
        call.path = path


async def booth_calls(session: AsyncSession, booth_id: int, limit: int = 200) -> list[Call]:
    """The booth's call records, newest first."""
    return list((await session.scalars(
        select(Call).where(Call.booth_id == booth_id).order_by(Call.started_at.desc(), Call.id.desc()).limit(limit)
    )).all())


def check_active(call: Call) -> None:
    """Media through the server's forwarder is for active calls only."""
    if call.state != "active":
        raise Conflict(NOT_ACTIVE())


def signal_target(call: Call, who: Principal) -> int:
    """The party a signalling message of ``who`` goes to: the call must be active and ``who`` one of its two."""
    if not call.party(who.user_id) or who.user_id is None:
        raise NotFound(NO_CALL(id=call.id))
    other = call.other(who.user_id)
    if call.state != "active" or other is None:
        raise Conflict(NOT_ACTIVE())
    return other


def call_json(call: Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "conversation_id": call.conversation_id,
        "booth_id": call.booth_id,
        "exhibitor_id": call.exhibitor_id,
        "caller_id": call.caller_id,
        "callee_id": call.callee_id,
        "state": call.state,
        "path": call.path,
        "started_at": call.started_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "seconds": call.seconds,
        "ring_seconds": RING_SECONDS,
    }


async def announce(bus: EventBus, call: Call, event: str, rung: Iterable[int] = (),
                   extra: dict[int, dict[str, Any]] | None = None) -> None:
    """Tell the parties and those ``rung`` (every page of theirs, on any node); ``extra`` adds fields for one only."""
    body = call_json(call)
    for user_id in {call.caller_id, *([call.callee_id] if call.callee_id else []), *rung}:
        await bus.publish(f"user.{user_id}", {"type": "call", "event": event, "call": body,
                                              **(extra or {}).get(user_id, {})})


@dataclass
class CallFigures:
    calls: int = 0
    answered: int = 0
    minutes: int = 0  # minutes begun, as a phone bill counts them: every answered call at least one


async def booth_call_figures(session: AsyncSession, booth_ids: list[int] | None, first: dt.date, last: dt.date,
                             zone: ZoneInfo) -> dict[dt.date, CallFigures]:
    """Calls started, answered and minutes talked per day (the exhibition's time zone) over ``booth_ids``."""
    start = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    query = select(Call).where(Call.started_at >= start, Call.started_at < end)
    if booth_ids is not None:
        query = query.where(Call.booth_id.in_(booth_ids))
    out: defaultdict[dt.date, CallFigures] = defaultdict(CallFigures)
    for call in (await session.scalars(query)).all():
        figures = out[call.started_at.astimezone(zone).date()]
        figures.calls += 1
        if call.answered_at is not None:
            figures.answered += 1
            figures.minutes += max(1, math.ceil(call.seconds / 60))
    return out
