"""Recommendations: "booths like this" on booth pages and "for you" on the home page, each explained."""

from __future__ import annotations

from typing import Any

from booths.exhibition import search
from booths.exhibition.models import Booth, Exhibitor
from cloudexpo.services import Services
from tests.test_booths_support import Expo, make_expo

MORE = [
    # number, zone, industry, name, published, hidden
    ("2B-002", "regional", "new-energy-vehicles", {"zh-Hans": "长安新能源展台", "zh-Hant": "長安新能源展台", "en": "Changan EV"},
     True, False),
    ("2B-003", "regional", "food-agriculture", {"zh-Hans": "涪陵榨菜展台", "en": "Fuling pickles"}, True, False),
    ("2B-004", "regional", "new-energy-vehicles", {"zh-Hans": "隐藏的汽车展台", "en": "Hidden cars"}, True, True),
]


async def _expo(services: Services) -> Expo:
    expo = await make_expo(services)
    async with services.db.session() as session:
        for number, zone, industry, name, published, hidden in MORE:
            exhibitor = Exhibitor(name=name, region="chongqing", industry=industry, website="")
            session.add(exhibitor)
            await session.flush()
            booth = Booth(number=number, zone_id=expo.zones[zone], exhibitor_id=exhibitor.id, name=name, tagline={},
                          description={}, published=published, hidden=hidden, hidden_reason="", featured=False,
                          has_video=False, map_x=0, map_y=0)
            session.add(booth)
            await session.flush()
            expo.booths[number] = booth.id
        await search.refresh_booths(session, list(expo.booths.values()))
        await session.commit()
    return expo


async def test_booths_like_this_share_industry_or_zone_and_say_so(client: Any, services: Services) -> None:
    expo = await _expo(services)
    r = await client.get(f"/api/booths/{expo.booths['1A-001']}/similar?lang=zh-Hant")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    # same industry (2B-002) before same zone (1A-002); never unpublished, hidden, unrelated or itself
    assert [i["number"] for i in items] == ["2B-002", "1A-002"]
    assert items[0]["reasons"][0] == {"kind": "same_industry", "industry": "new-energy-vehicles", "because_booth": None,
                                      "text": "同屬新能源汽車"}
    assert items[1]["reasons"][0]["text"] == "同在質量管理創新企業"
    assert (await client.get(f"/api/booths/{expo.booths['1A-001']}/similar?limit=1")).json()["items"][0]["number"] == "2B-002"

    # the booth page (cached whole for the anonymous) explains in each visitor's language
    for lang, title, why in (("zh-Hans", "相似展台", "同属新能源汽车"), ("en", "Booths like this", "Also New-energy vehicles"),
                             ("zh-Hant", "相似展台", "同屬新能源汽車"), ("zh-Hans", "相似展台", "同属新能源汽车")):
        page = await client.get(f"/booths/1A-001?lang={lang}")
        assert page.status_code == 200
        assert title in page.text and why in page.text and "/booths/2B-002" in page.text
        assert "/booths/2B-004" not in page.text and "/booths/1A-003" not in page.text


async def test_similar_refusals(client: Any, services: Services) -> None:
    expo = await _expo(services)
    for url, status in ((f"/api/booths/{expo.booths['1A-003']}/similar", 404),  # unpublished: not for visitors
                        ("/api/booths/999999/similar", 404),
                        (f"/api/booths/{expo.booths['1A-001']}/similar?limit=0", 400),
                        (f"/api/booths/{expo.booths['1A-001']}/similar?limit=x", 400)):
        r = await client.get(url)
        assert r.status_code == status, (url, r.text)


async def test_for_you_comes_from_bookmarks_and_explains(signed_in: Any, client: Any, services: Services) -> None:
    expo = await _expo(services)
    assert (await client.get("/api/recommendations")).status_code == 401
    home = await client.get("/?lang=en")
    assert home.status_code == 200 and "For you" not in home.text

    visitor = await signed_in("visitor")
    assert (await visitor.get("/api/recommendations")).json()["items"] == []
    assert "For you" not in (await visitor.get("/?lang=en")).text

    # a bookmarked product counts as its booth
    r = await visitor.post("/api/bookmarks", json={"kind": "product", "id": expo.products["1A-001"]})
    assert r.status_code == 201, r.text
    items = (await visitor.get("/api/recommendations?lang=zh-Hans")).json()["items"]
    assert [i["number"] for i in items] == ["2B-002", "1A-002"]
    assert items[0]["reasons"][0]["text"] == "因为您收藏了比亚迪新能源汽车展台：同属新能源汽车"
    assert items[0]["reasons"][0]["because_booth"] == "1A-001"
    assert items[1]["reasons"][0]["text"] == "因为您收藏了比亚迪新能源汽车展台：同在质量管理创新企业"

    home = await visitor.get("/?lang=zh-Hant")
    assert "為您推薦" in home.text and "因為您收藏了比亞迪新能源汽車展台：同屬新能源汽車" in home.text

    # a bookmarked booth is never suggested; 2B-003 now shares 1A-002's industry
    await visitor.post("/api/bookmarks", json={"kind": "booth", "id": expo.booths["1A-002"]})
    items = (await visitor.get("/api/recommendations?lang=en")).json()["items"]
    numbers = [i["number"] for i in items]
    assert "1A-002" not in numbers and "1A-001" not in numbers
    assert numbers == ["2B-002", "2B-003"]
    assert [i["score"] for i in items] == [2, 2]  # each shares an industry with one bookmarked booth
    assert items[1]["reasons"][0]["text"] == "Because you bookmarked 蒙頂山茶葉展臺: also Food and agriculture"
