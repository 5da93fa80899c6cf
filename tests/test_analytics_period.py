"""Analytics charts people can read: whole-number ticks for counts, day labels that never overlap, a date range,
and the period before drawn and counted beside this one."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pytest

from booths.engagement import analytics
from booths.engagement.models import BoothDaily
from cloudexpo.services import Services
from tests.test_engagement_support import make_expo


@pytest.mark.parametrize("peak", [1, 3, 4, 5, 7, 12, 38, 99, 250, 1001])
def test_count_ticks_are_whole_numbers_that_cover_the_peak(peak: int) -> None:
    step, top = analytics.count_ticks(peak)
    assert isinstance(step, int) and step >= 1 and top % step == 0 and top >= peak
    assert 2 <= top // step + 1 <= 7  # a handful of gridlines, never dozens


def _labels(svg: str) -> list[tuple[float, str]]:
    return [(float(x), text) for x, text in re.findall(r'<text x="([\d.]+)" y="\d+" font-size="11" text-anchor="middle"[^>]*>([^<]+)<', svg)]


@pytest.mark.parametrize("days, width", [(7, 640), (30, 640), (30, 360), (90, 360), (365, 640)])
def test_day_labels_keep_apart_and_show_the_latest_day(days: int, width: int) -> None:
    last = dt.date(2026, 12, 6)
    points = [((last - dt.timedelta(days=days - 1 - i)).isoformat(), i % 4) for i in range(days)]
    svg = analytics.svg_bar_chart(points, title="访客", width=width)
    labels = _labels(svg)
    assert labels[-1][1] == "12-06"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(labels)]
    assert min(gaps, default=99) >= 40, gaps  # "12-0512-06" no more
    ticks = re.findall(r'text-anchor="end" fill="#5b6675">([^<]+)<', svg)
    assert ticks == ["0", "1", "2", "3"], ticks  # counts up to 3: no 0.8 or 2.2


def test_the_period_before_is_a_dashed_line_with_a_legend() -> None:
    svg = analytics.svg_bar_chart([("2026-12-05", 2), ("2026-12-06", 5)], title="Visitors", previous=[4, 1],
                                  legend=("This period", "The period before"))
    assert svg.count("<rect") == 2 and 'data-previous="5"' in svg and "stroke-dasharray" in svg
    assert "The period before" in svg


async def test_a_date_range_and_the_comparison(services: Services, signed_in: Any, app: Any) -> None:
    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    today = analytics.Counter(services.db, services.secret_key, services.settings.timezone).today()  # the exhibition's day
    async with services.db.session() as db:  # 3 visitors in the last 7 days, 2 in the 7 before
        for day, value in ((today - dt.timedelta(days=1), 3), (today - dt.timedelta(days=9), 2)):
            db.add(BoothDaily(booth_id=booth, day=day, metric="visitors", value=value))
        await db.commit()
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    first, last = today - dt.timedelta(days=6), today
    data = (await staff.get(f"/api/analytics/booths/{booth}?from={first}&to={last}")).json()
    assert data["totals"]["visitors"] == 3 and len(data["days"]) == 7
    chart = await staff.get(f"/api/analytics/booths/{booth}/chart.svg?metric=visitors&from={first}&to={last}&compare=1&width=360&lang=en")
    assert chart.status_code == 200 and 'data-previous="2"' in chart.text and 'width="360"' in chart.text
    page = await staff.get(f"/dashboard/analytics?from={first}&to={last}&lang=en")
    assert page.status_code == 200
    assert "50% more than the period before" in page.text  # 3 against 2
    assert f"chart.svg?metric=visitors&amp;from={first}&amp;to={last}&amp;compare=1" in page.text
    for query, field in (("from=2026-13-01", "from"), (f"from={last}&to={first}", "from"), ("from=2000-01-01", "from")):
        refused = await staff.get(f"/api/analytics/booths/{booth}?{query}")
        assert refused.status_code in (400, 422) and refused.json()["field"] == field, (query, refused.text)
