"""Booth analytics: counting from pages, the dashboard, JSON, CSV and SVG charts.

Booth pages call :func:`count_booth_view` (a dictionary update, no I/O).
Pages that cannot (or time on the booth, video plays, downloads, which only
the browser knows) report to ``POST /api/analytics/events`` through
``static/js/engagement.js``. Exhibitor staff see their own booths; moderators
see every booth, the totals, and the top booths and zones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import analytics
from booths.errors import Invalid, NotFound
from booths.exhibition.models import Booth
from cloudexpo.i18n import pick
from cloudexpo.permissions import Forbidden, Principal, require, require_exhibitor_access
from cloudexpo.values import BadValue, parse_id, parse_int
from web.context import counter, language, principal, services
from web.forms import read_input
from web.i18n import gettext_for
from web.params import optional_query_id, path_int, query_int
from web.templating import render
from web.visits import visitor_key

MAX_DAYS = 366
CHART_METRICS = ("visitors", "views", "qr_visitors", "time_seconds", "video_plays", "watch_seconds", "downloads",
                 "cards", "meetings", "launch_viewers", "replay_views")


def days_param(request: Request) -> int:
    return query_int(request, "days", 30, 1, MAX_DAYS)


async def _booth_for(request: Request, who: Principal, booth_id: int) -> Booth:
    """The booth, if the asker may see its analytics (its staff, or a moderator)."""
    require(who)
    async with services(request).db.session() as session:
        booth = await session.get(Booth, booth_id)
    if booth is None:
        if who.is_moderator:
            raise NotFound(f"There is no booth {booth_id}.")
        raise Forbidden("Only this booth's staff or a moderator can see its analytics.")
    require_exhibitor_access(who, booth.exhibitor_id)
    return booth


def _today(request: Request) -> dt.date:
    return counter(request).today()


async def _series(request: Request, booth_ids: list[int] | None, days: int) -> analytics.Series:
    await counter(request).flush()  # what was counted a moment ago shows at once
    async with services(request).db.session() as session:
        return await analytics.booth_series(session, booth_ids, days=days, last=_today(request),
                                            timezone=services(request).settings.timezone)


def series_json(series: analytics.Series) -> dict[str, Any]:
    return {
        "days": [d.isoformat() for d in series.days],
        "metrics": series.values,
        "totals": series.totals(),
    }


async def api_booth(request: Request) -> Response:
    booth = await _booth_for(request, principal(request), path_int(request, "booth_id"))
    series = await _series(request, [booth.id], days_param(request))
    return JSONResponse({"booth_id": booth.id, "number": booth.number, **series_json(series)})


async def api_booth_csv(request: Request) -> Response:
    booth = await _booth_for(request, principal(request), path_int(request, "booth_id"))
    series = await _series(request, [booth.id], days_param(request))
    return Response(analytics.to_csv(series), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="analytics-{booth.number}.csv"'})


def metric_label(request: Request, metric: str) -> str:
    _ = gettext_for(language(request)).gettext
    labels = {
        "visitors": _("Unique visitors"), "views": _("Page views"), "qr_visitors": _("Visitors from QR codes"),
        "time_seconds": _("Time on the booth (seconds)"), "video_plays": _("Video plays"),
        "watch_seconds": _("Watch time (seconds)"), "downloads": _("Document downloads"),
        "cards": _("Business cards"), "meetings": _("Meeting requests"), "launch_viewers": _("Launch viewers"),
        "replay_views": _("Replay views"),
    }
    return labels.get(metric, metric)


def _metric(request: Request) -> str:
    metric = request.query_params.get("metric") or "visitors"
    if metric not in CHART_METRICS:
        raise Invalid(f"'metric' is one of {', '.join(CHART_METRICS)}.", "metric")
    return metric


def svg_response(body: str) -> Response:
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=5"})


async def booth_chart(request: Request) -> Response:
    booth = await _booth_for(request, principal(request), path_int(request, "booth_id"))
    metric = _metric(request)
    series = await _series(request, [booth.id], days_param(request))
    return svg_response(analytics.svg_bar_chart(series.points(metric), title=metric_label(request, metric)))


async def overview_chart(request: Request) -> Response:
    require(principal(request))
    if not principal(request).is_moderator:
        raise Forbidden("Only moderators see the analytics of every booth.")
    metric = _metric(request)
    series = await _series(request, None, days_param(request))
    return svg_response(analytics.svg_bar_chart(series.points(metric), title=metric_label(request, metric),
                                                color="#13315c"))


async def _overview(request: Request, days: int) -> dict[str, Any]:
    series = await _series(request, None, days)
    async with services(request).db.session() as session:
        booths = await analytics.top_booths(session, days=days, last=_today(request))
        zones = await analytics.top_zones(session, days=days, last=_today(request))
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
        raise Forbidden("Only moderators see the analytics of every booth.")
    return JSONResponse(await _overview(request, days_param(request)))


async def api_overview_csv(request: Request) -> Response:
    require(principal(request))
    if not principal(request).is_moderator:
        raise Forbidden("Only moderators see the analytics of every booth.")
    series = await _series(request, None, days_param(request))
    return Response(analytics.to_csv(series), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="analytics-all-booths.csv"'})


async def dashboard(request: Request) -> Response:
    """Exhibitor staff: their booth(s). Moderators: every booth, or one with ``?booth=ID``."""
    who = require(principal(request))
    days = days_param(request)
    booth_param = optional_query_id(request, "booth")
    async with services(request).db.session() as session:
        if who.is_moderator and booth_param is None:
            overview = await _overview(request, days)
            return render(request, "engagement/analytics.html", {
                "overview": overview, "booth": None, "booths": [], "days": days, "metrics": CHART_METRICS,
                "label": lambda m: metric_label(request, m), "totals": overview["totals"],
            })
        if who.is_moderator:
            booths = [b for b in [await session.get(Booth, booth_param)] if b is not None]
        elif who.exhibitor_id is not None:
            booths = await analytics.booths_of(session, who.exhibitor_id)
        else:
            raise Forbidden("Analytics are for exhibitor staff and moderators.")
    if not booths:
        raise NotFound("There is no booth to show analytics for yet.")
    booth = booths[0]
    if booth_param is not None:
        chosen = [b for b in booths if b.id == booth_param]
        booth = chosen[0] if chosen else booth
    series = await _series(request, [booth.id], days)
    return render(request, "engagement/analytics.html", {
        "overview": None, "booth": booth, "booths": booths, "days": days, "metrics": CHART_METRICS,
        "label": lambda m: metric_label(request, m), "totals": series.totals(),
    })


async def api_events(request: Request) -> Response:
    """What only the browser knows: ``{"booth_id", "events": {"time_seconds": 42, "video_plays": 1, ...}}``,
    and ``"visit": true`` from a booth page that did not count its view on the server."""
    data = await read_input(request)
    booth_id = parse_id(data.get("booth_id"))
    if booth_id is None:
        raise Invalid("'booth_id' is the number of the booth.", "booth_id")
    events = data.get("events") or {}
    if not isinstance(events, dict):
        raise Invalid("'events' maps metric names to numbers.", "events")
    async with services(request).db.session() as session:
        booth = await session.get(Booth, booth_id)
    if booth is None or (not booth.visible and not principal(request).can_manage_exhibitor(booth.exhibitor_id)):
        raise NotFound(f"There is no booth {booth_id}.", "booth_id")
    c = counter(request)
    if data.get("visit") is True:
        c.visit(booth.id, visitor_key(request), source="qr" if data.get("src") == "qr" else "")
    for metric, value in events.items():
        if metric not in analytics.REPORT_CAP or metric == "views":
            raise Invalid(f"{metric!r} cannot be reported; use one of "
                          f"{', '.join(m for m in analytics.REPORT_CAP if m != 'views')}.", "events")
        try:
            amount = max(0, min(parse_int(value, metric), analytics.REPORT_CAP[metric]))
        except BadValue:
            raise Invalid(f"'{metric}' must be a whole number.", "events") from None
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
