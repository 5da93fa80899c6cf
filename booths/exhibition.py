"""Reading the exhibition: halls, zones, booths, products, staff — as each asker may see them.

A booth is shown to visitors when it is published and not hidden by a
moderator; its own staff and moderators see it in every state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from booths.errors import NotFound
from booths.models import Booth, Exhibitor, Hall, Product, Zone
from cloudexpo.accounts import Role, User
from cloudexpo.db import Database
from cloudexpo.permissions import Principal

if TYPE_CHECKING:
    from cloudexpo.storage import ObjectStore

log = logging.getLogger(__name__)

MEDIA_KINDS = ("logo", "banner", "image", "video", "document")


@dataclass
class BoothBundle:
    """A booth with what every page about it needs."""

    booth: Booth
    exhibitor: Exhibitor
    zone: Zone
    hall: Hall
    products: list[Product] = field(default_factory=list)


def can_see(principal: Principal, booth: Booth) -> bool:
    return booth.visible or principal.can_manage_exhibitor(booth.exhibitor_id)


async def list_halls(session: AsyncSession) -> list[Hall]:
    return list((await session.scalars(select(Hall).order_by(Hall.position, Hall.id))).all())


async def list_zones(session: AsyncSession, hall_id: int | None = None) -> list[Zone]:
    query = select(Zone).order_by(Zone.position, Zone.id)
    if hall_id is not None:
        query = query.where(Zone.hall_id == hall_id)
    return list((await session.scalars(query)).all())


async def get_hall(session: AsyncSession, hall_id: int) -> Hall:
    hall = await session.get(Hall, hall_id)
    if hall is None:
        raise NotFound(f"There is no hall {hall_id}.")
    return hall


async def get_zone(session: AsyncSession, ref: str | int) -> Zone:
    """A zone by id or by slug."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        zone = await session.get(Zone, int(ref))
    else:
        zone = await session.scalar(select(Zone).where(Zone.slug == ref))
    if zone is None:
        raise NotFound(f"There is no zone {ref!r}.")
    return zone


async def visible_counts(session: AsyncSession) -> dict[int, int]:
    """Visible booths per zone id."""
    rows = await session.execute(
        select(Booth.zone_id, func.count(Booth.id))
        .where(Booth.published.is_(True), Booth.hidden.is_(False))
        .group_by(Booth.zone_id)
    )
    return {zone_id: count for zone_id, count in rows.all()}


async def totals(session: AsyncSession) -> dict[str, int]:
    visible = (Booth.published.is_(True), Booth.hidden.is_(False))
    booths = await session.scalar(select(func.count(Booth.id)).where(*visible))
    products = await session.scalar(select(func.count(Product.id)).join(Booth, Booth.id == Product.booth_id).where(*visible))
    regions = await session.scalar(
        select(func.count(func.distinct(Exhibitor.region))).join(Booth, Booth.exhibitor_id == Exhibitor.id).where(*visible)
    )
    return {"booths": int(booths or 0), "products": int(products or 0), "regions": int(regions or 0)}


@dataclass
class BoothQuery:
    zone_id: int | None = None
    hall_id: int | None = None
    industry: str | None = None
    region: str | None = None
    has_products: bool | None = None
    has_video: bool | None = None
    featured: bool | None = None
    exhibitor_id: int | None = None
    limit: int = 50
    offset: int = 0


def _visibility(principal: Principal) -> Any:
    shown = Booth.published.is_(True) & Booth.hidden.is_(False)
    if principal.is_moderator:
        return None
    if principal.exhibitor_id is not None and principal.role is Role.EXHIBITOR:
        return or_(shown, Booth.exhibitor_id == principal.exhibitor_id)
    return shown


