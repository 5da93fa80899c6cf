"""The object store contract: what booths and streaming may ask of storage.

Two implementations keep it: a local folder whose objects the app serves
under expiring HMAC-signed URLs (:mod:`cloudexpo.storage.local`), and any S3
endpoint through boto3 with presigned URLs (:mod:`cloudexpo.storage.s3`).
Browsers always get URLs and talk to storage directly; with S3 no media byte
passes through the app.

Both stores behave alike on the points callers rely on (checked by
``tests/test_storage_contract.py`` against both):

- ETags are given without quotes: the md5 hex of the content for a single
  PUT, ``md5-of-part-md5s-N`` for a multipart upload (as S3 computes them).
  HTTP ``ETag`` headers carry them quoted.
- Multipart uploads follow S3's rules: part numbers 1..10000, every part but
  the last at least 5 MiB, parts completed in ascending order with the ETags
  the part PUTs answered.
- ``list_keys`` and ``delete_prefix`` match plain string prefixes
  (``"a/1"`` matches ``"a/10/x"``); results are sorted.
- URLs live at most :data:`MAX_URL_EXPIRES` seconds (S3's SigV4 limit).
- An object put with ``cache_control`` is served with that ``Cache-Control``
  (browsers and CDNs then revalidate a live playlist instead of keeping it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

MAX_URL_EXPIRES = 7 * 24 * 3600
MAX_PART_NUMBER = 10_000
MIN_PART_SIZE = 5 * 1024 * 1024


class StorageError(RuntimeError):
    """Storage did not answer or refused; the message says which and why."""


class ObjectNotFound(StorageError):
    """No such object, or no such multipart upload."""


class InvalidKey(StorageError, ValueError):
    pass


class InvalidUpload(StorageError, ValueError):
    """``complete_multipart`` refused the parts list: a part is missing, its
    ETag differs, parts are out of order, or a part but the last is under
    5 MiB. The client's fault (answer 400), unlike a plain StorageError."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str  # unquoted
    content_type: str
    last_modified: dt.datetime  # timezone-aware, UTC
    cache_control: str | None = None  # what GETs answer as Cache-Control; None: the URL's own default


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    etag: str  # unquoted
    size: int


class ObjectStore(Protocol):
    kind: str  # "local" or "s3"

    async def check(self) -> None:
        """Raise :class:`StorageError` when the store does not answer."""

    async def close(self) -> None: ...

    # --- objects the server writes and reads itself ---
    async def put_bytes(
        self, key: str, data: bytes, content_type: str, *, cache_control: str | None = None
    ) -> ObjectInfo:
        """``cache_control`` is kept with the object and answered on every GET (S3's
        ``Cache-Control`` metadata), e.g. ``no-cache`` for a live playlist that a CDN must revalidate."""
    async def put_file(self, key: str, path: Path, content_type: str) -> ObjectInfo: ...
    async def get_bytes(self, key: str) -> bytes: ...
    async def read_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes ``[start, start+length)`` clipped to the object's end (``b""`` past it)."""
    async def download_file(self, key: str, path: Path) -> None: ...
    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the object; raises :class:`ObjectNotFound` on first iteration."""
    async def head(self, key: str) -> ObjectInfo | None: ...
    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing key is not an error."""
    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` (non-empty); return how many."""
    async def list_keys(self, prefix: str) -> list[str]: ...

    # --- URLs for browsers and players ---
    def get_url(
        self,
        key: str,
        expires: int = 3600,
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str: ...
    def put_url(
        self, key: str, content_type: str, expires: int = 3600, *, max_size: int | None = None
    ) -> str:
        """The browser must send exactly this ``Content-Type``. ``max_size`` is
        enforced by the local store; S3 cannot bound a presigned PUT, so check
        the size with :meth:`head` afterwards there."""

    # --- multipart uploads straight from the browser ---
    async def create_multipart(self, key: str, content_type: str) -> str: ...
    def part_url(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        expires: int = 3600,
        *,
        max_size: int | None = None,
    ) -> str: ...
    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]: ...
    async def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        """``parts`` are ``(part_number, etag)``, quoted or not, ascending."""
    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Idempotent: aborting a finished or unknown upload is not an error."""


def check_key(key: str) -> str:
    """Keys are relative, slash-separated, with no empty, '.' or '..' parts."""
    if not key or len(key) > 1024 or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid object key {key!r}")
    if any(part in {"", ".", ".."} for part in key.split("/")):
        raise InvalidKey(f"invalid object key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A key prefix: empty, or a key's beginning (it may end with '/')."""
    if prefix:
        check_key(prefix[:-1] + "x" if prefix.endswith("/") else prefix)
    return prefix


def check_expires(expires: int) -> int:
    if not 0 < expires <= MAX_URL_EXPIRES:
        raise ValueError(f"URL lifetime must be 1..{MAX_URL_EXPIRES} seconds, not {expires}")
    return expires


def check_part_number(part_number: int) -> int:
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise ValueError(f"part number must be 1..{MAX_PART_NUMBER}, not {part_number}")
    return part_number


def normalize_etag(etag: str) -> str:
    """``'"abc"'``, ``'W/"abc"'`` and ``'abc'`` are the same ETag ``abc``."""
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f"\\]')


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    name = _UNSAFE_FILENAME.sub("_", filename.replace("/", "_")) or "download"
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
