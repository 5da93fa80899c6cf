"""A fresh demo has replays to watch: ended launches recorded at seed time through the recorder's
segment writer and uploader, captioned in three languages, published, listed on /replays and
played by Chromium (hls.js). Seeding twice adds nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from booths.seed import exhibition as seed_exhibition
from cloudexpo.app import seed_demo
from cloudexpo.services import Services
from streaming.hls import parse_playlist
from streaming.models import Slot
from streaming.replay_models import Replay, ReplayState
from streaming.replays import CAPTION_LANGUAGES, validate_webvtt
from streaming.seed_replays import WHEN, captions
from streaming.spool import replay_prefix
from tests.browser_support import chromium, wait_until


async def _no_media(*args: Any) -> int:  # booth pictures are not what this test is about
    return 0


async def _seeded(services: Services) -> list[tuple[Slot, Replay]]:
    async with services.db.session() as db:
        return [(s, r) for s, r in (await db.execute(select(Slot, Replay).join(Replay, Replay.slot_id == Slot.id))).all()]


async def test_demo_seeds_published_captioned_replays(settings: Any, monkeypatch: pytest.MonkeyPatch, make_client: Any,
                                                      services: Services) -> None:
    monkeypatch.setattr(seed_exhibition, "_media", _no_media)
    await seed_demo(settings)
    seeded = await _seeded(services)
    assert len(seeded) == len(WHEN)
    for slot, replay in seeded:
        assert slot.state == "ended" and slot.booth_id is not None and slot.ended_at is not None
        assert replay.published and replay.state == ReplayState.READY.value, (replay.state, replay.error)
        assert replay.segments == 3 and 5.5 <= replay.duration <= 6.5
        assert replay.mp4_key and (replay.mp4_size or 0) > 10_000
        assert set(replay.captions) == set(CAPTION_LANGUAGES)
        playlist = parse_playlist((await services.store.get_bytes(replay_prefix(slot.id) + "index.m3u8")).decode())
        assert playlist.ended and len(playlist.segments) == 3
        first = playlist.segments[0].program_date_time
        assert first is not None and slot.live_at is not None
        assert first.replace(tzinfo=None) == slot.live_at.replace(tzinfo=None)
        zh = (await services.store.get_bytes(replay.captions["zh-Hans"])).decode()
        assert slot.title["zh-Hans"] in zh and "回放" in zh
    client = await make_client()
    page = await client.get("/replays?lang=zh-Hans")
    assert page.status_code == 200
    for slot, _ in seeded:
        assert f'data-slot="{slot.id}"' in page.text
        assert slot.title["zh-Hans"] in page.text
    listed = (await client.get("/api/replays")).json()["replays"]
    assert {r["slot_id"] for r in listed} >= {s.id for s, _ in seeded}
    # a second run of the demo adds no replay
    await seed_demo(settings)
    async with services.db.session() as db:
        assert await db.scalar(select(func.count(Replay.id))) == len(WHEN)


def test_caption_files_are_valid_webvtt() -> None:
    title = {"zh-Hans": "展台：新品发布", "zh-Hant": "展台：新品發佈", "en": "Booth: product launch"}
    files = captions(title, 6.0)
    assert set(files) == set(CAPTION_LANGUAGES)
    for language, data in files.items():
        text = validate_webvtt(data)
        assert title[language] in text and text.count("-->") == 3


@pytest.mark.browser
@pytest.mark.media
def test_a_fresh_demo_replay_plays_in_chromium(live_server: Any, artifacts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed_exhibition, "_media", _no_media)
    asyncio.run(seed_demo(live_server.settings))
    base = live_server.url
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/replays")
        cards = page.locator("[data-slot]")
        assert cards.count() >= len(WHEN)
        page.screenshot(path=str(artifacts / "demo-replays-archive.png"), full_page=True)
        slot_id = cards.first.get_attribute("data-slot")
        page.goto(f"{base}/replays/{slot_id}")
        if not page.evaluate("window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01E,mp4a.40.2\"')"):
            pytest.skip("this Chromium has no H.264/AAC in MSE")
        page.wait_for_selector('[data-role="replay-player"]:not([hidden])', timeout=10000)
        wait_until(page, "document.getElementById('replay-video').readyState >= 2", timeout=15000)
        page.evaluate("(() => { const v = document.getElementById('replay-video'); v.muted = true; return v.play(); })()")
        wait_until(page, "document.getElementById('replay-video').currentTime > 1.5", timeout=15000)
        wait_until(page,
            "(() => { const t = document.getElementById('replay-video').textTracks[0];"
            " return t && t.activeCues && t.activeCues.length > 0; })()", timeout=10000)
        page.screenshot(path=str(artifacts / "demo-replay-playing.png"), full_page=True)
        assert not errors, errors
