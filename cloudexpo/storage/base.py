"""The object store contract: what booths and streaming may ask of storage.

Two implementations keep it: a local folder whose objects the app serves
under expiring HMAC-signed URLs (:mod:`cloudexpo.storage.local`), and any S3
endpoint through boto3 with presigned URLs (:mod:`cloudexpo.storage.s3`).
Browsers always get URLs and talk to storage directly; with S3 no media byte
passes through the app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class StorageError(RuntimeError):
    """Storage did not answer or refused; the message says which and why."""


class ObjectNotFound(StorageError):
    pass


class InvalidKey(StorageError, ValueError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str
    last_modified: dt.datetime


@dataclass(frozen=True)
class UploadedPart:
    part_number: int
    etag: str
    size: int


class ObjectStore(Protocol):
    kind: str  # "local" or "s3"

    async def check(self) -> None:
        """Raise :class:`StorageError` when the store does not answer."""

    async def close(self) -> None: ...

    # --- objects the server writes and reads itself ---
    async def put_bytes(self, key: str, data: bytes, content_type: str) -> ObjectInfo: ...
    async def put_file(self, key: str, path: Path, content_type: str) -> ObjectInfo: ...
    async def get_bytes(self, key: str) -> bytes: ...
    async def read_range(self, key: str, start: int, length: int) -> bytes: ...
    async def download_file(self, key: str, path: Path) -> None: ...
    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...
    async def head(self, key: str) -> ObjectInfo | None: ...
    async def delete(self, key: str) -> None: ...
    async def delete_prefix(self, prefix: str) -> int: ...
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
    def put_url(self, key: str, content_type: str, expires: int = 3600) -> str: ...

    # --- multipart uploads straight from the browser ---
    async def create_multipart(self, key: str, content_type: str) -> str: ...
    def part_url(self, key: str, upload_id: str, part_number: int, expires: int = 3600) -> str: ...
    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]: ...
    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo: ...
    async def abort_multipart(self, key: str, upload_id: str) -> None: ...


def check_key(key: str) -> str:
    """Keys are relative, slash-separated, with no empty, '.' or '..' parts."""
    if not key or len(key) > 1024 or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidKey(f"invalid object key {key!r}")
    if any(part in {"", ".", ".."} for part in key.split("/")):
        raise InvalidKey(f"invalid object key {key!r}")
    return key
