"""One way of showing a time on every page: the exhibition's time zone, with the date whenever it is not today.

Pages write ``{{ moment|when }}`` or ``{{ start|when(end) }}`` (the Jinja
filters registered by ``web.templating``; a moment is an aware datetime or
the ISO text the API's JSON carries). Each gives a ``<time>`` element:

- its text is the time in the exhibition's time zone (``15:30``), with the
  date in the page's language before it when the day is not today in that
  zone (``12月7日周一 15:30``, ``Mon, Dec 7 15:30``), and the year when it is
  not this year; a range shows the end's date only when it ends on another day;
- ``datetime`` is the ISO moment and ``title`` says the zone
  (``2026-12-07 15:30 Asia/Shanghai (UTC+08:00)``);
- ``data-when`` marks it for ``static/js/app.js``, which adds the viewer's own
  time and zone to the title when they differ, and formats times made in the
  browser the same way (``window.cloudexpo.when``).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from cloudexpo.i18n import day_text
from cloudexpo.values import BadValue, in_zone, time_zone

Moment = dt.datetime | str | None
__all__ = ["as_moment", "day_text", "jinja_when", "page_zone", "when_html", "when_text", "zone_text"]


def as_moment(value: Moment) -> dt.datetime | None:
    """An aware datetime from a datetime or ISO text (naive ones are UTC, as stored); ``None`` for nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def zone_text(local: dt.datetime, zone: ZoneInfo) -> str:
    """``Asia/Shanghai (UTC+08:00)``."""
    offset = local.strftime("%z")
    return f"{zone.key} (UTC{offset[:3]}:{offset[3:]})" if offset else zone.key


def when_text(start: Moment, end: Moment = None, *, zone: ZoneInfo, lang: str, now: dt.datetime | None = None) -> str:
    """``15:30``, ``15:30–16:00``, ``12月7日周一 15:30–16:00``, ``Mon, Dec 7 23:30 – Tue, Dec 8 00:30``."""
    first = as_moment(start)
    if first is None:
        return ""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    local = in_zone(first, zone)
    text = local.strftime("%H:%M")
    if local.date() != today:
        text = f"{day_text(local, lang, today)} {text}"
    last = as_moment(end)
    if last is None:
        return text
    local_end = in_zone(last, zone)
    if local_end.date() == local.date():
        return f"{text}–{local_end:%H:%M}"
    return f"{text} – {day_text(local_end, lang, today)} {local_end:%H:%M}"


def when_html(start: Moment, end: Moment = None, *, zone: ZoneInfo, lang: str, now: dt.datetime | None = None) -> Markup:
    """:func:`when_text` in a ``<time>`` element carrying the ISO moment and the zone (see the module's text)."""
    first = as_moment(start)
    if first is None:
        return Markup("")
    local = in_zone(first, zone)
    title = f"{local:%Y-%m-%d %H:%M} {zone_text(local, zone)}"
    last = as_moment(end)
    end_attr = ""
    if last is not None:
        title = f"{local:%Y-%m-%d %H:%M}–{in_zone(last, zone):%H:%M} {zone_text(local, zone)}"
        end_attr = f' data-end="{escape(last.isoformat())}"'
    text = when_text(first, last, zone=zone, lang=lang, now=now)
    return Markup(
        f'<time datetime="{escape(first.isoformat())}"{end_attr} data-when title="{escape(title)}">{escape(text)}</time>'
    )


@lru_cache(maxsize=8)
def page_zone(name: str) -> ZoneInfo:
    """The exhibition's zone from its setting (UTC if the setting names no zone this machine knows)."""
    try:
        return time_zone(name)
    except BadValue:
        return ZoneInfo("UTC")


def jinja_when(context: Any, start: Moment, end: Moment = None) -> Markup:
    """The ``when`` filter: the page's language and the exhibition's zone come from the page's context."""
    return when_html(start, end, zone=page_zone(str(context.get("timezone") or "UTC")), lang=str(context.get("lang") or "en"))
