"""Changing the exhibition: booth texts, products, publishing, hiding, halls and zones, roles.

Every function takes the asking :class:`~cloudexpo.permissions.Principal`
and refuses (``Forbidden``) unless it may; every text change refreshes the
booth's search rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.errors import Invalid, NotFound
from booths.exhibition import search
from booths.exhibition.models import Booth, Hall, Product, Zone
from booths.exhibition.text import clean_localized, clean_plain
from cloudexpo import accounts
from cloudexpo.accounts import EXHIBITOR_ID, Role
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require, require_exhibitor_access
from cloudexpo.values import BETWEEN, WHOLE_NUMBER, parse_id

TRUE_OR_FALSE = message("editing.true_or_false", "'{name}' must be true or false.")
NAME_FIRST = message("editing.name_first", "Give the booth a name before publishing it.")
SPECS_SHAPE = message("editing.specs_shape", "'specifications' must be a list of {{label, value}}.")
SPECS_MANY = message("editing.specs_many", "Give at most {limit} specifications.")
PRODUCTS_MANY = message("editing.products_many", "A booth shows at most {limit} products.")
COLOR = message("editing.color", "'color' must look like #13315c.")
NO_HALL = message("editing.no_hall", "'hall_id' names no hall.")
NO_USER = message("editing.no_user", "There is no user {id}.")
ROLE = message("editing.role", "'role' must be one of {roles}.")
ADMINS_ONLY = message("editing.admins_only", "Only an admin gives or takes the moderator and admin roles.")
OWN_ROLE = message("editing.own_role", "You cannot change your own role.")

MAX_NAME = 120
MAX_TAGLINE = 200
MAX_HOURS = 200
MAX_DESCRIPTION = 20_000
MAX_SPECS = 30
MAX_PRODUCTS = 100
_COLOR_CHARS = set("0123456789abcdefABCDEF")


async def update_booth(session: AsyncSession, principal: Principal, booth: Booth, data: dict[str, Any]) -> Booth:
    """Change the booth's name, tagline, description and staffed hours (any of them, per language)."""
    require_exhibitor_access(principal, booth.exhibitor_id)
    if "name" in data:
        booth.name = clean_localized(data["name"], "name", MAX_NAME, required=True)
    if "tagline" in data:
        booth.tagline = clean_localized(data["tagline"], "tagline", MAX_TAGLINE)
    if "hours" in data:
        booth.hours = clean_localized(data["hours"], "hours", MAX_HOURS)
    if "description" in data:
        booth.description = clean_localized(data["description"], "description", MAX_DESCRIPTION, rich=True)
    if principal.is_moderator and "featured" in data:
        booth.featured = _flag(data["featured"], "featured")
    booth.updated_at = utcnow()
    await session.flush()
    await search.refresh_booth(session, booth.id)
    return booth


def _flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "1", "on", 1):
        return True
    if value in ("false", "0", "off", "", 0, None):
        return False
    raise Invalid(TRUE_OR_FALSE(name=field), field)


async def set_published(session: AsyncSession, principal: Principal, booth: Booth, published: bool) -> Booth:
    require_exhibitor_access(principal, booth.exhibitor_id)
    if published and not booth.name:
        raise Invalid(NAME_FIRST(), "name")
    booth.published = published
    booth.updated_at = utcnow()
    await session.flush()
    return booth


async def set_hidden(session: AsyncSession, principal: Principal, booth: Booth, hidden: bool, reason: str = "") -> Booth:
    """Moderators hide a booth from visitors (its staff still see it, with the reason)."""
    require(principal, Role.MODERATOR)
    booth.hidden = hidden
    booth.hidden_reason = clean_plain(reason, "reason", 500, required=hidden) if hidden else ""
    booth.updated_at = utcnow()
    await session.flush()
    return booth


