"""Objects as files in a folder, served by the app under signed URLs.

Layout under ``root``::

    {key}                        the object's bytes
    .meta/{key}.json             content type, ETag, size and mtime of that file
    .uploads/{id}/manifest.json  a multipart upload: key and content type
    .uploads/{id}/00001.part     its parts, each with a .json (ETag, size)
    .tmp/                        files being written

Every write goes to a temporary file that is fsynced and then moved into
place with ``os.replace``, so readers see the old object or the new one. A
sidecar that does not describe the file beside it (a reader caught between
the two renames, or a file copied in by hand) is ignored: the ETag then
comes from size and mtime. Files are read and written in chunks in worker
threads; no object is held in memory whole except through ``get_bytes``.

The URLs are ``{public_url}/storage/o/{key}`` and
``{public_url}/storage/part/{upload_id}/{n}`` with an expiring signature
(:mod:`cloudexpo.storage.signing`); ``web/routes/storage.py`` serves them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mimetypes
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

from anyio import to_thread

from cloudexpo.storage.base import (
    MIN_PART_SIZE,
    InvalidKey,
    InvalidUpload,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    UploadedPart,
    check_expires,
    check_key,
    check_part_number,
    check_prefix,
    normalize_etag,
)
from cloudexpo.storage.signing import SignatureError, URLSigner

_RESERVED = {".meta", ".uploads", ".tmp"}
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_COPY_CHUNK = 1 << 20
DEFAULT_MAX_SIZE = 5 * 1024**3  # S3's limit for one PUT and for one part
# get_url: URLs valid an hour or more are reused within a minute (see LocalStore.get_url).
URL_REUSE_MIN_EXPIRES = 3600
URL_REUSE_STEP = 60
URL_REUSE_MAX = 50_000


class ObjectTooLarge(StorageError):
    """An upload went past the size its signed URL allows."""


@dataclass(frozen=True)
class Ticket:
    """What a verified URL allows."""

    key: str
    expires_at: int
    content_type: str | None = None  # GET: override; PUT: the one to send
    filename: str | None = None
    max_size: int | None = None


def _run(func: Any, *args: Any) -> Any:
    return to_thread.run_sync(func, *args)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _TempFile:
    """A file in ``.tmp`` written sequentially while its md5 is computed."""

    def __init__(self, tmp_dir: Path) -> None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir)
        self.path = Path(name)
        self.file: IO[bytes] = os.fdopen(fd, "wb")
        self.md5 = hashlib.md5()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.md5.update(data)
        self.size += len(data)

    def write_many(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def finish(self) -> os.stat_result:
        self.file.flush()
        os.fsync(self.file.fileno())
        st = os.fstat(self.file.fileno())
        self.file.close()
        return st

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class LocalStore:
    kind = "local"
    #: S3 refuses smaller parts (but the last); so do we, so that code
    #: tested against the local store works against S3. Tests may lower it.
    min_part_size = MIN_PART_SIZE

    def __init__(
        self,
        root: str | Path,
        secret_key: str,
        public_url: str,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self.root = Path(root)
        self.public_url = public_url.rstrip("/")
        self.max_size = max_size
        self._signer = URLSigner(secret_key)
        self._get_urls: dict[tuple[str, int, str | None, str | None], str] = {}
        self._get_urls_since = 0.0

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # --- paths ---

    def _key(self, key: str) -> str:
        check_key(key)
        if key.split("/", 1)[0] in _RESERVED:
            raise InvalidKey(f"invalid object key {key!r}: {key.split('/', 1)[0]} is reserved")
        return key

    def _path(self, key: str) -> Path:
        return self.root / self._key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / (key + ".json")

    def _upload_dir(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise ObjectNotFound(f"no multipart upload {upload_id!r}")
        return self.root / ".uploads" / upload_id

    # --- sync helpers, run in worker threads ---

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        meta: dict[str, Any] = {}
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError):
            pass
        if meta.get("size") != st.st_size or meta.get("mtime_ns") != st.st_mtime_ns:
            meta = {
                "etag": f"{st.st_mtime_ns:x}-{st.st_size:x}",
                "content_type": mimetypes.guess_type(key)[0] or "application/octet-stream",
            }
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=meta["etag"],
            content_type=meta["content_type"],
            last_modified=dt.datetime.fromtimestamp(st.st_mtime, dt.UTC),
            cache_control=meta.get("cache_control"),
        )

    def _stat(self, key: str) -> os.stat_result | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st if os.path.isfile(self._path(key)) else None

    def _head(self, key: str) -> ObjectInfo | None:
        st = self._stat(key)
        return None if st is None else self._info(key, st)

    def _open(self, key: str) -> tuple[IO[bytes], ObjectInfo]:
        path = self._path(key)
        try:
            f = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"no object {key!r}") from None
        try:
            # fstat of the open file: what we serve is what we describe, even
            # if a writer replaces the object meanwhile.
            return f, self._info(key, os.fstat(f.fileno()))
        except BaseException:
            f.close()
            raise

    def _write_json(self, dest: Path, data: dict[str, Any]) -> None:
        tmp = _TempFile(self.root / ".tmp")
        try:
            tmp.write(json.dumps(data).encode())
            tmp.finish()
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp.path, dest)
        except BaseException:
            tmp.discard()
            raise

    def _commit(
        self, key: str, tmp: _TempFile, st: os.stat_result, content_type: str, etag: str,
        cache_control: str | None = None,
    ) -> ObjectInfo:
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp.path, dest)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            tmp.discard()
            raise StorageError(
                f"cannot store {key!r}: a part of its path is both an object and a folder ({exc})"
            ) from None
        meta: dict[str, Any] = {"content_type": content_type, "etag": etag, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        if cache_control is not None:
            meta["cache_control"] = cache_control
        self._write_json(self._meta_path(key), meta)
        _fsync_dir(dest.parent)
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=etag,
            content_type=content_type,
            last_modified=dt.datetime.fromtimestamp(st.st_mtime, dt.UTC),
            cache_control=cache_control,
        )

    def _new_temp(self) -> _TempFile:
        return _TempFile(self.root / ".tmp")

    def _write_from(self, key: str, source: Path, content_type: str) -> ObjectInfo:
        tmp = self._new_temp()
        try:
            with source.open("rb") as f:
                while chunk := f.read(_COPY_CHUNK):
                    tmp.write(chunk)
            st = tmp.finish()
        except BaseException:
            tmp.discard()
            raise
        return self._commit(key, tmp, st, content_type, tmp.md5.hexdigest())

    def _write_bytes(self, key: str, data: bytes, content_type: str, cache_control: str | None = None) -> ObjectInfo:
        tmp = self._new_temp()
        try:
            tmp.write(data)
            st = tmp.finish()
        except BaseException:
            tmp.discard()
            raise
        return self._commit(key, tmp, st, content_type, tmp.md5.hexdigest(), cache_control)

    def _remove(self, key: str) -> None:
        for path in (self._path(key), self._meta_path(key)):
            try:
                path.unlink()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            self._prune(path.parent)

    def _prune(self, folder: Path) -> None:
        """Remove folders left empty, up to the root or its reserved folders."""
        stop = {self.root, self.root / ".meta"}
        while folder not in stop and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _list(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        if prefix.split("/", 1)[0] in _RESERVED:
            return []
        folder = prefix.rpartition("/")[0]
        start = self.root / folder if folder else self.root
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = os.path.relpath(dirpath, self.root)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if not base:
                dirnames[:] = [d for d in dirnames if d not in _RESERVED]
            # prune folders that cannot hold a match
            dirnames[:] = [
                d for d in dirnames if (base + d + "/").startswith(prefix) or prefix.startswith(base + d + "/")
            ]
            keys.extend(base + name for name in filenames if (base + name).startswith(prefix))
        return sorted(keys, key=lambda k: k.encode())

    # --- the ObjectStore contract ---

    async def check(self) -> None:
        def probe() -> None:
            try:
                for sub in (self.root, self.root / ".tmp"):
                    sub.mkdir(parents=True, exist_ok=True)
                self._new_temp().discard()
            except OSError as exc:
                raise StorageError(
                    f"local object store at {str(self.root)!r} is not a writable folder: {exc}"
                ) from None

        await _run(probe)

    async def close(self) -> None:
        pass

    async def put_bytes(
        self, key: str, data: bytes, content_type: str, *, cache_control: str | None = None
    ) -> ObjectInfo:
        self._key(key)
        result: ObjectInfo = await _run(self._write_bytes, key, data, content_type, cache_control)
        return result

    async def put_file(self, key: str, path: Path, content_type: str) -> ObjectInfo:
        self._key(key)
        result: ObjectInfo = await _run(self._write_from, key, Path(path), content_type)
        return result

    async def get_bytes(self, key: str) -> bytes:
        def read() -> bytes:
            f, _ = self._open(key)
            with f:
                return f.read()

        self._key(key)
        data: bytes = await _run(read)
        return data

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        if start < 0 or length < 0:
            raise ValueError("start and length must not be negative")

        def read() -> bytes:
            f, _ = self._open(key)
            with f:
                return os.pread(f.fileno(), length, start) if length else b""

        self._key(key)
        data: bytes = await _run(read)
        return data

    async def download_file(self, key: str, path: Path) -> None:
        def copy() -> None:
            dest = Path(path)
            f, _ = self._open(key)
            with f:
                fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
                try:
                    with os.fdopen(fd, "wb") as out:
                        shutil.copyfileobj(f, out, _COPY_CHUNK)
                    os.replace(name, dest)
                except BaseException:
                    Path(name).unlink(missing_ok=True)
                    raise

        self._key(key)
        await _run(copy)

    async def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        self._key(key)
        f, _ = await _run(self._open, key)
        try:
            while chunk := await _run(f.read, chunk_size):
                yield chunk
        finally:
            await _run(f.close)

    async def head(self, key: str) -> ObjectInfo | None:
        self._key(key)
        info: ObjectInfo | None = await _run(self._head, key)
        return info

    async def delete(self, key: str) -> None:
        self._key(key)
        await _run(self._remove, key)

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise InvalidKey("delete_prefix needs a non-empty prefix")

        def remove_all() -> int:
            keys = self._list(prefix)
            for key in keys:
                self._remove(key)
            return len(keys)

        count: int = await _run(remove_all)
        return count

    async def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = await _run(self._list, prefix)
        return keys

    # --- URLs ---

    def _url(self, path: str, params: dict[str, str]) -> str:
        return f"{self.public_url}{path}?{urlencode(params, quote_via=quote, safe='')}"

    def get_url(
        self,
        key: str,
        expires: int = 3600,
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        now = time.time()
        memo = None
        if expires >= URL_REUSE_MIN_EXPIRES:
            # Long-lived URLs are signed as of the start of the current minute, so within that minute the
            # same object gets the same URL (computed once; browsers can cache it) and it lives at most
            # URL_REUSE_STEP seconds less than asked.
            now -= now % URL_REUSE_STEP
            if now != self._get_urls_since or len(self._get_urls) >= URL_REUSE_MAX:
                self._get_urls = {}
                self._get_urls_since = now
            memo = (key, expires, filename, content_type)
            url = self._get_urls.get(memo)
            if url is not None:
                return url
        self._key(key)
        params: dict[str, str] = {}
        if filename is not None:
            params["fn"] = filename
        if content_type is not None:
            params["ct"] = content_type
        signed = self._signer.sign("get", key, params, expires=expires, now=now)
        url = self._url(f"/storage/o/{quote(key, safe='/')}", signed)
        if memo is not None:
            self._get_urls[memo] = url
        return url

    def put_url(
        self, key: str, content_type: str, expires: int = 3600, *, max_size: int | None = None
    ) -> str:
        self._key(key)
        params = {"ct": content_type, "max": str(self.max_size if max_size is None else max_size)}
        signed = self._signer.sign("put", key, params, expires=expires, now=time.time())
        return self._url(f"/storage/o/{quote(key, safe='/')}", signed)

    # --- what web/routes/storage.py asks ---

    def verify_get(self, key: str, query: Iterable[tuple[str, str]]) -> Ticket:
        self._key(key)
        params = self._signer.verify("get", key, query, now=time.time())
        return Ticket(key, int(params["exp"]), content_type=params.get("ct"), filename=params.get("fn"))

    def verify_put(self, key: str, query: Iterable[tuple[str, str]]) -> Ticket:
        self._key(key)
        params = self._signer.verify("put", key, query, now=time.time())
        return Ticket(key, int(params["exp"]), content_type=params["ct"], max_size=int(params["max"]))

    async def verify_part(
        self, upload_id: str, part_number: int, query: Iterable[tuple[str, str]]
    ) -> Ticket:
        manifest = await _run(self._manifest, upload_id)
        key = manifest["key"]
        params = self._signer.verify("part", f"{key}\n{upload_id}\n{part_number}", query, now=time.time())
        return Ticket(key, int(params["exp"]), max_size=int(params["max"]))

    async def open_for_read(self, key: str) -> tuple[IO[bytes], ObjectInfo]:
        """An open file and what it holds; the caller closes the file."""
        self._key(key)
        result: tuple[IO[bytes], ObjectInfo] = await _run(self._open, key)
        return result

    async def _receive(self, chunks: AsyncIterable[bytes], max_size: int) -> _TempFile:
        """Stream ``chunks`` into a temporary file, a thread hop per ~1 MiB."""
        tmp: _TempFile = await _run(self._new_temp)
        try:
            batch: list[bytes] = []
            batched = 0
            async for chunk in chunks:
                if tmp.size + batched + len(chunk) > max_size:
                    raise ObjectTooLarge(f"the upload is larger than the {max_size} bytes its URL allows")
                batch.append(chunk)
                batched += len(chunk)
                if batched >= _COPY_CHUNK:
                    await _run(tmp.write_many, batch)
                    batch, batched = [], 0
            await _run(tmp.write_many, batch)
        except BaseException:
            await _run(tmp.discard)
            raise
        return tmp

    async def write_stream(
        self, key: str, content_type: str, chunks: AsyncIterable[bytes], max_size: int
    ) -> ObjectInfo:
        self._key(key)
        tmp = await self._receive(chunks, max_size)

        def commit() -> ObjectInfo:
            try:
                st = tmp.finish()
            except BaseException:
                tmp.discard()
                raise
            return self._commit(key, tmp, st, content_type, tmp.md5.hexdigest())

        info: ObjectInfo = await _run(commit)
        return info

    async def write_part(
        self, upload_id: str, part_number: int, chunks: AsyncIterable[bytes], max_size: int
    ) -> UploadedPart:
        check_part_number(part_number)
        folder = self._upload_dir(upload_id)
        tmp = await self._receive(chunks, max_size)

        def commit() -> UploadedPart:
            try:
                tmp.finish()
                if not (folder / "manifest.json").exists():
                    raise ObjectNotFound(f"no multipart upload {upload_id!r}")
                os.replace(tmp.path, folder / f"{part_number:05d}.part")
            except BaseException:
                tmp.discard()
                raise
            part = UploadedPart(part_number, tmp.md5.hexdigest(), tmp.size)
            self._write_json(folder / f"{part_number:05d}.json", {"etag": part.etag, "size": part.size})
            return part

        part: UploadedPart = await _run(commit)
        return part

    # --- multipart ---

    def _manifest(self, upload_id: str) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads((self._upload_dir(upload_id) / "manifest.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"no multipart upload {upload_id!r}") from None
        return data

    def _manifest_for(self, key: str, upload_id: str) -> dict[str, str]:
        manifest = self._manifest(upload_id)
        if manifest["key"] != key:
            raise ObjectNotFound(f"no multipart upload {upload_id!r} for {key!r}")
        return manifest

    def _parts(self, upload_id: str) -> list[UploadedPart]:
        folder = self._upload_dir(upload_id)
        parts = []
        for meta in sorted(folder.glob("[0-9]*.json")):
            try:
                data = json.loads(meta.read_bytes())
            except (OSError, ValueError):
                continue
            parts.append(UploadedPart(int(meta.stem), data["etag"], data["size"]))
        return parts

    async def create_multipart(self, key: str, content_type: str) -> str:
        self._key(key)
        upload_id = secrets.token_hex(16)
        manifest = {"key": key, "content_type": content_type, "created": time.time()}
        await _run(self._write_json, self._upload_dir(upload_id) / "manifest.json", manifest)
        return upload_id

    def part_url(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        expires: int = 3600,
        *,
        max_size: int | None = None,
    ) -> str:
        self._key(key)
        self._upload_dir(upload_id)
        check_part_number(part_number)
        check_expires(expires)
        params = {"max": str(self.max_size if max_size is None else max_size)}
        subject = f"{key}\n{upload_id}\n{part_number}"
        signed = self._signer.sign("part", subject, params, expires=expires, now=time.time())
        return self._url(f"/storage/part/{upload_id}/{part_number}", signed)

    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        self._key(key)

        def parts() -> list[UploadedPart]:
            self._manifest_for(key, upload_id)
            return self._parts(upload_id)

        result: list[UploadedPart] = await _run(parts)
        return result

    async def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        self._key(key)

        def complete() -> ObjectInfo:
            manifest = self._manifest_for(key, upload_id)
            folder = self._upload_dir(upload_id)
            have = {p.part_number: p for p in self._parts(upload_id)}
            if not parts:
                raise InvalidUpload("complete_multipart needs at least one part")
            numbers = [n for n, _ in parts]
            if numbers != sorted(set(numbers)):
                raise InvalidUpload(f"parts must be listed in ascending order, once each: {numbers}")
            for i, (number, etag) in enumerate(parts):
                part = have.get(number)
                if part is None:
                    raise InvalidUpload(f"part {number} of upload {upload_id} was never uploaded")
                if part.etag != normalize_etag(etag):
                    raise InvalidUpload(f"part {number}: ETag {etag!r} given, {part.etag!r} uploaded")
                if i < len(parts) - 1 and part.size < self.min_part_size:
                    raise InvalidUpload(
                        f"part {number} is {part.size} bytes; every part but the last needs "
                        f"at least {self.min_part_size}"
                    )
            tmp = self._new_temp()
            digests = hashlib.md5()
            try:
                for number, _ in parts:
                    part_md5 = hashlib.md5()
                    with (folder / f"{number:05d}.part").open("rb") as f:
                        while chunk := f.read(_COPY_CHUNK):
                            tmp.write(chunk)
                            part_md5.update(chunk)
                    digests.update(part_md5.digest())
                st = tmp.finish()
            except BaseException:
                tmp.discard()
                raise
            etag = f"{digests.hexdigest()}-{len(parts)}"
            info = self._commit(key, tmp, st, manifest["content_type"], etag)
            shutil.rmtree(folder, ignore_errors=True)
            return info

        info: ObjectInfo = await _run(complete)
        return info

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self._key(key)

        def abort() -> None:
            try:
                self._manifest_for(key, upload_id)
            except ObjectNotFound:
                return
            shutil.rmtree(self._upload_dir(upload_id), ignore_errors=True)

        await _run(abort)


__all__ = ["LocalStore", "ObjectTooLarge", "SignatureError", "Ticket"]
