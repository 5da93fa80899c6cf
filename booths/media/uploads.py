"""Uploads straight from the browser to object storage: tickets, resume, completion.

The exhibitor's page asks for a ticket (:func:`create_ticket`) naming the file
it will send. Small files (under :data:`SINGLE_PUT_LIMIT`) get one presigned
PUT URL; larger ones a multipart upload whose part size (8–64 MiB) grows
with the file, the page asking for part URLs in batches (:func:`part_urls`)
and sending several parts at once. The page remembers the upload; after a
reload or a dropped network it asks which parts storage already holds
(:func:`upload_progress`) and sends the rest. :func:`complete_upload` joins the
parts, runs the checks of :mod:`booths.media.checks` once (size, type by the
first bytes) and leaves the asset ``processing`` for the background worker
(:mod:`booths.media.worker`).

With the local folder store the URLs are the app's own signed ones; the page
code is the same. With S3 no byte passes through the app.
"""

from __future__ import annotations

import datetime as dt
import math
import mimetypes
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.errors import BadUpload, Conflict, Invalid, MediaRejected, NotFound, TooLarge, WrongType
from booths.media.assets import delete_asset, next_position, reject, used_bytes
from booths.media.checks import check_object, human_bytes
from booths.media.models import IMAGE_KINDS, KINDS, Asset, Upload, safe_filename
from booths.media.sniffing import KIND_WORDS
from cloudexpo.db import Database, utcnow
from cloudexpo.messages import message
from cloudexpo.settings import Settings
from cloudexpo.storage import InvalidUpload, ObjectNotFound, ObjectStore

CONTENT_TYPE = message("upload.content_type", "content_type is not a media type like image/jpeg.")
KIND = message("upload.kind", "kind must be one of {kinds}.")
FILENAME = message("upload.filename", "filename is required: the name of the file you upload.")
SIZE = message("upload.size", "size must be the file's size in bytes, more than 0.")
TOO_MANY_PARTS = message("upload.too_many_parts", "the file is too large to upload in 10,000 parts.")
NO_UPLOAD = message("upload.none", "There is no such upload; it may have been cancelled. Start it again.")
FINISHED = message("upload.finished", "This upload is finished; nothing more to send.")
SINGLE_PUT = message("upload.single_put", "This upload is a single PUT; use the ticket's url (GET the upload for a fresh one).")
PART_COUNT = message("upload.part_count", "Ask for 1 to {limit} part numbers at a time.")
PART_RANGE = message("upload.part_range", "part numbers run from 1 to {last}; {number} is not one.")
PARTS_SHAPE = message("upload.parts_shape", 'parts must be a list like [{{"part_number": 1, "etag": "…"}}].')
PART_SHAPE = message("upload.part_shape", 'each part must be {{"part_number": n, "etag": "…"}}.')
COMPLETE = message("upload.complete", "This upload is already complete (the file is {state}).")
STORAGE_LOST = message("upload.storage_lost", "Storage no longer has this upload; cancel it and upload the file again.")
STORAGE_REFUSED = message("upload.storage_refused", "Storage refused the parts: {reason}. Nothing was stored.")
NOTHING_YET = message("upload.nothing_yet", "Nothing arrived yet: PUT the file to the ticket's url first, then complete.")
DELETE_INSTEAD = message("upload.delete_instead", "This upload is complete; delete the file from the media list instead.")

MiB = 1024 * 1024
#: Files smaller than this go in one PUT; larger ones in parts.
SINGLE_PUT_LIMIT = 16 * MiB
MIN_PART = 8 * MiB
MAX_PART = 64 * MiB
#: Aim for at most this many parts before doubling the part size.
TARGET_PARTS = 64
MAX_PARTS = 10_000
#: Parts the page sends at once.
CONCURRENCY = 4
URL_EXPIRES = 3600
MAX_URLS_PER_REQUEST = 100
#: Uploads never completed are aborted after this long (they hold quota).
STALE_AFTER = dt.timedelta(days=7)


