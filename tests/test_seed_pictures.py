"""Seeded banners and logos carry Chinese text when a CJK font is installed (scripts/test.sh installs
fonts-noto-cjk), fall back to Latin names when none is, and a booth page shows the banner made for
its language (a language-neutral one when there is none)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image, ImageChops
from sqlalchemy import select

from booths.exhibition.models import Booth, Zone
from booths.media.processing import create_asset_from_bytes
from booths.media.views import for_language
from booths.seed import exhibition as seed
from booths.seed import media as seed_media
from cloudexpo import fonts
from cloudexpo.services import Services
from tests.test_booths_support import make_expo


def _differs(a: bytes, b: bytes) -> bool:
    first, second = Image.open(io.BytesIO(a)).convert("RGB"), Image.open(io.BytesIO(b)).convert("RGB")
    return ImageChops.difference(first, second).getbbox() is not None


def test_chinese_text_is_drawn_with_a_cjk_font() -> None:
    assert fonts.cjk_font_path() is not None, "install fonts-noto-cjk (scripts/test.sh does)"
    # A CJK font draws each character differently; Pillow's own font draws the same box for all.
    font = fonts.font(40, "zh-Hans")
    assert fonts.glyph(font, "质") != fonts.glyph(font, "量")
    simplified = seed_media.banner_jpeg("质量之光", "产品发布", 3, "#13315c", "zh-Hans")
    traditional = seed_media.banner_jpeg("質量之光", "產品發佈", 3, "#13315c", "zh-Hant")
    assert _differs(simplified, traditional)
    logo = seed_media.logo_png("Pixian Douban", 3, "郫县豆瓣")
    assert _differs(logo, seed_media.logo_png("Pixian Douban", 3))


def test_without_a_cjk_font_the_pictures_fall_back_to_latin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "cjk_font_path", lambda: None)
    fonts.font.cache_clear()
    try:
        assert not seed_media.drawable("郫县豆瓣") and seed_media.drawable("Pixian")
        # the logo shows initials: the Chinese name is ignored rather than drawn as boxes
        assert not _differs(seed_media.logo_png("Pixian Douban", 3, "郫县豆瓣"), seed_media.logo_png("Pixian Douban", 3))
    finally:
        fonts.font.cache_clear()


def test_for_language_prefers_the_pages_language() -> None:
    zh = {"id": 1, "meta": {"language": "zh-Hans"}}
    hant = {"id": 2, "meta": {"language": "zh-Hant"}}
    common = {"id": 3, "meta": {}}
    assert [v["id"] for v in for_language([zh, hant, common], "zh-Hant")] == [2, 3]
    assert [v["id"] for v in for_language([zh, hant, common], "en")] == [3]
    assert [v["id"] for v in for_language([zh, hant], "en")] == [1, 2]  # nothing else: another language's
    assert for_language([], "en") == []


async def test_booth_page_shows_the_banner_for_its_language(services: Services, make_client: Any) -> None:
    expo = await make_expo(services)
    booth_id = expo.booths["1A-001"]
    async with services.db.session() as session:
        booth = await session.get(Booth, booth_id)
        assert booth is not None
        zone = await session.get(Zone, booth.zone_id)
        assert zone is not None
        made = {}
        for language, data in seed._banners(booth, zone, per_language=True):
            asset = await create_asset_from_bytes(
                session, services.store, exhibitor_id=booth.exhibitor_id, booth_id=booth.id, kind="banner",
                data=data, filename="banner.jpg", language=language,
            )
            made[language] = asset.id
        await session.commit()
    assert set(made) == {"zh-Hans", "zh-Hant", "en"}
    client = await make_client()
    for language in made:
        page = await client.get(f"/booths/1A-001?lang={language}")
        assert page.status_code == 200
        banner = re.search(r'<div class="banner"[^>]*>\s*<img src="([^"]+)"[^>]*lang="([^"]+)"', page.text)
        assert banner is not None, page.text[:3000]
        assert banner.group(2) == language
        assert f"/a{made[language]}/" in banner.group(1)


async def test_seeded_booth_has_a_chinese_banner_for_every_page(services: Services) -> None:
    expo = await make_expo(services)
    async with services.db.session() as session:
        booth = await session.scalar(select(Booth).where(Booth.id == expo.booths["1A-001"]))
        assert booth is not None
        zone = await session.get(Zone, booth.zone_id)
        assert zone is not None
        banners = seed._banners(booth, zone, per_language=False)
    assert [language for language, _ in banners] == [None]
    latin_only = seed_media.banner_jpeg(booth.name["en"], booth.tagline["en"], booth.id, zone.color)
    assert _differs(banners[0][1], latin_only)


async def test_the_exhibitor_chooses_each_banners_language(services: Services, make_client: Any, signed_in: Any) -> None:
    """In the booth editor's media page (PATCH language): a banner for Traditional pages, one for every other."""
    expo = await make_expo(services)
    booth_id = expo.booths["1A-001"]
    async with services.db.session() as session:
        made = []
        for words in ("蒙顶山", "蒙頂山"):
            asset = await create_asset_from_bytes(
                session, services.store, exhibitor_id=expo.exhibitors["1A-001"], booth_id=booth_id, kind="banner",
                data=seed_media.banner_jpeg(words, "", 3, "#13315c", "zh-Hans"), filename="banner.jpg")
            made.append(asset.id)
        logo = await create_asset_from_bytes(
            session, services.store, exhibitor_id=expo.exhibitors["1A-001"], booth_id=booth_id, kind="logo",
            data=seed_media.logo_png("Mengding", 3), filename="logo.png")
        await session.commit()
    common, hant = made
    owner = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    other = await signed_in("exhibitor", expo.exhibitors["1A-002"])
    visitor = await signed_in("visitor")
    assert (await other.patch(f"/api/assets/{hant}", json={"language": "zh-Hant"})).status_code == 403
    assert (await visitor.patch(f"/api/assets/{hant}", json={"language": "zh-Hant"})).status_code == 403
    assert (await (await make_client()).patch(f"/api/assets/{hant}", json={"language": "zh-Hant"})).status_code == 401
    wrong = await owner.patch(f"/api/assets/{hant}", json={"language": "fr"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "language" and "zh-Hant" in wrong.json()["detail"]
    not_banner = await owner.patch(f"/api/assets/{logo.id}", json={"language": "en"})
    assert not_banner.status_code == 422 and "banner" in not_banner.json()["detail"], not_banner.text
    chosen = await owner.patch(f"/api/assets/{hant}", json={"language": "zh-Hant"})
    assert chosen.status_code == 200 and chosen.json()["meta"]["language"] == "zh-Hant"
    client = await make_client()
    for language, expected in (("zh-Hant", hant), ("zh-Hans", common), ("en", common)):
        page = await client.get(f"/booths/1A-001?lang={language}")
        banner = re.search(r'<div class="banner"[^>]*>\s*<img src="([^"]+)"', page.text)
        assert banner is not None and f"/a{expected}/" in banner.group(1), language
    back = await owner.patch(f"/api/assets/{hant}", json={"language": None})
    assert back.status_code == 200 and "language" not in back.json()["meta"]
    media = await owner.get(f"/dashboard/booths/{booth_id}/media?lang=zh-Hant")
    assert media.status_code == 200 and "Shown on pages in" not in media.text and '"every_language"' in media.text
