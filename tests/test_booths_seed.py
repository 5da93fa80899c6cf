"""The seed exhibition: at least 240 booths in halls 1 and 2, safe to run twice."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import func, select

from booths.engagement import meetings
from booths.engagement.models import MeetingSlot, Profile
from booths.exhibition.models import Application, Booth, Exhibitor, Hall, Product, SearchDoc, Zone
from booths.seed import exhibition as seed
from booths.seed import media as seed_media
from booths.seed import meetings as seed_meetings
from cloudexpo import accounts
from cloudexpo.db import utcnow
from cloudexpo.services import Services


async def _counts(services: Services) -> dict[str, int]:
    async with services.db.session() as session:
        return {
            model.__name__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Hall, Zone, Exhibitor, Booth, Product, Application, SearchDoc, accounts.User, Profile,
                          MeetingSlot)
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
    assert {role for role, _ in first_logins} == {"exhibitor", "visitor", "expert"}
    assert first["Profile"] == len(seed_meetings.EXPERTS)
    async with services.db.session() as session:
        booths = (await session.scalars(select(Booth))).all()
        assert all(set(b.name) == {"zh-Hans", "zh-Hant", "en"} for b in booths)
        assert len({b.number for b in booths}) == len(booths)
        regions = (await session.scalars(select(Exhibitor.region))).all()
        assert regions.count("sichuan") > len(regions) // 3
        assert len(set(regions)) >= 15
        industries = set((await session.scalars(select(Exhibitor.industry))).all())
        assert len(industries) == 8
        # Matchmaking: the experts are in the directory and every host offers times to come, none overlapping.
        experts = await meetings.list_experts(session)
        assert len(experts) == len(seed_meetings.EXPERTS) and len({p.field for _, p in experts}) >= 4
        slots = (await session.scalars(select(MeetingSlot).order_by(MeetingSlot.host_id, MeetingSlot.starts_at))).all()
        now = utcnow()
        assert all(s.starts_at > now and s.ends_at > s.starts_at for s in slots)
        hosts = {s.host_id for s in slots}
        assert {u.id for u, _ in experts} <= hosts and len(hosts) == len(experts) + 3  # and the three demo exhibitors
        for a, b in itertools.pairwise(slots):
            assert a.host_id != b.host_id or a.ends_at <= b.starts_at
        assert {s.mode for s in slots} == {"online", "table"}
        exhibitor_ids = {s.exhibitor_id for s in slots if s.exhibitor_id is not None}
        assert len(exhibitor_ids) == 3
        for exhibitor_id in exhibitor_ids:  # what a booth's "book a meeting" offers
            assert await meetings.open_slots(session, exhibitor_id=exhibitor_id)


def test_generated_media_are_valid() -> None:
    import io

    import av
    from PIL import Image

    assert Image.open(io.BytesIO(seed_media.logo_png("Tianfu Heavy Equipment", 3))).size == (240, 240)
    assert Image.open(io.BytesIO(seed_media.banner_jpeg("Tianfu", "Quality", 3, "#13315c"))).format == "JPEG"
    assert seed_media.brochure_pdf("Tianfu", 3).startswith(b"%PDF")
    # Chinese in Chinese: real text in Adobe's standard CJK fonts, readable by pdftotext (poppler)
    brochure = seed_media.brochure_pdf("Tianfu Heavy Equipment", 3, "天府重装展台")
    assert b"/STSong-Light" in brochure and b"/UniGB-UCS2-H" in brochure
    assert "质量之光".encode("utf-16-be").hex().upper().encode() in brochure
    traditional = seed_media.brochure_pdf("Mengding tea", 4, "蒙頂山茶葉展臺", "zh-Hant")
    assert b"/MSung-Light" in traditional and b"/UniCNS-UCS2-H" in traditional
    import shutil
    import subprocess

    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=brochure, capture_output=True, check=True).stdout.decode()
        assert "天府重装展台" in text and "第五届中国质量大会" in text and "Product brochure" in text
        text = subprocess.run(["pdftotext", "-", "-"], input=traditional, capture_output=True, check=True).stdout.decode()
        assert "蒙頂山茶葉展臺" in text and "第五屆中國質量大會" in text
    with av.open(io.BytesIO(seed_media.video_mp4(1))) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert 2.5 <= float(container.duration or 0) / 1_000_000 <= 5.5
