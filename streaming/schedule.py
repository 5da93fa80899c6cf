"""The broadcast schedule: stages, slots on them, and the rules for changing them.

Plain async functions taking an ``AsyncSession``; they raise the errors
below, which ``web`` turns into HTTP statuses. The overlap rule is a pure
function (:func:`find_overlap`) checked again against the database
(:func:`check_no_overlap`) whenever a slot is created or moved.

A slot's WHIP bearer token is derived from the server's secret key and a
per-slot nonce (:func:`slot_token`), so the dashboard can show it again;
only its SHA-256 is stored and compared. Rotating changes the nonce.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from sqlalchemy import inspect, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo.db import utcnow
from cloudexpo.i18n import LANGUAGES
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal
from cloudexpo.values import parse_id

from .models import CLOSED_STATES, Slot, SlotState, Stage, StageKind

MAX_SLOT = dt.timedelta(hours=12)
MIN_SLOT = dt.timedelta(minutes=1)
MAX_REASON = 500

SLOT_TOO_SHORT = message("schedule.too_short", "The slot must end at least a minute after it starts.")
SLOT_TOO_LONG = message("schedule.too_long", "A slot may last at most 12 hours; split longer programmes.")
STAFF_ONLY = message("schedule.request_staff_only", "Only an exhibitor's staff request launch slots.")
BOOTH_ID_REQUIRED = message("schedule.booth_id_required", "'booth_id' is required: the booth the launch is for.")
ENDS_IN_PAST = message("schedule.ends_in_past", "The slot would end in the past; choose an end after now (End stops a broadcast now).")
NO_SUCH_BOOTH = message("schedule.no_such_booth", "There is no such booth; request a launch for one of your own booths.")
NOT_YOUR_BOOTH = message("schedule.not_your_booth", "Booth {booth} is not your exhibitor's booth; request launches for your own booths only.")
REASON_NEEDED = message("schedule.reason_needed", "Say why the request is declined: the exhibitor reads the reason.")
REASON_TOO_LONG = message("schedule.reason_too_long", "Keep the reason within {limit} characters.")
NOT_A_REQUEST = message("schedule.not_a_request", "Slot {slot} is on the programme, not a request; cancel it instead.")
ALREADY_CLOSED = message("schedule.already_closed", "Slot {slot} is already {state}.")


class ScheduleError(Exception):
    """Base of the schedule's refusals; the message says what to fix."""


class StageNotFound(ScheduleError):
    pass


class SlotNotFound(ScheduleError):
    pass


class InvalidSlot(ScheduleError, ValueError):
    """Input that does not make a slot (times, title, booth or forum)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SlotOverlap(ScheduleError):
    """Another slot on the same stage overlaps; ``clash`` is that slot, ``booth`` its booth's number."""

    def __init__(self, clash: Slot, booth: str | None = None) -> None:
        title = pick_title(clash.title)
        of_booth = f" of booth {booth}" if booth else ""
        super().__init__(
            f"The stage already has slot {clash.id} ({title}){of_booth} from "
            f"{clash.starts_at:%Y-%m-%d %H:%M} to {clash.ends_at:%H:%M} UTC; choose another time or stage."
        )
        self.clash = clash
        self.booth = booth


class SlotClosed(ScheduleError):
    """The slot is ended or cancelled, or its window is not open."""


def pick_title(values: Mapping[str, str] | None) -> str:
    values = values or {}
    for lang in ("en", "zh-Hans", "zh-Hant"):
        if values.get(lang):
            return values[lang]
    return ""


# --- overlaps (pure) ------------------------------------------------------------------


class Interval(Protocol):
    @property
    def starts_at(self) -> dt.datetime: ...

    @property
    def ends_at(self) -> dt.datetime: ...


_T = TypeVar("_T", bound=Interval)


def overlaps(
    a_start: dt.datetime, a_end: dt.datetime, b_start: dt.datetime, b_end: dt.datetime
) -> bool:
    """Half-open intervals: a slot ending at 10:00 and one starting at 10:00 do not overlap."""
    return a_start < b_end and b_start < a_end


def find_overlap(starts_at: dt.datetime, ends_at: dt.datetime, others: Iterable[_T]) -> _T | None:
    """The first of ``others`` (earliest start) that overlaps ``[starts_at, ends_at)``."""
    for other in sorted(others, key=lambda o: o.starts_at):
        if overlaps(starts_at, ends_at, other.starts_at, other.ends_at):
            return other
    return None


