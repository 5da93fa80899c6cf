"""Path and query parameters and body fields, read one way (see ``cloudexpo/values.py``).

- A path id that is not ASCII digits within the id columns (:data:`ID_MAX`) is "nothing at this
  address" (404). The ``int`` path convertor is replaced on import (from
  ``web/__init__.py``, before any route is compiled) by one that only matches
  such ids, so ``{booth_id:int}`` never hands a handler ``2**70``.
- A bad query value or body field is a 400/422 that names the parameter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import HTTPConnection

from cloudexpo.messages import message, said_by
from cloudexpo.values import (
    ID_MAX,
    ID_REGEX,
    INT64_MAX,
    BadValue,
    parse_id,
    parse_int,
    parse_moment,
    same_token,
    time_zone,
)
from web.errors import NOTHING_HERE, ApiError

__all__ = ["body_int", "body_time", "body_zone", "optional_query_id", "path_id", "path_int", "query_int",
           "same_token"]


class IdConvertor(Convertor[int]):
    """``{name:int}``: ASCII digits whose value fits the id columns."""

    regex = ID_REGEX

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        number = int(value)
        assert 0 <= number <= ID_MAX, "path ids fit the id columns and are not negative"
        return str(number)


register_url_convertor("int", IdConvertor())

NOT_AN_ID = message("value.not_an_id", "'{name}' must be an id (digits 0-9, at most {limit}).")
REQUIRED = message("value.required", "'{name}' is required.")


def path_int(conn: HTTPConnection, name: str, detail: str | None = None) -> int:
    """The path parameter ``name`` as an id; 404 when it is not one."""
    number = parse_id(conn.path_params.get(name))
    if number is None:
        raise ApiError(404, detail or NOTHING_HERE())
    return number


def path_id(conn: HTTPConnection, name: str) -> int | None:
    """The path parameter ``name`` as an id, or ``None`` (for handlers that answer 404 their own way)."""
    return parse_id(conn.path_params.get(name))


def query_int(conn: HTTPConnection, name: str, default: int, low: int = 0, high: int = INT64_MAX) -> int:
    """The query parameter ``name`` as a whole number within ``low``–``high``; 400 saying so otherwise."""
    raw = conn.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_int(raw, name, low, high)
    except BadValue as exc:
        raise ApiError(400, said_by(exc) or str(exc), extra={"field": name}) from None


def optional_query_id(conn: HTTPConnection, name: str) -> int | None:
    """The query parameter ``name`` as an id, ``None`` when absent; 400 when it is not an id."""
    raw = conn.query_params.get(name)
    if raw is None or raw == "":
        return None
    number = parse_id(raw)
    if number is None:
        raise ApiError(400, NOT_AN_ID(name=name, limit=ID_MAX), extra={"field": name})
    return number


def body_int(data: dict[str, Any], name: str, *, required: bool = True, low: int = 0,
             high: int = ID_MAX, default: int | None = None) -> int | None:
    """The body field ``name`` as a whole number within ``low``–``high`` (an id unless said); 422 otherwise."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(422, REQUIRED(name=name), extra={"field": name})
        return default
    try:
        return parse_int(value, name, low, high)
    except BadValue as exc:
        raise ApiError(422, said_by(exc) or str(exc), extra={"field": name}) from None


def body_time(data: dict[str, Any], name: str, zone: dt.tzinfo) -> dt.datetime:
    """The body field ``name`` as an ISO time (aware UTC); 422 naming the field otherwise."""
    try:
        return parse_moment(data.get(name), name, zone)
    except BadValue as exc:
        raise ApiError(422, said_by(exc) or str(exc), extra={"field": name}) from None


def body_zone(data: dict[str, Any], name: str, default: str) -> ZoneInfo:
    """The body field ``name`` as an IANA time-zone name; 422 naming the field otherwise."""
    try:
        return time_zone(str(data.get(name) or default))
    except BadValue as exc:
        raise ApiError(422, said_by(exc) or str(exc), extra={"field": name}) from None


def parse_time(value: Any, field: str, zone: ZoneInfo) -> dt.datetime:
    """ISO 8601 (a time without zone is in the exhibition's time zone) or ``now``."""
    if isinstance(value, str) and value.strip().lower() == "now":
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    return body_time({field: value}, field, zone)
