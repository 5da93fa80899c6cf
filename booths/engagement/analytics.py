"""Booth analytics: what visitors did on each booth, by day and in total.

Counting never slows a page: a page calls :meth:`Counter.visit` or
:meth:`Counter.add`, which only touch dictionaries in memory; a background
task (:func:`install`, started with the app) writes them in one transaction
every few seconds, and once more on shutdown. Other packages and nodes may
count through the event bus instead, publishing
``{"booth_id": 12, "metric": "replay_views", "value": 1}`` on the topic
``analytics``.

Metrics per day (the exhibition's time zone), booth and name:

- ``views``: booth page views; ``visitors``: unique visitors — a visitor is
  counted once per booth and day, by a keyed hash of (session or user id,
  day) kept in ``analytics_seen``, never the id itself;
  ``qr_visitors``: unique visitors who came by scanning the booth's QR code.
- ``time_seconds`` (time on the booth, reported by the page when the visitor
  leaves), ``video_plays``, ``watch_seconds``, ``downloads``, ``cards``,
  ``meetings``, ``replay_views``, ``conversations`` (started with the booth's staff); ``questions`` and
  ``poll_votes`` asked and cast at the booth's launches (counted by ``streaming.audience``).
- ``launch_viewers`` and ``reactions`` are read from the schedule (the peak
  viewers of the booth's launches and the reactions counted during them, plain
  SQL on ``slots`` and ``reaction_counts``) rather than counted here, and
  ``calls``, ``calls_answered`` and ``call_minutes`` (video calls from booth
  conversations, answered, minutes begun) from the call records
  (:func:`booths.engagement.calls.booth_call_figures`).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import hashlib
import hmac
import io
import logging
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement.bookmarks import slots_table_exists
from booths.engagement.calls import booth_call_figures
from booths.engagement.models import BoothDaily, BoothSeen
from booths.exhibition.models import Booth, Zone

if TYPE_CHECKING:
    from cloudexpo.bus import EventBus
    from cloudexpo.db import Database

log = logging.getLogger(__name__)

METRICS = (
    "views", "visitors", "qr_visitors", "time_seconds", "video_plays", "watch_seconds", "downloads",
    "cards", "meetings", "launch_viewers", "reactions", "replay_views", "conversations", "briefcase", "questions",
    "poll_votes", "calls", "calls_answered", "call_minutes",
)
UNIQUE_METRICS = ("visitors", "qr_visitors")
# What a page or another package may add to (unique counts and launch viewers come from elsewhere).
ADDABLE = frozenset({"views", "time_seconds", "video_plays", "watch_seconds", "downloads", "cards", "meetings",
                     "replay_views", "conversations", "briefcase", "questions", "poll_votes"})
# One report from a page cannot add more than this (an hour on a booth, ten plays ...).
REPORT_CAP = {"time_seconds": 3600, "watch_seconds": 4 * 3600, "video_plays": 10, "downloads": 20, "replay_views": 5,
              "views": 1}
BUS_TOPIC = "analytics"
CHUNK = 400


def visitor_hash(secret: str, visitor_key: str, day: dt.date) -> str:
    """A keyed hash of (visitor, day): the same visitor on another day, or anywhere else, looks different."""
    return hmac.new(secret.encode(), f"{visitor_key}|{day.isoformat()}".encode(), hashlib.sha256).hexdigest()[:32]


class Counter:
    """Counts in memory, written to the database by :meth:`flush` (every ``interval`` seconds)."""

    def __init__(self, db: Database, secret: str, timezone: str, *, interval: float = 2.0, enabled: bool = True,
                 bus: EventBus | None = None) -> None:
        self.db = db
        self.bus = bus  # where other packages and nodes publish counts (followed from start to close)
        self.secret = secret
        self.zone = ZoneInfo(timezone)
        self.interval = interval
        self.enabled = enabled
        self._counts: defaultdict[tuple[dt.date, int, str], int] = defaultdict(int)
        self._pending: set[tuple[dt.date, int, str, str]] = set()
        # What this process already sent today, so repeat views cost a set lookup only.
        self._known: set[tuple[dt.date, int, str, str]] = set()
        self._known_day: dt.date | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._bus_task: asyncio.Task[None] | None = None
        self.flushes = 0

    def today(self, now: dt.datetime | None = None) -> dt.date:
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.zone).date()

    def visit(self, booth_id: int, visitor_key: str, *, source: str = "", now: dt.datetime | None = None) -> None:
        """A booth page view by a visitor (session or user id); ``source="qr"`` for a scanned code."""
        if not self.enabled:
            return
        day = self.today(now)
        self._counts[(day, booth_id, "views")] += 1
        if not visitor_key:
            return
        if self._known_day != day:
            self._known.clear()
            self._known_day = day
        digest = visitor_hash(self.secret, visitor_key, day)
        for metric in ("visitors", "qr_visitors") if source == "qr" else ("visitors",):
            key = (day, booth_id, metric, digest)
            if key not in self._known:
                if len(self._known) > 500_000:
                    self._known.clear()
                self._known.add(key)
                self._pending.add(key)

    def add(self, booth_id: int, metric: str, value: int = 1, *, now: dt.datetime | None = None) -> None:
        if not self.enabled or value <= 0:
            return
        if metric not in ADDABLE:
            raise ValueError(f"{metric!r} is not a metric one adds to; use one of {', '.join(sorted(ADDABLE))}")
        self._counts[(self.today(now), booth_id, metric)] += int(value)

    @property
    def pending(self) -> int:
        return len(self._counts) + len(self._pending)

    async def flush(self) -> None:
        """Write what was counted since the last flush, in one transaction."""
        async with self._lock:
            if not self._counts and not self._pending:
                return
            counts, self._counts = self._counts, defaultdict(int)
            pending, self._pending = self._pending, set()
            try:
                await self._write(counts, pending)
                self.flushes += 1
            except Exception:
                log.exception("analytics: could not write %d counters; kept for the next try", len(counts))
                for key, value in counts.items():
                    self._counts[key] += value
                self._pending |= pending

    async def _write(self, counts: dict[tuple[dt.date, int, str], int], pending: set[tuple[dt.date, int, str, str]]) -> None:
        booth_ids = {k[1] for k in counts} | {k[1] for k in pending}
        async with self.db.session() as session:
            known = set((await session.scalars(select(Booth.id).where(Booth.id.in_(booth_ids)))).all())
            insert = _insert(session)
            totals: defaultdict[tuple[dt.date, int, str], int] = defaultdict(int)
            for key, value in counts.items():
                if key[1] in known:
                    totals[key] += value
            seen_rows = [
                {"day": day, "booth_id": booth, "metric": metric, "visitor": digest}
                for day, booth, metric, digest in pending if booth in known
            ]
            for chunk in _chunks(seen_rows, CHUNK):
                stmt = insert(BoothSeen).values(chunk).on_conflict_do_nothing().returning(
                    BoothSeen.day, BoothSeen.booth_id, BoothSeen.metric
                )
                for day, booth, metric in (await session.execute(stmt)).all():
                    totals[(_as_date(day), booth, metric)] += 1
            rows = [{"day": d, "booth_id": b, "metric": m, "value": v} for (d, b, m), v in totals.items() if v]
            for chunk in _chunks(rows, CHUNK):
                stmt = insert(BoothDaily).values(chunk)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["day", "booth_id", "metric"],
                    set_={"value": BoothDaily.value + stmt.excluded.value},
                )
                await session.execute(stmt)
            await session.commit()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def follow_bus(self, bus: EventBus) -> None:
        """Counts other packages and nodes publish on the ``analytics`` topic."""
        sub = await bus.subscribe(BUS_TOPIC, maxsize=10_000)
        try:
            async for event in sub:
                data = event.data
                try:
                    self.add(int(data["booth_id"]), str(data["metric"]), int(data.get("value", 1)))
                except (KeyError, TypeError, ValueError):
                    log.warning("analytics: ignored a malformed bus event %r", data)
        finally:
            await sub.close()

    async def start(self) -> None:
        """Flush every ``interval`` seconds and follow the bus, until :meth:`close`."""
        self._task = asyncio.create_task(self.run(), name="analytics-flush")
        if self.bus is not None:
            self._bus_task = asyncio.create_task(self.follow_bus(self.bus), name="analytics-bus")

    async def close(self) -> None:
        """Stop counting in the background and write what is pending."""
        for task in (self._task, self._bus_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._bus_task = None
        await self.flush()


def _insert(session: AsyncSession) -> Any:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _chunks(items: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


# --- reading ----------------------------------------------------------------------------


@dataclass
class Series:
    """Values per day for each metric, over ``days`` (oldest first), and their totals."""

    days: list[dt.date]
    values: dict[str, list[int]] = field(default_factory=dict)

    def totals(self) -> dict[str, int]:
        return {metric: sum(vals) for metric, vals in self.values.items()}

    def points(self, metric: str) -> list[tuple[str, int]]:
        return [(d.isoformat(), v) for d, v in zip(self.days, self.values.get(metric, []), strict=False)]


def day_range(last: dt.date, days: int) -> list[dt.date]:
    return [last - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]


#: Per launch, from the schedule's tables: (booth_id, starts_at, value) of each of the booth's slots in a time range.
LAUNCH_SQL = {
    "launch_viewers": ("slots", "SELECT booth_id, starts_at, peak_viewers FROM slots WHERE booth_id IS NOT NULL"
                                " AND starts_at >= :start AND starts_at < :end"),
    # reactions are counted per interval and node (streaming's reaction_counts); a launch's are added up
    "reactions": ("reaction_counts", "SELECT s.booth_id, s.starts_at, SUM(r.total) FROM slots s"
                                     " JOIN reaction_counts r ON r.slot_id = s.id WHERE s.booth_id IS NOT NULL"
                                     " AND s.starts_at >= :start AND s.starts_at < :end GROUP BY s.id, s.booth_id, s.starts_at"),
}


async def launch_figures(session: AsyncSession, metric: str, booth_ids: list[int] | None, first: dt.date, last: dt.date,
                         zone: ZoneInfo) -> dict[tuple[int, dt.date], int]:
    """A figure of each booth's launches (:data:`LAUNCH_SQL`) by the day they started, from the schedule (if there is one)."""
    table, sql = LAUNCH_SQL[metric]
    if not await slots_table_exists(session) or not await session.run_sync(
        lambda sync: inspect(sync.connection()).has_table(table)
    ):
        return {}
    start = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC) - dt.timedelta(days=1)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC) + dt.timedelta(days=1)
    rows = await session.execute(text(sql), {"start": _db_time(session, start), "end": _db_time(session, end)})
    out: defaultdict[tuple[int, dt.date], int] = defaultdict(int)
    for booth_id, starts, value in rows.all():
        if booth_ids is not None and booth_id not in booth_ids:
            continue
        when = dt.datetime.fromisoformat(starts) if isinstance(starts, str) else starts
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        day = when.astimezone(zone).date()
        if first <= day <= last:
            out[(int(booth_id), day)] += int(value or 0)
    return out