async def list_booths(
    session: AsyncSession, principal: Principal, q: BoothQuery | None = None
) -> tuple[int, list[tuple[Booth, Exhibitor, Zone]]]:
    """Booths the principal may see, filtered; returns (total, page)."""
    q = q or BoothQuery()
    conds: list[Any] = []
    if (vis := _visibility(principal)) is not None:
        conds.append(vis)
    if q.zone_id is not None:
        conds.append(Booth.zone_id == q.zone_id)
    if q.hall_id is not None:
        conds.append(Zone.hall_id == q.hall_id)
    if q.industry:
        conds.append(Exhibitor.industry == q.industry)
    if q.region:
        conds.append(Exhibitor.region == q.region)
    if q.has_video is not None:
        conds.append(Booth.has_video.is_(q.has_video))
    if q.featured is not None:
        conds.append(Booth.featured.is_(q.featured))
    if q.exhibitor_id is not None:
        conds.append(Booth.exhibitor_id == q.exhibitor_id)
    if q.has_products is not None:
        has = exists().where(Product.booth_id == Booth.id)
        conds.append(has if q.has_products else ~has)
    base = (
        select(Booth, Exhibitor, Zone)
        .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
        .join(Zone, Zone.id == Booth.zone_id)
        .where(*conds)
    )
    total = await session.scalar(select(func.count()).select_from(base.with_only_columns(Booth.id).subquery()))
    rows = (await session.execute(base.order_by(Booth.number).limit(q.limit).offset(q.offset))).all()
    return int(total or 0), [(b, e, z) for b, e, z in rows]


def _booth_query(ref: int | str, with_products: bool) -> Any:
    query = (
        select(Booth, Exhibitor, Zone, Hall)
        .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
        .join(Zone, Zone.id == Booth.zone_id)
        .join(Hall, Hall.id == Zone.hall_id)
    )
    if isinstance(ref, int) or ref.isdigit():
        query = query.where(Booth.id == int(ref))
    else:
        query = query.where(Booth.number == ref.upper())
    if with_products:
        # The products come in the same query (one row per product, one with NULLs when there are none):
        # a round trip to the database costs far more than repeating the booth's columns a few times.
        query = (
            query.add_columns(Product)
            .outerjoin(Product, Product.booth_id == Booth.id)
            .order_by(Product.position, Product.id)
        )
    return query


def _bundle(rows: list[Any], principal: Principal, ref: int | str, with_products: bool) -> BoothBundle:
    if not rows or not can_see(principal, rows[0][0]):
        raise NotFound(f"There is no booth {ref}.")
    bundle = BoothBundle(*rows[0][:4])
    if with_products:
        bundle.products = [row[4] for row in rows if row[4] is not None]
    return bundle


async def get_booth(session: AsyncSession, principal: Principal, ref: int | str, *, with_products: bool = True) -> BoothBundle:
    """A booth by id or number, as the principal may see it (404 otherwise)."""
    rows: list[Any] = list((await session.execute(_booth_query(ref, with_products))).all())
    return _bundle(rows, principal, ref, with_products)


async def list_products(session: AsyncSession, booth_id: int) -> list[Product]:
    return list((await session.scalars(select(Product).where(Product.booth_id == booth_id).order_by(Product.position, Product.id))).all())


async def get_product(session: AsyncSession, principal: Principal, product_id: int) -> tuple[Product, BoothBundle]:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound(f"There is no product {product_id}.")
    try:
        bundle = await get_booth(session, principal, product.booth_id)
    except NotFound:
        raise NotFound(f"There is no product {product_id}.") from None
    return product, bundle


async def booth_of_exhibitor(session: AsyncSession, exhibitor_id: int | None) -> Booth | None:
    if exhibitor_id is None:
        return None
    return await session.scalar(select(Booth).where(Booth.exhibitor_id == exhibitor_id).order_by(Booth.id).limit(1))


def _staff_query(exhibitor_id: int) -> Any:
    query = select(User).where(User.exhibitor_id == exhibitor_id, User.role == Role.EXHIBITOR.value, User.active.is_(True))
    return query.order_by(User.id)


async def staff_of(session: AsyncSession, exhibitor_id: int) -> list[User]:
    return list((await session.scalars(_staff_query(exhibitor_id))).all())


# --- media (booths.assets, written by the media engineer) ----------------------------


def _assets() -> Any:
    try:
        from booths import assets
    except ImportError:  # the media module is not there yet
        return None
    return assets


async def booth_media(
    session: AsyncSession, store: ObjectStore, booth_id: int, *, include_hidden: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """The booth's own media (not its products'), by kind, as views with URLs."""
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in MEDIA_KINDS}
    assets = _assets()
    if assets is None:
        return out
    for asset in await assets.list_assets(session, booth_id=booth_id, include_hidden=include_hidden):
        if asset.product_id is not None or asset.kind not in out:
            continue
        out[asset.kind].append(assets.asset_view(store, asset))
    return out


PageMedia = dict[str, list[Mapping[str, Any]]]  # a booth page's media by kind (lazily signed views)


