"""Booth media's queries and changes: list, quota use, order, hide, reject, delete.

Every change keeps ``booths.has_video`` in step (:func:`refresh_booth_has_video`);
the caller commits.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from booths.exhibition.models import Booth
from booths.media.models import Asset, Upload
from cloudexpo.db import Database
from cloudexpo.storage import ObjectNotFound, ObjectStore


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

    exists = await session.scalar(
        select(func.count(Asset.id)).where(
            Asset.booth_id == booth_id, Asset.kind == "video", Asset.state == "ready", Asset.hidden.is_(False)
        )
    )
    await session.execute(update(Booth).where(Booth.id == booth_id).values(has_video=bool(exists)))


async def delete_asset(session: AsyncSession, store: ObjectStore, asset: Asset) -> int:
    """Remove every object of the asset from storage, any unfinished upload, and the row.
    Returns how many objects were deleted. The caller commits."""
    for upload in (await session.scalars(select(Upload).where(Upload.asset_id == asset.id))).all():
        await abort_in_store(store, asset, upload)
        await session.delete(upload)
    await session.flush()
    removed = await store.delete_prefix(asset.folder)
    booth_id = asset.booth_id
    await session.delete(asset)
    await session.flush()
    await refresh_booth_has_video(session, booth_id)
    return removed


async def abort_in_store(store: ObjectStore, asset: Asset, upload: Upload) -> None:
    """Drop the parts of an unfinished multipart upload from storage (nothing when already gone)."""
    if upload.upload_id is not None and upload.completed_at is None:
        try:
            await store.abort_multipart(asset.key, upload.upload_id)
        except ObjectNotFound:
            pass


async def reject(session: AsyncSession, store: ObjectStore, asset: Asset, problem: str) -> None:
    """Delete every object of the asset and tell the exhibitor why. The caller commits."""
    await store.delete_prefix(asset.folder)
    asset.state = "rejected"
    asset.problem = problem
    asset.meta = {}
    await session.flush()
    await refresh_booth_has_video(session, asset.booth_id)


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
