"""Booth media: the ``assets`` table, how pages see an asset, and the queries around it.

An asset is one file an exhibitor shows: a logo, a banner, a gallery
picture, a video or a document, on a booth or one of its products. Its bytes
live in object storage under ``media/e{exhibitor}/a{asset}/``: the original
(``original.<ext>``) and everything made from it (display copy, thumbnails,
poster). Pages link them by presigned (S3) or signed (local) URLs made by
:class:`AssetView`; no media byte passes through the app.

States: ``uploading`` (a ticket was given, the browser is sending) →
``processing`` (the object is complete and checked; derived files are being
made) → ``ready``, or ``rejected`` (with ``problem`` saying why; the objects
are deleted). ``hidden`` is a moderator's decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base, Database, utcnow

if TYPE_CHECKING:
    from cloudexpo.storage import ObjectStore

KINDS = ("logo", "banner", "image", "video", "document")
STATES = ("uploading", "processing", "ready", "rejected")
IMAGE_KINDS = ("logo", "banner", "image")
URL_EXPIRES = 6 * 3600


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exhibitor_id: Mapped[int] = mapped_column(Integer, index=True)
    booth_id: Mapped[int | None] = mapped_column(
        ForeignKey("booths.id", ondelete="SET NULL"), nullable=True, index=True
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(512), default="")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16), default="uploading", index=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def folder(self) -> str:
        return asset_folder(self.exhibitor_id, self.id)

    @property
    def visible(self) -> bool:
        return self.state == "ready" and not self.hidden


class Upload(Base):
    """A browser upload in flight: what the ticket allowed, so that it can be resumed."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    # The store's multipart upload id; None for a single PUT.
    upload_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    part_size: Mapped[int] = mapped_column(Integer, default=0)
    part_count: Mapped[int] = mapped_column(Integer, default=1)
    total_size: Mapped[int] = mapped_column(BigInteger, default=0)
    parts_done: Mapped[int] = mapped_column(Integer, default=0)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    @property
    def mode(self) -> str:
        return "single" if self.upload_id is None else "multipart"


def asset_folder(exhibitor_id: int, asset_id: int) -> str:
    return f"media/e{exhibitor_id}/a{asset_id}/"


def derived_key(asset: Asset, name: str, ext: str) -> str:
    return f"{asset.folder}{name}{ext}"


def safe_filename(filename: str) -> str:
    """The last path part, without control characters, at most 200 characters."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip() or "file"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 190] + dot + ext[:9]) if dot and len(ext) <= 9 else name[:200]
    return name


# --- queries --------------------------------------------------------------------


async def list_assets(
    session: AsyncSession,
    *,
    booth_id: int | None = None,
    product_id: int | None = None,
    exhibitor_id: int | None = None,
    include_hidden: bool = False,
) -> list[Asset]:
    """Assets by booth, product or exhibitor, in their order. Without
    ``include_hidden`` only what visitors may see (ready and not hidden)."""
    query = select(Asset)
    if booth_id is not None:
        query = query.where(Asset.booth_id == booth_id)
    if product_id is not None:
        query = query.where(Asset.product_id == product_id)
    if exhibitor_id is not None:
        query = query.where(Asset.exhibitor_id == exhibitor_id)
    if not include_hidden:
        query = query.where(Asset.state == "ready", Asset.hidden.is_(False))
    query = query.order_by(Asset.position, Asset.id)
    return list((await session.scalars(query)).all())


async def used_bytes(session: AsyncSession, exhibitor_id: int) -> int:
    """What counts against an exhibitor's quota: every asset but rejected ones
    (uploads in flight count with their announced size)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Asset.size), 0)).where(
            Asset.exhibitor_id == exhibitor_id, Asset.state != "rejected"
        )
    )
    return int(total or 0)


async def unfinished_assets(db: Database) -> list[int]:
    """Ids of assets whose processing did not finish (the process stopped meanwhile)."""
    async with db.session() as session:
        ids = await session.scalars(select(Asset.id).where(Asset.state == "processing").order_by(Asset.id))
        return list(ids.all())


