"""What page templates are given: one documented type per page that shows a booth or a product.

``web.templating.render`` takes one of these (its fields become the
template's names) or a plain dict for pages with a few obvious values. Fields
marked :data:`NOT_IN_TEMPLATE` are the route's own bookkeeping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from booths.engagement.models import MeetingSlot
from booths.engagement.recommend import Suggestion
from booths.exhibition.models import Booth, Exhibitor, Hall, Product, Zone
from booths.exhibition.showcase import PageMedia
from cloudexpo.accounts import User
from streaming.models import Slot
from streaming.replays import ReplayItem

NOT_IN_TEMPLATE: Mapping[str, bool] = {"template": False}


@dataclass
class BoothPage:
    """``exhibition/booth.html``: a booth and all it shows.

    The same for every visitor who does not manage the booth, so kept in
    :class:`web.booth_pages.BoothPageCache`; whether the asker manages it
    (``manager``, ``preview``) is given beside it on each request.
    """

    booth: Booth
    exhibitor: Exhibitor
    zone: Zone
    hall: Hall
    products: list[Product]
    #: The booth's own media by kind (views whose links are signed when first read).
    media: PageMedia
    #: A small picture per product id.
    product_thumbs: dict[int, str]
    staff: list[User]
    #: Coming and live launches of the booth on the release-zone stages.
    launches: list[Slot]
    replays: list[ReplayItem]
    #: "Booths like this" (the same for every visitor; the page explains each in its language).
    similar: list[Suggestion] = field(default_factory=list)
    #: A small picture per suggested booth id.
    similar_logos: dict[int, str] = field(default_factory=dict)
    #: The whole page per language as anonymous visitors get it, with a hole for the CSRF token.
    html: dict[str, str] = field(default_factory=dict, metadata=NOT_IN_TEMPLATE)


@dataclass
class ProductPage:
    """``exhibition/product.html``: a product, its booth and its pictures."""

    product: Product
    booth: Booth
    exhibitor: Exhibitor
    zone: Zone
    #: The product's ready pictures (views whose links are signed when first read).
    pictures: Sequence[Mapping[str, Any]]
    #: The asker is staff of the booth's exhibitor or a moderator.
    manager: bool


@dataclass
class BoothContactPage:
    """``engagement/contact.html``: leave a card for a booth's exhibitor or book one of its meeting times."""

    booth: Booth
    exhibitor: Exhibitor
    zone: Zone
    #: What the card form starts with (the visitor's profile).
    card_values: dict[str, str]
    slots: list[MeetingSlot]
    #: The hosts of ``slots`` by user id.
    hosts: dict[int, User]
    bookmarked: bool
    card_sent: bool
    #: The card form's field at fault after a refused card, else None.
    card_error: str | None


@dataclass
class BoothPoster:
    """``engagement/poster.html``: a printable poster with the booth's QR code."""

    booth: Booth
    #: The booth's name in each language it has one, as (language, name).
    names: list[tuple[str, str]]
    #: The zone's name in each language it has one.
    zone_names: list[str]
    #: The QR code as inline SVG.
    qr_svg: Markup
    #: The address the QR code leads to.
    url: str
