"""What booths show: their media by kind, product pictures, logos, and the booth page's read.

The media are assets (:mod:`booths.media.assets`) seen through
:class:`booths.media.views.AssetView`, whose links are signed when a page
first reads them; only ready assets that no moderator hid are shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from booths.exhibition.directory import BoothBundle, booth_query, bundle_of, staff_query
from booths.media.assets import list_assets
from booths.media.models import KINDS, Asset
from booths.media.views import AssetView
from cloudexpo.accounts import User
from cloudexpo.db import Database
from cloudexpo.permissions import Principal

if TYPE_CHECKING:
    from cloudexpo.storage import ObjectStore

PageMedia = dict[str, list[Mapping[str, Any]]]  # a booth page's media by kind (lazily signed views)


async def booth_media(
    session: AsyncSession, store: ObjectStore, booth_id: int, *, include_hidden: bool = False
) -> dict[str, list[AssetView]]:
    """The booth's own media (not its products'), by kind, as views whose links are signed when read."""
    out: dict[str, list[AssetView]] = {kind: [] for kind in KINDS}
    for asset in await list_assets(session, booth_id=booth_id, include_hidden=include_hidden):
        if asset.product_id is None and asset.kind in out:
            out[asset.kind].append(AssetView(store, asset))
    return out


async def product_media(session: AsyncSession, store: ObjectStore, product_id: int) -> list[AssetView]:
    return [AssetView(store, a) for a in await list_assets(session, product_id=product_id)]


async def logos(session: AsyncSession, store: ObjectStore, booth_ids: list[int], kind: str = "logo") -> dict[int, str]:
    """A small picture URL per booth (its logo's thumbnail), for lists and cards."""
    if not booth_ids:
        return {}
    rows = (await session.scalars(
        select(Asset)
        .where(Asset.booth_id.in_(booth_ids), Asset.kind == kind, Asset.state == "ready", Asset.hidden.is_(False),
               Asset.product_id.is_(None))
        .order_by(Asset.position, Asset.id)
    )).all()
    out: dict[int, str] = {}
    for asset in rows:
        if asset.booth_id is not None and asset.booth_id not in out:
            out[asset.booth_id] = AssetView(store, asset).small_url()
    return out


def _page_media_query(booth_id: int, product_ids: list[int]) -> Any:
    owner = Asset.booth_id == booth_id
    if product_ids:
        owner = or_(owner, Asset.product_id.in_(product_ids))
    return select(Asset).where(owner, Asset.state == "ready", Asset.hidden.is_(False)).order_by(Asset.position, Asset.id)


def _page_media_views(
    store: ObjectStore, rows: Sequence[Asset], booth_id: int, product_ids: list[int]
) -> tuple[PageMedia, dict[int, str]]:
    """The booth's own media by kind, and the first picture's thumbnail per product."""
    out: PageMedia = {kind: [] for kind in KINDS}
    thumbs: dict[int, str] = {}
    for asset in rows:
        if asset.product_id is None:
            if asset.booth_id == booth_id and asset.kind in out:
                out[asset.kind].append(AssetView(store, asset))
        elif asset.product_id in product_ids and asset.kind == "image" and asset.product_id not in thumbs:
            thumbs[asset.product_id] = AssetView(store, asset).small_url()
    return out, thumbs


@dataclass
class BoothPage:
    """What every booth page reads: the booth with its products, its media, product thumbnails and staff."""

    bundle: BoothBundle
    media: PageMedia
    thumbs: dict[int, str]
    staff: list[User]


async def booth_page(db: Database, store: ObjectStore, principal: Principal, ref: int | str) -> BoothPage:
    """The booth page's three queries in one trip (:meth:`Database.read`); 404 as
    :func:`booths.exhibition.directory.get_booth`."""

    def read(sync: Session) -> BoothPage:
        bundle = bundle_of(list(sync.execute(booth_query(ref, True)).all()), principal, ref, True)
        product_ids = [p.id for p in bundle.products]
        rows = sync.scalars(_page_media_query(bundle.booth.id, product_ids)).all()
        media, thumbs = _page_media_views(store, rows, bundle.booth.id, product_ids)
        staff = list(sync.scalars(staff_query(bundle.exhibitor.id)).all())
        return BoothPage(bundle, media, thumbs, staff)

    return await db.read(read)