async def refresh_booth_has_video(session: AsyncSession, booth_id: int | None) -> None:
    """``booths.has_video``: whether the booth shows a ready, visible video."""
    if booth_id is None:
        return
    from booths.exhibition.models import Booth

    exists = await session.scalar(
        select(func.count(Asset.id)).where(
            Asset.booth_id == booth_id, Asset.kind == "video", Asset.state == "ready", Asset.hidden.is_(False)
        )
    )
    await session.execute(update(Booth).where(Booth.id == booth_id).values(has_video=bool(exists)))


async def delete_asset(session: AsyncSession, store: ObjectStore, asset: Asset) -> int:
    """Remove every object of the asset from storage, any unfinished upload, and the row.
    Returns how many objects were deleted. The caller commits."""
    from booths import uploads

    for upload in (await session.scalars(select(Upload).where(Upload.asset_id == asset.id))).all():
        await uploads.abort_in_store(store, asset, upload)
        await session.delete(upload)
    await session.flush()
    removed = await store.delete_prefix(asset.folder)
    booth_id = asset.booth_id
    await session.delete(asset)
    await session.flush()
    await refresh_booth_has_video(session, booth_id)
    return removed


async def set_hidden(session: AsyncSession, asset: Asset, hidden: bool) -> None:
    asset.hidden = hidden
    await session.flush()
    await refresh_booth_has_video(session, asset.booth_id)


async def reorder(session: AsyncSession, assets_in_order: list[Asset]) -> None:
    for position, asset in enumerate(assets_in_order):
        asset.position = position
    await session.flush()


async def next_position(session: AsyncSession, booth_id: int | None, product_id: int | None) -> int:
    query = select(func.coalesce(func.max(Asset.position), -1))
    query = query.where(Asset.booth_id == booth_id) if booth_id is not None else query.where(Asset.booth_id.is_(None))
    if product_id is not None:
        query = query.where(Asset.product_id == product_id)
    return int(await session.scalar(query) or -1) + 1


# --- how pages see an asset ------------------------------------------------------------


def _download_name(asset: Asset, ext: str | None = None) -> str:
    name = asset.filename or "file"
    if ext:
        stem = name.rsplit(".", 1)[0] if "." in name else name
        name = stem + ext
    return name


