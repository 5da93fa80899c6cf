"""The local object store's signed URLs, served the way S3 serves presigned ones.

``GET``/``HEAD /storage/o/{key}`` streams an object from disk with ranges,
validators and caching headers; ``PUT /storage/o/{key}`` and
``PUT /storage/part/{upload_id}/{n}`` stream a request body to disk and answer
its ``ETag``. CORS answers (preflight included, ``ETag`` exposed) let the
browser upload code written for S3 work unchanged. Any origin is allowed: no
cookie is read, the URL's signature is the only authority.

CSRF: these routes are exempt from the CSRF middleware (path prefix
``/storage/``) for the same reason.

When the app's store is not a :class:`~cloudexpo.storage.local.LocalStore`
(S3 serves its own URLs) every route answers 404.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import time
from collections.abc import Mapping
from typing import IO

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from cloudexpo.storage.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    check_key,
    content_disposition,
)
from cloudexpo.storage.local import LocalStore, ObjectTooLarge
from cloudexpo.storage.signing import SignatureError
from cloudexpo.values import INT64_MAX, parse_id
from web.errors import error_body

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag, Content-Length, Content-Range, Accept-Ranges, Last-Modified",
}
_PREFLIGHT_MAX_AGE = "3600"


def _error(status: int, error: str, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(error_body(status, detail, error), status, headers={**_CORS, **(headers or {})})


def _local_store(request: Request) -> LocalStore | None:
    services = getattr(request.app.state, "services", None)
    store = getattr(services, "store", None)
    return store if isinstance(store, LocalStore) else None


def _preflight(request: Request, methods: tuple[str, ...]) -> Response:
    wanted = request.headers.get("access-control-request-method", "")
    if wanted.upper() not in methods:
        return _error(403, "cors_method", f"method {wanted or '(none)'} is not allowed here; allowed: {', '.join(methods)}")
    headers = {
        **_CORS,
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
    }
    if requested := request.headers.get("access-control-request-headers"):
        headers["Access-Control-Allow-Headers"] = requested
    return Response(status_code=200, headers=headers)


class _FileSlice(Response):
    """``length`` bytes of an open file from ``start``, read in a worker thread
    chunk by chunk (like starlette's FileResponse); closes the file."""

    chunk_size = 256 * 1024

    def __init__(
        self,
        file: IO[bytes],
        start: int,
        length: int,
        status_code: int,
        headers: Mapping[str, str],
        send_body: bool,
    ) -> None:
        self.file = file
        self.start = start
        self.length = length
        self.send_body = send_body
        self.status_code = status_code
        self.background = None
        self.init_headers({**headers, "Content-Length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            if not self.send_body or self.length == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            fd, offset, end = self.file.fileno(), self.start, self.start + self.length
            while offset < end:
                chunk = await to_thread.run_sync(os.pread, fd, min(self.chunk_size, end - offset), offset)
                if not chunk:  # truncated in place under us: the promised length cannot be kept
                    raise RuntimeError("object shrank while being sent")
                offset += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": offset < end})
        finally:
            await to_thread.run_sync(self.file.close)


def _parse_range(value: str, size: int) -> tuple[int, int] | bool | None:
    """``(start, end_inclusive)``; ``None`` to ignore the header (malformed or
    several ranges, as S3 does: the whole object is sent); ``False`` when
    it cannot be satisfied (416)."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                return False
            return (max(0, size - suffix), size - 1) if size else False
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        return False
    if end < start:
        return None
    return start, min(end, size - 1)


def _http_date(when: dt.datetime) -> str:
    return email.utils.format_datetime(when.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


def _not_modified(request: Request, info: ObjectInfo) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since."""
    if (inm := request.headers.get("if-none-match")) is not None:
        tags = {t.strip().removeprefix("W/").strip('"') for t in inm.split(",")}
        return "*" in tags or info.etag in tags
    if (ims := request.headers.get("if-modified-since")) is not None:
        try:
            since = email.utils.parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        return info.last_modified.replace(microsecond=0) <= since
    return False


def _if_range_ok(request: Request, info: ObjectInfo) -> bool:
    if_range = request.headers.get("if-range")
    if if_range is None:
        return True
    if if_range.strip().startswith(('"', "W/")):
        return if_range.strip().strip('"') == info.etag
    try:
        return info.last_modified.replace(microsecond=0) <= email.utils.parsedate_to_datetime(if_range)
    except (TypeError, ValueError):
        return False


async def _get(request: Request, store: LocalStore, key: str) -> Response:
    try:
        ticket = store.verify_get(key, request.query_params.multi_items())
        file, info = await store.open_for_read(key)
    except SignatureError as exc:
        return _error(403, exc.code, exc.detail)
    except (ObjectNotFound, InvalidKey):  # InvalidKey: the store's own folders (.meta/, .uploads/, .tmp/)
        return _error(404, "not_found", f"no object {key!r}")
    headers = {
        **_CORS,
        "ETag": f'"{info.etag}"',
        "Last-Modified": _http_date(info.last_modified),
        "Cache-Control": info.cache_control or f"private, max-age={max(0, ticket.expires_at - int(time.time()))}",
        "Accept-Ranges": "bytes",
    }
    if _not_modified(request, info):
        await to_thread.run_sync(file.close)
        return Response(status_code=304, headers=headers)
    headers["Content-Type"] = ticket.content_type or info.content_type
    if ticket.filename is not None:
        headers["Content-Disposition"] = content_disposition(ticket.filename)
    start, length, status = 0, info.size, 200
    if (value := request.headers.get("range")) is not None and _if_range_ok(request, info):
        parsed = _parse_range(value, info.size)
        if parsed is False:
            await to_thread.run_sync(file.close)
            return _error(
                416,
                "range_not_satisfiable",
                f"range {value!r} is outside the object's {info.size} bytes",
                {"Content-Range": f"bytes */{info.size}"},
            )
        if isinstance(parsed, tuple):
            start, end = parsed
            length, status = end - start + 1, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    return _FileSlice(file, start, length, status, headers, send_body=request.method != "HEAD")


def _too_large(request: Request, max_size: int) -> Response | None:
    declared = request.headers.get("content-length")
    if declared is not None and (length := parse_id(declared, INT64_MAX)) is not None and length > max_size:
        return _error(413, "too_large", f"{declared} bytes sent; this URL allows at most {max_size}")
    return None


async def _put(request: Request, store: LocalStore, key: str) -> Response:
    try:
        ticket = store.verify_put(key, request.query_params.multi_items())
    except SignatureError as exc:
        return _error(403, exc.code, exc.detail)
    assert ticket.content_type is not None and ticket.max_size is not None
    sent_type = request.headers.get("content-type", "")
    if sent_type != ticket.content_type:
        return _error(
            403,
            "content_type_mismatch",
            f"this URL is signed for Content-Type {ticket.content_type!r}, the request sent {sent_type!r}",
        )
    if (refusal := _too_large(request, ticket.max_size)) is not None:
        return refusal
    try:
        info = await store.write_stream(key, ticket.content_type, request.stream(), ticket.max_size)
    except ObjectTooLarge as exc:
        return _error(413, "too_large", str(exc))
    except StorageError as exc:
        return _error(409, "conflict", str(exc))
    return Response(status_code=200, headers={**_CORS, "ETag": f'"{info.etag}"'})


async def object_endpoint(request: Request) -> Response:
    store = _local_store(request)
    if store is None:
        return _error(404, "not_found", "this server keeps no local objects")
    if request.method == "OPTIONS":
        return _preflight(request, ("GET", "HEAD", "PUT"))
    key = request.path_params["key"]
    try:
        check_key(key)
    except InvalidKey as exc:
        return _error(400, "invalid_key", str(exc))
    if request.method == "PUT":
        return await _put(request, store, key)
    return await _get(request, store, key)


async def part_endpoint(request: Request) -> Response:
    store = _local_store(request)
    if store is None:
        return _error(404, "not_found", "this server keeps no local objects")
    if request.method == "OPTIONS":
        return _preflight(request, ("PUT",))
    upload_id: str = request.path_params["upload_id"]
    part_number: int = request.path_params["part_number"]
    try:
        ticket = await store.verify_part(upload_id, part_number, request.query_params.multi_items())
    except ObjectNotFound:
        return _error(404, "no_such_upload", f"no multipart upload {upload_id!r}")
    except SignatureError as exc:
        return _error(403, exc.code, exc.detail)
    assert ticket.max_size is not None
    if (refusal := _too_large(request, ticket.max_size)) is not None:
        return refusal
    try:
        part = await store.write_part(upload_id, part_number, request.stream(), ticket.max_size)
    except ObjectTooLarge as exc:
        return _error(413, "too_large", str(exc))
    except ObjectNotFound:
        return _error(404, "no_such_upload", f"multipart upload {upload_id!r} ended meanwhile")
    except ValueError as exc:
        return _error(400, "invalid_part_number", str(exc))
    return Response(status_code=200, headers={**_CORS, "ETag": f'"{part.etag}"'})


routes: list[BaseRoute] = [
    Route("/storage/o/{key:path}", object_endpoint, methods=["GET", "HEAD", "PUT", "OPTIONS"]),
    Route(
        "/storage/part/{upload_id}/{part_number:int}",
        part_endpoint,
        methods=["PUT", "OPTIONS"],
    ),
]
