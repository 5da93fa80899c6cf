"""Business cards: a visitor leaves their contact on a booth, for that booth's exhibitor only.

A card needs the visitor's explicit consent to share it with that exhibitor;
without it nothing is stored. Signed-in visitors get the form pre-filled
from their account and profile and can withdraw a card later; anonymous
visitors withdraw with the signed token they got when they left it. A
withdrawn card is deleted, with its lead: the exhibitor no longer sees it.
A card shared from a launch's chat (``source="chat"``) is the "chat contact
with consent" of the leads inbox; one shared from a booth conversation
(``source="conversation"``, :mod:`.conversations`) a lead of kind ``conversation``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement.models import Card, Lead, Profile
from booths.errors import Invalid, NotFound
from booths.exhibition.directory import can_see
from booths.exhibition.models import Booth
from cloudexpo.accounts import EMAIL_SHAPE, AccountError, normalize_email
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal
from cloudexpo.values import parse_id, same_token

SOURCE = message("card.source", "'source' is one of {sources}.")
SLOT_ID = message("card.slot_id", "'slot_id' must be a number.")

MUST_BE_TEXT = message("card.not_text", "'{name}' must be text.")
TOO_LONG = message("card.too_long", "'{name}' is longer than {limit} characters.")
CONSENT = message("card.consent", "Tick the consent box to share your card with this exhibitor; without it nothing is stored.")
NAME = message("card.name", "Enter your name.")
REACH = message("card.reach", "Enter an e-mail address or a phone number, so the exhibitor can reach you.")
NO_BOOTH = message("card.no_booth", "There is no booth {booth}; check the booth number.")
NO_CARD = message("card.no_card", "There is no card {card}.")
NOT_YOURS = message("card.not_yours", "Only the visitor who left this card can withdraw it.")

FIELDS = {"name": 120, "organisation": 200, "title": 120, "email": 254, "phone": 40, "message": 2000}
SOURCES = ("booth", "chat", "conversation")


@dataclass
class CardInput:
    name: str
    organisation: str
    title: str
    email: str
    phone: str
    message: str
    consent: bool
    source: str = "booth"
    slot_id: int | None = None


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(MUST_BE_TEXT(name=name), name)
    value = value.strip()
    if len(value) > FIELDS[name]:
        raise Invalid(TOO_LONG(name=name, limit=FIELDS[name]), name)
    return value


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in {"1", "true", "yes", "on"}


def parse(data: dict[str, Any]) -> CardInput:
    """Check a card's fields; every refusal names the field and what to fix."""
    values = {name: _text(data, name) for name in FIELDS}
    if not _truthy(data.get("consent")):
        raise Invalid(
            CONSENT(), "consent"
        )
    if not values["name"]:
        raise Invalid(NAME(), "name")
    if not values["email"] and not values["phone"]:
        raise Invalid(REACH(), "email")
    if values["email"]:
        try:
            values["email"] = normalize_email(values["email"])
        except AccountError:
            raise Invalid(EMAIL_SHAPE(), "email") from None
    source = str(data.get("source") or "booth")
    if source not in SOURCES:
        raise Invalid(SOURCE(sources=", ".join(SOURCES)), "source")
    slot_id = data.get("slot_id")
    if slot_id is not None:
        slot_id = parse_id(slot_id if isinstance(slot_id, int) else str(slot_id))
        if slot_id is None:
            raise Invalid(SLOT_ID(), "slot_id")
    return CardInput(**values, consent=True, source=source, slot_id=slot_id)


async def prefill(session: AsyncSession, principal: Principal) -> dict[str, str]:
    """The card form's values for a signed-in visitor: their last card, else account and profile."""
    if not principal.signed_in:
        return {name: "" for name in FIELDS}
    last = await session.scalar(
        select(Card).where(Card.user_id == principal.user_id).order_by(Card.created_at.desc()).limit(1)
    )
    if last is not None:
        return {name: getattr(last, name) for name in FIELDS if name != "message"} | {"message": ""}
    profile = await session.get(Profile, principal.user_id)
    return {
        "name": principal.display_name,
        "organisation": (profile.organisation or profile.institution) if profile else "",
        "title": profile.title if profile else "",
        "email": principal.email,
        "phone": profile.phone if profile else "",
        "message": "",
    }


async def leave(
    session: AsyncSession, principal: Principal, booth_id: int, data: dict[str, Any], *, language: str = ""
) -> tuple[Card, Booth]:
    """Store a card for the booth's exhibitor and put it in their leads inbox."""
    booth = await session.get(Booth, booth_id)
    if booth is None or not can_see(principal, booth):
        raise NotFound(NO_BOOTH(booth=booth_id), "booth_id")
    card_in = parse(data)
    card = Card(
        booth_id=booth.id,
        exhibitor_id=booth.exhibitor_id,
        user_id=principal.user_id,
        source=card_in.source,
        slot_id=card_in.slot_id,
        name=card_in.name,
        organisation=card_in.organisation,
        title=card_in.title,
        email=card_in.email,
        phone=card_in.phone,
        message=card_in.message,
        language=language,
        consent=True,
        consented_at=utcnow(),
    )
    session.add(card)
    await session.flush()
    kind = card.source if card.source in ("chat", "conversation") else "card"
    session.add(Lead(exhibitor_id=booth.exhibitor_id, kind=kind, card_id=card.id))
    await session.flush()
    return card, booth


def withdraw_token(secret: str, card_id: int) -> str:
    return hmac.new(secret.encode(), f"card-withdraw:{card_id}".encode(), hashlib.sha256).hexdigest()[:32]


async def withdraw(session: AsyncSession, principal: Principal, card_id: int, *, token: str = "", secret: str = "") -> None:
    """Delete a card (and its lead): by the visitor who left it, or with its withdraw token."""
    card = await session.get(Card, card_id)
    if card is None:
        raise NotFound(NO_CARD(card=card_id))
    own = principal.signed_in and card.user_id == principal.user_id
    by_token = bool(token) and bool(secret) and same_token(token, withdraw_token(secret, card_id))
    if not (own or by_token):
        raise Forbidden(NOT_YOURS())
    await session.delete(card)
    await session.flush()


async def list_own(session: AsyncSession, principal: Principal) -> list[tuple[Card, Booth]]:
    if not principal.signed_in:
        return []
    rows = await session.execute(
        select(Card, Booth).join(Booth, Booth.id == Card.booth_id).where(Card.user_id == principal.user_id)
        .order_by(Card.created_at.desc())
    )
    return [(c, b) for c, b in rows.all()]