def _db_time(session: AsyncSession, moment: dt.datetime) -> Any:
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        return moment.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


async def booth_series(session: AsyncSession, booth_ids: list[int] | None, *, days: int, last: dt.date,
                       timezone: str) -> Series:
    """Per-day values of every metric, summed over ``booth_ids`` (None: every booth)."""
    dates = day_range(last, days)
    query = select(BoothDaily.day, BoothDaily.metric, func.sum(BoothDaily.value)).where(
        BoothDaily.day >= dates[0], BoothDaily.day <= last
    ).group_by(BoothDaily.day, BoothDaily.metric)
    if booth_ids is not None:
        query = query.where(BoothDaily.booth_id.in_(booth_ids))
    index = {d: i for i, d in enumerate(dates)}
    series = Series(dates, {metric: [0] * days for metric in METRICS})
    for day, metric, value in (await session.execute(query)).all():
        day = _as_date(day)
        if metric in series.values and day in index:
            series.values[metric][index[day]] = int(value or 0)
    for metric in LAUNCH_SQL:
        for (_, day), value in (await launch_figures(session, metric, booth_ids, dates[0], last, ZoneInfo(timezone))).items():
            series.values[metric][index[day]] += value
    for day, figures in (await booth_call_figures(session, booth_ids, dates[0], last, ZoneInfo(timezone))).items():
        if day in index:
            series.values["calls"][index[day]] += figures.calls
            series.values["calls_answered"][index[day]] += figures.answered
            series.values["call_minutes"][index[day]] += figures.minutes
    return series


