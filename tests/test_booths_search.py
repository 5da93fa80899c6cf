"""Search: Chinese without spaces (two-character words too), Simplified ↔ Traditional, filters, highlights."""

from __future__ import annotations

from typing import Any

import pytest

from booths.exhibition import search
from booths.exhibition.search import Filters, grams, highlight, normalize
from cloudexpo.services import Services
from tests.test_booths_support import make_expo


def test_normalize_keeps_offsets_and_folds_traditional() -> None:
    text = "比亞迪新能源汽車 BYD"
    assert normalize(text) == "比亚迪新能源汽车 byd"
    assert len(normalize(text)) == len(text)


def test_grams_cover_two_character_words() -> None:
    g = grams(normalize("比亚迪新能源汽车展台 5G tv"))
    assert {"汽车", "能源", "展台", "台", "5g", "tv"} <= g


def test_highlight_escapes_html_and_marks_matches() -> None:
    out = highlight("<b>汽車</b> & 汽车", ["汽车"])
    assert out == "&lt;b&gt;<mark>汽車</mark>&lt;/b&gt; &amp; <mark>汽车</mark>"


async def _numbers(services: Services, q: str, filters: Filters | None = None, language: str = "zh-Hans") -> list[str]:
    results = await search.search(services.db, q, filters, language=language)
    return [h.booth.number for h in results.hits]


async def test_two_character_query_finds_inside_words(services: Services) -> None:
    await make_expo(services)
    assert await _numbers(services, "汽车") == ["1A-001"]
    assert await _numbers(services, "轿车") == ["1A-001"]  # its product 纯电动轿车


@pytest.mark.parametrize(("query", "expected"), [
    ("汽车", "1A-001"),        # 2 chars, Simplified, in 比亚迪新能源汽车展台
    ("汽車", "1A-001"),        # 2 chars, Traditional query, Simplified text
    ("新能源汽车", "1A-001"),  # ≥ 3 chars (FTS5 trigram / pg_trgm)
    ("茶叶", "1A-002"),        # Simplified query, text only in Traditional (茶葉)
    ("蒙顶山", "1A-002"),      # ≥ 3 chars, Simplified query, Traditional text
    ("byd", "1A-001"),         # English, case-insensitive
    ("vehicles", "1A-001"),
    ("四川", "1A-002"),        # region names are searchable
])
async def test_finds(services: Services, query: str, expected: str) -> None:
    await make_expo(services)
    found = await _numbers(services, query)
    assert expected in found


async def test_every_term_must_match(services: Services) -> None:
    await make_expo(services)
    assert await _numbers(services, "byd vehicles") == ["1A-001"]      # two long terms (one FTS MATCH on SQLite)
    assert await _numbers(services, "byd 蒙顶山") == []                  # each matches another booth
    assert await _numbers(services, "比亚迪 汽车 energy") == ["1A-001"]  # long, two-character and Latin terms
    assert await _numbers(services, "汽车 茶叶") == []


async def test_unpublished_and_hidden_booths_are_never_found(services: Services) -> None:
    await make_expo(services)
    assert await _numbers(services, "展台") == ["1A-001", "1A-002"]  # 展臺 folds to 展台
    assert await _numbers(services, "隐藏") == []
    assert await _numbers(services, "未发布") == []


async def test_filters(services: Services) -> None:
    expo = await make_expo(services)
    assert set(await _numbers(services, "", Filters(has_video=True))) == {"1A-002"}
    assert set(await _numbers(services, "", Filters(has_products=True))) == {"1A-001"}
    assert set(await _numbers(services, "", Filters(has_products=False))) == {"1A-002"}
    assert set(await _numbers(services, "", Filters(region="sichuan"))) == {"1A-002"}
    assert set(await _numbers(services, "", Filters(industry="new-energy-vehicles"))) == {"1A-001"}
    assert await _numbers(services, "", Filters(zone_id=expo.zones["regional"])) == []
    assert await _numbers(services, "汽车", Filters(region="sichuan")) == []


async def test_two_character_postings_follow_changes_made_anywhere(services: Services) -> None:
    """The postings carry their booth's facets and rank: triggers keep them in step with plain UPDATEs/INSERTs."""
    from sqlalchemy import update

    from booths.exhibition.models import Booth, Exhibitor, Product

    expo = await make_expo(services)
    byd = expo.booths["1A-001"]
    assert await _numbers(services, "汽车", Filters(region="sichuan")) == []
    async with services.db.session() as session:
        await session.execute(update(Exhibitor).where(Exhibitor.id == expo.exhibitors["1A-001"]).values(region="sichuan"))
        await session.execute(update(Booth).where(Booth.id == byd).values(has_video=True, zone_id=expo.zones["regional"]))
        await session.commit()
    assert await _numbers(services, "汽车", Filters(region="sichuan", has_video=True)) == ["1A-001"]
    assert await _numbers(services, "汽车", Filters(zone_id=expo.zones["regional"])) == ["1A-001"]
    assert await _numbers(services, "汽车", Filters(zone_id=expo.zones["innovation"])) == []
    # 1A-002 has no products; one added with a plain INSERT makes it match "has products".
    assert "1A-002" not in await _numbers(services, "展台", Filters(has_products=True))
    async with services.db.session() as session:
        session.add(Product(booth_id=expo.booths["1A-002"], name={"zh-Hans": "绿茶"}, description={}, specifications=[], position=0))
        await session.commit()
    assert "1A-002" in await _numbers(services, "展台", Filters(has_products=True))
    # Unpublished: gone from two-character results at once; published again: back.
    async with services.db.session() as session:
        await session.execute(update(Booth).where(Booth.id == byd).values(published=False))
        await session.commit()
    assert await _numbers(services, "汽车") == []
    async with services.db.session() as session:
        await session.execute(update(Booth).where(Booth.id == byd).values(published=True))
        await session.commit()
    assert await _numbers(services, "汽车") == ["1A-001"]


async def test_index_follows_edits(services: Services, make_user: Any) -> None:
    from booths.exhibition import editing
    from booths.exhibition.models import Booth
    from cloudexpo.accounts import Role
    from cloudexpo.permissions import Principal

    expo = await make_expo(services)
    who = Principal(user_id=1, role=Role.MODERATOR)
    async with services.db.session() as session:
        booth = await session.get(Booth, expo.booths["1A-001"])
        assert booth is not None
        await editing.update_booth(session, who, booth, {"tagline": {"zh-Hans": "智能座舱"}})
        await session.commit()
    assert "1A-001" in await _numbers(services, "座舱")
    assert "1A-001" in await _numbers(services, "智能座艙")


async def test_api_highlights_are_escaped(client: Any, services: Services) -> None:
    await make_expo(services)
    response = await client.get("/api/search", params={"q": "汽車"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] >= 1
    first = body["results"][0]
    assert "<mark>汽车</mark>" in first["highlights"]["booth_name"]
    response = await client.get("/api/search", params={"q": "汽車", "lang": "zh-Hant"})
    assert "<mark>汽車</mark>" in response.json()["results"][0]["highlights"]["booth_name"]


async def test_search_page_and_bad_filters(client: Any, services: Services) -> None:
    await make_expo(services)
    page = await client.get("/search", params={"q": "汽车"})
    assert page.status_code == 200
    assert "<mark>汽车</mark>" in page.text
    bad = await client.get("/api/search", params={"q": "x", "has_video": "maybe"})
    assert bad.status_code == 422 and bad.json()["field"] == "has_video"
    bad = await client.get("/api/search", params={"zone": "nowhere"})
    assert bad.status_code == 422 and bad.json()["field"] == "zone"
