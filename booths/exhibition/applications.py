"""Applying for a booth, and the moderators' review.

An enterprise applies (exhibiting is voluntary); a moderator approves or
rejects with a reason the applicant sees. Approval creates the exhibitor and
its booth (unpublished, named after the organisation) and makes the applicant
that exhibitor's staff.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.errors import Conflict, Invalid, NotFound
from booths.exhibition import search
from booths.exhibition.catalog import INDUSTRIES, REGIONS
from booths.exhibition.models import Application, Booth, Exhibitor, Zone
from booths.exhibition.text import clean_plain, to_simplified, to_traditional
from cloudexpo import accounts
from cloudexpo.accounts import Role
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require
from cloudexpo.values import parse_id

VISITORS_APPLY = message("application.visitors_apply", "Only a visitor account applies for a booth; exhibitors already have one.")
MISSING = message("application.required", "'{name}' is required.")
ONE_OF = message("application.one_of", "'{name}' must be one of: {choices}.")
NO_ZONE = message("application.no_zone", "'zone' names no zone of the exhibition.")
DESCRIPTION_TEXT = message("application.description_text", "'description' must be text.")
DESCRIPTION_LONG = message("application.description_long", "'description' is longer than 4000 characters.")
PHONE = message("application.phone", "'contact_phone' must be a phone number like +86 28 1234 5678.")
EMAIL = message("application.email", "'contact_email' must be an e-mail address like name@example.org.")
WAITING = message("application.waiting", "You already have an application waiting for review.")
NO_APPLICATION = message("application.no_application", "There is no application {id}.")
ALREADY = message("application.already", "This application was already {state}.")
APPLICANT_GONE = message("application.applicant_gone", "The applicant's account no longer exists.")
APPLICANT_CHANGED = message("application.applicant_changed", "The applicant's account is no longer a visitor account.")
STATES = {  # an application's state as ALREADY names it
    "approved": message("application.state_approved", "approved")(),
    "rejected": message("application.state_rejected", "rejected")(),
}

REQUIRED = ("organisation", "region", "industry", "zone", "contact_name", "contact_phone", "contact_email")
_PHONE = re.compile(r"^[0-9+()\- ]{5,40}$")
BOOTH_CELL = 22
BOOTH_SIZE = 18


async def apply(session: AsyncSession, principal: Principal, data: dict[str, Any]) -> Application:
    """A signed-in visitor applies for a booth; one pending application at a time."""
    require(principal)
    if principal.role is not Role.VISITOR:
        raise Forbidden(VISITORS_APPLY())
    for name in REQUIRED:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise Invalid(MISSING(name=name), name)
    organisation = clean_plain(data.get("organisation"), "organisation", 200, required=True)
    organisation_en = clean_plain(data.get("organisation_en"), "organisation_en", 200)
    region = clean_plain(data.get("region"), "region", 40, required=True)
    if region not in REGIONS:
        raise Invalid(ONE_OF(name="region", choices=", ".join(REGIONS)), "region")
    industry = clean_plain(data.get("industry"), "industry", 40, required=True)
    if industry not in INDUSTRIES:
        raise Invalid(ONE_OF(name="industry", choices=", ".join(INDUSTRIES)), "industry")
    zone_ref = data.get("zone")
    zone = None
    if isinstance(zone_ref, int) or (isinstance(zone_ref, str) and zone_ref.strip()):
        ref = str(zone_ref).strip()
        number = parse_id(ref)
        if number is not None:
            zone = await session.get(Zone, number)
        elif not ref.isdigit():
            zone = await session.scalar(select(Zone).where(Zone.slug == ref))
    if zone is None:
        raise Invalid(NO_ZONE(), "zone")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise Invalid(DESCRIPTION_TEXT(), "description")
    description = (description or "").replace("\x00", "").strip()
    if len(description) > 4000:
        raise Invalid(DESCRIPTION_LONG(), "description")
    contact_name = clean_plain(data.get("contact_name"), "contact_name", 120, required=True)
    contact_phone = clean_plain(data.get("contact_phone"), "contact_phone", 40, required=True)
    if not _PHONE.match(contact_phone):
        raise Invalid(PHONE(), "contact_phone")
    try:
        contact_email = accounts.normalize_email(str(data.get("contact_email") or ""))
    except accounts.AccountError:
        raise Invalid(EMAIL(), "contact_email") from None
    pending = await session.scalar(
        select(Application.id).where(Application.user_id == principal.user_id, Application.state == "pending")
    )
    if pending is not None:
        raise Conflict(WAITING())
    application = Application(
        user_id=principal.user_id,
        organisation=organisation,
        organisation_en=organisation_en,
        region=region,
        industry=industry,
        zone_id=zone.id,
        description=description,
        contact_name=contact_name,
        contact_phone=contact_phone,
        contact_email=contact_email,
        state="pending",
    )
    session.add(application)
    await session.flush()
    return application


async def list_own(session: AsyncSession, principal: Principal) -> list[Application]:
    require(principal)
    query = select(Application).where(Application.user_id == principal.user_id).order_by(Application.id.desc())
    return list((await session.scalars(query)).all())


async def list_all(session: AsyncSession, principal: Principal, state: str | None = None) -> list[Application]:
    require(principal, Role.MODERATOR)
    query = select(Application).order_by(Application.created_at, Application.id)
    if state:
        query = query.where(Application.state == state)
    return list((await session.scalars(query)).all())


async def get(session: AsyncSession, principal: Principal, application_id: int) -> Application:
    """Its applicant or a moderator."""
    require(principal)
    application = await session.get(Application, application_id)
    if application is None or not (principal.is_moderator or application.user_id == principal.user_id):
        raise NotFound(NO_APPLICATION(id=application_id))
    return application


def _names(organisation: str, organisation_en: str) -> dict[str, str]:
    simplified = to_simplified(organisation)
    if simplified != organisation:  # written in Traditional characters
        names = {"zh-Hans": simplified, "zh-Hant": organisation}
    else:
        names = {"zh-Hans": organisation, "zh-Hant": to_traditional(organisation)}
    if organisation_en:
        names["en"] = organisation_en
    elif organisation.isascii():
        names = {"en": organisation}
    return names


async def allocate_booth(session: AsyncSession, zone: Zone) -> tuple[str, int, int]:
    """The next free booth number in ``zone`` and its place on the map."""
    numbers = (await session.scalars(select(Booth.number).where(Booth.zone_id == zone.id))).all()
    used = {n.rsplit("-", 1)[-1] for n in numbers}
    index = len(numbers)
    while f"{index + 1:03d}" in used:
        index += 1
    return booth_slot(zone, index)


def booth_slot(zone: Zone, index: int) -> tuple[str, int, int]:
    """Booth number ``index + 1`` of ``zone`` and its place on the map (a grid inside the zone)."""
    cols = max(1, (zone.map_w - 16) // BOOTH_CELL)
    rows = max(1, (zone.map_h - 44) // BOOTH_CELL)
    slot = index % (cols * rows)
    x = zone.map_x + 8 + (slot % cols) * BOOTH_CELL
    y = zone.map_y + 36 + (slot // cols) * BOOTH_CELL
    return f"{zone.code}-{index + 1:03d}", x, y


async def approve(session: AsyncSession, principal: Principal, application_id: int) -> Application:
    require(principal, Role.MODERATOR)
    application = await get(session, principal, application_id)
    if application.state != "pending":
        raise Conflict(ALREADY(state=STATES.get(application.state, application.state)))
    applicant = await session.get(accounts.User, application.user_id)
    if applicant is None:
        raise Conflict(APPLICANT_GONE())
    if applicant.role != Role.VISITOR.value:
        raise Conflict(APPLICANT_CHANGED())
    zone = await session.get(Zone, application.zone_id)
    assert zone is not None
    names = _names(application.organisation, application.organisation_en)
    exhibitor = Exhibitor(name=names, region=application.region, industry=application.industry, website="")
    session.add(exhibitor)
    await session.flush()
    number, x, y = await allocate_booth(session, zone)
    description = {}
    if application.description:
        from html import escape

        paragraphs = "".join(f"<p>{escape(p.strip())}</p>" for p in application.description.split("\n") if p.strip())
        description = {lang: paragraphs for lang in names}
    booth = Booth(
        number=number, zone_id=zone.id, exhibitor_id=exhibitor.id, name=dict(names), tagline={},
        description=description, published=False, hidden=False, hidden_reason="", featured=False,
        has_video=False, map_x=x, map_y=y,
    )
    session.add(booth)
    await session.flush()
    await accounts.set_role(session, applicant, Role.EXHIBITOR, exhibitor.id)
    application.state = "approved"
    application.decided_by = principal.user_id
    application.decided_at = utcnow()
    application.exhibitor_id = exhibitor.id
    application.booth_id = booth.id
    application.reason = ""
    await session.flush()
    await search.refresh_booth(session, booth.id)
    return application


async def reject(session: AsyncSession, principal: Principal, application_id: int, reason: Any) -> Application:
    require(principal, Role.MODERATOR)
    reason = clean_plain(reason, "reason", 1000, required=True)
    application = await get(session, principal, application_id)
    if application.state != "pending":
        raise Conflict(ALREADY(state=STATES.get(application.state, application.state)))
    application.state = "rejected"
    application.reason = reason
    application.decided_by = principal.user_id
    application.decided_at = utcnow()
    await session.flush()
    return application


async def pending_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(Application.id)).where(Application.state == "pending")) or 0)
