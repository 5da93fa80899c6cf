"""Analytics: buffered counting (a visitor once a day, QR visits), charts, CSV, refusals by role; QR codes."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest

from booths.engagement import analytics
from cloudexpo.app import Runtime
from cloudexpo.services import Services
from tests.test_engagement_support import make_expo, role_client


def test_svg_chart_is_pure_and_escaped() -> None:
    svg = analytics.svg_bar_chart([("2023-09-01", 3), ("2023-09-02", 0), ("2023-09-03", 12)], title="<访客>")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "&lt;访客&gt;" in svg and "<访客>" not in svg
    assert svg.count("<rect") == 3 and 'data-value="12"' in svg
    empty = analytics.svg_bar_chart([], title="x")
    assert "<rect" not in empty


async def test_same_visitor_counts_once_a_day_and_qr_visits(services: Services, signed_in: Any, make_client: Any,
                                                            app: Any, runtime: Runtime) -> None:
    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    counter = runtime.booths.analytics
    counter.interval = 3600  # flushed by hand below
    visitor = await signed_in("visitor")
    for _ in range(3):
        r = await visitor.post("/api/analytics/events", json={"booth_id": booth, "visit": True, "events": {}})
        assert r.status_code == 204
    anonymous = await make_client()
    await anonymous.post("/api/analytics/events", json={"booth_id": booth, "visit": True, "src": "qr", "events": {}})
    await anonymous.post("/api/analytics/events", json={"booth_id": booth, "visit": True, "src": "qr", "events": {}})
    await anonymous.post("/api/analytics/events", json={"booth_id": booth, "events": {
        "time_seconds": 95, "video_plays": 1, "watch_seconds": 40, "downloads": 2}})
    # Counting stays in memory until the flush.
    assert counter.pending > 0
    await counter.flush()
    # Another day, the same visitor counts again; a second node (a fresh counter) does not double count today.
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    me = await visitor.refresh_csrf()
    other_node = analytics.Counter(services.db, services.secret_key, services.settings.timezone)
    other_node.visit(booth, f"u{me['id']}")
    other_node.visit(booth, f"u{me['id']}", now=tomorrow)
    await other_node.flush()
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    data = (await staff.get(f"/api/analytics/booths/{booth}?days=7")).json()
    totals = data["totals"]
    assert totals["views"] == 6  # 3 + 2 + 1 today; tomorrow is outside the window
    assert totals["visitors"] == 2  # the visitor and the anonymous session, today only (tomorrow is outside)
    assert totals["qr_visitors"] == 1
    assert totals["time_seconds"] == 95 and totals["video_plays"] == 1 and totals["downloads"] == 2
    assert data["metrics"]["visitors"][-1] == 2
    async with services.db.session() as session:
        series = await analytics.booth_series(session, [booth], days=1, last=counter.today(tomorrow),
                                              timezone=services.settings.timezone)
    assert series.totals()["visitors"] == 1

    chart = await staff.get(f"/api/analytics/booths/{booth}/chart.svg?metric=visitors&days=7")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert 'data-value="2"' in chart.text
    r = await staff.get(f"/api/analytics/booths/{booth}.csv?days=7")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["day", "views", "visitors"] and rows[-1][0] == "total" and rows[-1][2] == "2"
    page = await staff.get("/dashboard/analytics")
    assert page.status_code == 200 and f"/api/analytics/booths/{booth}/chart.svg" in page.text

    moderator = await signed_in("moderator")
    overview = (await moderator.get("/api/analytics/overview?days=7")).json()
    assert overview["top_booths"][0]["number"] == "1A-001" and overview["top_zones"][0]["visitors"] == 2
    assert (await moderator.get("/dashboard/analytics")).status_code == 200


async def test_bad_reports_are_refused(client: Any, services: Services) -> None:
    expo = await make_expo(services)
    r = await client.post("/api/analytics/events", json={"booth_id": 999999, "events": {}})
    assert r.status_code == 404
    r = await client.post("/api/analytics/events", json={"booth_id": expo.booths["1A-001"], "events": {"views": 1000}})
    assert r.status_code == 422 and r.json()["field"] == "events"
    r = await client.post("/api/analytics/events", json={"booth_id": expo.booths["1A-003"], "visit": True})
    assert r.status_code == 404  # unpublished


@pytest.mark.parametrize("role, status", [
    ("anonymous", 401), ("visitor", 403), ("exhibitor", 200), ("other", 403), ("moderator", 200),
])
async def test_analytics_refusals_by_role(role: str, status: int, signed_in: Any, make_client: Any,
                                          services: Services) -> None:
    expo = await make_expo(services)
    client = await role_client(role, expo, signed_in, make_client)
    booth = expo.booths["1A-001"]
    for url in (f"/api/analytics/booths/{booth}", f"/api/analytics/booths/{booth}.csv",
                f"/api/analytics/booths/{booth}/chart.svg"):
        assert (await client.get(url)).status_code == status, url
    overview = await client.get("/api/analytics/overview")
    assert overview.status_code == {"anonymous": 401, "moderator": 200}.get(role, 403)


async def test_qr_codes_and_poster(client: Any, services: Services) -> None:
    import segno  # noqa: F401  (the codes are segno's)

    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    svg = await client.get(f"/qr/booth/{booth}.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert "http://testserver/booths/1A-001?src=qr" in svg.text
    png = await client.get(f"/qr/product/{expo.products['1A-001']}.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert (await client.get(f"/qr/booth/{expo.booths['1A-003']}.svg")).status_code == 404
    assert (await client.get("/qr/launch/424242.svg")).status_code == 404
    assert (await client.get(f"/qr/hall/{booth}.svg")).status_code == 404
    poster = await client.get(f"/booths/{booth}/poster")
    assert poster.status_code == 200
    for text in ("1A-001", "比亚迪新能源汽车展台", "比亞迪新能源汽車展台", "BYD New Energy Vehicles", "<svg"):
        assert text in poster.text
    # Scanning opens the booth page with ?src=qr, whose panel reports the visit as one from QR.
    page = await client.get("/booths/1A-001?src=qr")
    assert page.status_code == 200 and 'data-booth-analytics' in page.text
