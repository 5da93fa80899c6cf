"""The briefcase: documents and products a signed-in visitor collects while touring, to take away.

Like Swapcard's and vFairs' briefcases (their "swag bag"), it belongs to an
account: a visitor who is not signed in is asked to sign in and comes back to
the page they were on. Taking it away is one ZIP (the documents' files and an
index of everything) or an e-mail to the visitor with links; both are made in
``web``. This module keeps the list, checks what a visitor may put in it, and
plans the ZIP: which file goes under which safe name, and whether it fits.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement.models import BRIEFCASE_KINDS, BriefcaseItem
from booths.errors import Invalid, NotFound, TooLarge
from booths.exhibition.directory import can_see
from booths.exhibition.models import Booth, Product
from booths.media.models import Asset
from cloudexpo.i18n import pick
from cloudexpo.messages import message
from cloudexpo.permissions import Principal, require

KIND = message("briefcase.kind", "Put one of these in the briefcase: {kinds}; {kind} is not one of them.")
NO_DOCUMENT = message("briefcase.no_document", "There is no document {id}.")
NO_PRODUCT = message("briefcase.no_product", "There is no product {id}.")
FULL = message("briefcase.full", "The briefcase holds at most {limit} items; remove some before adding more.")
TOO_BIG = message("briefcase.too_big", "The documents in your briefcase come to {size} MB; one ZIP holds at most {limit} MB. Remove some documents, or send the briefcase to your e-mail (links have no size limit).")
EMPTY = message("briefcase.empty", "Your briefcase is empty; add documents or products from the booths first.")

MAX_ITEMS = 200


@dataclass
class Entry:
    """One item of the briefcase with what the page, the ZIP and the e-mail show of it."""

    kind: str
    target_id: int
    created_at: dt.datetime
    name: dict[str, str] = field(default_factory=dict)
    booth: Booth | None = None
    asset: Asset | None = None
    product: Product | None = None

    @property
    def available(self) -> bool:
        return self.booth is not None and (self.asset is not None or self.product is not None)

    @property
    def url(self) -> str:
        if not self.available:
            return ""
        return f"/documents/{self.target_id}" if self.kind == "document" else f"/products/{self.target_id}"

    @property
    def size(self) -> int:
        return int(self.asset.size or 0) if self.asset is not None else 0


def check_kind(kind: str) -> str:
    if kind not in BRIEFCASE_KINDS:
        raise Invalid(KIND(kinds=", ".join(BRIEFCASE_KINDS), kind=repr(kind)), "kind")
    return kind


async def _document_booth(session: AsyncSession, asset: Asset | None) -> Booth | None:
    """The booth showing a document (through its product when it belongs to one), or None."""
    if asset is None or asset.kind != "document":
        return None
    booth_id = asset.booth_id
    if booth_id is None and asset.product_id is not None:
        product = await session.get(Product, asset.product_id)
        booth_id = product.booth_id if product is not None else None
    return await session.get(Booth, booth_id) if booth_id is not None else None


async def target_booth(session: AsyncSession, principal: Principal, kind: str, target_id: int) -> Booth:
    """The booth of a document or product the principal may collect; NotFound for anything they cannot see."""
    check_kind(kind)
    if kind == "document":
        asset = await session.get(Asset, target_id)
        booth = await _document_booth(session, asset)
        visible = asset is not None and (asset.visible or principal.can_manage_exhibitor(asset.exhibitor_id))
        if booth is None or not visible or not can_see(principal, booth):
            raise NotFound(NO_DOCUMENT(id=target_id), "id")
        return booth
    product = await session.get(Product, target_id)
    booth = await session.get(Booth, product.booth_id) if product is not None else None
    if booth is None or not can_see(principal, booth):
        raise NotFound(NO_PRODUCT(id=target_id), "id")
    return booth


async def count(session: AsyncSession, user_id: int | None) -> int:
    if user_id is None:
        return 0
    return int(await session.scalar(select(func.count(BriefcaseItem.id)).where(BriefcaseItem.user_id == user_id)) or 0)


async def add(session: AsyncSession, principal: Principal, kind: str, target_id: int) -> tuple[bool, Booth]:
    """Put a document or product in the principal's briefcase; (newly added, its booth). Twice is not an error."""
    require(principal)
    booth = await target_booth(session, principal, kind, target_id)
    mine = (BriefcaseItem.user_id == principal.user_id, BriefcaseItem.kind == kind, BriefcaseItem.target_id == target_id)
    if await session.scalar(select(BriefcaseItem.id).where(*mine)) is not None:
        return False, booth
    if await count(session, principal.user_id) >= MAX_ITEMS:
        raise Invalid(FULL(limit=MAX_ITEMS), "id")
    session.add(BriefcaseItem(user_id=principal.user_id, kind=kind, target_id=target_id))
    try:
        await session.flush()
    except IntegrityError:  # the same click twice in flight
        await session.rollback()
        return False, booth
    return True, booth


