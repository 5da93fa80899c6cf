"""Making what pages need from a checked original: display copy, thumbnails, poster, facts.

The original's type was sniffed once, by :mod:`booths.media.checks`, and is the
asset's ``content_type``; here it only picks the kind of work: pictures
(:mod:`.images`), videos (:mod:`.video`), PDFs (:mod:`.documents`). CPU work
runs in worker threads. Every derived object lives beside the original under
the asset's folder.

:func:`process_asset` is what the background worker (:mod:`.worker`) runs
for an upload; :func:`create_asset_from_bytes` does check and processing at
once for bytes the server made (the demo seed).
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from booths.errors import MediaRejected
from booths.media import documents
from booths.media.assets import next_position, refresh_booth_has_video, reject
from booths.media.checks import check_data
from booths.media.images import Derived, ImageResult, process_image
from booths.media.models import KINDS, Asset, derived_key, safe_filename
from booths.media.sniffing import IMAGE_TYPES, SUFFIXES, VIDEO_TYPES
from booths.media.video import RangeReader, VideoResult, probe_video, store_reader
from cloudexpo.db import Database
from cloudexpo.storage import ObjectStore


async def _cpu(func: Callable[..., Any], *args: Any) -> Any:
    """CPU-bound work in a worker thread, so the event loop keeps serving."""
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


async def _put(store: ObjectStore, asset: Asset, item: Derived) -> str:
    key = derived_key(asset, item.name, item.suffix)
    await store.put_bytes(key, item.data, item.content_type)
    return key


async def _derive_image(store: ObjectStore, asset: Asset, data: bytes | None, meta: dict[str, Any]) -> None:
    original = data if data is not None else await store.get_bytes(asset.key)
    image: ImageResult = await _cpu(process_image, original)
    meta.update(width=image.width, height=image.height, format=image.format, variants={})
    for item in image.derived:
        key = await _put(store, asset, item)
        if item.name == "display":
            meta["display"] = key
            meta["display_type"] = item.content_type
        else:
            meta["variants"][item.name] = key


async def _derive_video(store: ObjectStore, asset: Asset, data: bytes | None, meta: dict[str, Any]) -> None:
    # Read through ranges: a 2 GB video is not copied out of storage to be probed.
    source: IO[bytes] | RangeReader
    if data is not None:
        source = io.BytesIO(data)
    else:
        info = await store.head(asset.key)
        if info is None:
            raise MediaRejected(f"nothing arrived for “{asset.filename}”; upload it again.")
        source = store_reader(store, asset.key, info.size, asyncio.get_running_loop())
    video: VideoResult = await _cpu(probe_video, source, asset.content_type)
    meta.update(
        duration=round(video.duration, 3) if video.duration is not None else None,
        width=video.width,
        height=video.height,
        codecs={"video": video.video_codec, "audio": video.audio_codec},
        browser_playable=video.browser_playable,
    )
    if video.warning:
        meta["warning"] = video.warning
    if video.poster is not None:
        meta["poster"] = await _put(store, asset, video.poster)


async def _derive_document(store: ObjectStore, asset: Asset, data: bytes | None, meta: dict[str, Any]) -> None:
    if not documents.can_draw():
        meta["thumbnail"] = "none: pdftoppm (poppler-utils) is not installed"
        return
    with tempfile.TemporaryDirectory(prefix="cloudexpo-media-") as folder:
        path = Path(folder) / ("original" + SUFFIXES[asset.content_type])
        if data is not None:
            await _cpu(path.write_bytes, data)
        else:
            await store.download_file(asset.key, path)
        page: bytes | None = await _cpu(documents.pdf_first_page, path)
    if page is None:
        meta["thumbnail"] = "none: the first page could not be drawn"
        return
    meta["poster"] = await _put(store, asset, Derived("poster", page, "image/jpeg", ".jpg"))
    meta["variants"] = {"thumb_640": await _put(store, asset, Derived("thumb_640", page, "image/jpeg", ".jpg"))}


async def derive(store: ObjectStore, asset: Asset, *, data: bytes | None = None) -> dict[str, Any]:
    """Make and store what pages need from the checked original; returns the asset's ``meta``.

    ``asset.content_type`` is the sniffed type; ``data`` is the original when
    the caller has it in memory already. Undecodable media raise :class:`MediaRejected`.
    """
    found = asset.content_type
    meta: dict[str, Any] = {"type": found}
    if found in IMAGE_TYPES:
        await _derive_image(store, asset, data, meta)
    elif found in VIDEO_TYPES:
        await _derive_video(store, asset, data, meta)
    else:
        await _derive_document(store, asset, data, meta)
    return meta


def _problem(filename: str, exc: MediaRejected) -> str:
    text = str(exc)
    return text if filename in text else f"“{filename}”: {text}"


async def process_asset(db: Database, store: ObjectStore, asset_id: int) -> None:
    """Process one checked asset in state ``processing``; it ends ``ready`` or ``rejected``.

    Safe to run again after a crash: derived objects are simply written anew.
    No database transaction stays open while media are decoded.
    """
    async with db.session() as session:
        asset = await session.get(Asset, asset_id)
        if asset is None or asset.state != "processing":
            return
        session.expunge(asset)
    try:
        meta = await derive(store, asset)
    except MediaRejected as exc:
        async with db.session() as session:
            current = await session.get(Asset, asset_id)
            if current is not None and current.state == "processing":
                await reject(session, store, current, _problem(current.filename, exc))
                await session.commit()
        return
    async with db.session() as session:
        current = await session.get(Asset, asset_id)
        if current is None or current.state != "processing":
            # deleted meanwhile: what was made goes too
            if current is None:
                await store.delete_prefix(asset.folder)
            return
        current.meta = meta
        current.state = "ready"
        current.problem = None
        await session.flush()
        await refresh_booth_has_video(session, current.booth_id)
        await session.commit()


async def create_asset_from_bytes(
    session: AsyncSession,
    store: ObjectStore,
    *,
    exhibitor_id: int,
    booth_id: int | None,
    kind: str,
    data: bytes,
    filename: str,
    product_id: int | None = None,
    title: dict[str, str] | None = None,
    language: str | None = None,
) -> Asset:
    """Check ``data``, store it as a new asset and process it now; returns it ready.

    ``language``: the asset is for pages in that language only (a banner with
    words on it); see :func:`booths.media.views.for_language`.

    Raises :class:`MediaRejected` (nothing stored) when the bytes are not what
    ``kind`` allows. The caller commits.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    name = safe_filename(filename)
    found = check_data(kind, data, name)
    asset = Asset(
        exhibitor_id=exhibitor_id,
        booth_id=booth_id,
        product_id=product_id,
        kind=kind,
        filename=name,
        content_type=found,
        size=len(data),
        state="processing",
        meta={},
        title=title or {},
        position=await next_position(session, booth_id, product_id),
    )
    session.add(asset)
    await session.flush()
    asset.key = f"{asset.folder}original{SUFFIXES[found]}"
    try:
        await store.put_bytes(asset.key, data, found)
        asset.meta = {**await derive(store, asset, data=data), **({"language": language} if language else {})}
    except MediaRejected:
        await store.delete_prefix(asset.folder)
        await session.delete(asset)
        await session.flush()
        raise
    asset.state = "ready"
    await session.flush()
    await refresh_booth_has_video(session, booth_id)
    return asset