@dataclass(frozen=True)
class Limits:
    quota_bytes: int
    max_image_bytes: int
    max_video_bytes: int
    max_document_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            quota_bytes=settings.quota_bytes,
            max_image_bytes=settings.max_image_bytes,
            max_video_bytes=settings.max_video_bytes,
            max_document_bytes=settings.max_document_bytes,
        )

    def for_kind(self, kind: str) -> int:
        if kind in IMAGE_KINDS:
            return self.max_image_bytes
        if kind == "video":
            return self.max_video_bytes
        return self.max_document_bytes

    def as_dict(self) -> dict[str, int]:
        return {kind: self.for_kind(kind) for kind in KINDS}


def plan_parts(size: int) -> tuple[int, int]:
    """``(part_size, part_count)``; part_size 0 means a single PUT."""
    if size < SINGLE_PUT_LIMIT:
        return 0, 1
    part = MIN_PART
    while part < MAX_PART and math.ceil(size / part) > TARGET_PARTS:
        part *= 2
    if math.ceil(size / part) > MAX_PARTS:
        part = math.ceil(size / MAX_PARTS / MiB) * MiB
    return part, math.ceil(size / part)


def expected_part_size(upload: Upload, number: int) -> int:
    if number < upload.part_count:
        return upload.part_size
    return upload.total_size - upload.part_size * (upload.part_count - 1)


_CLAIM_FAMILIES = {
    "logo": ("image/",),
    "banner": ("image/",),
    "image": ("image/",),
    "video": ("video/",),
    "document": ("application/pdf",),
}


def _claimed_type(kind: str, content_type: str, filename: str) -> str:
    """The type the browser will send (it must send exactly this); refused when it
    plainly contradicts ``kind``. Not trusted: storage content is sniffed later."""
    claim = (content_type or "").split(";")[0].strip().lower()
    if not claim or claim == "application/octet-stream":
        claim = (mimetypes.guess_type(filename)[0] or "application/octet-stream").lower()
    if len(claim) > 100 or any(ch in claim for ch in "\r\n\"\\ "):
        raise Invalid(CONTENT_TYPE(), "content_type")
    if claim != "application/octet-stream" and not claim.startswith(_CLAIM_FAMILIES[kind]):
        raise WrongType(
            f"“{filename}” looks like {claim}, but a {kind} must be {KIND_WORDS[kind]}. "
            "Choose the kind that fits the file, or another file."
        )
    return claim


async def create_ticket(
    session: AsyncSession,
    store: ObjectStore,
    *,
    exhibitor_id: int,
    booth_id: int | None,
    kind: str,
    filename: str,
    size: int,
    content_type: str,
    limits: Limits,
    product_id: int | None = None,
    user_id: int | None = None,
) -> tuple[Asset, Upload]:
    """Refuse what cannot fit (413) or is plainly the wrong kind (415/422);
    else reserve the quota with an ``uploading`` asset and start the upload.
    The caller checks who asks, commits, and hands the ticket (``web.shapes.uploads``) to the page."""
    if kind not in KINDS:
        raise Invalid(KIND(kinds=", ".join(KINDS)), "kind")
    if not isinstance(filename, str) or not filename.strip():
        raise Invalid(FILENAME(), "filename")
    name = safe_filename(filename)
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise Invalid(SIZE(), "size")
    limit = limits.for_kind(kind)
    if size > limit:
        raise TooLarge(
            f"“{name}” is {human_bytes(size)}; a {kind} may be at most {human_bytes(limit)}. "
            "Make the file smaller (export at a lower resolution or bit rate) and try again.",
            {"limit": limit, "size": size},
        )
    claim = _claimed_type(kind, content_type, name)
    used = await used_bytes(session, exhibitor_id)
    if used + size > limits.quota_bytes:
        free = max(0, limits.quota_bytes - used)
        raise TooLarge(
            f"“{name}” needs {human_bytes(size)} but only {human_bytes(free)} of your "
            f"{human_bytes(limits.quota_bytes)} media quota is free. Delete media you no longer "
            "show, or ask the organisers for more room.",
            {"quota": limits.quota_bytes, "used": used, "free": free, "size": size},
        )
    part_size, part_count = plan_parts(size)
    if part_count > MAX_PARTS:
        raise TooLarge(TOO_MANY_PARTS(), {"size": size})
    asset = Asset(
        exhibitor_id=exhibitor_id,
        booth_id=booth_id,
        product_id=product_id,
        kind=kind,
        filename=name,
        content_type=claim,
        size=size,
        state="uploading",
        meta={},
        title={},
        created_by=user_id,
        position=await next_position(session, booth_id, product_id),
    )
    session.add(asset)
    await session.flush()
    asset.key = f"{asset.folder}original{_suffix(name)}"
    upload_id = await store.create_multipart(asset.key, claim) if part_size else None
    upload = Upload(
        asset_id=asset.id,
        upload_id=upload_id,
        part_size=part_size,
        part_count=part_count,
        total_size=size,
        user_id=user_id,
    )
    session.add(upload)
    await session.flush()
    return asset, upload


