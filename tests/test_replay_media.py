"""The recorder with real aiortc publishers on 127.0.0.1: a broadcast becomes a replay.

A 20 s broadcast of the flash/beep card (tests/media_flash.py) goes through
the media engine with the recorder attached; the replay's playlist and MP4
are read by ffprobe and decoded with PyAV to check duration, codecs and
audio/video sync. Faults: storage down mid-broadcast, a killed process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cloudexpo.services import Services
from streaming import testsource as ts
from streaming.engine import MediaEngine
from streaming.hls import parse_playlist
from streaming.live import stream_id
from streaming.models import Slot, Stage
from streaming.recorder import RecorderService
from streaming.replay_models import Replay
from streaming.spool import replay_prefix
from tests.media_flash import flash_tracks, flashes_and_beeps, offsets

pytestmark = pytest.mark.media


async def make_slot(services: Services, *, exhibitor_id: int | None = 1, booth_id: int | None = 1, title: str = "Launch") -> int:
    now = dt.datetime.now(dt.UTC)
    async with services.db.session() as db:
        stage = await db.scalar(select(Stage).where(Stage.slug == "main"))
        if stage is None:
            stage = Stage(slug="main", name={"en": "Main"})
            db.add(stage)
            await db.flush()
        slot = Slot(
            stage_id=stage.id, booth_id=booth_id, exhibitor_id=exhibitor_id,
            title={"en": title, "zh-Hans": "新能源汽车发布会 " + title, "zh-Hant": "新能源汽車發佈會 " + title},
            starts_at=now - dt.timedelta(minutes=1), ends_at=now + dt.timedelta(hours=1),
            state="live", live_at=now, token_nonce="n", token_hash="h",
        )
        db.add(slot)
        await db.commit()
        return slot.id


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"], grace_period=1.0)
    yield engine
    await engine.close()


def ffprobe(target: str) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-allowed_extensions", "ALL", "-show_format", "-show_streams", "-of", "json", target]
        if target.endswith(".m3u8")
        else ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", target],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return dict(json.loads(out.stdout))


async def wait_for(predicate: Any, within: float = 10.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(step)


async def broadcast(engine: MediaEngine, slot_id: int, seconds: float, codec: str = "H264") -> float:
    """Publish the flash card for ``seconds`` and end the stream; returns the monotonic end time."""
    sid = stream_id(slot_id)
    video, audio = flash_tracks()
    sessions: list[str] = []

    async def signal(offer: str) -> str:
        session = await engine.publish(sid, offer)
        sessions.append(session.session_id)
        return session.answer_sdp

    publisher = await ts.make_publisher(video, audio, signal, codec=codec)
    try:
        await asyncio.sleep(seconds)
        ended = time.monotonic()
        await engine.unpublish(sid, sessions[0])
    finally:
        await publisher.close()
    return ended


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_broadcast_becomes_a_replay_in_sync(
    services: Services, engine: MediaEngine, settings: Any, artifacts: Path
) -> None:
    store = services.store
    recorder = RecorderService(engine, services.db, store, settings.data_dir / "spool")
    slot_id = await make_slot(services)
    viewer_frames: list[int] = []

    ended = await broadcast(engine, slot_id, 20.0)
    prefix = replay_prefix(slot_id)

    async def closed() -> bool:
        try:
            return parse_playlist((await store.get_bytes(prefix + "index.m3u8")).decode()).ended
        except Exception:
            return False

    await wait_for(closed, within=10)
    playable_after = time.monotonic() - ended
    assert playable_after <= 3.0, playable_after
    await recorder.wait_idle()
    del viewer_frames

    objects = Path(settings.resolved_storage_url)
    playlist_path = objects / prefix / "index.m3u8"
    playlist = parse_playlist(playlist_path.read_text())
    assert playlist.ended and playlist.playlist_type == "VOD"
    assert all(1.4 <= s.duration <= 3.5 for s in playlist.segments[:-1]), [s.duration for s in playlist.segments]
    # what players get: fragmented MP4, H.264 and Opus as the publisher sent them, in sync
    assert {s.map for s in playlist.segments} == {"init_00001.mp4"}, playlist.segments
    assert "#EXT-X-MAP:URI=\"init_00001.mp4\"" in playlist_path.read_text()
    probe = ffprobe(str(playlist_path))
    kinds = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
    assert kinds == {"video": "h264", "audio": "opus"}, kinds
    assert abs(float(probe["format"]["duration"]) - 20.0) <= 1.0, probe["format"]["duration"]
    joined = artifacts / "replay-sync-hls.mp4"
    joined.write_bytes(b"".join((objects / prefix / n).read_bytes() for n in ["init_00001.mp4", *(s.uri for s in playlist.segments)]))
    flashes, beeps = await asyncio.to_thread(flashes_and_beeps, joined)
    found = offsets(flashes, beeps)
    assert len(found) >= 8, (flashes, beeps)
    assert max(abs(o) for o in found) <= 0.1, found

    async with services.db.session() as db:
        replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
        assert replay is not None
        assert replay.state == "ready", (replay.state, replay.error)
        assert replay.mp4_key == prefix + "replay.mp4"
        assert abs(replay.duration - 20.0) <= 1.0
    mp4 = objects / prefix / "replay.mp4"
    probe = ffprobe(str(mp4))
    kinds = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
    assert kinds == {"video": "h264", "audio": "aac"}, kinds
    assert abs(float(probe["format"]["duration"]) - 20.0) <= 1.0, probe["format"]["duration"]

    shutil.copyfile(mp4, artifacts / "replay-sync.mp4")
    flashes, beeps = await asyncio.to_thread(flashes_and_beeps, mp4)
    found = offsets(flashes, beeps)
    (artifacts / "replay-av-offsets.json").write_text(json.dumps({"flashes": flashes, "beeps": beeps, "offsets": found}, indent=1))
    assert len(flashes) >= 8, flashes
    assert len(found) >= 8, (flashes, beeps)
    assert max(abs(o) for o in found) <= 0.1, found
    # the spool is emptied once the replay is complete
    assert not (settings.data_dir / "spool" / str(slot_id)).exists()
    await recorder.close()


async def publish_session(engine: MediaEngine, sid: str, seconds: float) -> tuple[ts.TestPublisher, str]:
    """A publisher session of the flash card, sending for ``seconds``: (publisher, session id)."""
    video, audio = flash_tracks()
    sessions: list[str] = []

    async def signal(offer: str) -> str:
        session = await engine.publish(sid, offer)
        sessions.append(session.session_id)
        return session.answer_sdp

    publisher = await ts.make_publisher(video, audio, signal)
    await asyncio.sleep(seconds)
    return publisher, sessions[0]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_an_interrupted_broadcast_is_one_replay_with_the_gap_cut_out(
    services: Services, settings: Any, artifacts: Path
) -> None:
    """Two publisher sessions with a 4 s gap between them (OBS's Stop and Start): one replay,
    a discontinuity where the second session begins, no gap in its timeline, decoded through by
    ffmpeg, audio and video in sync in both parts."""
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"], grace_period=None)  # as the server runs it
    store = services.store
    recorder = RecorderService(engine, services.db, store, settings.data_dir / "spool")
    slot_id = await make_slot(services)
    sid = stream_id(slot_id)
    try:
        publisher, first = await publish_session(engine, sid, 8.0)
        await engine.disconnect(sid, first)  # the session's DELETE
        await publisher.close()
        assert engine.state(sid) == "publisher_gone"
        await asyncio.sleep(4.0)  # nobody publishes: this is not part of the replay
        publisher, _ = await publish_session(engine, sid, 8.0)
        await engine.end_stream(sid)
        await publisher.close()
        prefix = replay_prefix(slot_id)

        async def closed() -> bool:
            try:
                return parse_playlist((await store.get_bytes(prefix + "index.m3u8")).decode()).ended
            except Exception:
                return False

        await wait_for(closed, within=15)
        await recorder.wait_idle()
    finally:
        await recorder.close()
        await engine.close()

    objects = Path(settings.resolved_storage_url)
    playlist_path = objects / prefix / "index.m3u8"
    text = playlist_path.read_text()
    shutil.copyfile(playlist_path, artifacts / "replay-interrupted.m3u8")
    playlist = parse_playlist(text)
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1, text
    cut = next(i for i, s in enumerate(playlist.segments) if s.discontinuity)
    assert 0 < cut < len(playlist.segments) - 1
    total = sum(s.duration for s in playlist.segments)
    assert 14.5 <= total <= 17.5, (total, text)  # 2 × 8 s, without the 4 s in between
    # ffmpeg reads the whole playlist through, with no error
    decoded = await asyncio.to_thread(
        run, "ffmpeg", "-v", "error", "-allowed_extensions", "ALL", "-i", str(playlist_path), "-f", "null", "-"
    )
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr[-2000:]
    probed = await asyncio.to_thread(
        run, "ffprobe", "-v", "error", "-allowed_extensions", "ALL", "-select_streams", "v", "-show_entries",
        "packet=pts_time", "-of", "csv=p=0", str(playlist_path),
    )
    assert probed.returncode == 0, probed.stderr
    times = sorted(float(t.strip(",")) for t in probed.stdout.split() if t.strip(","))
    assert len(times) >= 14 * 30 * 0.9, len(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) < 0.5, max(gaps)  # the 4 s the publisher was away are cut out
    # the download MP4 of both parts, in sync in each
    mp4 = objects / prefix / "replay.mp4"
    shutil.copyfile(mp4, artifacts / "replay-interrupted.mp4")
    flashes, beeps = await asyncio.to_thread(flashes_and_beeps, mp4)
    found = offsets(flashes, beeps)
    assert len(flashes) >= 6 and len(found) >= 6, (flashes, beeps)
    assert max(abs(o) for o in found) <= 0.1, found
