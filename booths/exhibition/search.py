"""Search across booths, exhibitors and products, in all three languages.

Both the indexed text and the query are normalised the same way: every
character folded from Traditional to Simplified Chinese (OpenCC, one
character at a time so that offsets stay the same for highlighting) and to
lower case. Chinese has no spaces, so matching is by substring:

- three characters or more: SQLite FTS5 with the trigram tokenizer
  (``search_fts``; all long terms in one MATCH), PostgreSQL pg_trgm (a GIN
  index on ``search_docs.body`` and LIKE on the normalised body);
- one or two characters (most Chinese words are two): the ``search_grams``
  table of two-character pieces of every Chinese run (and short Latin
  words), on both databases.

One search row per booth (its names, tagline, description, number, and its
exhibitor's names, region and industry) and one per product; every change to
their text calls :func:`refresh_booth`.

Each search row also carries copies of what results are filtered and ranked by
(``visible``, ``sort_key``, zone, industry, region, has video, has products;
triggers keep them in step, migration bo0004), and each posting its
document's ``sort_key`` and facets (bo0005): a query needs no join to rank or
filter, and a two-character query, filtered or not, reads one range of its
gram's postings already in result order and stops after one page (and after
``COUNT_CAP`` + 1 rows for the count).

A search is one statement (the capped matches, their count, the page, and
the page's booths, exhibitors, zones and products; an unfiltered
two-character query counts its postings apart, from the index alone), built
once per query shape with the values bound (:func:`_statements`), run with
the highlighting in one :meth:`Database.read` trip.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from booths.exhibition.catalog import INDUSTRIES, REGIONS
from booths.exhibition.models import FACETS, Booth, Exhibitor, Product, SearchDoc, SearchGram, Zone
from booths.exhibition.text import plain_text, to_simplified
from cloudexpo.db import Database
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
        out = to_simplified(ch)
        return out if len(out) == 1 else ch
    low = ch.lower()
    return low if len(low) == 1 else ch


class _FoldTable(dict[int, int]):
    """``str.translate`` table filled on first use of each character (C speed afterwards)."""

    def __missing__(self, code: int) -> int:
        value = ord(_fold(chr(code)))
        self[code] = value
        return value


_FOLD_TABLE = _FoldTable()


def normalize(value: str) -> str:
    """Traditional → Simplified and lower case, character by character (same length)."""
    return value.translate(_FOLD_TABLE)


@lru_cache(maxsize=8192)
def _normalized(value: str) -> str:
    """:func:`normalize` of texts shown in results (names, taglines, descriptions), remembered."""
    return normalize(value)


@lru_cache(maxsize=4096)
def _plain(value: str) -> str:
    return plain_text(value)


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


VISIBLE_BELOW = "2"  # sort keys of visible rows are below this


def sort_key(kind: str, booth: Booth) -> str:
    """Booths before products, featured first, then by booth number; "9…" when not visible (see migration bo0004)."""
    first = "9" if not booth.visible else "0" if kind == "booth" else "1"
    return first + ("0" if booth.featured else "1") + booth.number


def _copies(booth: Booth, exhibitor: Exhibitor, has_products: bool) -> dict[str, Any]:
    return {"visible": booth.visible, "zone_id": booth.zone_id, "industry": exhibitor.industry,
            "region": exhibitor.region, "has_video": bool(booth.has_video), "has_products": has_products}


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
    with_products = {p.booth_id for p in products}
    copies = {booth.id: _copies(booth, exhibitor, booth.id in with_products) for booth, exhibitor in rows}
    docs: list[dict[str, Any]] = [
        {"kind": "booth", "booth_id": booth.id, "product_id": None, "body": booth_body(booth, exhibitor),
         **copies[booth.id], "sort_key": sort_key("booth", booth)}
        for booth, exhibitor in rows
    ]
    booths = {booth.id: booth for booth, _ in rows}
    docs += [{"kind": "product", "booth_id": p.booth_id, "product_id": p.id, "body": product_body(p),
              **copies[p.booth_id], "sort_key": sort_key("product", booths[p.booth_id])}
             for p in products if p.booth_id in booths]
    if not docs:
        return
    new_ids = (await session.scalars(insert(SearchDoc).returning(SearchDoc.id), docs)).all()
    gram_rows = [{"gram": g, "doc_id": doc_id, "sort_key": doc["sort_key"], **{f: doc[f] for f in FACETS}}
                 for doc_id, doc in zip(new_ids, docs, strict=True) for g in grams(doc["body"])]
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


def _term_kind(term: str) -> str:
    """``long`` (FTS5 / pg_trgm), ``gram`` (one posting list), ``prefix`` (one CJK character) or ``like``."""
    if len(term) >= 3:
        return "long"
    if all(_is_cjk(c) for c in term):
        return "gram" if len(term) == 2 else "prefix"
    if _LATIN_WORD.fullmatch(term):
        return "gram"
    return "like"


def _term_condition(kind: str, name: str, dialect: str, doc_id: Any) -> tuple[Any, bool]:
    """The condition that a document (whose id is the column ``doc_id``) holds the term bound as ``name``,
    and whether it reads ``search_docs`` itself (its body) rather than only the document's id."""
    if kind == "long":
        if dialect == "sqlite":
            fts: Any = select(literal_column("rowid")).select_from(text("search_fts")).where(text(f"search_fts MATCH :{name}"))
            return doc_id.in_(fts), False
        # The body is normalised (lower case) like the term: LIKE, cheaper than ILIKE, uses the trigram index too.
        return SearchDoc.body.like(bindparam(name, type_=String), escape="\\"), True
    if kind == "gram":
        posting = aliased(SearchGram)
        return exists(select(literal(1)).where(posting.gram == bindparam(name), posting.doc_id == doc_id)), False
    if kind == "prefix":
        return doc_id.in_(select(SearchGram.doc_id).where(SearchGram.gram >= bindparam(name), SearchGram.gram < bindparam(name + "_end"))), False
    return SearchDoc.body.like(bindparam(name, type_=String), escape="\\"), True


