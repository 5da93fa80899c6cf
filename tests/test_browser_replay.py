"""Chromium plays replays with hls.js: time advances, a seek lands, a caption shows, the
chat plays back in sync; during a live broadcast "Rewind" plays the EVENT playlist and
"Back to live" returns to WebRTC. Screenshots go to the artifacts folder."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.models import ChatMessage
from streaming.replay_models import Replay
from streaming.replays import put_captions, remake_mp4
from tests.browser_support import chromium, wait_until
from tests.live_support import PublisherThread
from tests.live_support import make_slot as make_live_slot
from tests.test_replay_api import make_recording
from tests.test_replay_media import make_slot

pytestmark = [pytest.mark.browser, pytest.mark.media]

VTT = b"WEBVTT\n\n00:00.000 --> 00:07.900\nHello from the replay\n"
# what a browser with native HLS and no Media Source Extensions offers a page (iPhones before iOS 17.1)
NATIVE_HLS_ONLY = """
delete window.MediaSource; delete window.ManagedMediaSource; delete window.WebKitMediaSource;
const canPlay = HTMLMediaElement.prototype.canPlayType;
HTMLMediaElement.prototype.canPlayType = function (type) {
  return /mpegurl/i.test(type) ? "maybe" : canPlay.call(this, type);
};
"""
# a browser whose Media Source plays H.264 and AAC in MP4 but not Opus
NO_OPUS_IN_MEDIA_SOURCE = """
const supported = MediaSource.isTypeSupported.bind(MediaSource);
MediaSource.isTypeSupported = function (type) { return /opus/i.test(type) ? false : supported(type); };
"""


def _seed_replay(settings: Any) -> int:
    async def go() -> int:
        import_models()
        svc = Services.from_settings(settings)
        try:
            slot_id = await make_slot(svc, exhibitor_id=5, title="Replay in the browser")
            await make_recording(svc, slot_id)
            async with svc.db.session() as db:
                replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
                assert replay is not None and replay.started_at is not None
                await put_captions(db, svc.store, replay, "en", VTT)
                for seconds, text in ((1.0, "first message"), (5.0, "late message")):
                    db.add(ChatMessage(slot_id=slot_id, user_id=1, author="Ann", text=text,
                                       created_at=replay.started_at + dt.timedelta(seconds=seconds)))
                await db.commit()
            return slot_id
        finally:
            await svc.db.close()

    return asyncio.run(go())


def _seed_spool_replay(settings: Any, spool: Any, title: str, *, with_mp4: bool = False) -> int:
    """A finished, published replay of what the recorder wrote into ``spool`` (and its download MP4)."""
    async def go() -> int:
        import_models()
        svc = Services.from_settings(settings)
        try:
            slot_id = await make_slot(svc, exhibitor_id=5, title=title)
            await make_recording(svc, slot_id, spool=spool)
            if with_mp4:
                await remake_mp4(svc.db, svc.store, slot_id, settings.data_dir / "spool")
            return slot_id
        finally:
            await svc.db.close()

    return asyncio.run(go())


def _open_replay(browser: Any, base: str, slot_id: int) -> tuple[Any, list[str]]:
    """The slot's watch page with its replay loaded (enough to show a frame)."""
    page, errors, _ = _launch_page(browser, f"{base}/live/{slot_id}?lang=en")
    page.wait_for_selector('[data-role="replay-player"]:not([hidden])', timeout=10000)
    wait_until(page, "document.getElementById('replay-video').readyState >= 2", timeout=15000)
    return page, errors


def _supports_hls(page: Any) -> bool:
    return bool(page.evaluate("window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01E,mp4a.40.2\"')"))


