"""One replay per slot whatever happened to the node recording it (streaming.continuation).

A slot live again after its recording closed (and its spool was cleared) goes
on with the stored replay: numbering and timeline continue after a
discontinuity. A node killed mid-recording whose broadcast another node then
recorded on does not send its leftovers over that node's segments when it
starts again. (The cluster case, an origin killed and its publisher moved, is
in tests/test_cluster.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudexpo.app import build_runtime
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from streaming.engine import MediaEngine
from streaming.hls import Playlist, Segment, parse_playlist, write_playlist
from streaming.recorder import RecorderService
from streaming.spool import PLAYLIST, replay_prefix
from tests.test_replay_api import SEGMENTS
from tests.test_replay_faults import leave_killed_spool
from tests.test_replay_media import broadcast, ffprobe, make_slot, wait_for

pytestmark = pytest.mark.media


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_slot_live_again_continues_its_stored_replay(services: Services, settings: Settings) -> None:
    spool = settings.data_dir / "spool"
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"], grace_period=1.0)
    recorder = RecorderService(engine, services.db, services.store, spool, make_mp4=False)
    slot_id = await make_slot(services)
    prefix = replay_prefix(slot_id)
    objects = Path(settings.resolved_storage_url)

    def closed(after: int = 0) -> bool:
        """The playlist is closed with more than ``after`` segments, and the spool is cleared."""
        path = objects / prefix / PLAYLIST
        if not path.exists() or (spool / str(slot_id)).exists():
            return False
        playlist = parse_playlist(path.read_text())
        return playlist.ended and len(playlist.segments) > after

    try:
        await broadcast(engine, slot_id, 5.0)
        await wait_for(closed, within=20)
        first = parse_playlist((objects / prefix / PLAYLIST).read_text())
        assert first.ended and not (spool / str(slot_id)).exists()  # closed, spool cleared
        first_bytes = {s.uri: (objects / prefix / s.uri).read_bytes() for s in first.segments}

        await broadcast(engine, slot_id, 5.0)
        await wait_for(lambda: closed(len(first.segments)), within=20)
    finally:
        await recorder.close()
        await engine.close()
    both = parse_playlist((objects / prefix / PLAYLIST).read_text())
    n = len(first.segments)
    assert both.ended and both.segments[:n] == first.segments
    assert len(both.segments) > n + 1
    assert [s.discontinuity for s in both.segments[n:]] == [True] + [False] * (len(both.segments) - n - 1)
    numbers = [int(s.uri[4:9]) for s in both.segments]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {uri: (objects / prefix / uri).read_bytes() for uri in first_bytes} == first_bytes  # not written over
    probe = ffprobe(str(objects / prefix / PLAYLIST))
    assert abs(float(probe["format"]["duration"]) - both.duration) < 1.0, (probe["format"], both.duration)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_killed_node_leaves_a_recording_continued_elsewhere_alone(settings: Settings, services: Services) -> None:
    slot_id = await make_slot(services)
    prefix = replay_prefix(slot_id)
    # this node recorded seg 1 and 2 (sent seg 1) and died writing seg 3; another node went on from seg 2
    leave_killed_spool(settings.data_dir / "spool", slot_id)
    stored = Playlist([Segment("seg_00001.ts", 2.0), Segment("seg_00002.ts", 2.0, discontinuity=True),
                       Segment("seg_00003.ts", 2.0)])
    for segment, data in zip(stored.segments, (SEGMENTS[0], SEGMENTS[2], SEGMENTS[1]), strict=True):
        await services.store.put_bytes(prefix + segment.uri, data, "video/mp2t")
    await services.store.put_bytes(prefix + PLAYLIST, write_playlist(stored).encode(), "application/vnd.apple.mpegurl")

    runtime = build_runtime(settings, services=services)
    await runtime.start()  # the recorder looks at what this node's spool left
    try:
        await runtime.streaming.recorder.wait_idle()
    finally:
        await runtime.close()
    assert (await services.store.get_bytes(prefix + PLAYLIST)).decode() == write_playlist(stored)
    assert await services.store.get_bytes(prefix + "seg_00002.ts") == SEGMENTS[2]
    assert await services.store.get_bytes(prefix + "seg_00003.ts") == SEGMENTS[1]
    assert not (settings.data_dir / "spool" / str(slot_id)).exists()