@dataclass
class Ranked:
    id: int
    name: dict[str, str]
    number: str
    visitors: int
    views: int
    cards: int
    meetings: int


async def top_booths(session: AsyncSession, *, days: int, last: dt.date, limit: int = 10) -> list[Ranked]:
    first = last - dt.timedelta(days=days - 1)
    rows = await session.execute(
        select(BoothDaily.booth_id, BoothDaily.metric, func.sum(BoothDaily.value))
        .where(BoothDaily.day >= first, BoothDaily.day <= last,
               BoothDaily.metric.in_(("visitors", "views", "cards", "meetings")))
        .group_by(BoothDaily.booth_id, BoothDaily.metric)
    )
    per: defaultdict[int, dict[str, int]] = defaultdict(dict)
    for booth_id, metric, value in rows.all():
        per[int(booth_id)][metric] = int(value or 0)
    order = sorted(per, key=lambda b: (-per[b].get("visitors", 0), -per[b].get("views", 0), b))[:limit]
    booths = {b.id: b for b in (await session.scalars(select(Booth).where(Booth.id.in_(order)))).all()}
    return [
        Ranked(b, booths[b].name, booths[b].number, per[b].get("visitors", 0), per[b].get("views", 0),
               per[b].get("cards", 0), per[b].get("meetings", 0))
        for b in order if b in booths
    ]


