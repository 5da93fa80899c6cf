"""Booth analytics: counting from pages, the dashboard, JSON, CSV and SVG charts.

Booth pages call :func:`count_booth_view` (a dictionary update, no I/O).
Pages that cannot (or time on the booth, video plays, downloads, which only
the browser knows) report to ``POST /api/analytics/events`` through
``static/js/engagement.js``. Exhibitor staff see their own booths; moderators
see every booth, the totals, and the top booths and zones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import analytics
from booths.errors import Invalid, NotFound
from booths.exhibition.models import Booth
from cloudexpo.i18n import pick
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require, require_exhibitor_access
from cloudexpo.values import WHOLE_NUMBER, BadValue, parse_id, parse_int
from streaming.audience import per_launch
from web.context import counter, language, principal, services
from web.forms import read_input
from web.i18n import gettext_for
from web.params import optional_query_id, path_int, query_int
from web.templating import render
from web.visits import visitor_key

DATE_SHAPE = message("analytics.date_shape", "'{name}' is a date written YYYY-MM-DD, such as 2026-12-01.")
FROM_BEFORE_TO = message("analytics.from_before_to", "'from' must be on or before 'to' (and 'to' no later than today).")
PERIOD_LONG = message("analytics.period_long", "A period is at most {days} days; choose a later 'from' or an earlier 'to'.")
NO_BOOTH = message("analytics.no_booth", "There is no booth {id}.")
BOOTH_STAFF_ONLY = message("analytics.booth_staff_only", "Only this booth's staff or a moderator can see its analytics.")
METRIC = message("analytics.metric", "'metric' is one of {metrics}.")
MODERATORS_ONLY = message("analytics.moderators_only", "Only moderators see the analytics of every booth.")
STAFF_AND_MODERATORS = message("analytics.staff_and_moderators", "Analytics are for exhibitor staff and moderators.")
NO_BOOTH_YET = message("analytics.no_booth_yet", "There is no booth to show analytics for yet.")
BOOTH_ID = message("analytics.booth_id", "'booth_id' is the number of the booth.")
EVENTS_MAP = message("analytics.events_map", "'events' maps metric names to numbers.")
NOT_REPORTABLE = message("analytics.not_reportable", "{metric} cannot be reported; use one of {metrics}.")

MAX_DAYS = 366
CHART_METRICS = ("visitors", "views", "qr_visitors", "time_seconds", "video_plays", "watch_seconds", "downloads",
                 "cards", "conversations", "meetings", "launch_viewers", "reactions", "replay_views", "briefcase",
                 "questions", "poll_votes", "calls", "calls_answered", "call_minutes")


@dataclass(frozen=True)
class Period:
    """The days analytics look at, first and last included (the exhibition's calendar days)."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def before(self) -> Period:
        """The period of the same length just before this one, to compare with."""
        return Period(self.first - dt.timedelta(days=self.days), self.first - dt.timedelta(days=1))

    def query(self) -> str:
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


def _date_param(request: Request, name: str) -> dt.date | None:
    raw = request.query_params.get(name) or ""
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise Invalid(DATE_SHAPE(name=name), name) from None


def period_param(request: Request) -> Period:
    """``from`` and ``to`` (dates, both included), else the ``days`` (default 30) up to today."""
    today = _today(request)
    first, last = _date_param(request, "from"), _date_param(request, "to")
    if first is None and last is None:
        days = query_int(request, "days", 30, 1, MAX_DAYS)
        return Period(today - dt.timedelta(days=days - 1), today)
    last = min(last or today, today)
    first = first or last - dt.timedelta(days=29)
    if first > last:
        raise Invalid(FROM_BEFORE_TO(), "from")
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid(PERIOD_LONG(days=MAX_DAYS), "from")
    return Period(first, last)


async def _booth_for(request: Request, who: Principal, booth_id: int) -> Booth:
    """The booth, if the asker may see its analytics (its staff, or a moderator)."""
    require(who)
    async with services(request).db.session() as session:
        booth = await session.get(Booth, booth_id)
    if booth is None:
        if who.is_moderator:
            raise NotFound(NO_BOOTH(id=booth_id))
        raise Forbidden(BOOTH_STAFF_ONLY())
    require_exhibitor_access(who, booth.exhibitor_id)
    return booth


def _today(request: Request) -> dt.date:
    return counter(request).today()


async def _series(request: Request, booth_ids: list[int] | None, period: Period) -> analytics.Series:
    await counter(request).flush()  # what was counted a moment ago shows at once
    async with services(request).db.session() as session:
        return await analytics.booth_series(session, booth_ids, days=period.days, last=period.last,
                                            timezone=services(request).settings.timezone)


def series_json(series: analytics.Series) -> dict[str, Any]:
    return {
        "days": [d.isoformat() for d in series.days],
        "metrics": series.values,
        "totals": series.totals(),
    }


async def api_booth(request: Request) -> Response:
    booth = await _booth_for(request, principal(request), path_int(request, "booth_id"))
    series = await _series(request, [booth.id], period_param(request))
    return JSONResponse({"booth_id": booth.id, "number": booth.number, **series_json(series)})


async def api_booth_csv(request: Request) -> Response:
    booth = await _booth_for(request, principal(request), path_int(request, "booth_id"))
    series = await _series(request, [booth.id], period_param(request))
    return Response(analytics.to_csv(series), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="analytics-{booth.number}.csv"'})


def metric_label(request: Request, metric: str) -> str:
    _ = gettext_for(language(request)).gettext
    labels = {
        "visitors": _("Unique visitors"), "views": _("Page views"), "qr_visitors": _("Visitors from QR codes"),
        "time_seconds": _("Time on the booth (seconds)"), "video_plays": _("Video plays"),
        "watch_seconds": _("Watch time (seconds)"), "downloads": _("Document downloads"),
        "cards": _("Business cards"), "meetings": _("Meeting requests"), "launch_viewers": _("Launch viewers"),
        "reactions": _("Reactions at launches"),
        "replay_views": _("Replay views"), "conversations": _("Conversations"),
        "briefcase": _("Taken into briefcases"),
        "questions": _("Questions at launches"), "poll_votes": _("Poll votes at launches"),
        "calls": _("Video calls"), "calls_answered": _("Video calls answered"),
        "call_minutes": _("Minutes on video calls"),
    }
    return labels.get(metric, metric)


def _metric(request: Request) -> str:
    metric = request.query_params.get("metric") or "visitors"
    if metric not in CHART_METRICS:
        raise Invalid(METRIC(metrics=", ".join(CHART_METRICS)), "metric")
    return metric


def svg_response(body: str) -> Response:
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=5"})


async def _chart(request: Request, booth_ids: list[int] | None, color: str) -> Response:
    """``metric`` over the period, ``compare=1`` with the period before as a dashed line; ``width`` in px (phones ask
    for a narrow one so its text stays readable)."""
    metric = _metric(request)
    period = period_param(request)
    width = query_int(request, "width", 640, 320, 1600)
    series = await _series(request, booth_ids, period)
    previous, legend = None, None
    if request.query_params.get("compare") in ("1", "true"):
        previous = (await _series(request, booth_ids, period.before())).values.get(metric, [])
        _ = gettext_for(language(request)).gettext
        legend = (_("This period"), _("The period before"))
    return svg_response(analytics.svg_bar_chart(series.points(metric), title=metric_label(request, metric), width=width,
                                                color=color, previous=previous, legend=legend))


async def booth_chart(request: Request) -> Response:
    booth = await _booth_for(request, principal(request), path_int(request, "booth_id"))
    return await _chart(request, [booth.id], "#c8102e")


async def overview_chart(request: Request) -> Response:
    require(principal(request))
    if not principal(request).is_moderator:
        raise Forbidden(MODERATORS_ONLY())
    return await _chart(request, None, "#13315c")


async def _overview(request: Request, period: Period) -> dict[str, Any]:
    series = await _series(request, None, period)
    async with services(request).db.session() as session:
        booths = await analytics.top_booths(session, days=period.days, last=period.last)
        zones = await analytics.top_zones(session, days=period.days, last=period.last)
    lang = language(request)
    return {
        **series_json(series),
        "top_booths": [{"id": b.id, "number": b.number, "name": pick(b.name, lang).text, "visitors": b.visitors,
                        "views": b.views, "cards": b.cards, "meetings": b.meetings} for b in booths],
        "top_zones": [{"id": z.id, "slug": z.slug, "name": pick(z.name, lang).text, "visitors": v, "views": w}
                      for z, v, w in zones],
    }


async def api_overview(request: Request) -> Response:
    require(principal(request))
    if not principal(request).is_moderator:
        raise Forbidden(MODERATORS_ONLY())
    return JSONResponse(await _overview(request, period_param(request)))


async def api_overview_csv(request: Request) -> Response:
    require(principal(request))
    if not principal(request).is_moderator:
        raise Forbidden(MODERATORS_ONLY())
    series = await _series(request, None, period_param(request))
    return Response(analytics.to_csv(series), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="analytics-all-booths.csv"'})


def _compared(current: dict[str, int], before: dict[str, int]) -> dict[str, int | None]:
    """Each metric's change in percent against the period before (None where that period had nothing)."""
    return {m: round((v - before.get(m, 0)) * 100 / before[m]) if before.get(m) else None for m, v in current.items()}


async def dashboard(request: Request) -> Response:
    """Exhibitor staff: their booth(s). Moderators: every booth, or one with ``?booth=ID``.

    The period is a preset (``days``) or a range (``from``, ``to``); totals are compared with the period before.
    """
    who = require(principal(request))
    period = period_param(request)
    booth_param = optional_query_id(request, "booth")
    page = {"metrics": CHART_METRICS, "label": lambda m: metric_label(request, m), "period": period,
            "presets": (7, 30, 90, 365), "today": _today(request)}
    async with services(request).db.session() as session:
        if who.is_moderator and booth_param is None:
            overview = await _overview(request, period)
            before = await _series(request, None, period.before())
            return render(request, "engagement/analytics.html", {
                **page, "overview": overview, "booth": None, "booths": [], "totals": overview["totals"], "launches": [],
                "before": before.totals(), "change": _compared(overview["totals"], before.totals()),
            })
        if who.is_moderator:
            booths = [b for b in [await session.get(Booth, booth_param)] if b is not None]
        elif who.exhibitor_id is not None:
            booths = await analytics.booths_of(session, who.exhibitor_id)
        else:
            raise Forbidden(STAFF_AND_MODERATORS())
    if not booths:
        raise NotFound(NO_BOOTH_YET())
    booth = booths[0]
    if booth_param is not None:
        chosen = [b for b in booths if b.id == booth_param]
        booth = chosen[0] if chosen else booth
    series = await _series(request, [booth.id], period)
    before = await _series(request, [booth.id], period.before())
    async with services(request).db.session() as session:
        launches = await per_launch(session, booth.id)
    return render(request, "engagement/analytics.html", {
        **page, "overview": None, "booth": booth, "booths": booths, "totals": series.totals(), "launches": launches,
        "before": before.totals(), "change": _compared(series.totals(), before.totals()),
    })


async def api_events(request: Request) -> Response:
    """What only the browser knows: ``{"booth_id", "events": {"time_seconds": 42, "video_plays": 1, ...}}``,
    and ``"visit": true`` from a booth page that did not count its view on the server."""
    data = await read_input(request)
    booth_id = parse_id(data.get("booth_id"))
    if booth_id is None:
        raise Invalid(BOOTH_ID(), "booth_id")
    events = data.get("events") or {}
    if not isinstance(events, dict):
        raise Invalid(EVENTS_MAP(), "events")
    async with services(request).db.session() as session:
        booth = await session.get(Booth, booth_id)
    if booth is None or (not booth.visible and not principal(request).can_manage_exhibitor(booth.exhibitor_id)):
        raise NotFound(NO_BOOTH(id=booth_id), "booth_id")
    c = counter(request)
    if data.get("visit") is True:
        c.visit(booth.id, visitor_key(request), source="qr" if data.get("src") == "qr" else "")
    for metric, value in events.items():
        if metric not in analytics.REPORT_CAP or metric == "views":
            raise Invalid(NOT_REPORTABLE(metric=repr(metric), metrics=", ".join(m for m in analytics.REPORT_CAP if m != "views")),
                          "events")
        try:
            amount = max(0, min(parse_int(value, metric), analytics.REPORT_CAP[metric]))
        except BadValue:
            raise Invalid(WHOLE_NUMBER(name=metric), "events") from None
        c.add(booth.id, metric, amount)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/dashboard/analytics", dashboard, methods=["GET"]),
    Route("/api/analytics/events", api_events, methods=["POST"]),
    Route("/api/analytics/booths/{booth_id:int}", api_booth, methods=["GET"]),
    Route("/api/analytics/booths/{booth_id:int}.csv", api_booth_csv, methods=["GET"]),
    Route("/api/analytics/booths/{booth_id:int}/chart.svg", booth_chart, methods=["GET"]),
    Route("/api/analytics/overview", api_overview, methods=["GET"]),
    Route("/api/analytics/overview.csv", api_overview_csv, methods=["GET"]),
    Route("/api/analytics/overview/chart.svg", overview_chart, methods=["GET"]),
]
