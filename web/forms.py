"""Request bodies read one way: bounded in size, then JSON or a form.

A body larger than the route's cap is refused from its declared
``Content-Length`` before a byte is read, and while streaming when the length
is not declared (or is wrong). JSON is refused when it nests deeper than
:data:`MAX_DEPTH`, holds ``NaN``/``Infinity`` or a number beyond 64 bits
(``1e999`` included), or a string with a lone UTF-16 surrogate (``"\\ud800"``)
or a NUL character (``"\\u0000"``), which no database or template can store
or show. Form values follow the same text rules.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.types import Message

from cloudexpo.messages import message
from cloudexpo.values import INT64_MAX, INT64_MIN, parse_id
from web.errors import ApiError

LENGTH_NUMBER = message("input.content_length", "Content-Length must be a whole number of bytes.")
TOO_BIG_ANNOUNCED = message("input.too_big_announced", "Send at most {size} ({length} bytes announced).")
TOO_BIG = message("input.too_big", "Send at most {size}.")
TOO_DEEP = message("input.too_deep", "The JSON nests too deep; at most {depth} levels of arrays and objects.")
SURROGATE = message("input.surrogate", "The JSON holds a lone surrogate (like \\ud800): send valid Unicode text.")
JSON_NUL = message("input.json_nul", "The JSON holds a NUL character (\\u0000): send text without it.")
NOT_UTF8 = message("input.not_utf8", "The body is not UTF-8 text.")
BIG_NUMBER = message("input.big_number", "The body is not usable JSON: {reason}; send numbers within 64 bits.")
NOT_JSON = message("input.not_json", "The body is not valid JSON: {reason}.")
JSON_OBJECT = message("input.json_object", 'Send a JSON object, like {{"name": "..."}}.')
FORM_NUL = message("input.form_nul", "The form field {field} holds a NUL character; send text without it.")
CONTENT_TYPE = message("input.content_type", "Send application/json or a form (application/x-www-form-urlencoded).")
BAD_FORM = message("input.bad_form", "The form could not be read: {reason}.")

JSON_LIMIT = 64 * 1024
#: Booth and product editing: three languages of a 20,000-character description, escaped.
EDITING_LIMIT = 512 * 1024
FORM_LIMIT = 2 * 1024 * 1024
#: Room for a multipart form's boundaries and part headers around a file.
FORM_OVERHEAD = 16 * 1024
MAX_DEPTH = 32


def size_text(limit: int) -> str:
    """A byte limit as people read it: ``2 MiB``, ``64 KiB``."""
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0 else f"{limit // 1024} KiB"


def refuse_declared_length(request: Request, limit: int, what: str = "body") -> None:
    """413 when ``Content-Length`` announces more than ``limit`` bytes (nothing is read)."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    length = parse_id(declared, INT64_MAX)
    if length is None:
        raise ApiError(400, LENGTH_NUMBER())
    if length > limit:
        raise ApiError(413, TOO_BIG_ANNOUNCED(size=size_text(limit), length=length))


async def read_body(request: Request, limit: int = JSON_LIMIT, what: str = "body") -> bytes:
    """The raw body, at most ``limit`` bytes; 413 from the declared length or while reading."""
    refuse_declared_length(request, limit, what)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, TOO_BIG(size=size_text(limit)))
        chunks.append(chunk)
    return b"".join(chunks)


class _BadNumber(ValueError):
    pass


def _int64(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _BadNumber(f"the number {text[:24]}{'…' if len(text) > 24 else ''} does not fit in 64 bits")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > INT64_MAX:
        raise _BadNumber(f"the number {text[:24]} is out of range")
    return value


def _no_constant(text: str) -> float:
    raise _BadNumber(f"{text} is not a number JSON allows")


def _check(value: Any, depth: int = 0) -> None:
    """Nesting within :data:`MAX_DEPTH`; no lone surrogate in any key or string."""
    if depth > MAX_DEPTH:
        raise ApiError(400, TOO_DEEP(depth=MAX_DEPTH))
    if isinstance(value, str):
        _check_text(value)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check(item, depth + 1)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, SURROGATE()) from None
    if "\x00" in text:
        raise ApiError(400, JSON_NUL())


def parse_json(body: bytes) -> Any:
    """JSON text as Python values, with the limits above; 400 saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, NOT_UTF8()) from None
    try:
        data = json.loads(text or "{}", parse_int=_int64, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise ApiError(400, TOO_DEEP(depth=MAX_DEPTH)) from None
    except _BadNumber as exc:
        raise ApiError(400, BIG_NUMBER(reason=str(exc))) from None
    except ValueError as exc:
        raise ApiError(400, NOT_JSON(reason=str(exc))) from None
    _check(data)
    return data


async def read_input(request: Request, limit: int = JSON_LIMIT) -> dict[str, Any]:
    """The body as a dict, from JSON or a form; 400/413/415 saying what to send instead."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type == "application/json":
        data = parse_json(await read_body(request, limit, "JSON body"))
        if not isinstance(data, dict):
            raise ApiError(400, JSON_OBJECT())
        return data
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await read_form(request, max(limit, FORM_LIMIT))
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        for key, value in values.items():
            if "\x00" in key or "\x00" in value:
                raise ApiError(400, FORM_NUL(field=repr(key[:40])))
        return values
    raise ApiError(415, CONTENT_TYPE())


async def read_form(request: Request, limit: int = FORM_LIMIT) -> Any:
    """The form (urlencoded or multipart) of at most ``limit`` bytes."""
    body = await read_body(request, limit, "form")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, receive=replay).form()
    except (ValueError, KeyError) as exc:
        raise ApiError(400, BAD_FORM(reason=str(exc))) from None


#: The form fields' suffix per language: ``name_zh_hans``, ``name_zh_hant``, ``name_en``.
FORM_LANGS = {"zh-Hans": "zh_hans", "zh-Hant": "zh_hant", "en": "en"}


def localized_from_form(data: dict[str, Any], field: str) -> dict[str, str]:
    """``name_zh_hans``, ``name_zh_hant``, ``name_en`` form fields as one per-language mapping."""
    return {lang: str(data.get(f"{field}_{suffix}", "")) for lang, suffix in FORM_LANGS.items()}


def back(request: Request, fallback: str = "/") -> str:
    """Where a form posted from one of our pages returns to: that page (same host only), else ``fallback``."""
    ref = request.headers.get("referer", "")
    host = request.headers.get("host", "")
    if ref and host and f"//{host}/" in ref:
        return "/" + ref.split(f"//{host}/", 1)[1]
    return fallback