def _suffix(filename: str) -> str:
    """The name's suffix (".jpg") for the stored original, when it is a plain short one; else ""."""
    _, dot, extension = filename.rpartition(".")
    extension = extension.lower()
    if dot and 1 <= len(extension) <= 5 and extension.isascii() and extension.isalnum():
        return "." + extension
    return ""


async def get_upload(session: AsyncSession, upload_id: int) -> tuple[Asset, Upload]:
    upload = await session.get(Upload, upload_id)
    asset = await session.get(Asset, upload.asset_id) if upload is not None else None
    if upload is None or asset is None:
        raise NotFound(NO_UPLOAD())
    return asset, upload


@dataclass(frozen=True)
class StoredPart:
    part_number: int
    etag: str
    size: int


@dataclass(frozen=True)
class UploadProgress:
    """What storage already holds of an upload still being sent: the page resumes from it."""

    #: The multipart upload's whole parts (of the expected size).
    parts: list[StoredPart]
    #: Storage no longer knows the multipart upload (aborted or expired): start again.
    lost: bool = False
    #: A single-PUT upload's object is there with the whole size (None for multipart).
    uploaded: bool | None = None


async def upload_progress(store: ObjectStore, asset: Asset, upload: Upload) -> UploadProgress:
    """Asks storage which parts (or whether the object) it holds; nothing for a finished upload."""
    if asset.state != "uploading":
        return UploadProgress([])
    if upload.upload_id is None:
        info = await store.head(asset.key)
        return UploadProgress([], uploaded=info is not None and info.size == upload.total_size)
    try:
        stored = await store.list_parts(asset.key, upload.upload_id)
    except ObjectNotFound:
        return UploadProgress([], lost=True)
    whole = [StoredPart(p.part_number, p.etag, p.size) for p in stored if p.size == expected_part_size(upload, p.part_number)]
    return UploadProgress(whole)


def part_urls(store: ObjectStore, asset: Asset, upload: Upload, numbers: list[int]) -> list[dict[str, Any]]:
    """Fresh URLs for the given part numbers (URLs expire, so the page asks in batches)."""
    if asset.state != "uploading":
        raise Conflict(FINISHED())
    if upload.upload_id is None:
        raise Conflict(SINGLE_PUT())
    if not numbers or len(numbers) > MAX_URLS_PER_REQUEST:
        raise Invalid(PART_COUNT(limit=MAX_URLS_PER_REQUEST), "part_numbers")
    out = []
    for number in numbers:
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= upload.part_count:
            raise Invalid(PART_RANGE(last=upload.part_count, number=repr(number)), "part_numbers")
        size = expected_part_size(upload, number)
        url = store.part_url(asset.key, upload.upload_id, number, URL_EXPIRES, max_size=size)
        out.append({"part_number": number, "url": url, "size": size})
    return out