def check_times(starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidSlot(
            "Give times with a time zone, like 2023-09-01T09:00:00+08:00.", "starts_at"
        )
    if ends_at - starts_at < MIN_SLOT:
        raise InvalidSlot(SLOT_TOO_SHORT(), "ends_at")
    if ends_at - starts_at > MAX_SLOT:
        raise InvalidSlot(SLOT_TOO_LONG(), "ends_at")


def check_future_end(ends_at: dt.datetime, now: dt.datetime | None = None) -> None:
    """A slot being scheduled or changed must still be running at its end: no programme in the past."""
    if ends_at <= (now or utcnow()):
        raise InvalidSlot(ENDS_IN_PAST(), "ends_at")


async def _lock_stage(db: AsyncSession, stage_id: int) -> None:
    """Hold the stage's row until the commit, so two changes of one stage check their overlaps in turn.

    A write that changes nothing takes the lock on every database: the row's lock on PostgreSQL, the
    database's write lock on SQLite (whose reads alone start no transaction, so a SELECT … FOR
    UPDATE would not serialise two requests there).
    """
    await db.execute(update(Stage).where(Stage.id == stage_id).values(position=Stage.position))


async def check_no_overlap(
    db: AsyncSession,
    stage_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    exclude: int | None = None,
) -> None:
    """Raise :class:`SlotOverlap` if a slot on the programme (approved, not cancelled) overlaps the interval.

    Every path that puts a slot on a stage or changes its time runs it: adding, moving, resizing,
    an exhibitor's request and its approval. Pending requests do not block one another; the
    moderator's approval decides.
    """
    await _lock_stage(db, stage_id)
    query = select(Slot).where(
        Slot.stage_id == stage_id,
        Slot.starts_at < ends_at,
        Slot.ends_at > starts_at,
        Slot.state.not_in([SlotState.CANCELLED.value, SlotState.DECLINED.value]),
        or_(Slot.approved.is_(True), Slot.requested_by.is_(None)),
    )
    if exclude is not None:
        query = query.where(Slot.id != exclude)
    clash = find_overlap(starts_at, ends_at, (await db.scalars(query)).all())
    if clash is not None:
        raise SlotOverlap(clash, await booth_number(db, clash.booth_id))


# --- tokens ---------------------------------------------------------------------------


def slot_token(secret_key: str, slot_id: int, nonce: str) -> str:
    """The slot's WHIP bearer token (shown to its exhibitor and moderators)."""
    mac = hmac.new(secret_key.encode(), f"whip:{slot_id}:{nonce}".encode(), hashlib.sha256)
    return "cxw_" + mac.hexdigest()[:40]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(slot: Slot, token: str | None) -> bool:
    if not token:
        return False
    return hmac.compare_digest(token_hash(token), slot.token_hash)


def _new_token(secret_key: str, slot: Slot) -> None:
    slot.token_nonce = secrets.token_hex(16)
    slot.token_hash = token_hash(slot_token(secret_key, slot.id, slot.token_nonce))


async def rotate_token(db: AsyncSession, secret_key: str, slot: Slot) -> str:
    _new_token(secret_key, slot)
    await db.flush()
    return slot_token(secret_key, slot.id, slot.token_nonce)


def token_of(secret_key: str, slot: Slot) -> str:
    return slot_token(secret_key, slot.id, slot.token_nonce)


# --- stages ---------------------------------------------------------------------------


def localized(
    value: str | Mapping[str, str] | None,
    field: str,
    *,
    required: bool = True,
    max_length: int = 300,
) -> dict[str, str]:
    """Text in one or several languages as a ``{lang: text}`` mapping."""
    if value is None or value == "":
        if required:
            raise InvalidSlot(f"'{field}' is required.", field)
        return {}
    if isinstance(value, str):
        values = {lang: value for lang in LANGUAGES}
    elif isinstance(value, Mapping):
        values = {
            k: str(v).strip() for k, v in value.items() if k in LANGUAGES and v and str(v).strip()
        }
    else:
        raise InvalidSlot(f"'{field}' must be text or {{language: text}}.", field)
    values = {k: v.strip() for k, v in values.items()}
    if required and not any(values.values()):
        raise InvalidSlot(f"'{field}' is required.", field)
    for text_value in values.values():
        if len(text_value) > max_length:
            raise InvalidSlot(f"'{field}' is longer than {max_length} characters.", field)
    return values


async def list_stages(db: AsyncSession, kind: StageKind | None = None) -> list[Stage]:
    query = select(Stage).order_by(Stage.position, Stage.id)
    if kind is not None:
        query = query.where(Stage.kind == kind.value)
    return list((await db.scalars(query)).all())


async def get_stage(db: AsyncSession, key: int | str) -> Stage:
    """A stage by id or slug (or by a name in any language, for the command line)."""
    stage: Stage | None
    if isinstance(key, int) or key.isdigit():
        number = parse_id(key)
        stage = await db.get(Stage, number) if number is not None else None
    else:
        stage = await db.scalar(select(Stage).where(Stage.slug == key))
        if stage is None:
            for candidate in await list_stages(db):
                if key in candidate.name.values():
                    stage = candidate
                    break
    if stage is None:
        raise StageNotFound(f"There is no stage {key!r}; `cloudexpo slot list` shows the stages.")
    return stage


async def ensure_stage(
    db: AsyncSession,
    slug: str,
    name: Mapping[str, str],
    *,
    kind: StageKind = StageKind.RELEASE,
    description: Mapping[str, str] | None = None,
    venue: Mapping[str, str] | None = None,
    position: int = 0,
) -> Stage:
    """The stage with ``slug``, created (or its texts refreshed) as given."""
    stage = await db.scalar(select(Stage).where(Stage.slug == slug))
    if stage is None:
        stage = Stage(slug=slug, kind=kind.value, position=position)
        db.add(stage)
    stage.name = dict(name)
    stage.description = dict(description or {})
    stage.venue = dict(venue or {})
    stage.kind = kind.value
    stage.position = position
    await db.flush()
    return stage


# --- slots ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotInput:
    stage_id: int
    title: dict[str, str]
    starts_at: dt.datetime
    ends_at: dt.datetime
    booth_id: int | None = None
    exhibitor_id: int | None = None
    forum: str | None = None
    description: dict[str, str] | None = None
    speakers: Sequence[Mapping[str, Any]] = ()


async def _booths_columns(db: AsyncSession) -> list[str]:
    def columns(conn: Any) -> list[str]:
        insp = inspect(conn)
        if not insp.has_table("booths"):
            return []
        return [c["name"] for c in insp.get_columns("booths")]

    conn = await db.connection()
    return await conn.run_sync(columns)


async def booth_exhibitor(db: AsyncSession, booth_id: int) -> int | None:
    """The exhibitor owning a booth, read from the booths table if it exists (no import of booths)."""
    if "exhibitor_id" not in await _booths_columns(db):
        return None
    value = await db.scalar(
        text("SELECT exhibitor_id FROM booths WHERE id = :id"), {"id": booth_id}
    )
    return int(value) if value is not None else None


async def booth_number(db: AsyncSession, booth_id: int | None) -> str | None:
    """A booth's number (``1A-001``), the way people name it, read like :func:`booth_exhibitor`."""
    if booth_id is None or "number" not in await _booths_columns(db):
        return None
    value = await db.scalar(text("SELECT number FROM booths WHERE id = :id"), {"id": booth_id})
    return str(value) if value is not None else None


async def create_slot(
    db: AsyncSession, secret_key: str, data: SlotInput, *, requested_by: int | None = None
) -> Slot:
    """A new slot; an exhibitor's request (``requested_by``) waits for approval."""
    await get_stage(db, data.stage_id)
    check_times(data.starts_at, data.ends_at)
    if (data.booth_id is None) == (not data.forum):
        raise InvalidSlot(
            "A slot is either a booth's launch (booth_id) or a forum session (forum), not both or neither.",
            "booth_id",
        )
    exhibitor_id = data.exhibitor_id
    if data.booth_id is not None and exhibitor_id is None:
        exhibitor_id = await booth_exhibitor(db, data.booth_id)
    await check_no_overlap(db, data.stage_id, data.starts_at, data.ends_at)
    slot = Slot(
        stage_id=data.stage_id,
        booth_id=data.booth_id,
        exhibitor_id=exhibitor_id,
        forum=data.forum or None,
        title=dict(data.title),
        description=dict(data.description or {}),
        speakers=[dict(s) for s in data.speakers],
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        state=SlotState.SCHEDULED.value,
        token_nonce="",
        token_hash="",
        requested_by=requested_by,
        approved=requested_by is None,
    )
    db.add(slot)
    await db.flush()
    _new_token(secret_key, slot)
    await db.flush()
    return slot


async def request_slot(db: AsyncSession, secret_key: str, data: SlotInput, who: Principal) -> Slot:
    """An exhibitor's request for a launch of their own booth; waits for a moderator's approval.

    The booth decides the exhibitor: staff may ask only for a booth of their
    own exhibitor, whatever ``data.exhibitor_id`` says; a moderator may ask
    for any booth.
    """
    if not who.is_moderator and who.exhibitor_id is None:
        raise Forbidden(STAFF_ONLY())
    if data.booth_id is None:
        raise InvalidSlot(BOOTH_ID_REQUIRED(), "booth_id")
    owner = await booth_exhibitor(db, data.booth_id)
    if owner is None and not who.is_moderator:
        raise InvalidSlot(NO_SUCH_BOOTH(), "booth")
    if not who.is_moderator and owner != who.exhibitor_id:
        label = await booth_number(db, data.booth_id) or data.booth_id
        raise Forbidden(NOT_YOUR_BOOTH(booth=label))
    check_future_end(data.ends_at)
    exhibitor_id = owner if owner is not None else data.exhibitor_id
    if who.is_moderator and data.exhibitor_id is not None and owner is not None and data.exhibitor_id != owner:
        raise InvalidSlot(f"Booth {data.booth_id} belongs to exhibitor {owner}, not {data.exhibitor_id}.", "exhibitor_id")
    form = replace(data, exhibitor_id=exhibitor_id, forum=None)
    return await create_slot(db, secret_key, form, requested_by=who.user_id)


def may_see(slot: Slot, who: Principal) -> bool:
    """Approved slots are public; a request is seen only by its booth's staff and moderators."""
    return slot.approved or who.can_manage_exhibitor(slot.exhibitor_id)


async def get_visible_slot(db: AsyncSession, slot_id: int, who: Principal) -> Slot:
    """The slot as ``who`` may see it: an unapproved slot of someone else does not exist.

    Every slot sub-resource (chat, the watch page, its websocket topic, WHEP)
    looks slots up this way, so none tells a stranger that a request exists.
    """
    slot = await get_slot(db, slot_id)
    if not may_see(slot, who):
        raise SlotNotFound(f"There is no slot {slot_id}.")
    return slot


async def get_slot(db: AsyncSession, slot_id: int, *, for_update: bool = False) -> Slot:
    query = select(Slot).where(Slot.id == slot_id)
    if for_update and db.bind is not None and db.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    slot = await db.scalar(query)
    if slot is None:
        raise SlotNotFound(f"There is no slot {slot_id}.")
    return slot


async def list_slots(
    db: AsyncSession,
    *,
    stage_id: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    states: Iterable[str] | None = None,
    exhibitor_id: int | None = None,
    include_requests: bool = False,
) -> list[Slot]:
    query = select(Slot).order_by(Slot.starts_at, Slot.stage_id, Slot.id)
    if stage_id is not None:
        query = query.where(Slot.stage_id == stage_id)
    if start is not None:
        query = query.where(Slot.ends_at > start)
    if end is not None:
        query = query.where(Slot.starts_at < end)
    if states is not None:
        query = query.where(Slot.state.in_(list(states)))
    if exhibitor_id is not None:
        query = query.where(Slot.exhibitor_id == exhibitor_id)
    if not include_requests:
        query = query.where(Slot.approved.is_(True))
    return list((await db.scalars(query)).all())


async def move_slot(
    db: AsyncSession,
    slot: Slot,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    stage_id: int | None = None,
) -> Slot:
    if slot.state in CLOSED_STATES:
        raise SlotClosed(f"Slot {slot.id} is {slot.state}; it cannot move.")
    if slot.state == SlotState.LIVE.value and starts_at != slot.starts_at:
        raise SlotClosed(f"Slot {slot.id} is live; only its end can move.")
    check_times(starts_at, ends_at)
    check_future_end(ends_at)
    target = stage_id if stage_id is not None else slot.stage_id
    await get_stage(db, target)
    if (target, starts_at, ends_at) == (slot.stage_id, slot.starts_at, slot.ends_at):
        return slot
    await check_no_overlap(db, target, starts_at, ends_at, exclude=slot.id)
    if (starts_at, ends_at) != (slot.starts_at, slot.ends_at):
        slot.previous_starts_at, slot.previous_ends_at = slot.starts_at, slot.ends_at
    slot.stage_id, slot.starts_at, slot.ends_at = target, starts_at, ends_at
    slot.sequence += 1
    await db.flush()
    return slot


async def cancel_slot(db: AsyncSession, slot: Slot) -> Slot:
    if slot.state in CLOSED_STATES:
        raise SlotClosed(f"Slot {slot.id} is already {slot.state}.")
    slot.state = SlotState.CANCELLED.value
    slot.sequence += 1
    await db.flush()
    return slot


async def decline_slot(db: AsyncSession, slot: Slot, reason: str) -> Slot:
    """Say no to an exhibitor's request, with the reason they will read."""
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise InvalidSlot(REASON_NEEDED(), "reason")
    if len(reason) > MAX_REASON:
        raise InvalidSlot(REASON_TOO_LONG(limit=MAX_REASON), "reason")
    if slot.approved or slot.requested_by is None:
        raise SlotClosed(NOT_A_REQUEST(slot=slot.id))
    if slot.state in CLOSED_STATES:
        raise SlotClosed(ALREADY_CLOSED(slot=slot.id, state=slot.state))
    slot.state = SlotState.DECLINED.value
    slot.decline_reason = reason
    slot.sequence += 1
    await db.flush()
    return slot


async def approve_slot(db: AsyncSession, slot: Slot) -> Slot:
    if slot.approved:
        return slot
    if slot.state in CLOSED_STATES:
        raise SlotClosed(f"Slot {slot.id} is {slot.state}; it cannot be approved.")
    check_future_end(slot.ends_at)
    await check_no_overlap(db, slot.stage_id, slot.starts_at, slot.ends_at, exclude=slot.id)
    slot.approved = True
    await db.flush()
    return slot


DEFAULT_OVERRUN = dt.timedelta(minutes=5)


def on_air(slot: Slot, overrun: dt.timedelta = DEFAULT_OVERRUN, now: dt.datetime | None = None) -> bool:
    """Whether visitors see ``slot`` as live: its state says so and its end plus ``overrun`` has not passed.

    Past that, the ticker ends the broadcast (:meth:`streaming.live.LiveService`); until its next round, or
    when no node ran it (a node stopped mid-broadcast), the state still says ``live`` though the slot is
    over, and pages show it as ended, with its replay.
    """
    return slot.state == SlotState.LIVE.value and not _over(slot, overrun, now)


def _over(slot: Slot, overrun: dt.timedelta, now: dt.datetime | None) -> bool:
    """The slot's end plus ``overrun`` has passed (compared as now minus the overrun: a slot ending on the
    calendar's last day never overflows)."""
    return (now or dt.datetime.now(dt.UTC)) - overrun >= slot.ends_at


_STILL_OPEN = (SlotState.LIVE.value, SlotState.SCHEDULED.value, SlotState.GREEN_ROOM.value)


def shown_state(slot: Slot, overrun: dt.timedelta = DEFAULT_OVERRUN, now: dt.datetime | None = None) -> str:
    """The state pages show: ``ended`` for a slot past its end plus ``overrun`` that is still marked live
    (its node stopped mid-broadcast) or still coming (nobody went live): nothing to wait for or be reminded of."""
    if slot.state in _STILL_OPEN and _over(slot, overrun, now):
        return SlotState.ENDED.value
    return slot.state


def publish_window(
    slot: Slot, green_room: dt.timedelta, overrun: dt.timedelta = dt.timedelta(0)
) -> tuple[dt.datetime, dt.datetime]:
    """When a publisher may connect: from ``green_room`` before the start until the end.

    A broadcast that went on air may run (and its publisher reconnect) until
    ``overrun`` past the end; then it ends by itself.
    """
    closes = slot.ends_at + overrun if slot.state == SlotState.LIVE.value else slot.ends_at
    return slot.starts_at - green_room, closes


def check_can_publish(
    slot: Slot,
    green_room: dt.timedelta,
    now: dt.datetime | None = None,
    overrun: dt.timedelta = dt.timedelta(0),
) -> None:
    """Raise :class:`SlotClosed` unless a publisher may connect to the slot now."""
    now = now or utcnow()
    if slot.state in CLOSED_STATES:
        raise SlotClosed(f"Slot {slot.id} is {slot.state}; ask a moderator for a new slot.")
    if not slot.approved:
        raise SlotClosed(f"Slot {slot.id} waits for a moderator's approval.")
    opens, closes = publish_window(slot, green_room, overrun)
    if now < opens:
        raise SlotClosed(
            f"Slot {slot.id} opens for publishing at {opens:%Y-%m-%d %H:%M} UTC "
            f"({int(green_room.total_seconds() // 60)} minutes before its start); connect then."
        )
    if now >= closes:
        raise SlotClosed(
            f"Slot {slot.id} ended at {closes:%Y-%m-%d %H:%M} UTC; ask a moderator to extend it."
        )


def should_be_on_air(slot: Slot, now: dt.datetime | None = None) -> bool:
    """A connected publisher is on air from the start time, or earlier when a moderator said so."""
    now = now or utcnow()
    return slot.on_air_requested or now >= slot.starts_at