def clean_specifications(value: Any) -> list[dict[str, Any]]:
    """``[{"label": {lang: text} | text, "value": text}, ...]``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(SPECS_SHAPE(), "specifications")
    if len(value) > MAX_SPECS:
        raise Invalid(SPECS_MANY(limit=MAX_SPECS), "specifications")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Invalid(SPECS_SHAPE(), f"specifications.{i}")
        label = item.get("label")
        if isinstance(label, str):
            label = {"zh-Hans": label, "zh-Hant": label, "en": label}
        label = clean_localized(label, f"specifications.{i}.label", 80, required=True)
        spec_value = clean_plain(item.get("value"), f"specifications.{i}.value", 200, required=True)
        out.append({"label": label, "value": spec_value})
    return out


def _product_fields(product: Product, data: dict[str, Any], creating: bool) -> None:
    if creating or "name" in data:
        product.name = clean_localized(data.get("name"), "name", MAX_NAME, required=True)
    if creating or "description" in data:
        product.description = clean_localized(data.get("description"), "description", MAX_DESCRIPTION, rich=True)
    if creating or "specifications" in data:
        product.specifications = clean_specifications(data.get("specifications"))


async def create_product(session: AsyncSession, principal: Principal, booth: Booth, data: dict[str, Any]) -> Product:
    require_exhibitor_access(principal, booth.exhibitor_id)
    count = await session.scalar(select(func.count(Product.id)).where(Product.booth_id == booth.id)) or 0
    if count >= MAX_PRODUCTS:
        raise Invalid(PRODUCTS_MANY(limit=MAX_PRODUCTS), "name")
    product = Product(booth_id=booth.id, position=int(count))
    _product_fields(product, data, creating=True)
    session.add(product)
    await session.flush()
    await search.refresh_booth(session, booth.id)
    return product


async def update_product(session: AsyncSession, principal: Principal, booth: Booth, product: Product, data: dict[str, Any]) -> Product:
    require_exhibitor_access(principal, booth.exhibitor_id)
    _product_fields(product, data, creating=False)
    await session.flush()
    await search.refresh_booth(session, booth.id)
    return product


async def delete_product(session: AsyncSession, principal: Principal, booth: Booth, product: Product) -> None:
    require_exhibitor_access(principal, booth.exhibitor_id)
    await session.delete(product)
    await session.flush()
    await search.refresh_booth(session, booth.id)


# --- halls and zones (moderators) ----------------------------------------------------


def _geometry(target: Hall | Zone, data: dict[str, Any]) -> None:
    for name in ("map_x", "map_y", "map_w", "map_h"):
        if name in data:
            try:
                value = int(data[name])
            except (TypeError, ValueError):
                raise Invalid(WHOLE_NUMBER(name=name), name) from None
            if not 0 <= value <= 2000:
                raise Invalid(BETWEEN(name=name, low=0, high=2000), name)
            setattr(target, name, value)


async def update_hall(session: AsyncSession, principal: Principal, hall: Hall, data: dict[str, Any]) -> Hall:
    require(principal, Role.MODERATOR)
    if "name" in data:
        hall.name = clean_localized(data["name"], "name", MAX_NAME, required=True)
    if "description" in data:
        hall.description = clean_localized(data["description"], "description", 2000)
    _geometry(hall, data)
    await session.flush()
    return hall


async def update_zone(session: AsyncSession, principal: Principal, zone: Zone, data: dict[str, Any]) -> Zone:
    require(principal, Role.MODERATOR)
    if "name" in data:
        zone.name = clean_localized(data["name"], "name", MAX_NAME, required=True)
    if "description" in data:
        zone.description = clean_localized(data["description"], "description", 2000)
    if "color" in data:
        color = clean_plain(data["color"], "color", 7, required=True)
        if not (len(color) == 7 and color[0] == "#" and set(color[1:]) <= _COLOR_CHARS):
            raise Invalid(COLOR(), "color")
        zone.color = color
    if "hall_id" in data:
        hall_id = parse_id(data["hall_id"])
        hall = await session.get(Hall, hall_id) if hall_id is not None else None
        if hall is None:
            raise Invalid(NO_HALL(), "hall_id")
        zone.hall_id = hall.id
    _geometry(zone, data)
    await session.flush()
    return zone


# --- users and roles (moderators) -------------------------------------------------------


async def set_user_role(session: AsyncSession, principal: Principal, user_id: int, role: str, exhibitor_id: int | None) -> accounts.User:
    """Moderators make visitors and exhibitors; only an admin makes moderators and admins."""
    require(principal, Role.MODERATOR)
    user = await session.get(accounts.User, user_id)
    if user is None:
        raise NotFound(NO_USER(id=user_id))
    try:
        wanted = Role(role)
    except ValueError:
        raise Invalid(ROLE(roles=", ".join(r.value for r in Role)), "role") from None
    touches_staff = wanted in (Role.MODERATOR, Role.ADMIN) or user.role in (Role.MODERATOR.value, Role.ADMIN.value)
    if touches_staff and not principal.is_admin:
        raise Forbidden(ADMINS_ONLY())
    if user.id == principal.user_id:
        raise Forbidden(OWN_ROLE())
    if wanted is Role.EXHIBITOR and exhibitor_id is None and user.exhibitor_id is None:
        raise Invalid(EXHIBITOR_ID(), "exhibitor_id")
    try:
        await accounts.set_role(session, user, wanted, exhibitor_id)
    except accounts.AccountError as exc:
        raise Invalid(str(exc), exc.field) from None
    await session.flush()
    return user