def _launch_page(browser: Any, url: str) -> tuple[Any, list[str], list[str]]:
    """A 1280 px English page on the launch at ``url``, with the script errors and console lines it meets;
    skips where this Chromium cannot play H.264/AAC through MSE."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
    errors: list[str] = []
    console: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: console.append(msg.text))
    page.goto(url)
    if not _supports_hls(page):
        pytest.skip("this Chromium has no H.264/AAC in MSE")
    return page, errors, console


def test_replay_plays_with_captions_and_chat_in_sync(live_server: Any, artifacts: Path) -> None:
    slot_id = _seed_replay(live_server.settings)
    base = live_server.url
    with chromium() as browser:
        page, errors, console = _launch_page(browser, f"{base}/live/{slot_id}?lang=en")
        try:
            page.wait_for_selector('[data-role="replay-player"]:not([hidden])', timeout=10000)
        except Exception:
            page.screenshot(path=str(artifacts / "replay-failed.png"), full_page=True)
            raise AssertionError((errors, console, page.evaluate(f"fetch('/api/replays/{slot_id}').then(r => r.text())"))) from None
        wait_until(page, "document.getElementById('replay-video').readyState >= 2", timeout=15000)
        page.evaluate("document.getElementById('replay-video').play()")
        wait_until(page, "document.getElementById('replay-video').currentTime > 1.3", timeout=15000)
        # captions: the cue is active and shown
        wait_until(page,
            "(() => { const t = document.getElementById('replay-video').textTracks[0];"
            " return t && t.mode === 'showing' && t.activeCues && t.activeCues.length > 0"
            " && t.activeCues[0].text.includes('Hello from the replay'); })()", timeout=10000)
        chat = page.evaluate("[...document.querySelectorAll('[data-role=replay-chat-list] li')].map(li => li.textContent)")
        assert any("first message" in c for c in chat) and not any("late message" in c for c in chat), chat
        page.screenshot(path=str(artifacts / "replay-playing.png"), full_page=True)
        # seek to the middle: time continues from there, the later message appears on cue
        page.evaluate("document.getElementById('replay-video').currentTime = 4.0")
        wait_until(page, "document.getElementById('replay-video').currentTime > 4.6", timeout=15000)
        now = page.evaluate("document.getElementById('replay-video').currentTime")
        assert 4.0 <= now < 7.0, now
        wait_until(page,
            "[...document.querySelectorAll('[data-role=replay-chat-list] li')].some(li => li.textContent.includes('late message'))",
            timeout=10000)
        at = page.evaluate("document.getElementById('replay-video').currentTime")
        assert at >= 5.0, at
        page.screenshot(path=str(artifacts / "replay-after-seek.png"), full_page=True)
        # the archive lists it
        page.goto(f"{base}/replays?q=browser&lang=zh-Hans")
        assert page.locator(f'[data-slot="{slot_id}"]').count() == 1
        page.screenshot(path=str(artifacts / "replay-archive-zh.png"), full_page=True)
        assert not errors, errors


def test_rewind_during_a_live_broadcast(live_server: Any, artifacts: Path) -> None:
    async def seed() -> tuple[int, str]:
        import_models()
        svc = Services.from_settings(live_server.settings)
        try:
            return await make_live_slot(svc, stage="release-replay", start_in=dt.timedelta(minutes=-1), minutes=30)
        finally:
            await svc.db.close()

    slot_id, token = asyncio.run(seed())
    base = live_server.url
    publisher = PublisherThread(base, slot_id, token)
    publisher.start()
    assert publisher.started.wait(30) and publisher.error is None, publisher.error
    try:
        with chromium() as browser:
            page, errors, _ = _launch_page(browser, f"{base}/live/{slot_id}?lang=en")
            wait_until(page, "document.getElementById('player-video').videoWidth > 0", timeout=20000)
            page.wait_for_timeout(5000)  # a few segments into the broadcast
            page.wait_for_selector('[data-role="replay-rewind"]:not([hidden])', timeout=10000)
            page.click('[data-role="rewind"]')
            page.wait_for_selector('[data-role="replay-player"]:not([hidden])', timeout=5000)
            wait_until(page, "document.getElementById('replay-video').currentTime > 0.5", timeout=15000)
            first = page.evaluate("document.getElementById('replay-video').currentTime")
            page.wait_for_timeout(1500)
            second = page.evaluate("document.getElementById('replay-video').currentTime")
            assert second > first, (first, second)
            playlist = httpx.get(f"{base}/live/{slot_id}/dvr.m3u8").text
            assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playlist and "#EXT-X-ENDLIST" not in playlist
            page.screenshot(path=str(artifacts / "replay-live-rewind.png"), full_page=True)
            page.click('[data-role="back-to-live"]')
            page.wait_for_selector('[data-role="replay-player"]', state="hidden", timeout=5000)
            assert page.evaluate("!document.querySelector('[data-role=player]').hidden")
            assert not errors, errors
    finally:
        publisher.stop_event.set()
        publisher.join(20)


def test_a_browsers_mono_recording_plays_with_its_sound(live_server: Any, tmp_path: Path, artifacts: Path) -> None:
    """A recording made of a browser's mono Opus (Opus as sent, in fragmented MP4) plays in hls.js with its
    sound decoded."""
    from streaming.spool import SpoolRecording
    from tests.test_recording_channels import media_packets, record

    spool = SpoolRecording(tmp_path, 1)
    spool.ensure()
    writer = record(spool, media_packets(1), sprop_stereo=False)
    assert writer.muxer.audio_channels == 1
    state = spool.state()
    assert len(state.inits) == 1 and {e["map"] for e in state.segments} == set(state.inits)

    slot_id = _seed_spool_replay(live_server.settings, spool, "Mono replay", with_mp4=True)
    with chromium() as browser:
        page, errors = _open_replay(browser, live_server.url, slot_id)
        page.evaluate("document.getElementById('replay-video').muted = true; document.getElementById('replay-video').play()")
        wait_until(page, "document.getElementById('replay-video').currentTime > 2.5", timeout=15000)
        decoded = page.evaluate("document.getElementById('replay-video').webkitAudioDecodedByteCount")
        assert decoded > 0, decoded  # the mono Opus track is there and decodes, not only the picture
        assert "replay.mp4" not in page.evaluate("document.getElementById('replay-video').currentSrc")
        page.screenshot(path=str(artifacts / "replay-mono-playing.png"), full_page=True)
        assert not errors, errors

        # a browser that cannot play the segments' Opus gets the replay's download, H.264 + AAC on the same
        # timeline, and hears it: native HLS only (an iPhone before iOS 17.1: no Media Source, no Opus in native
        # HLS), or Media Source without Opus in MP4
        for limits, check in ((NATIVE_HLS_ONLY, "!window.MediaSource && !(window.Hls && window.Hls.isSupported())"),
                              (NO_OPUS_IN_MEDIA_SOURCE, "window.Hls.isSupported() && !MediaSource.isTypeSupported('audio/mp4; codecs=\"opus\"')")):
            other = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
            other.add_init_script(limits)
            other_errors: list[str] = []
            other.on("pageerror", lambda exc, into=other_errors: into.append(str(exc)))
            other.goto(f"{live_server.url}/live/{slot_id}?lang=en")
            other.wait_for_selector('[data-role="replay-player"]:not([hidden])', timeout=10000)
            assert other.evaluate(check)
            wait_until(other, "document.getElementById('replay-video').readyState >= 2", timeout=15000)
            assert other.evaluate("document.getElementById('replay-video').currentSrc").split("?")[0].endswith("/replay.mp4")
            other.evaluate("document.getElementById('replay-video').muted = true; document.getElementById('replay-video').play()")
            wait_until(other, "document.getElementById('replay-video').currentTime > 2.5", timeout=15000)
            assert other.evaluate("document.getElementById('replay-video').webkitAudioDecodedByteCount") > 0
            assert not other_errors, other_errors
            other.close()


def test_a_replay_plays_on_where_the_publisher_changed_its_picture_size(live_server: Any, tmp_path: Path,
                                                                      artifacts: Path) -> None:
    """A WebRTC sender scales its picture as bandwidth changes: the recording gets a new init segment there
    (EXT-X-MAP, a discontinuity), and hls.js sets its decoder up again and plays on at the new size."""
    from streaming.spool import SpoolRecording
    from tests.test_fmp4 import h264, opus, record

    small = h264(320, 180, 90, keyint=60)  # 3 s
    large = [(pts + 90 * 3000, data, key) for pts, data, key in h264(640, 360, 150, keyint=60, shade=90)]
    spool = SpoolRecording(tmp_path, 1)
    record(spool, small + large, opus(8.2, 20))
    state = spool.state()
    assert len(state.inits) == 2 and sum(e["discontinuity"] for e in state.segments) == 1

    slot_id = _seed_spool_replay(live_server.settings, spool, "A picture that grows")
    with chromium() as browser:
        page, errors = _open_replay(browser, live_server.url, slot_id)
        assert page.evaluate("document.getElementById('replay-video').videoWidth") == 320
        page.evaluate("document.getElementById('replay-video').muted = true; document.getElementById('replay-video').play()")
        wait_until(page, "document.getElementById('replay-video').currentTime > 5.0", timeout=20000)
        assert page.evaluate("document.getElementById('replay-video').videoWidth") == 640
        assert page.evaluate("document.getElementById('replay-video').webkitAudioDecodedByteCount") > 0
        page.screenshot(path=str(artifacts / "replay-picture-grows.png"), full_page=True)
        assert not errors, errors
