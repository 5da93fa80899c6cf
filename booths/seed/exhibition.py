"""The seed exhibition: "Light of Quality" in halls 1 and 2, with 242 booths.

Run by ``cloudexpo demo`` (through :func:`cloudexpo.app.seed_demo`); safe to
run again: halls, zones and booths are found by their codes and numbers,
media are added only to booths that have none, demo accounts only when
missing. Pictures, videos and PDFs are generated here (Pillow, PyAV) and
stored through the configured object store, so the demo works on S3 too.
"""

from __future__ import annotations

import colorsys
import io
import logging
import random
import tempfile
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


# --- generated media --------------------------------------------------------------------


def _colour(seed: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((seed * 0.137) % 1.0, 0.62, 0.72)
    return int(r * 255), int(g * 255), int(b * 255)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def initials(name_en: str) -> str:
    words = [w for w in name_en.replace("-", " ").split() if w[:1].isalnum() and w.lower() not in {"of", "and", "the", "co.,", "ltd.", "for"}]
    return "".join(w[0] for w in words[:2]).upper() or "CX"


def logo_png(name_en: str, seed: int) -> bytes:
    from PIL import Image, ImageDraw

    size = 240
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    colour = _colour(seed)
    draw.rounded_rectangle((8, 8, size - 8, size - 8), radius=48, fill=colour)
    draw.ellipse((size - 90, -30, size + 30, 90), fill=tuple(min(255, c + 50) for c in colour))
    draw.text((size / 2, size / 2 + 6), initials(name_en), fill=(255, 255, 255), font=_font(104), anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _fit(draw: Any, text: str, size: int, width: int, smallest: int, max_lines: int = 2) -> tuple[list[str], Any]:
    """``text`` on one line, or on two, in the largest font down to ``smallest`` where each line is at most ``width`` wide."""
    words = text.split()
    for lines_allowed in range(1, max_lines + 1):
        for px in range(size, smallest - 1, -2):
            font = _font(px)
            if lines_allowed == 1 and draw.textlength(text, font=font) <= width:
                return [text], font
            if lines_allowed == 2:
                for cut in range(len(words) // 2, len(words)):  # the most even split that fits
                    first, second = " ".join(words[:cut] or words[:1]), " ".join(words[cut:] if cut else words[1:])
                    if max(draw.textlength(first, font=font), draw.textlength(second, font=font)) <= width:
                        return [first, second], font
    font = _font(smallest)
    while len(text) > 4 and draw.textlength(text, font=font) > width:
        text = text[:-2].rstrip() + "…"
    return [text], font


def banner_jpeg(name_en: str, tagline_en: str, seed: int, zone_colour: str) -> bytes:
    """A 3:1 banner whose words stay in the middle: the booth page shows banners with ``object-fit: cover``.

    The text keeps to a centred safe area (the middle 60 % of the width, 70 % of
    the height) that survives cropping to any shape from 16:9 to 5:1, so a wide
    or narrow screen never cuts a name in half; the decoration fills the rest.
    """
    from PIL import Image, ImageDraw

    w, h = 1500, 500
    base = tuple(int(zone_colour[i:i + 2], 16) for i in (1, 3, 5))
    img = Image.new("RGB", (w, h), base)
    draw = ImageDraw.Draw(img)
    accent = _colour(seed)
    for i in range(5):  # stripes at both ends, outside the safe area
        x = w - 330 + i * 90
        draw.polygon([(x, h), (x + 180, 0), (x + 230, 0), (x + 50, h)], fill=tuple(min(255, c + 18 * i) for c in accent))
        x = -170 + i * 90
        draw.polygon([(x, h), (x + 180, 0), (x + 206, 0), (x + 26, h)], fill=tuple(min(255, c + 14 * i) for c in accent))
    draw.rectangle((0, h - 14, w, h), fill=(245, 183, 0))
    safe = int(w * 0.6) - 40
    name, name_font = _fit(draw, name_en, 72, safe, 44)
    tagline, tagline_font = _fit(draw, tagline_en, 36, safe, 26, max_lines=1)
    name_step, tagline_step = name_font.size * 1.15, tagline_font.size * 1.3
    top = h / 2 - (len(name) * name_step + 18 + tagline_step) / 2
    for i, line in enumerate(name):
        draw.text((w / 2, top + (i + 0.5) * name_step), line, fill=(255, 255, 255), font=name_font, anchor="mm")
    draw.text((w / 2, top + len(name) * name_step + 18 + tagline_step / 2), tagline[0], fill=(235, 240, 250), font=tagline_font, anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, optimize=True)
    return buf.getvalue()


def video_mp4(seed: int, seconds: int = 3, fps: int = 12) -> bytes:
    """A small H.264 MP4: moving colour bars and a counter (no audio)."""
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/clip.mp4"
        _encode(path, seed, seconds, fps)
        with open(path, "rb") as fh:
            return fh.read()


def _encode(path: str, seed: int, seconds: int, fps: int) -> None:
    import av
    from PIL import Image, ImageDraw

    # faststart: the index first, so browsers start playing before the end arrives
    with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        colour = _colour(seed)
        for n in range(seconds * fps):
            img = Image.new("RGB", (320, 180), (11, 37, 69))
            draw = ImageDraw.Draw(img)
            offset = (n * 8) % 320
            for i in range(6):
                x = (offset + i * 64) % 384 - 64
                draw.rectangle((x, 40, x + 40, 140), fill=tuple(min(255, c + 20 * i) for c in colour))
            draw.text((12, 8), f"Light of Quality  {n // fps + 1}s", fill=(245, 183, 0), font=_font(18))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def brochure_pdf(name_en: str, seed: int) -> bytes:
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (595, 842), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 595, 160), fill=_colour(seed))
    draw.text((40, 60), name_en[:30], fill=(255, 255, 255), font=_font(30))
    draw.text((40, 200), "Product brochure - Light of Quality 2023", fill=(20, 30, 50), font=_font(20))
    for i in range(8):
        draw.rectangle((40, 260 + i * 60, 555, 290 + i * 60), fill=(230, 234, 242))
    buf = io.BytesIO()
    page.save(buf, "PDF", resolution=72.0)
    return buf.getvalue()


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


async def _media(session: AsyncSession, store: ObjectStore) -> int:
    """Logo and banner for every booth without a logo; a video and a PDF for about one in ten."""
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
        tagline_en = booth.tagline.get("en", "")
        common = {"exhibitor_id": booth.exhibitor_id, "booth_id": booth.id}
        await create_asset_from_bytes(
            session, store, kind="logo", data=logo_png(name_en, booth.id), filename="logo.png",
            title={"en": f"{name_en} logo"}, **common,
        )
        await create_asset_from_bytes(
            session, store, kind="banner", data=banner_jpeg(name_en, tagline_en, booth.id, zone.color),
            filename="banner.jpg", title={"en": name_en}, **common,
        )
        if i % 10 == 3:
            if len(videos) < 2:
                videos.append(video_mp4(len(videos) + 1))
            await create_asset_from_bytes(
                session, store, kind="video", data=videos[i % len(videos)], filename="launch.mp4",
                title=_localized("新品发布短片", "Launch film"), **common,
            )
            await create_asset_from_bytes(
                session, store, kind="document", data=brochure_pdf(name_en, booth.id), filename="brochure.pdf",
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
