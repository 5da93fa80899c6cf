"""A small exhibition for the booths tests (the full seed is tested on its own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from booths.exhibition import search
from booths.exhibition.models import Booth, Exhibitor, Product
from booths.seed.exhibition import _halls_and_zones
from cloudexpo.services import Services


@dataclass
class Expo:
    zones: dict[str, int]
    booths: dict[str, int]  # number -> id
    exhibitors: dict[str, int]  # number -> exhibitor id
    products: dict[str, int]


BOOTHS: list[dict[str, Any]] = [
    {"number": "1A-001", "zone": "innovation", "industry": "new-energy-vehicles", "region": "guangdong",
     "name": {"zh-Hans": "比亚迪新能源汽车展台", "zh-Hant": "比亞迪新能源汽車展台", "en": "BYD New Energy Vehicles"},
     "exhibitor": {"zh-Hans": "比亚迪股份有限公司", "en": "BYD Company Ltd."},
     "tagline": {"zh-Hans": "绿色出行", "en": "Green mobility"}, "published": True, "has_video": False,
     "products": [{"zh-Hans": "纯电动轿车", "en": "Battery-electric saloon"}]},
    {"number": "1A-002", "zone": "innovation", "industry": "food-agriculture", "region": "sichuan",
     "name": {"zh-Hant": "蒙頂山茶葉展臺"}, "exhibitor": {"zh-Hant": "雅安蒙頂山茶業有限公司"},
     "tagline": {}, "published": True, "has_video": True, "products": [], "description": {"zh-Hant": "<p>品質第一</p>"}},
    {"number": "1A-003", "zone": "innovation", "industry": "home-appliances", "region": "sichuan",
     "name": {"zh-Hans": "未发布的家电展台", "en": "Unpublished appliances"}, "exhibitor": {"zh-Hans": "草稿电器"},
     "tagline": {}, "published": False, "has_video": False, "products": []},
    {"number": "2B-001", "zone": "regional", "industry": "services", "region": "chongqing",
     "name": {"zh-Hans": "被隐藏的展台", "en": "Hidden booth"}, "exhibitor": {"zh-Hans": "隐藏公司"},
     "tagline": {}, "published": True, "hidden": True, "has_video": False, "products": []},
]


async def make_expo(services: Services) -> Expo:
    async with services.db.session() as session:
        zones = await _halls_and_zones(session)
        expo = Expo({slug: z.id for slug, z in zones.items()}, {}, {}, {})
        for spec in BOOTHS:
            exhibitor = Exhibitor(name=spec["exhibitor"], region=spec["region"], industry=spec["industry"], website="")
            session.add(exhibitor)
            await session.flush()
            booth = Booth(
                number=spec["number"], zone_id=zones[spec["zone"]].id, exhibitor_id=exhibitor.id, name=spec["name"],
                tagline=spec["tagline"], description=spec.get("description", {"zh-Hans": "<p>质量第一</p>", "en": "<p>Quality first</p>"}),
                published=spec["published"], hidden=spec.get("hidden", False), hidden_reason="", featured=True,
                has_video=spec["has_video"], map_x=30, map_y=240,
            )
            session.add(booth)
            await session.flush()
            for name in spec["products"]:
                product = Product(booth_id=booth.id, name=name, description={}, specifications=[], position=0)
                session.add(product)
                await session.flush()
                expo.products[spec["number"]] = product.id
            expo.booths[spec["number"]] = booth.id
            expo.exhibitors[spec["number"]] = exhibitor.id
        await search.refresh_booths(session, list(expo.booths.values()))
        await session.commit()
    return expo
