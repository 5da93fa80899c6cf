"""Reading the exhibition: halls, zones, booths, products, staff — as each asker may see them.

A booth is shown to visitors when it is published and not hidden by a
moderator; its own staff and moderators see it in every state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.errors import NotFound
from booths.exhibition.models import Booth, Exhibitor, Hall, Product, Zone
from cloudexpo.accounts import Role, User
from cloudexpo.messages import message
from cloudexpo.permissions import Principal
from cloudexpo.values import parse_id

NO_HALL = message("exhibition.no_hall", "There is no hall {id}.")
NO_ZONE = message("exhibition.no_zone", "There is no zone {ref}.")
NO_BOOTH = message("exhibition.no_booth", "There is no booth {ref}.")
NO_PRODUCT = message("exhibition.no_product", "There is no product {id}.")


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
        raise NotFound(NO_HALL(id=hall_id))
    return hall


async def get_zone(session: AsyncSession, ref: str | int) -> Zone:
    """A zone by id or by slug."""
    if isinstance(ref, int) or ref.isdigit():
        number = parse_id(ref)
        zone = await session.get(Zone, number) if number is not None else None
    else:
        zone = await session.scalar(select(Zone).where(Zone.slug == ref))
    if zone is None:
        raise NotFound(NO_ZONE(ref=repr(ref)))
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


def booth_query(ref: int | str, with_products: bool) -> Any:
    """The booth by id or number with its exhibitor, zone and hall (and products: one row each)."""
    query = (
        select(Booth, Exhibitor, Zone, Hall)
        .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
        .join(Zone, Zone.id == Booth.zone_id)
        .join(Hall, Hall.id == Zone.hall_id)
    )
    if isinstance(ref, int) or ref.isdigit():
        number = parse_id(ref)
        query = query.where(Booth.id == (number if number is not None else -1))
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


def bundle_of(rows: list[Any], principal: Principal, ref: int | str, with_products: bool) -> BoothBundle:
    """The rows of :func:`booth_query` as a bundle, when the principal may see the booth (404 otherwise)."""
    if not rows or not can_see(principal, rows[0][0]):
        raise NotFound(NO_BOOTH(ref=ref))
    bundle = BoothBundle(*rows[0][:4])
    if with_products:
        bundle.products = [row[4] for row in rows if row[4] is not None]
    return bundle


async def get_booth(session: AsyncSession, principal: Principal, ref: int | str, *, with_products: bool = True) -> BoothBundle:
    """A booth by id or number, as the principal may see it (404 otherwise)."""
    rows: list[Any] = list((await session.execute(booth_query(ref, with_products))).all())
    return bundle_of(rows, principal, ref, with_products)


async def get_product(session: AsyncSession, principal: Principal, product_id: int) -> tuple[Product, BoothBundle]:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound(NO_PRODUCT(id=product_id))
    try:
        bundle = await get_booth(session, principal, product.booth_id)
    except NotFound:
        raise NotFound(NO_PRODUCT(id=product_id)) from None
    return product, bundle


async def booth_of_exhibitor(session: AsyncSession, exhibitor_id: int | None) -> Booth | None:
    if exhibitor_id is None:
        return None
    return await session.scalar(select(Booth).where(Booth.exhibitor_id == exhibitor_id).order_by(Booth.id).limit(1))


def staff_query(exhibitor_id: int) -> Any:
    """The exhibitor's active staff accounts, oldest first."""
    query = select(User).where(User.exhibitor_id == exhibitor_id, User.role == Role.EXHIBITOR.value, User.active.is_(True))
    return query.order_by(User.id)


async def staff_of(session: AsyncSession, exhibitor_id: int) -> list[User]:
    return list((await session.scalars(staff_query(exhibitor_id))).all())
