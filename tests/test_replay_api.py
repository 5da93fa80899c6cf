"""Replays over HTTP: playlists with signed URLs, visibility and refusals for every role,
trim, captions, delete (every object), analytics, chat timeline and the archive search.

The recording is made at test time by PyAV (H.264 + AAC MPEG-TS segments of
2 s, as the recorder writes them) and put in the store under the slot's prefix.
"""

from __future__ import annotations

import datetime as dt
import fractions
import io
from typing import Any

import av
import pytest
from sqlalchemy import select

from cloudexpo.services import Services
from streaming.hls import Playlist, Segment, parse_playlist, write_playlist
from streaming.models import ChatMessage, Slot
from streaming.replay_models import Replay
from streaming.replays import recording_closed
from streaming.spool import SpoolRecording, content_type, replay_prefix
from tests.test_replay_media import make_slot

OWN = 11
OTHER = 12
VTT = b"WEBVTT\n\n00:00.500 --> 00:03.000\nHello, replay\n"


def make_segments(seconds: int = 8, per_segment: int = 2, fps: int = 10) -> list[bytes]:
    """MPEG-TS segments of H.264 + AAC, each starting on a keyframe, with continuous timestamps."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 160, 120, "yuv420p"
    enc.time_base = fractions.Fraction(1, 90000)
    enc.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": "repeat-headers=1:keyint=1000"}
    out: list[bytes] = []
    aac: Any = None
    audio_pts = 0
    for seg in range(seconds // per_segment):
        buf = io.BytesIO()
        container = av.open(buf, "w", format="mpegts")
        vstream = container.add_stream("libx264", width=160, height=120)
        vstream.codec_context.options = {"preset": "ultrafast"}
        astream = container.add_stream("aac", rate=48000, layout="stereo")
        if aac is None:
            aac = astream
        for i in range(per_segment * fps):
            n = seg * per_segment * fps + i
            frame = av.VideoFrame(160, 120, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(n * 7) % 255]) * plane.buffer_size)
            frame.pts = n * 90000 // fps + 900000
            frame.time_base = fractions.Fraction(1, 90000)
            frame.pict_type = av.video.frame.PictureType.I if i == 0 else av.video.frame.PictureType.NONE
            for packet in enc.encode(frame):
                packet.stream = vstream
                container.mux(packet)
        for _ in range(per_segment * 50):
            af = av.AudioFrame(format="fltp", layout="stereo", samples=960)
            for plane in af.planes:
                plane.update(bytes(plane.buffer_size))
            af.sample_rate = 48000
            af.pts = audio_pts + 480000
            af.time_base = fractions.Fraction(1, 48000)
            audio_pts += 960
            for packet in astream.encode(af):
                container.mux(packet)
        container.close()
        out.append(buf.getvalue())
    return out


SEGMENTS = make_segments()


async def make_recording(services: Services, slot_id: int, *, published: bool = True,
                         recorded: list[tuple[bytes, float]] | None = None, spool: SpoolRecording | None = None) -> None:
    """A finished replay of ``recorded`` (MPEG-TS segments with their durations: a replay recorded before
    Cloud Expo wrote fMP4; the 2 s bench segments by default), or of what the recorder wrote into ``spool``
    (fragmented MP4: init segments, segments, discontinuities, as its journal lists them)."""
    prefix = replay_prefix(slot_id)
    # HLS program date-times carry milliseconds: start on a whole millisecond.
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).replace(microsecond=0)
    segments = []
    at = 0.0
    if spool is not None:
        state = spool.state()
        for name in state.files():
            await services.store.put_bytes(prefix + name, spool.path(name).read_bytes(), content_type(name))
        for entry in state.segments:
            segments.append(Segment(entry["name"], float(entry["duration"]), bool(entry["discontinuity"]),
                                    start + dt.timedelta(seconds=at), entry["map"]))
            at += float(entry["duration"])
    for i, (data, duration) in enumerate([] if spool else recorded or [(data, 2.0) for data in SEGMENTS], start=1):
        name = f"seg_{i:05d}.ts"
        await services.store.put_bytes(prefix + name, data, "video/mp2t")
        segments.append(Segment(name, duration, False, start + dt.timedelta(seconds=at)))
        at += duration
    playlist = Playlist(segments, playlist_type="VOD", ended=True)
    await services.store.put_bytes(prefix + "index.m3u8", write_playlist(playlist).encode(), "application/vnd.apple.mpegurl")
    async with services.db.session() as db:
        slot = await db.get(Slot, slot_id)
        assert slot is not None
        slot.live_at = start
        slot.state = "ended"
        await db.commit()
    await recording_closed(services.db, slot_id, playlist)
    async with services.db.session() as db:
        replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
        assert replay is not None
        replay.state = "ready"
        replay.started_at = start
        replay.published = published
        await db.commit()


@pytest.fixture
async def recorded(app: Any, services: Services) -> int:
    slot_id = await make_slot(services, exhibitor_id=OWN, title="Electric car launch")
    await make_recording(services, slot_id)
    return slot_id


@pytest.fixture
async def clients(make_client: Any, signed_in: Any) -> dict[str, Any]:
    return {
        "anonymous": await make_client(),
        "visitor": await signed_in("visitor"),
        "own": await signed_in("exhibitor", OWN),
        "other": await signed_in("exhibitor", OTHER),
        "moderator": await signed_in("moderator"),
    }


async def test_playlist_lists_signed_segment_urls(recorded: int, client: Any, services: Services) -> None:
    response = await client.get(f"/replays/{recorded}/index.m3u8")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    playlist = parse_playlist(response.text)
    assert playlist.ended and len(playlist.segments) == 4
    segment = await client.fetch_media(playlist.segments[0].uri)
    assert segment.status_code == 200
    assert segment.content == SEGMENTS[0]
    info = (await client.get(f"/api/replays/{recorded}")).json()
    assert info["state"] == "ready" and info["duration"] == 8.0 and info["can_manage"] is False
    assert "views" not in info


async def test_who_may_do_what(recorded: int, clients: dict[str, Any]) -> None:
    url = f"/api/replays/{recorded}"
    expected_patch = {"anonymous": 401, "visitor": 403, "own": 200, "other": 403, "moderator": 200}
    for role, status in expected_patch.items():
        response = await clients[role].patch(url, json={"published": True})
        assert response.status_code == status, (role, response.text)
    for role, status in {"anonymous": 401, "visitor": 403, "own": 200, "other": 403, "moderator": 200}.items():
        assert (await clients[role].get(url + "/stats")).status_code == status, role
    for role, status in {"anonymous": 401, "visitor": 403, "own": 201, "other": 403, "moderator": 201}.items():
        response = await clients[role].put(url + "/captions/en", content=VTT, headers={"Content-Type": "text/vtt"})
        assert response.status_code == status, (role, response.text)
    # unpublished: gone for visitors, still there for the booth's staff and moderators
    assert (await clients["moderator"].patch(url, json={"published": False})).status_code == 200
    for role, status in {"anonymous": 404, "visitor": 404, "own": 200, "other": 404, "moderator": 200}.items():
        assert (await clients[role].get(f"/replays/{recorded}/index.m3u8")).status_code == status, role
        assert (await clients[role].get(url)).status_code == status, role
        listed = (await clients[role].get("/api/replays")).json()["replays"]
        assert (recorded in [r["slot_id"] for r in listed]) == (status == 200), role
    for role, status in {"anonymous": 404, "visitor": 404, "other": 404}.items():
        assert (await clients[role].delete(url)).status_code == status, role
    assert (await clients["moderator"].patch(url, json={"published": True})).status_code == 200
    for role, status in {"anonymous": 401, "visitor": 403, "other": 403}.items():
        assert (await clients[role].delete(url)).status_code == status, role


async def test_a_deleted_slot_has_no_replay(recorded: int, clients: dict[str, Any], services: Services) -> None:
    async with services.db.session() as db:
        slot = await db.get(Slot, recorded)
        await db.delete(slot)
        await db.commit()
    for role in clients:
        assert (await clients[role].get(f"/replays/{recorded}/index.m3u8")).status_code == 404, role
    assert (await clients["moderator"].get("/replays/999999/index.m3u8")).status_code == 404


async def test_trim_at_keyframes(recorded: int, clients: dict[str, Any]) -> None:
    moderator = clients["moderator"]
    url = f"/api/replays/{recorded}"
    response = await moderator.patch(url, json={"trim_start": 3.0, "trim_end": 5.5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["trim_start"], body["trim_end"], body["duration"]) == (2.0, 6.0, 4.0)
    playlist = parse_playlist((await clients["visitor"].get(f"/replays/{recorded}/index.m3u8")).text)
    assert [s.duration for s in playlist.segments] == [2.0, 2.0]
    assert "seg_00002.ts" in playlist.segments[0].uri
    for bad in ({"trim_start": 100}, {"trim_start": -1}, {"trim_end": 9}, {"trim_start": 4, "trim_end": 2}, {"trim_start": "soon"}):
        response = await moderator.patch(url, json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"]


async def test_captions_must_be_webvtt(recorded: int, clients: dict[str, Any]) -> None:
    own = clients["own"]
    url = f"/api/replays/{recorded}/captions"
    srt = b"1\n00:00:01,000 --> 00:00:04,000\nHello\n"
    for body, lang, hint in (
        (srt, "en", "WEBVTT"),
        (b"WEBVTT\n\n00:01.000 -> 00:04.000\nHi\n", "en", "cue timing"),
        (b"WEBVTT\n\nno cues here\n", "en", "no cues"),
        (b"WEBVTT\n\n00:04.000 --> 00:01.000\nHi\n", "en", "end after"),
        (VTT, "fr", "zh-Hans"),
    ):
        response = await own.put(f"{url}/{lang}", content=body, headers={"Content-Type": "text/vtt"})
        assert response.status_code == 422, response.text
        assert hint in response.json()["detail"], response.json()
    for lang in ("zh-Hans", "en"):
        response = await own.put(f"{url}/{lang}", content=VTT, headers={"Content-Type": "text/vtt"})
        assert response.status_code == 201, response.text
    captions = (await clients["visitor"].get(f"/api/replays/{recorded}")).json()["captions"]
    assert set(captions) == {"zh-Hans", "en"}
    fetched = await clients["visitor"].fetch_media(captions["en"])
    assert fetched.status_code == 200 and fetched.text.startswith("WEBVTT")


async def test_delete_removes_every_object(recorded: int, clients: dict[str, Any], services: Services) -> None:
    prefix = replay_prefix(recorded)
    await clients["own"].put(f"/api/replays/{recorded}/captions/en", content=VTT, headers={"Content-Type": "text/vtt"})
    assert len(await services.store.list_keys(prefix)) >= 6
    response = await clients["own"].delete(f"/api/replays/{recorded}")
    assert response.status_code == 200, response.text
    assert await services.store.list_keys(prefix) == []
    assert (await clients["moderator"].get(f"/api/replays/{recorded}")).status_code == 404


async def test_views_count_once_a_day_and_watch_time_adds_up(recorded: int, clients: dict[str, Any], make_client: Any, services: Services) -> None:
    url = f"/api/replays/{recorded}/progress"
    booth_analytics = await services.bus.subscribe("analytics")
    for _ in range(3):
        assert (await clients["visitor"].post(url, json={"seconds": 15})).status_code == 204
    assert (await clients["anonymous"].post(url, json={"seconds": 10})).status_code == 204
    assert (await clients["anonymous"].post(url, json={"seconds": 500})).status_code == 204  # capped at 30
    assert (await clients["anonymous"].post(url, json={"seconds": "x"})).status_code == 422
    stats = (await clients["own"].get(f"/api/replays/{recorded}/stats")).json()
    assert stats["views"] == 2
    assert stats["watch_seconds"] == 45 + 10 + 30
    # the booth's analytics heard of each new view once
    events = [(await booth_analytics.get(timeout=5)).data for _ in range(2)]
    assert events == [{"booth_id": 1, "metric": "replay_views", "value": 1}] * 2
    await booth_analytics.close()


async def test_chat_is_placed_on_the_replay_timeline(recorded: int, clients: dict[str, Any], services: Services) -> None:
    async with services.db.session() as db:
        replay = await db.scalar(select(Replay).where(Replay.slot_id == recorded))
        assert replay is not None and replay.started_at is not None
        for seconds, text in ((1.0, "first"), (5.5, "middle"), (30.0, "after the end")):
            db.add(ChatMessage(slot_id=recorded, user_id=1, author="Ann", text=text, created_at=replay.started_at + dt.timedelta(seconds=seconds)))
        await db.commit()
    messages = (await clients["visitor"].get(f"/api/replays/{recorded}/chat")).json()["messages"]
    assert [(m["text"], m["at"]) for m in messages] == [("first", 1.0), ("middle", 5.5)]
    await clients["moderator"].patch(f"/api/replays/{recorded}", json={"trim_start": 2})
    messages = (await clients["visitor"].get(f"/api/replays/{recorded}/chat")).json()["messages"]
    assert [(m["text"], m["at"]) for m in messages] == [("middle", 3.5)]


async def test_archive_search_in_three_languages(recorded: int, services: Services, client: Any) -> None:
    other = await make_slot(services, exhibitor_id=OTHER, title="Solar panels")
    await make_recording(services, other)
    for query, expected in (("electric", {recorded}), ("汽车", {recorded, other}), ("汽車", {recorded, other}), ("SOLAR", {other}), ("nothing", set())):
        found = {r["slot_id"] for r in (await client.get("/api/replays", params={"q": query})).json()["replays"]}
        assert found == expected, query
    page = await client.get("/replays", params={"q": "solar"})
    assert page.status_code == 200 and "Solar panels" in page.text and "Electric car" not in page.text
    single = await client.get(f"/replays/{recorded}")
    assert single.status_code == 200 and 'data-role="replay-player"' in single.text


async def test_the_watch_page_includes_the_replay_player(recorded: int, client: Any) -> None:
    page = await client.get(f"/live/{recorded}")
    assert page.status_code == 200
    assert 'data-role="replay-player"' in page.text and "hls.min.js" in page.text