def _parse_parts(parts: Any) -> list[tuple[int, str]]:
    if not isinstance(parts, list):
        raise BadUpload(PARTS_SHAPE())
    out = []
    for item in parts:
        if not isinstance(item, dict):
            raise BadUpload(PART_SHAPE())
        number, etag = item.get("part_number"), item.get("etag")
        if not isinstance(number, int) or isinstance(number, bool) or not isinstance(etag, str) or not etag:
            raise BadUpload(PART_SHAPE())
        out.append((number, etag))
    return sorted(out)


async def complete_upload(
    session: AsyncSession,
    store: ObjectStore,
    asset: Asset,
    upload: Upload,
    parts: Any,
    limits: Limits,
) -> Asset:
    """Join the parts and check the object once. Missing or wrong parts: :class:`BadUpload`
    and nothing is stored (the upload stays resumable). A wrong object:
    :class:`MediaRejected` after the object is deleted and the asset marked
    ``rejected``. Else the asset is ``processing``, with the sniffed type.
    Either way the caller commits (the rejection too) and hands a
    ``processing`` asset to the worker."""
    if asset.state != "uploading":
        raise Conflict(COMPLETE(state=asset.state))
    if upload.upload_id is not None:
        given = _parse_parts(parts)
        numbers = [n for n, _ in given]
        expected = list(range(1, upload.part_count + 1))
        if numbers != expected:
            missing = sorted(set(expected) - set(numbers))
            extra = sorted(set(numbers) - set(expected))
            what = []
            if missing:
                what.append(f"part(s) {_ranges(missing)} missing")
            if extra:
                what.append(f"part(s) {_ranges(extra)} unexpected")
            if len(numbers) != len(set(numbers)):
                what.append("some parts listed twice")
            raise BadUpload(
                f"The upload has {upload.part_count} parts; {', '.join(what)}. "
                "Send the missing parts, then complete again; nothing was stored.",
                {"missing": missing},
            )
        try:
            stored = {p.part_number: p for p in await store.list_parts(asset.key, upload.upload_id)}
        except ObjectNotFound:
            raise Conflict(STORAGE_LOST()) from None
        wrong = [
            n for n in expected
            if n not in stored or stored[n].size != expected_part_size(upload, n)
        ]
        if wrong:
            raise BadUpload(
                f"Storage does not hold part(s) {_ranges(wrong)} complete; send them again, then "
                "complete again. Nothing was stored.",
                {"missing": wrong},
            )
        try:
            await store.complete_multipart(asset.key, upload.upload_id, given)
        except InvalidUpload as exc:
            raise BadUpload(STORAGE_REFUSED(reason=str(exc))) from None
    else:
        if await store.head(asset.key) is None:
            raise BadUpload(NOTHING_YET())
    upload.completed_at = utcnow()
    upload.parts_done = upload.part_count
    try:
        found = await check_object(store, asset, limits.for_kind(asset.kind))
    except MediaRejected as exc:
        await reject(session, store, asset, str(exc))
        raise
    asset.content_type = found
    asset.state = "processing"
    await session.flush()
    return asset


def _ranges(numbers: list[int]) -> str:
    if len(numbers) > 12:
        return ", ".join(map(str, numbers[:12])) + f" … ({len(numbers)} in all)"
    return ", ".join(map(str, numbers))


async def abort_upload(session: AsyncSession, store: ObjectStore, asset: Asset, upload: Upload) -> None:
    """Cancel an unfinished upload: parts and asset go, the quota is free again."""
    if asset.state != "uploading":
        raise Conflict(DELETE_INSTEAD())
    await delete_asset(session, store, asset)


async def abort_stale_uploads(db: Database, store: ObjectStore, older_than: dt.timedelta = STALE_AFTER) -> int:
    """Abort uploads started long ago and never completed; returns how many."""
    cutoff = utcnow() - older_than
    count = 0
    async with db.session() as session:
        rows = await session.execute(
            select(Asset, Upload)
            .join(Upload, Upload.asset_id == Asset.id)
            .where(Asset.state == "uploading", Upload.created_at < cutoff)
        )
        for asset, _upload in rows.all():
            await delete_asset(session, store, asset)
            count += 1
        await session.commit()
    return count
