"""The exhibition's tables: halls, zones, exhibitors, booths, products, applications, search.

Per-language text is a JSON mapping ``{"zh-Hans": ..., "zh-Hant": ..., "en": ...}``
(see :func:`cloudexpo.i18n.pick`). Booth staff are users with the exhibitor
role whose ``users.exhibitor_id`` names the booth's exhibitor. Map geometry is
in the floor map's units (an SVG viewBox of 1000 × 620 for both halls).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base, utcnow

Localized = dict[str, str]


class Hall(Base):
    __tablename__ = "halls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[Localized] = mapped_column(JSON, default=dict)
    description: Mapped[Localized] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)
    map_x: Mapped[int] = mapped_column(Integer, default=0)
    map_y: Mapped[int] = mapped_column(Integer, default=0)
    map_w: Mapped[int] = mapped_column(Integer, default=480)
    map_h: Mapped[int] = mapped_column(Integer, default=600)


class Zone(Base):
    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hall_id: Mapped[int] = mapped_column(ForeignKey("halls.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    # Booth numbers in this zone start with this prefix: "1A" gives "1A-012".
    code: Mapped[str] = mapped_column(String(8), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="theme")  # preface | theme
    name: Mapped[Localized] = mapped_column(JSON, default=dict)
    description: Mapped[Localized] = mapped_column(JSON, default=dict)
    color: Mapped[str] = mapped_column(String(9), default="#13315c")
    position: Mapped[int] = mapped_column(Integer, default=0)
    map_x: Mapped[int] = mapped_column(Integer, default=0)
    map_y: Mapped[int] = mapped_column(Integer, default=0)
    map_w: Mapped[int] = mapped_column(Integer, default=200)
    map_h: Mapped[int] = mapped_column(Integer, default=200)


class Exhibitor(Base):
    __tablename__ = "exhibitors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[Localized] = mapped_column(JSON, default=dict)
    region: Mapped[str] = mapped_column(String(40), index=True)
    industry: Mapped[str] = mapped_column(String(40), index=True)
    website: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Booth(Base):
    __tablename__ = "booths"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    exhibitor_id: Mapped[int] = mapped_column(ForeignKey("exhibitors.id", ondelete="CASCADE"), index=True)
    name: Mapped[Localized] = mapped_column(JSON, default=dict)
    tagline: Mapped[Localized] = mapped_column(JSON, default=dict)
    # Sanitised HTML per language (booths.exhibition.editing.sanitize_html).
    description: Mapped[Localized] = mapped_column(JSON, default=dict)
    # When staff are usually at the booth, as the exhibitor writes it ("Weekdays 9:00–17:00"), shown beside "leave a message".
    hours: Mapped[Localized] = mapped_column(JSON, default=dict)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_reason: Mapped[str] = mapped_column(String(500), default="")
    featured: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by the media code (booths.media.assets) when a ready, visible video exists.
    has_video: Mapped[bool] = mapped_column(Boolean, default=False)
    map_x: Mapped[int] = mapped_column(Integer, default=0)
    map_y: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def visible(self) -> bool:
        """Shown to visitors: published and not hidden by a moderator."""
        return bool(self.published and not self.hidden)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id", ondelete="CASCADE"), index=True)
    name: Mapped[Localized] = mapped_column(JSON, default=dict)
    description: Mapped[Localized] = mapped_column(JSON, default=dict)
    # A list of {"label": {lang: text}, "value": text}.
    specifications: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation: Mapped[str] = mapped_column(String(200))
    organisation_en: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(40))
    industry: Mapped[str] = mapped_column(String(40))
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    contact_name: Mapped[str] = mapped_column(String(120))
    contact_phone: Mapped[str] = mapped_column(String(40))
    contact_email: Mapped[str] = mapped_column(String(254))
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    reason: Mapped[str] = mapped_column(String(1000), default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    exhibitor_id: Mapped[int | None] = mapped_column(ForeignKey("exhibitors.id", ondelete="SET NULL"), nullable=True)
    booth_id: Mapped[int | None] = mapped_column(ForeignKey("booths.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SearchFacets:
    """What search filters by, copied from the booth and its exhibitor into each search row (and posting)."""

    zone_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    industry: Mapped[str] = mapped_column(String(40), default="")
    region: Mapped[str] = mapped_column(String(40), default="")
    has_video: Mapped[bool] = mapped_column(Boolean, default=False)
    has_products: Mapped[bool] = mapped_column(Boolean, default=False)


FACETS = ("zone_id", "industry", "region", "has_video", "has_products")


class SearchDoc(SearchFacets, Base):
    """One searchable row per booth (with its exhibitor) and per product.

    ``body`` is the normalised text (Traditional folded to Simplified, lower
    case; see :func:`booths.exhibition.search.normalize`). SQLite mirrors it into the FTS5
    table ``search_fts`` (trigram) and both databases keep ``search_grams``
    (two-character pieces) for short Chinese queries; PostgreSQL indexes
    ``body`` with pg_trgm.
    """

    __tablename__ = "search_docs"
    __table_args__ = (Index("ix_search_docs_rank", "sort_key", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # booth | product
    booth_id: Mapped[int] = mapped_column(ForeignKey("booths.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), nullable=True, unique=True)
    body: Mapped[str] = mapped_column(Text, default="")
    # Copies of what search ranks and filters by (the facets too), so that it needs no join (migration
    # bo0004): set by booths.exhibition.search.refresh_booths, kept in step by triggers on booths, exhibitors, products.
    visible: Mapped[bool] = mapped_column(Boolean, default=False)
    # "0" booth / "1" product / "9" not visible, "0" featured / "1" not, then the booth number:
    # results order by (sort_key, id); visible rows are sort_key < "2".
    sort_key: Mapped[str] = mapped_column(String(24), default="")


class SearchGram(SearchFacets, Base):
    """One posting: a two-character piece (or a lone character, or a short Latin word) of a document.

    Stored in result order (primary key gram, sort_key, doc_id; on SQLite a
    WITHOUT ROWID table, so a gram's postings lie together in that order) with
    their document's ``sort_key`` and facets (migration bo0005; a trigger on
    ``search_docs`` keeps them in step): a two-character query, filtered or
    not, reads one range of postings and touches ``search_docs`` only for
    the rows of its page. On PostgreSQL the primary key's index INCLUDEs the
    facets, for index-only scans.
    """

    __tablename__ = "search_grams"
    __table_args__ = (
        PrimaryKeyConstraint("gram", "sort_key", "doc_id", postgresql_include=list(FACETS)),
        Index("ix_search_grams_doc_id", "doc_id", "gram"),
        {"sqlite_with_rowid": False},
    )

    gram: Mapped[str] = mapped_column(String(8))
    sort_key: Mapped[str] = mapped_column(String(24), default="")
    doc_id: Mapped[int] = mapped_column(ForeignKey("search_docs.id", ondelete="CASCADE"))
