"""The seed exhibition: "Light of Quality" in halls 1 and 2, with 242 booths.

Run by ``cloudexpo demo`` (through :func:`cloudexpo.app.seed_demo`); safe to
run again: halls, zones and booths are found by their codes and numbers,
media are added only to booths that have none, demo accounts only when
missing. Pictures, videos and PDFs are generated here (Pillow, PyAV) and
stored through the configured object store, so the demo works on S3 too.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.exhibition import search
from booths.exhibition.applications import booth_slot
from booths.exhibition.catalog import INDUSTRIES
from booths.exhibition.models import Application, Booth, Exhibitor, Hall, Product, Zone
from booths.exhibition.text import to_traditional
from booths.media.models import Asset
from booths.media.processing import create_asset_from_bytes
from booths.seed.data import (
    BRANDS,
    CITIES,
    GEO,
    HALLS,
    INDUSTRY_WORDS,
    INSTITUTIONS,
    PREFACE,
    REGIONAL,
    ZONES,
)
from booths.seed.media import banner_jpeg, brochure_pdf, drawable, logo_png, video_mp4
from booths.seed.meetings import seed_meetings
from cloudexpo import accounts
from cloudexpo.accounts import Role

if TYPE_CHECKING:
    from cloudexpo.services import Services
    from cloudexpo.storage import ObjectStore

log = logging.getLogger(__name__)

INNOVATION_MIX = (
    ("heavy-equipment", 25), ("new-energy-vehicles", 20), ("home-appliances", 20),
    ("consumer-electronics", 20), ("services", 15), ("food-agriculture", 10),
)
DEMO_EXHIBITORS = ("1A-001", "1A-026", "2D-001")
DEMO_APPLICANTS = (
    ("applicant1@demo.cloudexpo", "成都蓉城精密仪器有限公司", "Chengdu Rongcheng Precision Instruments Co., Ltd.", "sichuan", "heavy-equipment", "innovation"),
    ("applicant2@demo.cloudexpo", "眉山东坡泡菜产业协会", "Meishan Dongpo Pickle Industry Association", "sichuan", "geographical-indication", "geo-indication"),
    ("applicant3@demo.cloudexpo", "重慶山城智能家電有限公司", "Chongqing Shancheng Smart Appliances Co., Ltd.", "chongqing", "home-appliances", "innovation"),
)


@dataclass
class Plan:
    """One booth to create: its zone, exhibitor and texts."""

    zone: str
    name_hans: str
    name_en: str
    exhibitor_hans: str
    exhibitor_en: str
    region: str
    industry: str
    tagline_hans: str
    tagline_en: str
    products: list[tuple[str, str, list[tuple[str, str, str]]]] = field(default_factory=list)


def _localized(hans: str, en: str) -> dict[str, str]:
    return {"zh-Hans": hans, "zh-Hant": to_traditional(hans), "en": en}


def plans() -> list[Plan]:
    """Every booth of the seed, always in the same order (deterministic)."""
    rng = random.Random(2023)
    out: list[Plan] = []
    for hans, en, region, industry in PREFACE:
        out.append(Plan("preface", hans, en, hans, en, region, industry, "质量强国建设成果展示", "Building a country of quality"))
    used: set[str] = set()
    for industry, count in INNOVATION_MIX:
        noun_h, noun_e, tag_h, tag_e, products = INDUSTRY_WORDS[industry]
        for _ in range(count):
            while True:
                city = rng.choice(CITIES[:9] if rng.random() < 0.55 else CITIES)
                brand = rng.choice(BRANDS)
                if city[0] + brand[0] not in used:
                    used.add(city[0] + brand[0])
                    break
            picked = rng.sample(list(products), rng.randint(2, min(5, len(products))))
            out.append(Plan(
                "innovation", f"{brand[0]}{noun_h}", f"{brand[1]} {noun_e}",
                f"{city[0]}{brand[0]}{noun_h}有限公司", f"{city[1]} {brand[1]} {noun_e} Co., Ltd.",
                city[2], industry, tag_h, tag_e,
                [(f"{brand[0]}{p[0]}", f"{brand[1]} {p[1].lower()}", list(p[2])) for p in picked],
            ))
    for city_h, city_e, region, item_h, item_e in REGIONAL:
        industry = "food-agriculture" if any(w in item_e for w in ("Tea", "Pickles", "Baijiu", "Zhacai", "Seafood", "Foods", "Wine", "Milk", "Noodles", "Produce", "Luosifen", "Cuisine")) else "services"
        regional_products = [
            (f"{city_h}{item_h}精选", f"{city_e} {item_e.lower()} selection", [("产地", "Origin", city_e)]),
            (f"{city_h}{item_h}品牌服务", f"{city_e} {item_e.lower()} brand services", [("服务", "Service", "B2B")]),
        ][: rng.randint(1, 2)]
        out.append(Plan(
            "regional", f"{city_h}{item_h}", f"{city_e} {item_e}",
            f"{city_h}{item_h}区域公用品牌", f"{city_e} {item_e} Regional Brand", region, industry,
            f"{city_h}好品质，{item_h}新名片", f"{city_e}: {item_e.lower()} you can trust",
            regional_products,
        ))
    for i, (hans, en) in enumerate(INSTITUTIONS):
        region = "sichuan" if i % 3 == 0 else rng.choice(["beijing", "sichuan", "shanghai", "guangdong", "chongqing"])
        services = [
            ("检验检测服务", "Testing services", [("资质", "Accreditation", "CNAS / CMA")]),
            ("计量校准服务", "Calibration services", [("不确定度", "Uncertainty", "k=2")]),
            ("标准化咨询", "Standardisation consulting", [("标准", "Standards", "GB / ISO / IEC")]),
            ("认证服务", "Certification", [("范围", "Scope", "ISO 9001 / 14001 / 45001")]),
        ]
        out.append(Plan(
            "institutions", hans, en, hans, en, region, "quality-institutions",
            "强化质量基础，赋能现代产业", "Quality infrastructure for modern industry",
            rng.sample(services, rng.randint(2, 3)),
        ))
    for hans, en, region in GEO:
        out.append(Plan(
            "geo-indication", hans, en.capitalize(), f"{hans}地理标志产品保护协会", f"{en.capitalize()} GI Protection Association",
            region, "geographical-indication", "地理标志保护产品，原产地品质", "Protected geographical indication, quality from its origin",
            [
                (f"{hans}（特级）", f"{en} (premium grade)", [("等级", "Grade", "特级 / Premium")]),
                (f"{hans}礼盒", f"{en} gift box", [("规格", "Package", "2 kg")]),
                (f"{hans}溯源服务", f"{en} traceability", [("溯源", "Traceability", "QR code")]),
            ][: rng.randint(2, 3)],
        ))
    return out


def _description(plan: Plan) -> dict[str, str]:
    industry = INDUSTRIES[plan.industry]
    products_h = "、".join(p[0] for p in plan.products[:3]) or "质量工作成果"
    products_e = ", ".join(p[1] for p in plan.products[:3]) or "its quality achievements"
    hans = (
        f"<p><strong>{plan.exhibitor_hans}</strong>坚持“质量第一、效益优先”，建立覆盖研发、制造、服务全过程的质量管理体系，"
        f"持续推进质量变革、效率变革、动力变革。</p>"
        f"<p>本次“质量之光”成果展，展台集中展示{products_h}等新技术、新产品，欢迎观众在线参观、洽谈合作。</p>"
        f"<ul><li>行业：{industry['zh-Hans']}</li><li>质量管理体系：ISO 9001</li></ul>"
    )
    en = (
        f"<p><strong>{plan.exhibitor_en}</strong> puts quality first, with a quality-management system covering research, "
        f"manufacturing and service.</p>"
        f"<p>At Light of Quality the booth shows {products_e} — tour it online and get in touch.</p>"
        f"<ul><li>Industry: {industry['en']}</li><li>Quality management: ISO 9001</li></ul>"
    )
    return {"zh-Hans": hans, "zh-Hant": to_traditional(hans), "en": en}


# --- the seed ---------------------------------------------------------------------------------


async def _halls_and_zones(session: AsyncSession) -> dict[str, Zone]:
    halls: dict[str, Hall] = {h.code: h for h in (await session.scalars(select(Hall))).all()}
    for position, (code, hans, en, x, y, w, h) in enumerate(HALLS):
        if code not in halls:
            hall = Hall(code=code, name=_localized(hans, en), description={}, position=position, map_x=x, map_y=y, map_w=w, map_h=h)
            session.add(hall)
            halls[code] = hall
    await session.flush()
    zones: dict[str, Zone] = {z.slug: z for z in (await session.scalars(select(Zone))).all()}
    for position, (slug, code, hall_code, kind, hans, en, colour, x, y, w, h, desc_h, desc_e) in enumerate(ZONES):
        if slug not in zones:
            zone = Zone(
                hall_id=halls[hall_code].id, slug=slug, code=code, kind=kind, name=_localized(hans, en),
                description=_localized(desc_h, desc_e), color=colour, position=position,
                map_x=x, map_y=y, map_w=w, map_h=h,
            )
            session.add(zone)
            zones[slug] = zone
    await session.flush()
    return zones


async def _booths(session: AsyncSession, zones: dict[str, Zone]) -> list[int]:
    """Create the booths that are not there yet; returns the new booth ids."""
    existing = set((await session.scalars(select(Booth.number))).all())
    per_zone: dict[str, int] = {}
    created: list[tuple[Booth, Plan]] = []
    featured_industries: set[str] = set()
    for plan in plans():
        zone = zones[plan.zone]
        index = per_zone.get(plan.zone, 0)
        per_zone[plan.zone] = index + 1
        number, x, y = booth_slot(zone, index)
        if number in existing:
            continue
        exhibitor = Exhibitor(name=_localized(plan.exhibitor_hans, plan.exhibitor_en), region=plan.region, industry=plan.industry, website="")
        session.add(exhibitor)
        await session.flush()
        featured = plan.zone != "preface" and plan.industry not in featured_industries
        featured_industries.add(plan.industry)
        booth = Booth(
            number=number, zone_id=zone.id, exhibitor_id=exhibitor.id,
            name=_localized(plan.name_hans, plan.name_en), tagline=_localized(plan.tagline_hans, plan.tagline_en),
            description=_description(plan), published=True, hidden=False, hidden_reason="",
            featured=featured or number in ("1P-001", "1P-002"), has_video=False, map_x=x, map_y=y,
        )
        session.add(booth)
        created.append((booth, plan))
    await session.flush()
    for booth, plan in created:
        for position, (p_hans, p_en, specs) in enumerate(plan.products):
            desc_h = f"<p>{p_hans}：{plan.exhibitor_hans}质量创新成果，严格执行国家标准，全过程质量追溯。</p>"
            desc_e = f"<p>{p_en[:1].upper() + p_en[1:]} from {plan.exhibitor_en}: built to national standards, traceable at every step.</p>"
            session.add(Product(
                booth_id=booth.id, name=_localized(p_hans, p_en[:1].upper() + p_en[1:]),
                description={"zh-Hans": desc_h, "zh-Hant": to_traditional(desc_h), "en": desc_e},
                specifications=[{"label": _localized(lh, le), "value": v} for lh, le, v in specs],
                position=position,
            ))
    await session.flush()
    return [b.id for b, _ in created]


def _banners(booth: Booth, zone: Zone, per_language: bool) -> list[tuple[str | None, bytes]]:
    """(language or None for every page, JPEG) of a booth's banners.

    Every booth gets one banner for all pages: its Chinese name with the English
    one under it. The demo exhibitors' booths (``per_language``) have one per language instead,
    as an exhibitor with localised artwork would. Without a CJK font on this
    machine the banners show the English name and tagline only.
    """
    name_en = booth.name.get("en") or booth.number
    tagline_en = booth.tagline.get("en", "")
    name_zh = booth.name.get("zh-Hans", "")
    if not drawable(name_zh):
        return [(None, banner_jpeg(name_en, tagline_en, booth.id, zone.color))]
    if not per_language:
        return [(None, banner_jpeg(name_zh, name_en, booth.id, zone.color, "zh-Hans"))]
    return [
        (language, banner_jpeg(booth.name.get(language) or name_en, booth.tagline.get(language) or tagline_en,
                               booth.id, zone.color, language))
        for language in ("zh-Hans", "zh-Hant", "en")
    ]


async def _media(session: AsyncSession, store: ObjectStore) -> int:
    """Logo and banner(s) for every booth without a logo; a video and a PDF for about one in ten."""
    have = set((await session.scalars(select(Asset.booth_id).where(Asset.kind == "logo"))).all())
    rows = (await session.execute(
        select(Booth, Zone).join(Zone, Zone.id == Booth.zone_id).order_by(Booth.id)
    )).all()
    videos: list[bytes] = []
    made = 0
    for i, (booth, zone) in enumerate(rows):
        if booth.id in have:
            continue
        name_en = booth.name.get("en") or booth.number
        common: dict[str, Any] = {"exhibitor_id": booth.exhibitor_id, "booth_id": booth.id}
        await create_asset_from_bytes(
            session, store, kind="logo", data=logo_png(name_en, booth.id, booth.name.get("zh-Hans", "")), filename="logo.png",
            title={"en": f"{name_en} logo"}, **common,
        )
        for language, banner in _banners(booth, zone, per_language=booth.number in DEMO_EXHIBITORS):
            await create_asset_from_bytes(
                session, store, kind="banner", data=banner, filename=f"banner-{language or 'all'}.jpg",
                title=dict(booth.name), language=language, **common,
            )
        if i % 10 == 3:
            if len(videos) < 2:
                videos.append(video_mp4(len(videos) + 1))
            await create_asset_from_bytes(
                session, store, kind="video", data=videos[i % len(videos)], filename="launch.mp4",
                title=_localized("新品发布短片", "Launch film"), **common,
            )
            await create_asset_from_bytes(
                session, store, kind="document", data=brochure_pdf(name_en, booth.id, booth.name.get("zh-Hans", "")),
                filename="brochure.pdf",
                title=_localized("产品手册", "Product brochure"), **common,
            )
        made += 1
        if made % 40 == 0:
            await session.commit()
    return made


async def _accounts(session: AsyncSession, password: str, zones: dict[str, Zone]) -> list[tuple[str, str]]:
    logins: list[tuple[str, str]] = []
    for n, number in enumerate(DEMO_EXHIBITORS, start=1):
        email = f"exhibitor{n}@demo.cloudexpo"
        booth = await session.scalar(select(Booth).where(Booth.number == number))
        if booth is None:
            continue
        if await session.scalar(select(accounts.User.id).where(accounts.User.email == email)) is None:
            await accounts.create_user(
                session, email, password, display_name=f"展商 Exhibitor {n}", role=Role.EXHIBITOR, exhibitor_id=booth.exhibitor_id
            )
        logins.append((Role.EXHIBITOR.value, email))
    for email, org, org_en, region, industry, zone_slug in DEMO_APPLICANTS:
        user_id = await session.scalar(select(accounts.User.id).where(accounts.User.email == email))
        if user_id is None:
            user = await accounts.create_user(session, email, password, display_name=org_en.split(" Co.")[0], role=Role.VISITOR)
            session.add(Application(
                user_id=user.id, organisation=org, organisation_en=org_en, region=region, industry=industry,
                zone_id=zones[zone_slug].id, description=f"{org}申请参加“质量之光”成果展，展示质量创新成果。",
                contact_name="张经理", contact_phone="+86 28 8888 6666", contact_email=email, state="pending",
            ))
        logins.append((Role.VISITOR.value, email))
    await session.flush()
    return logins


async def seed_exhibition(services: Services, password: str) -> list[tuple[str, str]]:
    """Create what is missing of the seed exhibition; returns the demo logins it added (role, e-mail)."""
    started = time.monotonic()
    async with services.db.session() as session:
        zones = await _halls_and_zones(session)
        new_ids = await _booths(session, zones)
        await search.refresh_booths(session, new_ids)
        logins = await _accounts(session, password, zones)
        logins += await seed_meetings(session, password, services.settings.timezone)
        await session.commit()
        made = await _media(session, services.store)
        await session.commit()
        total = await session.scalar(select(func.count(Booth.id)))
    log.info("seed: %d booths (%d new), media for %d, in %.1f s", total or 0, len(new_ids), made, time.monotonic() - started)
    return logins
