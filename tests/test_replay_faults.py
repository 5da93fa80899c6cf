"""Faults while recording: S3 down mid-broadcast, a killed process, a VP8-only publisher.

Storage: a moto S3 server of our own on a fixed port is stopped a few seconds
into a broadcast and started again later; the broadcast must not notice
(a viewer keeps receiving frames) and every segment must arrive.
Crash: a spool folder is left as ``kill -9`` leaves it (journal without an
end, the segment being written as ``.part``, half the segments unsent); a
fresh app's start-up completes it into a replay with ENDLIST.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from cloudexpo.app import build_runtime, open_services
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from streaming import testsource as ts
from streaming.engine import MediaEngine
from streaming.hls import parse_playlist
from streaming.live import stream_id
from streaming.recorder import RecorderService
from streaming.replay_models import Replay
from streaming.spool import SpoolRecording, replay_prefix
from tests.conftest import free_port
from tests.test_replay_api import SEGMENTS
from tests.test_replay_media import broadcast, ffprobe, make_slot, wait_for

pytestmark = pytest.mark.media


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_storage_down_mid_broadcast_loses_nothing(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    bucket = f"rec-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    services = open_services(settings.replace(storage_url=f"s3://{bucket}"))
    await services.db.migrate()
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"], grace_period=1.0)
    recorder = RecorderService(engine, services.db, services.store, tmp_path / "spool", upload_max_delay=1.0)
    stopped = False
    failures: list[Any] = []
    try:
        slot_id = await make_slot(services)
        sid = stream_id(slot_id)

        async def outage() -> None:
            nonlocal stopped
            await asyncio.sleep(3.0)
            await asyncio.to_thread(server.stop)
            stopped = True
            await asyncio.sleep(6.0)
            uploader = recorder.active[slot_id].uploader
            failures.append(uploader.failures)
            failures.append(uploader.storage_ok)
            restarted = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            await asyncio.to_thread(restarted.start)
            stopped = False

        async def watch() -> ts.TestViewer:
            await wait_for(lambda: engine.state(sid) == "live", within=10)

            async def signal(offer: str) -> str:
                return (await engine.watch(sid, offer)).answer_sdp

            return await ts.watch(signal, decode=False)

        outage_task = asyncio.create_task(outage())
        viewer_task = asyncio.create_task(watch())
        ended = await broadcast(engine, slot_id, 14.0)
        viewer = await viewer_task
        await outage_task
        assert failures[0] > 0 and failures[1] is False, failures  # uploads did fail while S3 was down
        # the broadcast went on while storage was down: the viewer got frames all along
        times = [f[2] for f in viewer.frames]
        assert len(times) > 10 * 25, len(times)
        assert max(b - a for a, b in itertools.pairwise(times)) < 1.0
        await viewer.close()

        prefix = replay_prefix(slot_id)

        async def closed() -> bool:
            try:
                return parse_playlist((await services.store.get_bytes(prefix + "index.m3u8")).decode()).ended
            except Exception:
                return False

        await wait_for(closed, within=30, step=0.2)
        del ended
        playlist = parse_playlist((await services.store.get_bytes(prefix + "index.m3u8")).decode())
        keys = set(await services.store.list_keys(prefix))
        assert {prefix + s.uri for s in playlist.segments} <= keys
        assert abs(playlist.duration - 14.0) <= 1.0, playlist.duration
        # no segment was skipped: numbering is contiguous
        numbers = [int(s.uri[4:9]) for s in playlist.segments]
        assert numbers == list(range(1, len(numbers) + 1))
        await recorder.wait_idle()
    finally:
        await recorder.close()
        await engine.close()
        await services.close()


def leave_killed_spool(root: Path, slot_id: int) -> None:
    """What kill -9 leaves: journal without end, two segments (one sent), the third half-written."""
    spool = SpoolRecording(root, slot_id)
    spool.ensure()
    spool.append({"type": "start", "at": "2026-11-25T09:00:00+00:00", "video": "H264", "audio": "opus", "sync": "rtcp"})
    for i in (1, 2):
        name = f"seg_{i:05d}.ts"
        spool.path(name).write_bytes(SEGMENTS[i - 1])
        spool.append({"type": "segment", "name": name, "duration": 2.0, "pdt": f"2026-11-25T09:00:0{2 * (i - 1)}+00:00"})
    spool.mark_uploaded("seg_00001.ts")
    third = SEGMENTS[2]
    spool.path("seg_00003.ts.part").write_bytes(third[: int(len(third) * 0.8) + 77])


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_killed_recording_is_completed_on_the_next_start(settings: Settings, services: Services) -> None:
    slot_id = await make_slot(services)
    from streaming.replays import recording_begun

    await recording_begun(services.db, slot_id)
    leave_killed_spool(settings.data_dir / "spool", slot_id)
    prefix = replay_prefix(slot_id)
    await services.store.put_bytes(prefix + "seg_00001.ts", SEGMENTS[0], "video/mp2t")

    runtime = build_runtime(settings, services=services)
    await runtime.start()  # the recorder recovers the spool at start
    try:
        await runtime.streaming.recorder.wait_idle()
        playlist = parse_playlist((await services.store.get_bytes(prefix + "index.m3u8")).decode())
        assert playlist.ended
        assert [s.uri for s in playlist.segments] == ["seg_00001.ts", "seg_00002.ts", "seg_00003.ts"]
        assert 4.5 < playlist.duration < 6.0, [s.duration for s in playlist.segments]
        async with services.db.session() as db:
            replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
            assert replay is not None and replay.state == "ready", replay and (replay.state, replay.error)
            assert replay.mp4_key == prefix + "replay.mp4"
        objects = Path(settings.resolved_storage_url)
        probe = ffprobe(str(objects / prefix / "index.m3u8"))
        assert {s["codec_type"] for s in probe["streams"]} == {"video", "audio"}
        assert not (settings.data_dir / "spool" / str(slot_id)).exists()
    finally:
        await runtime.close()


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_vp8_broadcast_is_kept_as_an_h264_replay(services: Services, settings: Settings) -> None:
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"], grace_period=1.0)
    recorder = RecorderService(engine, services.db, services.store, settings.data_dir / "spool")
    try:
        slot_id = await make_slot(services)
        started = time.process_time()
        await broadcast(engine, slot_id, 7.0, codec="VP8")
        await recorder.wait_idle()
        cpu = time.process_time() - started
        prefix = replay_prefix(slot_id)
        objects = Path(settings.resolved_storage_url)
        probe = ffprobe(str(objects / prefix / "replay.mp4"))
        kinds = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
        assert kinds == {"video": "h264", "audio": "aac"}, kinds
        assert abs(float(probe["format"]["duration"]) - 7.0) <= 1.0
        playlist = parse_playlist((objects / prefix / "index.m3u8").read_text())
        assert len(playlist.segments) >= 3
        async with services.db.session() as db:
            replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
            assert replay is not None and replay.video_codec == "VP8"
        print(json.dumps({"vp8_broadcast_process_cpu_seconds": round(cpu, 2)}))
    finally:
        await recorder.close()
        await engine.close()