async def top_zones(session: AsyncSession, *, days: int, last: dt.date) -> list[tuple[Zone, int, int]]:
    """Zones with their visitors and views over the period, most visited first."""
    first = last - dt.timedelta(days=days - 1)
    rows = await session.execute(
        select(Zone, BoothDaily.metric, func.sum(BoothDaily.value))
        .join(Booth, Booth.zone_id == Zone.id).join(BoothDaily, BoothDaily.booth_id == Booth.id)
        .where(BoothDaily.day >= first, BoothDaily.day <= last, BoothDaily.metric.in_(("visitors", "views")))
        .group_by(Zone.id, BoothDaily.metric)
    )
    per: dict[int, list[Any]] = {}
    for zone, metric, value in rows.all():
        entry = per.setdefault(zone.id, [zone, 0, 0])
        entry[1 if metric == "visitors" else 2] = int(value or 0)
    return sorted(((z, v, w) for z, v, w in per.values()), key=lambda t: (-t[1], -t[2]))


async def booths_of(session: AsyncSession, exhibitor_id: int) -> list[Booth]:
    return list((await session.scalars(select(Booth).where(Booth.exhibitor_id == exhibitor_id).order_by(Booth.id))).all())


def to_csv(series: Series) -> bytes:
    """One row per day, a column per metric; UTF-8 with a BOM."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["day", *METRICS])
    for i, day in enumerate(series.days):
        writer.writerow([day.isoformat(), *(series.values[m][i] for m in METRICS)])
    totals = series.totals()
    writer.writerow(["total", *(totals[m] for m in METRICS)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


# --- charts -------------------------------------------------------------------------------


def svg_bar_chart(points: list[tuple[str, int]], *, title: str, width: int = 640, height: int = 220,
                  color: str = "#c8102e", previous: list[int] | None = None,
                  legend: tuple[str, str] | None = None) -> str:
    """A bar chart of daily counts as a standalone SVG document: bars, whole-number gridlines, day labels, a <title>.

    ``previous`` (the period before, day by day) is drawn as a dashed line over
    the bars, named by ``legend`` (this period, the period before). Day labels
    keep at least ~44 px apart and always include the latest day, so they never
    run into each other at any width. Pure: no I/O, escaped text, a viewBox so
    it scales to its container.
    """
    left, right, top, bottom = 40, 10, 28 if legend is None else 44, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for _, v in points] + list(previous or []), default=0)
    step, scale_top = count_ticks(peak)
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1.0)
    every = max(1, math.ceil(44 / slot))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" class="chart" font-family="system-ui, sans-serif">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="#0b2545">{escape(title)}</text>',
    ]
    if legend is not None:
        second = left + 18 + _text_width(legend[0], 11) + 18
        parts.append(
            f'<line x1="{left}" y1="31" x2="{left + 12}" y2="31" stroke="{color}" stroke-width="8"/>'
            f'<text x="{left + 18}" y="35" font-size="11" fill="#1b2430">{escape(legend[0])}</text>'
            f'<line x1="{second:.0f}" y1="31" x2="{second + 20:.0f}" y2="31" stroke="#5b6675" stroke-width="2" stroke-dasharray="4 3"/>'
            f'<text x="{second + 26:.0f}" y="35" font-size="11" fill="#1b2430">{escape(legend[1])}</text>'
        )
    value = 0
    while value <= scale_top:
        y = top + plot_h - plot_h * value / scale_top
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#dfe3ea" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#5b6675">{_short(value)}</text>')
        value += step
    for i, (label, count) in enumerate(points):
        h = plot_h * count / scale_top
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{color}" rx="2" '
            f'data-label="{escape(label)}" data-value="{count}"><title>{escape(label)}: {count}</title></rect>'
        )
        if (n - 1 - i) % every == 0:  # counted from the latest day, which is always labelled
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" font-size="11" text-anchor="middle" '
                f'fill="#5b6675">{escape(label[5:] if len(label) == 10 else label)}</text>'
            )
    if previous:
        line = " ".join(
            f"{left + i * slot + slot / 2:.1f},{top + plot_h - plot_h * v / scale_top:.1f}" for i, v in enumerate(previous[:n])
        )
        parts.append(f'<polyline points="{line}" fill="none" stroke="#5b6675" stroke-width="2" stroke-dasharray="4 3" '
                     f'data-previous="{sum(previous)}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _text_width(text: str, size: float) -> float:
    """About how wide ``text`` is drawn: CJK characters are square, Latin ones about 0.6 of the size."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def count_ticks(peak: float) -> tuple[int, int]:
    """A whole-number gridline step for counts up to ``peak`` and the top of the scale (a multiple of it).

    Steps are 1, 2 or 5 times a power of ten, so about five lines cover the
    peak: counts never get ticks such as 0.8 or 3.8.
    """
    if peak <= 0:
        return 1, 1
    raw = peak / 5
    step = 1
    while step < raw:
        step = _next_step(step)
    return step, step * math.ceil(peak / step)


def _next_step(step: int) -> int:
    """1 → 2 → 5 → 10 → 20 → 50 → 100 …"""
    digits = len(str(step)) - 1
    lead = step // 10**digits
    return (2 if lead == 1 else 5 if lead == 2 else 10) * 10**digits


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