def _page_media_query(assets: Any, booth_id: int, product_ids: list[int]) -> Any:
    Asset = assets.Asset
    owner = Asset.booth_id == booth_id
    if product_ids:
        owner = or_(owner, Asset.product_id.in_(product_ids))
    return select(Asset).where(owner, Asset.state == "ready", Asset.hidden.is_(False)).order_by(Asset.position, Asset.id)


def _page_media_views(
    assets: Any, store: ObjectStore, rows: Sequence[Any], booth_id: int, product_ids: list[int]
) -> tuple[PageMedia, dict[int, str]]:
    out: PageMedia = {kind: [] for kind in MEDIA_KINDS}
    thumbs: dict[int, str] = {}
    for asset in rows:
        if asset.product_id is None:
            if asset.booth_id == booth_id and asset.kind in out:
                out[asset.kind].append(assets.AssetView(store, asset))
        elif asset.product_id in product_ids and asset.kind == "image" and asset.product_id not in thumbs:
            thumbs[asset.product_id] = assets.AssetView(store, asset).small_url()
    return out, thumbs


async def booth_page_media(
    session: AsyncSession, store: ObjectStore, booth_id: int, product_ids: list[int]
) -> tuple[PageMedia, dict[int, str]]:
    """:func:`booth_media` and :func:`product_pictures` of one booth page, in one query."""
    assets = _assets()
    if assets is None:
        return {kind: [] for kind in MEDIA_KINDS}, {}
    rows = (await session.scalars(_page_media_query(assets, booth_id, product_ids))).all()
    return _page_media_views(assets, store, rows, booth_id, product_ids)


@dataclass
class BoothPage:
    """What every booth page reads: :func:`get_booth`, :func:`booth_page_media` and :func:`staff_of`."""

    bundle: BoothBundle
    media: PageMedia
    thumbs: dict[int, str]
    staff: list[User]


async def booth_page(db: Database, store: ObjectStore, principal: Principal, ref: int | str) -> BoothPage:
    """The booth page's three queries in one trip (:meth:`Database.read`); 404 as :func:`get_booth`."""

    def read(sync: Session) -> BoothPage:
        bundle = _bundle(list(sync.execute(_booth_query(ref, True)).all()), principal, ref, True)
        product_ids = [p.id for p in bundle.products]
        assets = _assets()
        if assets is None:
            media: PageMedia = {kind: [] for kind in MEDIA_KINDS}
            thumbs: dict[int, str] = {}
        else:
            rows = sync.scalars(_page_media_query(assets, bundle.booth.id, product_ids)).all()
            media, thumbs = _page_media_views(assets, store, rows, bundle.booth.id, product_ids)
        staff = list(sync.scalars(_staff_query(bundle.exhibitor.id)).all())
        return BoothPage(bundle, media, thumbs, staff)

    return await db.read(read)


async def product_media(session: AsyncSession, store: ObjectStore, product_id: int) -> list[dict[str, Any]]:
    assets = _assets()
    if assets is None:
        return []
    return [assets.asset_view(store, a) for a in await assets.list_assets(session, product_id=product_id)]


async def product_pictures(session: AsyncSession, store: ObjectStore, product_ids: list[int]) -> dict[int, str]:
    """The first picture's thumbnail URL per product, in one query."""
    assets = _assets()
    if assets is None or not product_ids:
        return {}
    Asset = assets.Asset
    rows = (await session.scalars(
        select(Asset)
        .where(Asset.product_id.in_(product_ids), Asset.kind == "image", Asset.state == "ready", Asset.hidden.is_(False))
        .order_by(Asset.position, Asset.id)
    )).all()
    out: dict[int, str] = {}
    for asset in rows:
        if asset.product_id in out:
            continue
        out[asset.product_id] = assets.AssetView(store, asset).small_url()
    return out


async def logos(session: AsyncSession, store: ObjectStore, booth_ids: list[int], kind: str = "logo") -> dict[int, str]:
    """A small picture URL per booth (its logo's thumbnail), for lists and cards."""
    assets = _assets()
    if assets is None or not booth_ids:
        return {}
    Asset = assets.Asset
    rows = (await session.scalars(
        select(Asset)
        .where(Asset.booth_id.in_(booth_ids), Asset.kind == kind, Asset.state == "ready", Asset.hidden.is_(False),
               Asset.product_id.is_(None))
        .order_by(Asset.position, Asset.id)
    )).all()
    out: dict[int, str] = {}
    for asset in rows:
        if asset.booth_id in out:
            continue
        out[asset.booth_id] = assets.AssetView(store, asset).small_url()
    return out
