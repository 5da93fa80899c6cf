"""The one way pages show a time (web/times.py): the exhibition's zone, the date whenever it is not today."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from booths.engagement.models import Notification
from booths.engagement.notify import render
from cloudexpo.services import Services
from tests.live_support import make_slot
from web.templating import env
from web.times import day_text, when_html, when_text

pytestmark = pytest.mark.exhibition_zone("Asia/Shanghai")  # the pages under test show its times
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)  # 10:00 on 6 December in Shanghai


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment given in Shanghai's time."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


def test_today_shows_the_time_only_in_the_exhibition_zone() -> None:
    assert when_text(at(6, 15, 30), zone=SHANGHAI, lang="en", now=NOW) == "15:30"
    assert when_text(at(6, 15, 30), at(6, 16), zone=SHANGHAI, lang="zh-Hans", now=NOW) == "15:30–16:00"
    # the ISO text of the API's JSON is read the same way
    assert when_text(at(6, 15, 30).isoformat(), zone=SHANGHAI, lang="en", now=NOW) == "15:30"


def test_another_day_shows_its_date_in_the_page_language() -> None:
    tomorrow = at(7, 7, 30)
    assert when_text(tomorrow, at(7, 8), zone=SHANGHAI, lang="en", now=NOW) == "Mon, Dec 7 07:30–08:00"
    assert when_text(tomorrow, zone=SHANGHAI, lang="zh-Hans", now=NOW) == "12月7日周一 07:30"
    assert when_text(tomorrow, zone=SHANGHAI, lang="zh-Hant", now=NOW) == "12月7日週一 07:30"
    # 23:30 UTC on the 5th is already the 6th in Shanghai: today, no date
    assert when_text(dt.datetime(2026, 12, 5, 23, 30, tzinfo=dt.UTC), zone=SHANGHAI, lang="en", now=NOW) == "07:30"


def test_other_years_and_ranges_over_midnight() -> None:
    assert when_text(dt.datetime(2027, 1, 4, 2, 0, tzinfo=dt.UTC), zone=SHANGHAI, lang="en", now=NOW) == \
        "Mon, Jan 4, 2027 10:00"
    late = when_text(at(6, 23, 30), at(7, 0, 30), zone=SHANGHAI, lang="en", now=NOW)
    assert late == "23:30 – Mon, Dec 7 00:30"


def test_the_time_element_carries_the_moment_and_the_zone() -> None:
    html = str(when_html(at(7, 7, 30), at(7, 8), zone=SHANGHAI, lang="en", now=NOW))
    assert html.startswith('<time datetime="2026-12-06T23:30:00+00:00" data-end="2026-12-07T00:00:00+00:00" data-when')
    assert 'title="2026-12-07 07:30–08:00 Asia/Shanghai (UTC+08:00)"' in html
    assert html.endswith(">Mon, Dec 7 07:30–08:00</time>")
    assert str(when_html(None, zone=SHANGHAI, lang="en")) == ""


def test_the_jinja_filter_reads_the_page_language_and_zone() -> None:
    page = env.from_string("{{ start|when(end) }} {{ nothing|when }}")
    html = page.render(timezone="Asia/Shanghai", lang="zh-Hans", start="2030-05-01T02:00:00+00:00",
                       end="2030-05-01T02:30:00+00:00", nothing=None)
    assert ">2030年5月1日周三 10:00–10:30</time>" in html
    assert 'datetime="2030-05-01T02:00:00+00:00"' in html


async def test_notices_replays_and_the_programme_days_are_written_the_same_way(signed_in: Any, services: Services) -> None:
    """The notices page said '2026-12-05 08:30 UTC', the programme's day list '2023-09-01': the exhibition's
    zone and the page's language instead, as |when writes times everywhere else."""
    client = await signed_in("visitor")
    me = await client.refresh_csrf()
    yesterday = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    async with services.db.session() as db:
        db.add(Notification(user_id=me["id"], kind="launch_live", params={"title": "Mengding tea"}, url="/live/1",
                            created_at=yesterday))
        await db.commit()
    page = (await client.get("/notifications?lang=zh-Hans")).text
    local = yesterday.astimezone(SHANGHAI)
    assert "UTC</time>" not in page
    assert f">{when_text(yesterday, zone=SHANGHAI, lang='zh-Hans')}</time>" in page
    assert f"{local.month}月{local.day}日" in page

    await make_slot(services, start_in=dt.timedelta(days=400), stage="release-days", booth_id=None, exhibitor_id=None)
    programme = (await client.get("/programme?lang=en")).text
    days = re.findall(r'<option value="(\d{4}-\d\d-\d\d)"[^>]*>([^<]*)</option>', programme)
    assert days, programme
    for value, label in days:
        day = dt.date.fromisoformat(value)
        assert value not in label and str(day.year) in label and day.strftime("%b") in label, (value, label)


def test_notices_write_their_times_as_pages_do_with_the_date() -> None:
    """In-app notices and their e-mails said '2026-12-07 15:30 (Asia/Shanghai)'; pages say 'Mon, Dec 7 15:30'.
    A notice is read later, so its time always carries the date."""
    soon = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=10)
    local = soon.astimezone(SHANGHAI)
    for lang in ("en", "zh-Hans", "zh-Hant"):
        _, body = render("launch_starting", {"title": {"en": "Tea", "zh-Hans": "新茶", "zh-Hant": "新茶"},
                                             "time": soon.isoformat()}, lang, "Asia/Shanghai")
        dated = f"{day_text(local, lang, local.date())} {local:%H:%M}"
        assert dated in body and str(local.year) not in body, (lang, body)
        assert "Asia/Shanghai" in body


def test_local_text_falls_back_to_utc_and_says_so() -> None:
    from cloudexpo.values import local_text

    moment = dt.datetime(2026, 12, 7, 7, 30, tzinfo=dt.UTC)
    assert local_text(moment, "Asia/Shanghai") == "2026-12-07 15:30"
    assert local_text(moment, "Nowhere/Atlantis") == "2026-12-07 07:30 UTC"  # no such zone
    far = dt.datetime(9999, 12, 31, 22, 0, tzinfo=dt.UTC)  # the year 10000 in Shanghai
    assert local_text(far, "Asia/Shanghai") == "9999-12-31 22:00 UTC"
    assert local_text(None, "Asia/Shanghai") == ""
