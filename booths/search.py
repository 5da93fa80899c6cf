"""Search across booths, exhibitors and products, in all three languages.

Both the indexed text and the query are normalised the same way: every
character folded from Traditional to Simplified Chinese (OpenCC, one
character at a time so that offsets stay the same for highlighting) and to
lower case. Chinese has no spaces, so matching is by substring:

- three characters or more: SQLite FTS5 with the trigram tokenizer
  (``search_fts``), PostgreSQL pg_trgm (a GIN index on ``search_docs.body``
  and ILIKE);
- one or two characters (most Chinese words are two): the ``search_grams``
  table of two-character pieces of every Chinese run (and short Latin
  words), on both databases.

One search row per booth (its names, tagline, description, number, and its
exhibitor's names, region and industry) and one per product; every change to
their text calls :func:`refresh_booth`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from booths.catalog import INDUSTRIES, REGIONS
from booths.models import Booth, Exhibitor, Product, SearchDoc, SearchGram, Zone
from booths.text import plain_text
from cloudexpo.i18n import LANGUAGES, pick

MAX_TERMS = 5
MAX_TERM = 40
PAGE = 20
COUNT_CAP = 1000
_LATIN_WORD = re.compile(r"[0-9a-z]+")


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2FFFF


@lru_cache(maxsize=65536)
def _fold(ch: str) -> str:
    if _is_cjk(ch):
        from booths.text import to_simplified

        out = to_simplified(ch)
        return out if len(out) == 1 else ch
    low = ch.lower()
    return low if len(low) == 1 else ch


def normalize(value: str) -> str:
    """Traditional → Simplified and lower case, character by character (same length)."""
    return "".join(map(_fold, value))


def grams(body: str) -> set[str]:
    """Two-character pieces of every Chinese run (a lone or last character too) and short Latin words."""
    out: set[str] = set()
    run: list[str] = []
    for ch in body + " ":
        if _is_cjk(ch):
            run.append(ch)
            continue
        if run:
            out.update(run[i] + run[i + 1] for i in range(len(run) - 1))
            out.add(run[-1])
            run = []
    out.update(w for w in _LATIN_WORD.findall(body) if len(w) <= 2)
    return out


def terms_of(query: str) -> list[str]:
    return [t[:MAX_TERM] for t in normalize(query or "").split()[:MAX_TERMS]]


# --- keeping the index in step -------------------------------------------------


def _texts(*values: dict[str, str] | None) -> list[str]:
    return [v.get(lang, "") for v in values if v for lang in LANGUAGES if v.get(lang)]


def booth_body(booth: Booth, exhibitor: Exhibitor) -> str:
    parts = [booth.number, *_texts(booth.name, booth.tagline, exhibitor.name)]
    parts += [plain_text(t) for t in _texts(booth.description)]
    parts += _texts(INDUSTRIES.get(exhibitor.industry), REGIONS.get(exhibitor.region))
    return normalize(" \n ".join(p for p in parts if p))


def product_body(product: Product) -> str:
    parts = [*_texts(product.name), *(plain_text(t) for t in _texts(product.description))]
    for spec in product.specifications or []:
        parts += _texts(spec.get("label") if isinstance(spec.get("label"), dict) else None)
        parts.append(str(spec.get("value", "")))
    return normalize(" \n ".join(p for p in parts if p))


async def refresh_booth(session: AsyncSession, booth_id: int) -> None:
    """Rebuild the search rows of one booth and its products (call after every text change)."""
    await refresh_booths(session, [booth_id])


async def refresh_booths(session: AsyncSession, booth_ids: Sequence[int]) -> None:
    if not booth_ids:
        return
    ids = list(booth_ids)
    doc_ids = select(SearchDoc.id).where(SearchDoc.booth_id.in_(ids))
    await session.execute(delete(SearchGram).where(SearchGram.doc_id.in_(doc_ids)))
    await session.execute(delete(SearchDoc).where(SearchDoc.booth_id.in_(ids)))
    rows = (await session.execute(
        select(Booth, Exhibitor).join(Exhibitor, Exhibitor.id == Booth.exhibitor_id).where(Booth.id.in_(ids))
    )).all()
    products = (await session.scalars(select(Product).where(Product.booth_id.in_(ids)))).all()
    docs: list[dict[str, Any]] = [
        {"kind": "booth", "booth_id": booth.id, "product_id": None, "body": booth_body(booth, exhibitor)}
        for booth, exhibitor in rows
    ]
    docs += [{"kind": "product", "booth_id": p.booth_id, "product_id": p.id, "body": product_body(p)} for p in products]
    if not docs:
        return
    new_ids = (await session.scalars(insert(SearchDoc).returning(SearchDoc.id), docs)).all()
    gram_rows = [{"gram": g, "doc_id": doc_id} for doc_id, doc in zip(new_ids, docs, strict=True) for g in grams(doc["body"])]
    for start in range(0, len(gram_rows), 5000):
        await session.execute(insert(SearchGram), gram_rows[start:start + 5000])


# --- asking -------------------------------------------------------------------


@dataclass
class Filters:
    zone_id: int | None = None
    industry: str | None = None
    region: str | None = None
    has_products: bool | None = None
    has_video: bool | None = None


@dataclass
class Hit:
    kind: str  # booth | product
    booth: Booth
    exhibitor: Exhibitor
    zone: Zone
    product: Product | None
    highlights: dict[str, str] = field(default_factory=dict)


@dataclass
class Results:
    query: str
    terms: list[str]
    total: int
    total_capped: bool
    hits: list[Hit]


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _term_condition(term: str, dialect: str) -> Any:
    if len(term) >= 3:
        if dialect == "sqlite":
            phrase = '"' + term.replace('"', '""') + '"'
            return SearchDoc.id.in_(
                select(literal_column("rowid")).select_from(text("search_fts")).where(text("search_fts MATCH :p").bindparams(p=phrase))
            )
        return SearchDoc.body.ilike(f"%{_like_escape(term)}%", escape="\\")
    if all(_is_cjk(c) for c in term):
        if len(term) == 2:
            return SearchDoc.id.in_(select(SearchGram.doc_id).where(SearchGram.gram == term))
        return SearchDoc.id.in_(
            select(SearchGram.doc_id).where(SearchGram.gram >= term, SearchGram.gram < term + "\U0010ffff")
        )
    if _LATIN_WORD.fullmatch(term):
        return SearchDoc.id.in_(select(SearchGram.doc_id).where(SearchGram.gram == term))
    return SearchDoc.body.like(f"%{_like_escape(term)}%", escape="\\")


def _visible_booths(filters: Filters) -> list[Any]:
    conds: list[Any] = [Booth.published.is_(True), Booth.hidden.is_(False)]
    if filters.zone_id is not None:
        conds.append(Booth.zone_id == filters.zone_id)
    if filters.industry:
        conds.append(Exhibitor.industry == filters.industry)
    if filters.region:
        conds.append(Exhibitor.region == filters.region)
    if filters.has_video is not None:
        conds.append(Booth.has_video.is_(filters.has_video))
    if filters.has_products is not None:
        has = exists().where(Product.booth_id == Booth.id)
        conds.append(has if filters.has_products else ~has)
    return conds


async def search(
    session: AsyncSession,
    query: str,
    filters: Filters | None = None,
    *,
    language: str = "zh-Hans",
    limit: int = PAGE,
    offset: int = 0,
) -> Results:
    """Visible booths and products matching every term of ``query`` and the filters."""
    filters = filters or Filters()
    terms = terms_of(query)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    conds = [*_visible_booths(filters), *(_term_condition(t, dialect) for t in terms)]
    if not terms:
        conds.append(SearchDoc.kind == "booth")
    base = (
        select(SearchDoc.id)
        .join(Booth, Booth.id == SearchDoc.booth_id)
        .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
        .where(and_(*conds))
    )
    total = int(await session.scalar(select(func.count()).select_from(base.limit(COUNT_CAP + 1).subquery())) or 0)
    page = (
        await session.execute(
            select(SearchDoc.kind, SearchDoc.booth_id, SearchDoc.product_id)
            .join(Booth, Booth.id == SearchDoc.booth_id)
            .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
            .where(and_(*conds))
            .order_by((SearchDoc.kind == "booth").desc(), Booth.featured.desc(), Booth.number, SearchDoc.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    booth_ids = {row.booth_id for row in page}
    product_ids = {row.product_id for row in page if row.product_id is not None}
    booths: dict[int, tuple[Booth, Exhibitor, Zone]] = {}
    if booth_ids:
        for b, e, z in (await session.execute(
            select(Booth, Exhibitor, Zone)
            .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
            .join(Zone, Zone.id == Booth.zone_id)
            .where(Booth.id.in_(booth_ids))
        )).all():
            booths[b.id] = (b, e, z)
    products = {p.id: p for p in (await session.scalars(select(Product).where(Product.id.in_(product_ids)))).all()} if product_ids else {}
    hits: list[Hit] = []
    for row in page:
        b, e, z = booths[row.booth_id]
        product = products.get(row.product_id) if row.product_id else None
        hit = Hit(row.kind, b, e, z, product)
        hit.highlights = _highlights(hit, terms, language)
        hits.append(hit)
    return Results(query, terms, min(total, COUNT_CAP), total > COUNT_CAP, hits)


# --- highlighting ---------------------------------------------------------------


def _spans(value: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    norm = normalize(value)
    spans: list[tuple[int, int]] = []
    for term in terms:
        if not term:
            continue
        start = norm.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = norm.find(term, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def highlight(value: str, terms: Iterable[str]) -> str:
    """``value`` escaped as HTML with every match of ``terms`` in ``<mark>``."""
    out: list[str] = []
    pos = 0
    for s, e in _spans(value, terms):
        out.append(html.escape(value[pos:s]))
        out.append(f"<mark>{html.escape(value[s:e])}</mark>")
        pos = e
    out.append(html.escape(value[pos:]))
    return "".join(out)


def snippet(value: str, terms: Sequence[str], width: int = 90) -> str:
    """A highlighted window of plain text around the first match (or its beginning)."""
    spans = _spans(value, terms)
    if not spans:
        cut = value[:width]
        return html.escape(cut) + ("…" if len(value) > width else "")
    first = spans[0][0]
    start = max(0, first - width // 3)
    end = min(len(value), start + width)
    return ("…" if start else "") + highlight(value[start:end], terms) + ("…" if end < len(value) else "")


def _best(values: dict[str, str] | None, terms: Sequence[str], language: str, transform: Any = None) -> tuple[str, bool]:
    """The text in ``language`` (or its fallback), unless another language's text is the one that matches."""
    chosen = pick(values, language).text
    chosen = transform(chosen) if transform else chosen
    if not terms or _spans(chosen, terms):
        return chosen, bool(terms) and bool(_spans(chosen, terms))
    for lang in LANGUAGES:
        other = (values or {}).get(lang, "")
        other = transform(other) if transform and other else other
        if other and _spans(other, terms):
            return other, True
    return chosen, False


def _highlights(hit: Hit, terms: Sequence[str], language: str) -> dict[str, str]:
    out: dict[str, str] = {}
    b, e = hit.booth, hit.exhibitor
    name, _ = _best(b.name, terms, language)
    out["booth_name"] = highlight(name, terms)
    exhibitor, _ = _best(e.name, terms, language)
    out["exhibitor"] = highlight(exhibitor, terms)
    out["number"] = highlight(b.number, terms)
    if hit.product is not None:
        pname, _ = _best(hit.product.name, terms, language)
        out["product_name"] = highlight(pname, terms)
        desc, _ = _best(hit.product.description, terms, language, plain_text)
        out["snippet"] = snippet(desc, terms)
        return out
    tagline, hit_tag = _best(b.tagline, terms, language)
    desc, hit_desc = _best(b.description, terms, language, plain_text)
    out["snippet"] = snippet(desc, terms) if hit_desc or not hit_tag else highlight(tagline, terms)
    out["tagline"] = highlight(tagline, terms)
    return out


def or_any(conditions: Sequence[Any]) -> Any:
    return or_(*conditions)