async def remove(session: AsyncSession, principal: Principal, kind: str, target_id: int) -> bool:
    require(principal)
    check_kind(kind)
    result = await session.execute(
        delete(BriefcaseItem).where(BriefcaseItem.user_id == principal.user_id, BriefcaseItem.kind == kind,
                                    BriefcaseItem.target_id == target_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def marked(session: AsyncSession, user_id: int | None) -> dict[str, set[int]]:
    """What the user holds, by kind (one query for every toggle on a page)."""
    out: dict[str, set[int]] = {kind: set() for kind in BRIEFCASE_KINDS}
    if user_id is None:
        return out
    rows = await session.execute(select(BriefcaseItem.kind, BriefcaseItem.target_id).where(BriefcaseItem.user_id == user_id))
    for kind, target_id in rows.all():
        out.setdefault(kind, set()).add(int(target_id))
    return out


async def contents(session: AsyncSession, principal: Principal) -> list[Entry]:
    """The principal's briefcase, newest first; what is no longer visible stays listed as unavailable."""
    require(principal)
    items = list((await session.scalars(
        select(BriefcaseItem).where(BriefcaseItem.user_id == principal.user_id)
        .order_by(BriefcaseItem.created_at.desc(), BriefcaseItem.id.desc())
    )).all())
    doc_ids = [i.target_id for i in items if i.kind == "document"]
    product_ids = [i.target_id for i in items if i.kind == "product"]
    assets = {a.id: a for a in (await session.scalars(select(Asset).where(Asset.id.in_(doc_ids)))).all()} if doc_ids else {}
    products = (
        {p.id: p for p in (await session.scalars(select(Product).where(Product.id.in_(product_ids)))).all()}
        if product_ids else {}
    )
    entries: list[Entry] = []
    for item in items:
        entry = Entry(item.kind, item.target_id, item.created_at)
        if item.kind == "document" and item.target_id in assets:
            asset = assets[item.target_id]
            booth = await _document_booth(session, asset)
            if booth is not None and can_see(principal, booth) and (asset.visible or principal.can_manage_exhibitor(asset.exhibitor_id)):
                entry.asset, entry.booth = asset, booth
                entry.name = dict(asset.title or {}) or {"en": asset.filename}
        elif item.kind == "product" and item.target_id in products:
            product = products[item.target_id]
            booth = await session.get(Booth, product.booth_id)
            if booth is not None and can_see(principal, booth):
                entry.product, entry.booth, entry.name = product, booth, dict(product.name or {})
        entries.append(entry)
    return entries


# --- the ZIP's plan ------------------------------------------------------------------------------

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_name(name: str, *, limit: int = 80, fallback: str = "file") -> str:
    """A file or folder name every unzip program accepts on Windows, macOS and Linux.

    No path separators or characters Windows forbids, no control characters,
    no leading dots (hidden files, ``..``), no trailing dots or spaces, not a
    reserved device name, NFC-normalised and at most ``limit`` characters
    (Chinese names stay Chinese: ZIP entries carry UTF-8 names).
    """
    text = unicodedata.normalize("NFC", name or "")
    text = _UNSAFE.sub("_", text).strip().lstrip(".").rstrip(". ")
    text = re.sub(r"\s+", " ", text)
    if not text:
        text = fallback
    stem, dot, suffix = text.rpartition(".")
    if dot and 0 < len(suffix) <= 8 and stem:
        stem, suffix = stem[: max(1, limit - len(suffix) - 1)].rstrip(". "), "." + suffix
    else:
        stem, suffix = text[:limit].rstrip(". "), ""
    if stem.split(".")[0].upper() in _RESERVED:
        stem = "_" + stem
    return (stem or fallback) + suffix


def unique_path(folder: str, name: str, used: set[str]) -> str:
    """``folder/name``, numbered ``name (2).pdf`` when the ZIP already has it (compared without case)."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    else:
        suffix = "." + suffix
    candidate, n = f"{folder}/{name}", 2
    while candidate.casefold() in used:
        candidate, n = f"{folder}/{stem} ({n}){suffix}", n + 1
    used.add(candidate.casefold())
    return candidate


@dataclass(frozen=True)
class ZipFile:
    path: str  # inside the ZIP
    key: str  # in object storage
    size: int
    entry: Entry


def zip_plan(entries: list[Entry], *, language: str, max_bytes: int) -> list[ZipFile]:
    """Where each available document goes in the ZIP (a folder per booth); refused past ``max_bytes``."""
    available = [e for e in entries if e.available]
    if not available:
        raise Invalid(EMPTY(), "briefcase")
    documents = [e for e in available if e.kind == "document" and e.asset is not None and e.asset.key]
    total = sum(e.size for e in documents)
    if total > max_bytes:
        mb = 1000 * 1000
        raise TooLarge(TOO_BIG(size=f"{total / mb:.1f}", limit=f"{max_bytes / mb:.0f}"),
                       {"size": total, "limit": max_bytes})
    used: set[str] = {"index.html"}
    plan: list[ZipFile] = []
    for entry in sorted(documents, key=lambda e: (e.booth.number if e.booth else "", e.created_at)):
        assert entry.booth is not None and entry.asset is not None
        folder = safe_name(f"{entry.booth.number} {pick(entry.booth.name, language).text}", limit=60, fallback="booth")
        title = pick(entry.name, language).text or entry.asset.filename
        name = safe_name(title if title.lower().endswith(".pdf") else title + ".pdf")
        plan.append(ZipFile(unique_path(folder, name, used), entry.asset.key, entry.size, entry))
    return plan
