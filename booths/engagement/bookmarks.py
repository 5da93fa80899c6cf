"""My tour: a signed-in visitor's bookmarks of booths, products, launches and replays.

Launches and replays are slots of the broadcast schedule (``streaming``).
``booths`` never imports ``streaming``: slot titles and times are read with
plain SQL from the ``slots`` table when it exists. A replay bookmark names
its slot too (a replay is the recording of one slot).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement.models import BOOKMARK_KINDS, Bookmark
from booths.errors import Invalid, NotFound
from booths.exhibition.directory import can_see
from booths.exhibition.models import Booth, Product
from cloudexpo.i18n import pick
from cloudexpo.messages import message
from cloudexpo.permissions import Principal, require

KIND = message("bookmark.kind", "Bookmark one of: {kinds}; {kind} is not one of them.")
NO_BOOTH = message("bookmark.no_booth", "There is no booth {id}.")
NO_PRODUCT = message("bookmark.no_product", "There is no product {id}.")
NO_LAUNCH = message("bookmark.no_launch", "There is no launch {id}.")
SORT = message("bookmark.sort", "Sort by one of: {sorts}.")

SORTS = ("newest", "oldest", "name", "time")


@dataclass
class TourItem:
    """A bookmark with what a list shows of its target."""

    kind: str
    target_id: int
    created_at: dt.datetime
    name: dict[str, str] = field(default_factory=dict)
    url: str = ""
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    booth_id: int | None = None

    def as_json(self, language: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.target_id,
            "name": pick(self.name, language).text,
            "url": self.url,
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "booth_id": self.booth_id,
            "bookmarked_at": self.created_at.isoformat(),
        }


def check_kind(kind: str) -> str:
    if kind not in BOOKMARK_KINDS:
        raise Invalid(KIND(kinds=", ".join(BOOKMARK_KINDS), kind=repr(kind)), "kind")
    return kind


async def slots_table_exists(session: AsyncSession) -> bool:
    def check(sync_session: Any) -> bool:
        from sqlalchemy import inspect

        return bool(inspect(sync_session.connection()).has_table("slots"))

    return bool(await session.run_sync(check))


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _json(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


async def read_slots(session: AsyncSession, slot_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Slots by id as plain dicts (title, booth_id, starts_at, ends_at, state, live_at); {} without a schedule."""
    if not slot_ids or not await slots_table_exists(session):
        return {}
    params = {f"s{i}": sid for i, sid in enumerate(slot_ids)}
    names = ", ".join(f":{k}" for k in params)
    rows = await session.execute(
        text(f"SELECT id, title, booth_id, starts_at, ends_at, state, approved, live_at FROM slots WHERE id IN ({names})"),
        params,
    )
    out: dict[int, dict[str, Any]] = {}
    for sid, title, booth_id, starts, ends, state, approved, live_at in rows.all():
        out[int(sid)] = {
            "id": int(sid), "title": _json(title), "booth_id": booth_id, "starts_at": _aware(starts),
            "ends_at": _aware(ends), "state": state, "approved": bool(approved), "live_at": _aware(live_at),
        }
    return out


async def _target_exists(session: AsyncSession, principal: Principal, kind: str, target_id: int) -> None:
    if kind in ("booth", "booth_live"):
        booth = await session.get(Booth, target_id)
        if booth is None or not can_see(principal, booth):
            raise NotFound(NO_BOOTH(id=target_id), "id")
    elif kind == "product":
        product = await session.get(Product, target_id)
        booth = await session.get(Booth, product.booth_id) if product else None
        if booth is None or not can_see(principal, booth):
            raise NotFound(NO_PRODUCT(id=target_id), "id")
    else:
        slot = (await read_slots(session, [target_id])).get(target_id)
        if slot is None or not slot["approved"]:
            raise NotFound(NO_LAUNCH(id=target_id), "id")


async def add(session: AsyncSession, principal: Principal, kind: str, target_id: int) -> Bookmark:
    """Bookmark a target; bookmarking it again is not an error."""
    require(principal)
    check_kind(kind)
    await _target_exists(session, principal, kind, target_id)
    existing = await session.scalar(
        select(Bookmark).where(Bookmark.user_id == principal.user_id, Bookmark.kind == kind, Bookmark.target_id == target_id)
    )
    if existing is not None:
        return existing
    bookmark = Bookmark(user_id=principal.user_id, kind=kind, target_id=target_id)
    session.add(bookmark)
    try:
        await session.flush()
    except IntegrityError:  # a second click in flight
        await session.rollback()
        found = await session.scalar(
            select(Bookmark).where(Bookmark.user_id == principal.user_id, Bookmark.kind == kind, Bookmark.target_id == target_id)
        )
        if found is None:
            raise
        return found
    return bookmark