class SignedWidths(Mapping[int, str]):
    """Thumbnail URLs by width, each signed when first read."""

    __slots__ = ("_content_type", "_expires", "_keys", "_store", "_urls")

    def __init__(self, store: ObjectStore, keys: dict[int, str], expires: int, content_type: str) -> None:
        self._store, self._keys, self._expires, self._content_type = store, keys, expires, content_type
        self._urls: dict[int, str] = {}

    def __getitem__(self, width: int) -> str:
        url = self._urls.get(width)
        if url is None:
            url = self._urls[width] = self._store.get_url(self._keys[width], self._expires, content_type=self._content_type)
        return url

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class AssetView(Mapping[str, Any]):
    """What a page or the API needs of an asset: URLs (presigned S3 or signed local), thumbnails,
    poster, download link, state and the exhibitor-facing problem or warning.

    The links are signed when first read: a page shows one or two of an asset's
    up to a dozen URLs, and signing them all was most of the time of a booth
    page read from the database. :meth:`as_dict` signs everything (for JSON).
    """

    LINKS = ("url", "download", "thumbs", "webp", "poster")

    __slots__ = ("_fields", "_links")

    def __init__(self, store: ObjectStore, asset: Asset, expires: int = URL_EXPIRES) -> None:
        meta = asset.meta or {}
        self._fields: dict[str, Any] = {
            "id": asset.id,
            "kind": asset.kind,
            "state": asset.state,
            "booth_id": asset.booth_id,
            "product_id": asset.product_id,
            "exhibitor_id": asset.exhibitor_id,
            "filename": asset.filename,
            "content_type": asset.content_type,
            "size": asset.size,
            "hidden": asset.hidden,
            "position": asset.position,
            "title": asset.title or {},
            "problem": asset.problem,
            "warning": meta.get("warning"),
            "meta": {k: v for k, v in meta.items() if k not in {"variants", "poster", "display"}},
            "created_at": asset.created_at.isoformat() if asset.created_at else None,
        }
        self._links: dict[str, Any] = {}
        if asset.state != "ready" or not asset.key:
            self._fields.update(url=None, download=None, thumbs={}, webp={}, poster=None)
            return
        # Pictures are shown and downloaded from the re-encoded copy: the original may carry EXIF.
        display = meta.get("display")
        if display:
            ext = "." + display.rsplit(".", 1)[-1]
            key, ctype, filename = display, meta.get("display_type") or asset.content_type, _download_name(asset, ext)
        else:
            key, ctype, filename = asset.key, asset.content_type, _download_name(asset)
        widths: dict[str, dict[int, str]] = {"thumb": {}, "webp": {}}
        for name, variant in sorted((meta.get("variants") or {}).items()):
            kind, _, width = name.partition("_")
            if width.isdigit() and kind in widths:
                widths[kind][int(width)] = variant
        self._fields["thumbs"] = SignedWidths(store, widths["thumb"], expires, "image/jpeg")
        self._fields["webp"] = SignedWidths(store, widths["webp"], expires, "image/webp")
        poster = meta.get("poster")
        self._links = {
            "url": lambda: store.get_url(key, expires, content_type=ctype),
            "download": lambda: store.get_url(key, expires, filename=filename, content_type=ctype),
            "poster": lambda: store.get_url(poster, expires, content_type="image/jpeg") if poster else None,
        }

    def __getitem__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            sign = self._links.pop(name)  # KeyError for a name that is not a field
            value = self._fields[name] = sign()
            return value

    def __iter__(self) -> Iterator[str]:
        yield from self._fields
        yield from self._links

    def __len__(self) -> int:
        return len(self._fields) + len(self._links)

    def small_url(self) -> str:
        """The smallest thumbnail's URL (else the picture's own; "" when not ready), for lists and cards."""
        thumbs = self["thumbs"]
        return str(thumbs[min(thumbs)]) if thumbs else self["url"] or ""

    def as_dict(self) -> dict[str, Any]:
        out = {name: self[name] for name in list(self)}
        out["thumbs"], out["webp"] = dict(out["thumbs"]), dict(out["webp"])
        return out


def asset_view(store: ObjectStore, asset: Asset, expires: int = URL_EXPIRES) -> dict[str, Any]:
    """:class:`AssetView` with every link signed, as plain JSON-ready data."""
    return AssetView(store, asset, expires).as_dict()


# --- for the demo seed and other server-side producers -----------------------------


async def create_asset_from_bytes(
    session: AsyncSession,
    store: ObjectStore,
    *,
    exhibitor_id: int,
    booth_id: int | None,
    kind: str,
    data: bytes,
    filename: str,
    content_type: str,
    product_id: int | None = None,
    title: dict[str, str] | None = None,
) -> Asset:
    """Store ``data`` as a new asset, check and process it now; returns it ready.

    Raises :class:`booths.media.MediaRejected` (nothing stored) when the bytes
    are not what ``kind`` allows. The caller commits.
    """
    from booths import media

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    asset = Asset(
        exhibitor_id=exhibitor_id,
        booth_id=booth_id,
        product_id=product_id,
        kind=kind,
        filename=safe_filename(filename),
        content_type=content_type,
        size=len(data),
        state="processing",
        meta={},
        title=title or {},
        position=await next_position(session, booth_id, product_id),
    )
    session.add(asset)
    await session.flush()
    found = media.sniff(data[: media.SNIFF_BYTES])
    asset.key = f"{asset.folder}original{media.EXTENSIONS.get(found or '', '.bin')}"
    try:
        media.check_type(kind, data[: media.SNIFF_BYTES], asset.filename)
        await store.put_bytes(asset.key, data, found or content_type)
        asset.meta = await media.derive(store, asset, data=data)
    except media.MediaRejected:
        await store.delete_prefix(asset.folder)
        await session.delete(asset)
        await session.flush()
        raise
    asset.content_type = found or content_type
    asset.state = "ready"
    await session.flush()
    await refresh_booth_has_video(session, booth_id)
    return asset
