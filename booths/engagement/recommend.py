"""Recommendations: "booths like this" on a booth page and "for you" on the home page.

Both come from what the exhibition already knows — a booth's zone and its
exhibitor's industry — and, for "for you", from what the visitor bookmarked
(booths, booths they follow, and the booths of bookmarked products). No
outside service, no profile beyond the bookmarks the visitor made: booth
visits are counted per day under a keyed hash (:mod:`booths.engagement.analytics`)
and are deliberately never tied back to a person, so they do not feed this.

Every suggestion says why it is there (:class:`Reason`), so a page can
explain it ("because you bookmarked …", "same zone as …"). Each function
costs a fixed, small number of indexed queries, whatever the exhibition's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement.models import Bookmark
from booths.exhibition.models import Booth, Exhibitor, Localized, Product, Zone
from cloudexpo.permissions import Principal

#: How much a shared industry and a shared zone count (an industry says more about a visitor's interest).
INDUSTRY_WEIGHT = 2
ZONE_WEIGHT = 1
#: How many of the visitor's latest bookmarks are read, and how many candidates are scored.
SEED_LIMIT = 30
CANDIDATE_LIMIT = 60


@dataclass(frozen=True)
class Reason:
    """Why a booth is suggested.

    ``kind`` is ``same_industry`` or ``same_zone``; ``industry`` is the shared
    industry's code and ``zone`` the shared zone's name. ``because`` is the
    name of the bookmarked booth that led here ({} on a booth page, where the
    page's own booth is the reason).
    """

    kind: str
    industry: str = ""
    zone: Localized = field(default_factory=dict)
    because: Localized = field(default_factory=dict)
    because_number: str = ""


@dataclass
class Suggestion:
    booth: Booth
    exhibitor: Exhibitor
    zone: Zone
    score: int
    reasons: list[Reason]


def _shown() -> tuple[ColumnElement[bool], ...]:
    return (Booth.published.is_(True), Booth.hidden.is_(False))


def _reasons(candidate: tuple[Booth, Exhibitor, Zone], seed: tuple[Booth, Exhibitor, Zone], *,
             named: bool) -> list[Reason]:
    booth, exhibitor, zone = candidate
    because = seed[0].name if named else {}
    number = seed[0].number if named else ""
    out: list[Reason] = []
    if exhibitor.industry and exhibitor.industry == seed[1].industry:
        out.append(Reason("same_industry", industry=exhibitor.industry, because=because, because_number=number))
    if booth.zone_id == seed[0].zone_id:
        out.append(Reason("same_zone", zone=zone.name, because=because, because_number=number))
    return out


def _score(reasons: list[Reason]) -> int:
    return sum(INDUSTRY_WEIGHT if r.kind == "same_industry" else ZONE_WEIGHT for r in reasons)


async def similar_booths(session: AsyncSession, booth: Booth, exhibitor: Exhibitor, zone: Zone, *,
                         limit: int = 4) -> list[Suggestion]:
    """Visible booths like ``booth``: same industry first, then same zone; nearest on the floor map first.

    The same for every visitor (so a cached booth page may keep it); one query.
    """
    score = (case((Exhibitor.industry == exhibitor.industry, INDUSTRY_WEIGHT), else_=0)
             + case((Booth.zone_id == booth.zone_id, ZONE_WEIGHT), else_=0))
    nearness = case((Booth.zone_id == booth.zone_id, 0), else_=1)
    rows = (await session.execute(
        select(Booth, Exhibitor, Zone)
        .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
        .join(Zone, Zone.id == Booth.zone_id)
        .where(*_shown(), Booth.id != booth.id,
               or_(Exhibitor.industry == exhibitor.industry, Booth.zone_id == booth.zone_id))
        .order_by(score.desc(), nearness, Booth.featured.desc(), Booth.number)
        .limit(limit)
    )).all()
    seed = (booth, exhibitor, zone)
    out = []
    for row in rows:
        reasons = _reasons((row[0], row[1], row[2]), seed, named=False)
        out.append(Suggestion(row[0], row[1], row[2], _score(reasons), reasons))
    return out


async def _seed_booth_ids(session: AsyncSession, user_id: int) -> list[int]:
    """The booths behind the visitor's latest bookmarks, newest first (a product counts as its booth)."""
    marks = (await session.execute(
        select(Bookmark.kind, Bookmark.target_id)
        .where(Bookmark.user_id == user_id, Bookmark.kind.in_(("booth", "booth_live", "product")))
        .order_by(Bookmark.created_at.desc(), Bookmark.id.desc())
        .limit(SEED_LIMIT)
    )).all()
    product_ids = [target for kind, target in marks if kind == "product"]
    product_booths: dict[int, int] = {}
    if product_ids:
        rows = await session.execute(select(Product.id, Product.booth_id).where(Product.id.in_(product_ids)))
        product_booths = {pid: bid for pid, bid in rows.all()}
    ordered: list[int] = []
    for kind, target in marks:
        booth_id = product_booths.get(target) if kind == "product" else target
        if booth_id is not None and booth_id not in ordered:
            ordered.append(booth_id)
    return ordered


async def for_you(session: AsyncSession, principal: Principal, *, limit: int = 6) -> list[Suggestion]:
    """Booths for a signed-in visitor, from the zones and industries of what they bookmarked.

    A candidate's score adds up what it shares with each bookmarked booth;
    its reasons name the most recently bookmarked booth it shares the most
    with. Booths already bookmarked are not suggested. Empty for the
    anonymous and for visitors without bookmarks. Four queries.
    """
    if principal.user_id is None:
        return []
    seed_ids = await _seed_booth_ids(session, principal.user_id)
    if not seed_ids:
        return []
    seed_rows = (await session.execute(
        select(Booth, Exhibitor, Zone)
        .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
        .join(Zone, Zone.id == Booth.zone_id)
        .where(Booth.id.in_(seed_ids), *_shown())
    )).all()
    by_id = {row[0].id: (row[0], row[1], row[2]) for row in seed_rows}
    seeds = [by_id[i] for i in seed_ids if i in by_id]
    if not seeds:
        return []
    industries = {e.industry for _, e, _ in seeds if e.industry}
    zones = {b.zone_id for b, _, _ in seeds}
    candidates = (await session.execute(
        select(Booth, Exhibitor, Zone)
        .join(Exhibitor, Exhibitor.id == Booth.exhibitor_id)
        .join(Zone, Zone.id == Booth.zone_id)
        .where(*_shown(), Booth.id.not_in(seed_ids),
               or_(Exhibitor.industry.in_(industries), Booth.zone_id.in_(zones)))
        .order_by(Booth.featured.desc(), Booth.number)
        .limit(CANDIDATE_LIMIT)
    )).all()
    out: list[Suggestion] = []
    for row in candidates:
        candidate = (row[0], row[1], row[2])
        total, best, best_score = 0, [], 0
        for seed in seeds:  # newest first: on a tie the latest bookmark explains
            reasons = _reasons(candidate, seed, named=True)
            score = _score(reasons)
            total += score
            if score > best_score:
                best, best_score = reasons, score
        if best:
            out.append(Suggestion(row[0], row[1], row[2], total, best))
    out.sort(key=lambda s: (-s.score, not s.booth.featured, s.booth.number))
    return out[:limit]