async def remove(session: AsyncSession, principal: Principal, kind: str, target_id: int) -> bool:
    require(principal)
    check_kind(kind)
    result = await session.execute(
        delete(Bookmark).where(Bookmark.user_id == principal.user_id, Bookmark.kind == kind, Bookmark.target_id == target_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def bookmarked(session: AsyncSession, user_id: int | None, kind: str, target_id: int) -> bool:
    if user_id is None:
        return False
    found = await session.scalar(
        select(Bookmark.id).where(Bookmark.user_id == user_id, Bookmark.kind == kind, Bookmark.target_id == target_id)
    )
    return found is not None


async def tour(
    session: AsyncSession, principal: Principal, *, kind: str | None = None, sort: str = "newest", language: str = "en"
) -> list[TourItem]:
    """The principal's bookmarks with names and times, filtered by kind and sorted."""
    require(principal)
    if kind:
        check_kind(kind)
    if sort not in SORTS:
        raise Invalid(SORT(sorts=", ".join(SORTS)), "sort")
    query = select(Bookmark).where(Bookmark.user_id == principal.user_id)
    if kind:
        query = query.where(Bookmark.kind == kind)
    marks = list((await session.scalars(query)).all())
    booth_ids = [m.target_id for m in marks if m.kind in ("booth", "booth_live")]
    product_ids = [m.target_id for m in marks if m.kind == "product"]
    slot_ids = [m.target_id for m in marks if m.kind in ("launch", "replay")]
    booths = {b.id: b for b in (await session.scalars(select(Booth).where(Booth.id.in_(booth_ids)))).all()} if booth_ids else {}
    products = (
        {p.id: p for p in (await session.scalars(select(Product).where(Product.id.in_(product_ids)))).all()}
        if product_ids else {}
    )
    slots = await read_slots(session, slot_ids)
    items: list[TourItem] = []
    for mark in marks:
        item = TourItem(mark.kind, mark.target_id, mark.created_at)
        if mark.kind in ("booth", "booth_live") and mark.target_id in booths:
            booth = booths[mark.target_id]
            item.name, item.url, item.booth_id = booth.name, f"/booths/{booth.number}", booth.id
        elif mark.kind == "product" and mark.target_id in products:
            product = products[mark.target_id]
            item.name, item.url, item.booth_id = product.name, f"/products/{product.id}", product.booth_id
        elif mark.kind in ("launch", "replay") and mark.target_id in slots:
            slot = slots[mark.target_id]
            item.name, item.booth_id = slot["title"], slot["booth_id"]
            item.starts_at, item.ends_at = slot["starts_at"], slot["ends_at"]
            item.url = f"/live/{mark.target_id}" if mark.kind == "launch" else f"/replays/{mark.target_id}"
        else:
            item.name = {"en": f"{mark.kind} {mark.target_id} (no longer available)"}
        items.append(item)
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    if sort == "newest":
        items.sort(key=lambda i: i.created_at, reverse=True)
    elif sort == "oldest":
        items.sort(key=lambda i: i.created_at)
    elif sort == "name":
        items.sort(key=lambda i: pick(i.name, language).text.casefold())
    else:
        items.sort(key=lambda i: (i.starts_at or far, i.created_at))
    return items


def tour_calendar(items: list[TourItem], *, public_url: str, language: str, timezone: str) -> bytes:
    """An iCalendar file of the bookmarked launches (the ones with a time)."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//Cloud Expo//My tour//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Cloud Expo — my tour")
    cal.add("x-wr-timezone", timezone)
    host = public_url.split("://", 1)[-1]
    for item in items:
        if item.kind != "launch" or item.starts_at is None:
            continue
        event = Event()
        event.add("uid", f"launch-{item.target_id}@{host}")
        event.add("dtstamp", dt.datetime.now(dt.UTC))
        event.add("dtstart", item.starts_at)
        event.add("dtend", item.ends_at or item.starts_at + dt.timedelta(minutes=30))
        event.add("summary", pick(item.name, language).text or f"Launch {item.target_id}")
        event.add("url", public_url + item.url)
        event.add("location", public_url + item.url)
        cal.add_component(event)
    return cal.to_ical()


def _db_time(session: AsyncSession, moment: dt.datetime) -> Any:
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        return moment.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


async def _approved(session: AsyncSession, query: str, params: dict[str, Any]) -> dict[int, dict[str, Any]]:
    if not await slots_table_exists(session):
        return {}
    rows = await session.execute(text(query), {k: _db_time(session, v) for k, v in params.items()})
    ids = [int(r[0]) for r in rows.all()]
    return {k: v for k, v in (await read_slots(session, ids)).items() if v["approved"]}


async def upcoming_slots(session: AsyncSession, start: dt.datetime, end: dt.datetime) -> dict[int, dict[str, Any]]:
    """Approved, scheduled slots starting between ``start`` and ``end`` (plain SQL on ``slots``)."""
    return await _approved(
        session,
        "SELECT id FROM slots WHERE starts_at > :start AND starts_at <= :end AND state IN ('scheduled', 'green_room')",
        {"start": start, "end": end},
    )


async def live_slots(session: AsyncSession, since: dt.datetime) -> dict[int, dict[str, Any]]:
    """Approved slots that went on air after ``since`` and have not ended (a broadcast may be interrupted)."""
    return await _approved(
        session,
        "SELECT id FROM slots WHERE live_at IS NOT NULL AND live_at >= :since AND state NOT IN ('ended', 'cancelled')",
        {"since": since},
    )


async def marked(session: AsyncSession, user_id: int | None, kind: str, target_ids: list[int]) -> set[int]:
    """Which of ``target_ids`` the user bookmarked (one query for a list of buttons)."""
    if user_id is None or not target_ids:
        return set()
    found = await session.scalars(
        select(Bookmark.target_id).where(Bookmark.user_id == user_id, Bookmark.kind == kind,
                                         Bookmark.target_id.in_(target_ids))
    )
    return set(found.all())
