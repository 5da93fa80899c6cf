"""Time zones chosen by the clock, so that tests about days meet midnight on every run, not only when CI
happens to run at the exhibition's midnight (16:00 UTC for Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt


def zone_where_it_is(hour: int, now: dt.datetime | None = None) -> str:
    """A fixed-offset zone (``Etc/GMT-14`` … ``Etc/GMT+12``) where the local time now is ``hour`` o'clock and
    some minutes. The Etc names count the other way: ``Etc/GMT-8`` is eight hours ahead of UTC."""
    utc_hour = (now or dt.datetime.now(dt.UTC)).hour
    ahead = (hour - utc_hour) % 24
    if ahead > 14:
        ahead -= 24  # the Etc zones reach from 12 hours behind UTC to 14 ahead
    return "Etc/UTC" if ahead == 0 else f"Etc/GMT{-ahead:+d}"