def _term_values(kind: str, name: str, term: str | tuple[str, ...], dialect: str) -> dict[str, str]:
    """The values of :func:`_term_condition`'s parameters for ``term`` (on SQLite, all long terms at once)."""
    if kind == "long" and dialect == "sqlite":
        # FTS5 phrases, ANDed in one MATCH: the FTS index intersects them itself.
        return {name: " AND ".join('"' + t.replace('"', '""') + '"' for t in (term if isinstance(term, tuple) else (term,)))}
    assert isinstance(term, str)
    if kind in ("long", "like"):
        return {name: f"%{_like_escape(term)}%"}
    if kind == "prefix":
        return {name: term, name + "_end": term + "\U0010ffff"}
    return {name: term}


def _facets(filters: Filters) -> dict[str, Any]:
    """The filters in use, by facet column."""
    return {name: value for name in FACETS if (value := getattr(filters, name)) is not None and value != ""}


@dataclass(frozen=True)
class _Shape:
    """What a search statement's SQL depends on (the values are bound): one statement is built per shape."""

    dialect: str
    driven: bool  # a two-character term's postings drive the query
    facets: tuple[str, ...]
    others: tuple[str, ...]  # kinds of the other terms
    booths_only: bool  # no terms: list booths, not products
    combined: bool  # page and capped count in one statement (SQLite)


@lru_cache(maxsize=256)
def _statements(shape: _Shape) -> tuple[Any, Any]:
    """The page statement and the capped count statement of a shape."""
    posting = aliased(SearchGram)
    if not shape.driven:
        doc_id: Any = SearchDoc.id
        row: Any = SearchDoc
        conds: list[Any] = [SearchDoc.visible == True]  # noqa: E712 (an index column: "= true", not "IS true")
        if shape.booths_only:
            conds.append(SearchDoc.kind == "booth")
        order: tuple[Any, ...] = (SearchDoc.sort_key, SearchDoc.id)
    else:
        doc_id, row = posting.doc_id, posting
        conds = [posting.gram == bindparam("driver"), posting.sort_key < VISIBLE_BELOW]
        order = (posting.sort_key, posting.doc_id)
    conds += [getattr(row, name) == bindparam(f"f_{name}") for name in shape.facets]
    others = [_term_condition(kind, f"t{n}", shape.dialect, doc_id) for n, kind in enumerate(shape.others)]
    conds += [condition for condition, _ in others]
    reads_doc = shape.driven and any(needs_doc for _, needs_doc in others)

    def matching(*columns: Any) -> Any:
        if not shape.driven:
            return select(*columns).where(*conds)
        chosen = select(*columns).select_from(posting)
        if reads_doc:
            chosen = chosen.join(SearchDoc, SearchDoc.id == posting.doc_id)
        return chosen.where(*conds)

    def with_docs(ranked: Any, *extra: Any) -> Any:
        """The page's rows of ``ranked`` (doc_id, o0, o1) with everything a hit shows, in the same statement."""
        return (select(SearchDoc.kind, Booth, Exhibitor, Zone, Product, *extra).select_from(ranked)
                .join(SearchDoc, SearchDoc.id == ranked.c.doc_id)
                .join(Booth, Booth.id == SearchDoc.booth_id)
                .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
                .join(Zone, Zone.id == Booth.zone_id)
                .outerjoin(Product, Product.id == SearchDoc.product_id)
                .order_by(ranked.c.o0, ranked.c.o1))

    ranked = matching(doc_id.label("doc_id"), order[0].label("o0"), order[1].label("o1")).order_by(*order)
    limit, offset = bindparam("limit", type_=Integer), bindparam("offset", type_=Integer)
    if shape.combined:
        # Page and (capped) count in one statement: the first COUNT_CAP + 1 matches in result order, counted by a
        # window over them, the page cut from them; the text lookup (FTS MATCH, trigram LIKE) runs once, not twice.
        # MATERIALIZED: else PostgreSQL plans the inner query for the page's 20 rows (walking the rank index and
        # testing every body) although the count reads all of them; fetched whole, it uses the trigram index.
        capped = ranked.limit(COUNT_CAP + 1).cte("capped").prefix_with("MATERIALIZED", dialect="postgresql")
        paged = (select(capped, func.count().over().label("total"))
                 .order_by(capped.c.o0, capped.c.o1).limit(limit).offset(offset).subquery())
        page = with_docs(paged, paged.c.total)
    else:
        page = with_docs(ranked.limit(limit).offset(offset).subquery())
    count = select(func.count()).select_from(matching(literal(1)).limit(COUNT_CAP + 1).subquery())
    return page, count


