"""The seed exhibition: at least 240 booths in halls 1 and 2, safe to run twice."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from booths import seed
from booths.models import Application, Booth, Exhibitor, Hall, Product, SearchDoc, Zone
from cloudexpo import accounts
from cloudexpo.services import Services


async def _counts(services: Services) -> dict[str, int]:
    async with services.db.session() as session:
        return {
            model.__name__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Hall, Zone, Exhibitor, Booth, Product, Application, SearchDoc, accounts.User)
        }


async def test_seed_is_idempotent(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_media(*args: Any) -> int:  # media are made by the demo and the browser test; slow here
        return 0

    monkeypatch.setattr(seed, "_media", no_media)
    first_logins = await seed.seed_exhibition(services, "demo-password")
    first = await _counts(services)
    await seed.seed_exhibition(services, "demo-password")
    assert await _counts(services) == first
    assert first["Hall"] == 2 and first["Zone"] == 5 and first["Booth"] >= 240
    assert first["Product"] >= 240 and first["Application"] == 3
    assert {role for role, _ in first_logins} == {"exhibitor", "visitor"}
    async with services.db.session() as session:
        booths = (await session.scalars(select(Booth))).all()
        assert all(set(b.name) == {"zh-Hans", "zh-Hant", "en"} for b in booths)
        assert len({b.number for b in booths}) == len(booths)
        regions = (await session.scalars(select(Exhibitor.region))).all()
        assert regions.count("sichuan") > len(regions) // 3
        assert len(set(regions)) >= 15
        industries = set((await session.scalars(select(Exhibitor.industry))).all())
        assert len(industries) == 8


def test_generated_media_are_valid() -> None:
    import io

    import av
    from PIL import Image

    assert Image.open(io.BytesIO(seed.logo_png("Tianfu Heavy Equipment", 3))).size == (240, 240)
    assert Image.open(io.BytesIO(seed.banner_jpeg("Tianfu", "Quality", 3, "#13315c"))).format == "JPEG"
    assert seed.brochure_pdf("Tianfu", 3).startswith(b"%PDF")
    with av.open(io.BytesIO(seed.video_mp4(1))) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert 2.5 <= float(container.duration or 0) / 1_000_000 <= 5.5
