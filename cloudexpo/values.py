"""Untrusted scalar values read one way: ids, tokens, moments and time-zone names.

Pure functions shared by the domain packages and ``web/params.py`` (which turns
their refusals into HTTP answers). Each returns ``None`` or raises
:class:`BadValue` with a message that says what to send instead.

- An id is ASCII digits (``isdigit()`` also accepts ``²`` and ``١``, which
  ``int()`` then refuses) within the id columns: ``INTEGER``, 32-bit on
  PostgreSQL (:data:`ID_MAX`). Other whole numbers stay within 64 bits.
- Tokens are compared as bytes in constant time; a token that is not ASCII
  can never match (``hmac.compare_digest`` raises on non-ASCII ``str``).
- Moments fall within years :data:`MIN_YEAR`–:data:`MAX_YEAR`, so converting
  them to any time zone and back never overflows ``datetime``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloudexpo.messages import message

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
#: Ids are INTEGER columns: 32-bit on PostgreSQL (SQLite would take 64).
ID_MAX = 2**31 - 1
MIN_YEAR = 1970
MAX_YEAR = 2999
MAX_TIME_TEXT = 64
MAX_ZONE_NAME = 64

_DIGITS = re.compile(r"[0-9]{1,19}")


WHOLE_NUMBER = message("value.whole_number", "'{name}' must be a whole number.")
BETWEEN = message("value.between", "'{name}' must be between {low} and {high}.")
ZONE_TOO_LONG = message("value.zone_too_long", "Give a time zone name of at most {limit} characters, like Asia/Shanghai.")
UNKNOWN_ZONE = message("value.unknown_zone", "{name} is not a known time zone; use one like Asia/Shanghai.")
YEARS = message("value.years", "'{name}' must fall between the years {low} and {high}.")
TIME_REQUIRED = message("value.time_required", "'{name}' is required: an ISO time like 2023-09-01T14:00+08:00.")
TIME_TOO_LONG = message("value.time_too_long", "'{name}' is too long for a time; write it like 2023-09-01T14:00+08:00.")
NOT_A_TIME = message("value.not_a_time", "'{name}' is not an ISO time; write it like 2023-09-01T14:00+08:00.")


class BadValue(ValueError):
    """A value that cannot be accepted; ``str(exc)`` says what to send instead."""


def _at_most(limit: str) -> str:
    """A regex matching the ASCII digit strings of ``limit``'s length that are <= ``limit``."""
    options = [limit]
    for i, digit in enumerate(limit):
        if digit != "0":
            options.append(f"{limit[:i]}[0-{int(digit) - 1}][0-9]{{{len(limit) - i - 1}}}")
    return "|".join(options)


#: ASCII digits whose value is at most :data:`ID_MAX` (the path convertor's regex).
ID_REGEX = f"(?:[0-9]{{1,{len(str(ID_MAX)) - 1}}}|{_at_most(str(ID_MAX))})"


def parse_id(value: object, maximum: int = ID_MAX) -> int | None:
    """``value`` as an id (an ``int`` or ASCII digits, 0 to ``maximum``), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= maximum else None
    if isinstance(value, str):
        text = value.strip()
        if _DIGITS.fullmatch(text):
            number = int(text)
            return number if number <= maximum else None
    return None


def parse_int(value: object, name: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """A whole number within ``low``–``high``: an ``int`` (not a bool), an integral float, or ASCII digits."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer() and INT64_MIN <= value <= INT64_MAX:
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        sign = -1 if text.startswith("-") else 1
        digits = text[1:] if text[:1] in "+-" else text
        if _DIGITS.fullmatch(digits):
            number = sign * int(digits)
    if number is None:
        raise BadValue(WHOLE_NUMBER(name=name))
    if not low <= number <= high:
        raise BadValue(BETWEEN(name=name, low=low, high=high))
    return number


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of two tokens as bytes; a non-ASCII ``given`` never matches."""
    if not given:
        return False
    try:
        raw = given.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(raw, expected.encode("ascii"))


def time_zone(name: str) -> ZoneInfo:
    """A zoneinfo time zone by its IANA name (``Asia/Shanghai``)."""
    if not isinstance(name, str) or not name or len(name) > MAX_ZONE_NAME:
        raise BadValue(ZONE_TOO_LONG(limit=MAX_ZONE_NAME))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadValue(UNKNOWN_ZONE(name=repr(name))) from None


def check_moment(moment: dt.datetime, name: str) -> dt.datetime:
    """``moment`` if its year lies within :data:`MIN_YEAR`–:data:`MAX_YEAR`."""
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise BadValue(YEARS(name=name, low=MIN_YEAR, high=MAX_YEAR))
    return moment


def parse_moment(value: object, name: str, zone: dt.tzinfo) -> dt.datetime:
    """An ISO 8601 time as aware UTC; a time without an offset is read in ``zone``."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise BadValue(TIME_REQUIRED(name=name))
        text = value.strip()
        if len(text) > MAX_TIME_TEXT:
            raise BadValue(TIME_TOO_LONG(name=name))
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadValue(NOT_A_TIME(name=name)) from None
    check_moment(moment, name)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return check_moment(moment.astimezone(dt.UTC), name)


def in_zone(moment: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """``moment`` in ``zone``; in UTC where the zone's time is beyond the calendar (a stored 9999-12-31 22:00 UTC
    is past the year 9999 in Asia/Shanghai): what was stored never breaks a page or a notice."""
    try:
        return moment.astimezone(zone)
    except (OverflowError, ValueError, OSError):
        return moment.astimezone(dt.UTC)


def local_text(value: dt.datetime | None, zone_name: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment shown in a time zone; never fails on what was stored (falls back to UTC)."""
    if value is None:
        return ""
    try:
        zone: dt.tzinfo = ZoneInfo(zone_name)
    except (ValueError, ZoneInfoNotFoundError):  # no such zone
        zone = dt.UTC
    local = in_zone(value, zone)
    return local.strftime(fmt) + (" UTC" if local.tzinfo is dt.UTC else "")
