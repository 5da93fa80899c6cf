"""Booth media's tables: ``assets`` (one file an exhibitor shows) and ``uploads`` (one in flight).

An asset is a logo, a banner, a gallery picture, a video or a document, on a
booth or one of its products. Its bytes live in object storage under
``media/e{exhibitor}/a{asset}/``: the original (``original<suffix>``) and
everything made from it (display copy, thumbnails, poster), so deleting an
asset deletes that folder.

States: ``uploading`` (a ticket was given, the browser is sending) →
``processing`` (the object is complete and checked; derived files are being
made) → ``ready``, or ``rejected`` (with ``problem`` saying why; the objects
are deleted). ``hidden`` is a moderator's decision.
"""

from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base, utcnow

KINDS = ("logo", "banner", "image", "video", "document")
STATES = ("uploading", "processing", "ready", "rejected")
IMAGE_KINDS = ("logo", "banner", "image")


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


def derived_key(asset: Asset, name: str, suffix: str) -> str:
    """Where an object made from the original is stored: ``name`` plus a suffix like ``.jpg``."""
    return f"{asset.folder}{name}{suffix}"


def safe_filename(filename: str) -> str:
    """The last path part, without control characters, at most 200 characters."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip() or "file"
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        name = (stem[:190] + dot + extension) if dot and len(extension) <= 9 else name[:200]
    return name