_POSTINGS = select(func.count()).select_from(
    select(literal(1)).where(SearchGram.gram == bindparam("gram")).limit(COUNT_CAP + 1).subquery()
)
def _postings(session: Session, gram: str) -> int:
    """How many documents hold ``gram`` (counted up to a bound: enough to pick the rarest term)."""
    return int(session.scalar(_POSTINGS, {"gram": gram}) or 0)


async def search(
    db: Database,
    query: str,
    filters: Filters | None = None,
    *,
    language: str = "zh-Hans",
    limit: int = PAGE,
    offset: int = 0,
) -> Results:
    """Visible booths and products matching every term of ``query`` and the filters.

    Its few statements and the highlighting run in one trip (:meth:`Database.read`)."""
    return await db.read(lambda session: search_in(session, query, filters, language=language, limit=limit, offset=offset))


def search_in(
    session: Session,
    query: str,
    filters: Filters | None = None,
    *,
    language: str = "zh-Hans",
    limit: int = PAGE,
    offset: int = 0,
) -> Results:
    """:func:`search` within a (synchronous) session."""
    filters = filters or Filters()
    terms = terms_of(query)
    dialect = session.get_bind().dialect.name
    # A two-character term drives the query: its postings are stored in result order, with the facets.
    grams_ = list(dict.fromkeys(t for t in terms if _term_kind(t) == "gram"))
    driver: str | None = None
    if len(grams_) == 1:
        driver = grams_[0]
    elif grams_:
        sizes = [_postings(session, g) for g in grams_]
        driver = grams_[sizes.index(min(sizes))]
    facets = _facets(filters)
    others: list[str | tuple[str, ...]] = [t for t in dict.fromkeys(terms) if t != driver]
    if dialect == "sqlite":  # one FTS MATCH for all long terms
        longs = tuple(t for t in others if isinstance(t, str) and _term_kind(t) == "long")
        others = [t for t in others if t not in longs] + ([longs] if longs else [])
    kinds = tuple("long" if isinstance(t, tuple) else _term_kind(t) for t in others)
    # Only the driver's visible postings: they alone tell the count (from the index, without a page's window).
    plain = driver is not None and not facets and not others
    combined = not plain and offset + limit <= COUNT_CAP + 1
    page_statement, count_statement = _statements(_Shape(dialect, driver is not None, tuple(facets), kinds, not terms, combined))
    params: dict[str, Any] = {"driver": driver, "limit": limit, "offset": offset}
    params.update({f"f_{name}": value for name, value in facets.items()})
    for n, (kind, term) in enumerate(zip(kinds, others, strict=True)):
        params.update(_term_values(kind, f"t{n}", term, dialect))
    page = list(session.execute(page_statement, params).all())
    total = -1
    if combined:
        if page:
            total = int(page[0].total)
        elif offset == 0:
            total = 0
    elif len(page) < limit and (page or offset == 0):
        total = offset + len(page)  # the last page: no need to count
    if total < 0:
        total = int(session.scalar(count_statement, params) or 0)
    hits: list[Hit] = []
    for row in page:
        hit = Hit(row.kind, row.Booth, row.Exhibitor, row.Zone, row.Product)
        hit.highlights = _highlights(hit, terms, language)
        hits.append(hit)
    return Results(query, terms, min(total, COUNT_CAP), total > COUNT_CAP, hits)


# --- highlighting ---------------------------------------------------------------


def _spans(value: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    norm = _normalized(value) if len(value) > 64 else normalize(value)
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
    return _highlight(value, tuple(terms))


@lru_cache(maxsize=8192)
def _highlight(value: str, terms: tuple[str, ...]) -> str:
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
    return _snippet(value, tuple(terms), width)


@lru_cache(maxsize=4096)
def _snippet(value: str, terms: tuple[str, ...], width: int) -> str:
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
    if not terms:
        return chosen, False
    if _spans(chosen, terms):
        return chosen, True
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
        desc, _ = _best(hit.product.description, terms, language, _plain)
        out["snippet"] = snippet(desc, terms)
        return out
    tagline, hit_tag = _best(b.tagline, terms, language)
    desc, hit_desc = _best(b.description, terms, language, _plain)
    out["snippet"] = snippet(desc, terms) if hit_desc or not hit_tag else highlight(tagline, terms)
    out["tagline"] = highlight(tagline, terms)
    return out
