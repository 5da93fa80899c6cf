"""HLS for the crowd: a node past CLOUDEXPO_MAX_WEBRTC_VIEWERS answers WHEP 503 with Retry-After and a
Link to the broadcast's live HLS playlist in object storage, which is readable while live (signed local
URLs, presigned S3, or relative URIs behind a CDN); a place freeing up lets the viewer in again.
And the live playlist itself: a sliding window of the recording (RFC 8216 §6.2.2)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import av
import boto3
import httpx
import pytest

from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.hls import Playlist, Segment, live_window, parse_playlist, write_playlist
from streaming.testsource import publish_test_card, watch
from tests.conftest import LiveServer, live_settings, serve_app
from tests.live_support import make_slot

HOSTS = ("127.0.0.1",)
SDP = {"Content-Type": "application/sdp"}
LINK = re.compile(r'<([^>]+)>; rel="alternate"; type="application/vnd.apple.mpegurl"')


# --- the live window (pure) ---------------------------------------------------------------


def _recording(count: int, discontinuities: tuple[int, ...] = ()) -> Playlist:
    start = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)
    return Playlist([
        Segment(f"seg_{i:05d}.ts", 2.0 if i != 3 else 2.6, i in discontinuities, start + dt.timedelta(seconds=2 * i))
        for i in range(1, count + 1)
    ])


def test_live_window_slides_and_counts_what_slid_out() -> None:
    recording = _recording(10, discontinuities=(2, 8))
    window = live_window(recording, 6)
    assert [s.uri for s in window.segments] == [f"seg_{i:05d}.ts" for i in range(5, 11)]
    assert window.media_sequence == 4  # four segments slid out
    assert window.discontinuity_sequence == 1  # one discontinuity slid out with them (seg 2), seg 8 is kept
    assert window.playlist_type is None and not window.ended
    assert window.target_duration == 3  # the whole recording's longest (seg 3, 2.6 s), though it slid out
    text = write_playlist(window)
    assert "#EXT-X-MEDIA-SEQUENCE:4" in text and "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text
    assert "#EXT-X-PLAYLIST-TYPE" not in text and "#EXT-X-ENDLIST" not in text
    again = parse_playlist(text)
    assert (again.media_sequence, again.discontinuity_sequence, len(again.segments)) == (4, 1, 6)
    short = live_window(_recording(3), 6)
    assert (short.media_sequence, len(short.segments)) == (0, 3)
    ended = Playlist(recording.segments, playlist_type="VOD", ended=True)
    assert write_playlist(live_window(ended, 6)).rstrip().endswith("#EXT-X-ENDLIST")


# --- the cap, over HTTP, with real media ----------------------------------------------------


@pytest.fixture(params=["local", "s3", "s3-cdn"])
def capped_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A server taking one WebRTC viewer, its storage local, S3 with presigned URLs, or S3 whose replays/
    a bucket policy makes public-read (what a CDN in front of the bucket reads, without signatures)."""
    changes: dict[str, Any] = {"max_webrtc_viewers": 1}
    if request.param != "local":
        bucket_url = request.getfixturevalue("s3_bucket_url")  # s3://bucket/cloudexpo
        changes["storage_url"] = bucket_url
        if request.param == "s3-cdn":
            endpoint = request.getfixturevalue("s3_server")
            bucket, prefix = bucket_url.removeprefix("s3://").split("/", 1)
            public = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/{prefix}/replays/*"}
            boto3.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [public]}))
            changes["hls_public_url"] = f"{endpoint}/{bucket}/{prefix}"
    with serve_app(live_settings(tmp_path, **changes)) as server:
        yield server


async def _slot(server: LiveServer) -> tuple[int, str]:
    import_models()
    svc = Services.from_settings(server.settings)
    try:
        return await make_slot(svc)
    finally:
        await svc.db.close()


async def _wait_live(http: httpx.AsyncClient, slot_id: int) -> None:
    for _ in range(100):
        info = (await http.get(f"/api/slots/{slot_id}")).json()
        if info["publisher"] == "connected" and info["state"] == "live":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the publisher did not connect")


def _decodable_kinds(data: bytes, folder: Path) -> dict[str, str]:
    """The codecs of each stream PyAV decodes at least one frame of, in a fragmented MP4's bytes."""
    path = folder / "live-probe.mp4"
    path.write_bytes(data)
    kinds: dict[str, str] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            if next(iter(container.decode(stream)), None) is not None:
                kinds[stream.type] = stream.codec_context.name
            container.seek(0)
    return kinds


async def _read_live_playlist(http: httpx.AsyncClient, url: str, segments: int) -> tuple[httpx.Response, Playlist]:
    """The live playlist once it lists ``segments`` segments (the recorder cuts one every ~2 s)."""
    for _ in range(150):
        response = await http.get(url)
        if response.status_code == 200:
            playlist = parse_playlist(response.text)
            if len(playlist.segments) >= segments:
                return response, playlist
        await asyncio.sleep(0.2)
    raise AssertionError(f"the live playlist at {url} never listed {segments} segments")


@pytest.mark.media
async def test_whep_past_the_cap_answers_503_with_the_live_playlist_and_a_freed_place_lets_in(
    capped_server: LiveServer, tmp_path: Path
) -> None:
    server = capped_server
    slot_id, token = await _slot(server)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        sessions: dict[str, str] = {}
        refusals: list[httpx.Response] = []

        async def whip(offer: str) -> str:
            response = await http.post(f"/whip/{slot_id}", content=offer, headers={**SDP, "Authorization": f"Bearer {token}"})
            assert response.status_code == 201, response.text
            return response.text

        def whep(name: str, headers: dict[str, str] | None = None) -> Any:
            async def signal(offer: str) -> str:
                response = await http.post(f"/whep/{slot_id}", content=offer, headers={**SDP, **(headers or {})})
                if response.status_code != 201:
                    refusals.append(response)
                    raise RuntimeError(f"WHEP answered {response.status_code}")
                sessions[name] = response.headers["location"]
                # every answer also links the live playlist, for a player whose WebRTC then fails
                assert LINK.search(response.headers["link"]), response.headers["link"]
                return response.text

            return signal

        publisher = await publish_test_card(whip, hosts=HOSTS)
        viewers = []
        try:
            await _wait_live(http, slot_id)
            viewers.append(await watch(whep("first"), hosts=HOSTS))
            await viewers[0].wait_frames(5, within=20)

            # the node is full: 503, Retry-After, and the live playlist as the Link
            with pytest.raises(RuntimeError, match="503"):
                await watch(whep("second"), hosts=HOSTS)
            full = refusals[-1]
            assert full.json()["error"] == "viewers_full"
            assert "Retry-After" in full.json()["detail"]
            assert 15 <= int(full.headers["retry-after"]) <= 45
            assert "Retry-After" in full.headers["access-control-expose-headers"]
            found = LINK.search(full.headers["link"])
            assert found is not None, full.headers["link"]
            hls_url = found.group(1)
            assert "/replays/" in hls_url and hls_url.split("?")[0].endswith("/live.m3u8")

            # ... which players can read while the broadcast is live: the playlist, then a segment
            async with httpx.AsyncClient(timeout=20, trust_env=False) as player:
                response, playlist = await _read_live_playlist(player, hls_url, 2)
                assert response.headers["cache-control"] == "no-cache"
                assert playlist.playlist_type is None and not playlist.ended
                uri = playlist.segments[-1].uri
                init_uri = playlist.segments[-1].map
                assert init_uri is not None  # fragmented MP4: its init segment comes first
                if server.settings.hls_public_url:
                    # relative: every viewer asks the CDN for the same URL
                    assert uri.startswith("seg_") and init_uri.startswith("init_")
                    assert hls_url.startswith(server.settings.hls_public_url)
                else:
                    assert uri.startswith("http") and init_uri.startswith("http")  # signed, like the playlist
                init = await player.get(urljoin(hls_url, init_uri))
                segment = await player.get(urljoin(hls_url, uri))
                assert init.status_code == 200 and segment.status_code == 200
                assert init.content[4:8] == b"ftyp" and b"moov" in init.content[:64]
                assert segment.content[4:8] == b"moof"
                # init + segment is a fragmented MP4 a player decodes: H.264 and Opus
                kinds = await asyncio.to_thread(_decodable_kinds, init.content + segment.content, tmp_path)
                assert kinds == {"video": "h264", "audio": "opus"}, kinds

            # the slot's own preview (its token) is never turned away
            viewers.append(await watch(whep("preview", {"Authorization": f"Bearer {token}"}), hosts=HOSTS))
            await viewers[-1].wait_frames(3, within=20)

            # places free up (a preview counts while it watches): the viewer turned away gets in and decodes
            for name in ("preview", "first"):
                assert (await http.delete(sessions[name])).status_code == 200
            viewers.append(await watch(whep("second"), hosts=HOSTS))
            await viewers[-1].wait_frames(10, within=20)
            counters = [c for c, _, _ in viewers[-1].frames[-5:]]
            assert counters == sorted(counters) and counters[-1] > counters[0]
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()
