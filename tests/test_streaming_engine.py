"""The media engine with real aiortc peers on 127.0.0.1: publish, watch, take over, end."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from aiortc.rtp import RtpPacket

from streaming import aiortc_internals
from streaming import testsource as ts
from streaming.engine import MediaEngine
from streaming.errors import SessionNotFound, StreamNotLive, UnusableOffer
from streaming.peers import ice_hosts, new_peer_connection
from streaming.sdp import CodecChoice, candidate_hosts

pytestmark = pytest.mark.media

FIXTURES = Path(__file__).parent / "fixtures" / "sdp"
BLUE = (0, 96, 255)
RED = (230, 30, 30)


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"], grace_period=1.0)
    yield engine
    await engine.close()


def publisher_signal(engine: MediaEngine, stream_id: str) -> ts.Signal:
    async def signal(offer: str) -> str:
        return (await engine.publish(stream_id, offer)).answer_sdp

    return signal


def viewer_signal(
    engine: MediaEngine, stream_id: str, sessions: list[str] | None = None
) -> ts.Signal:
    async def signal(offer: str) -> str:
        session = await engine.watch(stream_id, offer)
        if sessions is not None:
            sessions.append(session.session_id)
        return session.answer_sdp

    return signal


def assert_loopback_only(sdp: str) -> None:
    hosts = candidate_hosts(sdp)
    assert hosts and set(hosts) == {"127.0.0.1"}, hosts
    assert "stun" not in sdp.lower()


class Recorder:
    def __init__(self) -> None:
        self.codecs: dict[str, CodecChoice] = {}
        self.packets: dict[str, list[tuple[int, int]]] = {"audio": [], "video": []}

    def on_codec(self, kind: str, codec: CodecChoice) -> None:
        self.codecs[kind] = codec

    def on_packet(self, kind: str, packet: RtpPacket, arrival_time: float) -> None:
        self.packets[kind].append((packet.sequence_number, packet.timestamp))


async def wait_for(predicate: Any, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polls state owned by aiortc
            await asyncio.sleep(0.02)


async def test_gathering_is_restricted_to_ice_hosts() -> None:
    with ice_hosts(["127.0.0.1"]):
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(False, True) == []
    # outside the scope aioice is unchanged: it never gathers on loopback
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, False)
    pc = new_peer_connection()
    assert aiortc_internals.configuration(pc).iceServers == []
    await pc.close()


async def test_h264_to_three_viewers_without_decoding(engine: MediaEngine) -> None:
    states: list[tuple[str, str]] = []
    engine.add_state_listener(lambda s, state: states.append((s, state)))
    publisher = await ts.publish_test_card(publisher_signal(engine, "hall-1"), colour=BLUE)
    assert_loopback_only(publisher.answer_sdp)
    recorder = Recorder()
    engine.add_packet_sink("hall-1", recorder)
    viewers = await asyncio.gather(*(ts.watch(viewer_signal(engine, "hall-1")) for _ in range(3)))
    try:
        for viewer in viewers:
            assert_loopback_only(viewer.answer_sdp)
        await asyncio.gather(*(v.wait_frames(40) for v in viewers))
        await wait_for(lambda: all(v.audio_frames > 10 for v in viewers))
        for viewer in viewers:
            counters = [c for c, _, _ in viewer.frames]
            assert counters == sorted(counters)  # in order, as published
            assert len(set(counters)) == len(counters)
            assert counters[-1] - counters[0] < len(counters) * 2  # few frames lost
            assert all(ts.colour_close(colour, BLUE) for _, colour, _ in viewer.frames)
        stats = engine.stats("hall-1")
        assert stats["viewers"] == 3 and stats["state"] == "live"
        assert stats["codec"] == "H264 constrained-baseline packetization-mode=1"
        assert stats["audio_codec"] == "opus"
        assert stats["packets_forwarded"] > 2 * stats["packets_in"]
        assert stats["keyframes"] >= 1 and stats["keyframe_age"] is not None
        assert stats["bframes_detected"] is False
        assert stats["fps"] > 0 and stats["publisher_bitrate"] > 0
        # the server never decoded anything
        assert engine.frames_decoded == 0
        assert engine.decoder_threads == 0
        # the recorder got continuous output numbering and the codecs
        assert recorder.codecs["video"].name == "H264" and recorder.codecs["audio"].name == "opus"
        seqs = [s for s, _ in recorder.packets["video"]]
        assert len(seqs) > 40
        assert all(
            (b - a) & 0xFFFF in (1, 0) or (b - a) & 0xFFFF > 0x8000
            for a, b in itertools.pairwise(seqs)
        )
    finally:
        await asyncio.gather(*(v.close() for v in viewers))
        await publisher.close()
    assert states[0] == ("hall-1", "live")


async def test_late_viewer_and_unpublish(engine: MediaEngine) -> None:
    session_ids: list[str] = []
    states: list[str] = []
    engine.add_state_listener(lambda s, state: states.append(state))

    async def signal(offer: str) -> str:
        session = await engine.publish("hall-2", offer)
        session_ids.append(session.session_id)
        return session.answer_sdp

    publisher = await ts.publish_test_card(signal)
    first = await ts.watch(viewer_signal(engine, "hall-2"))
    try:
        await first.wait_frames(45)  # 1.5 s in: the keyframe is well behind
        late = await ts.watch(viewer_signal(engine, "hall-2"))
        await asyncio.wait_for(late.first_frame.wait(), 5)
        # it starts at the cached keyframe (a second old), then catches up with the live edge
        assert late.first_frame_delay is not None
        await wait_for(lambda: late.frames[-1][0] >= first.frames[-1][0] - 3, within=5)
        counters = [c for c, _, _ in late.frames]
        assert counters == sorted(counters)
        await engine.unpublish("hall-2", session_ids[0])
        await asyncio.gather(
            asyncio.wait_for(first.ended.wait(), 10), asyncio.wait_for(late.ended.wait(), 10)
        )
        assert states[-1] == "ended" and engine.state("hall-2") is None
        with pytest.raises(StreamNotLive):
            await engine.watch("hall-2", first.pc.localDescription.sdp)
        with pytest.raises(SessionNotFound):
            await engine.unpublish("hall-2", session_ids[0])
        await late.close()
    finally:
        await first.close()
        await publisher.close()


async def test_takeover_keeps_viewers_and_grace_ends_stream(engine: MediaEngine) -> None:
    states: list[str] = []
    engine.add_state_listener(lambda s, state: states.append(state))
    first = await ts.publish_test_card(publisher_signal(engine, "hall-3"), colour=BLUE)
    viewers = await asyncio.gather(*(ts.watch(viewer_signal(engine, "hall-3")) for _ in range(2)))
    try:
        await asyncio.gather(*(v.wait_frames(15) for v in viewers))
        second = await ts.publish_test_card(
            publisher_signal(engine, "hall-3"), colour=RED, start=10000
        )
        await wait_for(lambda: first.pc.connectionState == "closed")
        await asyncio.gather(*(v.wait_frames(30) for v in viewers))
        for viewer in viewers:
            counter, colour, _ = viewer.frames[-1]
            assert counter >= 10000 and ts.colour_close(colour, RED)
            assert viewer.pc.connectionState == "connected"  # the same session went on
            counters = [c for c, _, _ in viewer.frames]
            assert counters == sorted(counters)
        assert engine.stats("hall-3")["viewers"] == 2
        # the second publisher drops: viewers wait, then the stream ends after the grace period
        await second.close()
        await wait_for(lambda: engine.state("hall-3") == "publisher_gone")
        await wait_for(lambda: engine.state("hall-3") is None, within=5)
        await asyncio.gather(*(asyncio.wait_for(v.ended.wait(), 10) for v in viewers))
        assert states == ["live", "live", "publisher_gone", "ended"]
    finally:
        await asyncio.gather(*(v.close() for v in viewers))
        await first.close()


async def test_vp8_only_publisher(engine: MediaEngine) -> None:
    publisher = await ts.publish_test_card(
        publisher_signal(engine, "hall-4"), codec="VP8", colour=RED, audio=False
    )
    viewer = await ts.watch(viewer_signal(engine, "hall-4"))
    try:
        await viewer.wait_frames(20)
        assert ts.colour_close(viewer.frames[-1][1], RED)
        stats = engine.stats("hall-4")
        assert stats["codec"] == "VP8" and stats["audio_codec"] is None
        assert stats["keyframes"] >= 1
        assert engine.frames_decoded == 0
    finally:
        await viewer.close()
        await publisher.close()


async def test_real_publisher_offers_are_answered(engine: MediaEngine) -> None:
    # OBS: session-level ICE/fingerprint, upper-case OPUS, candidates we must not reach
    obs = (FIXTURES / "obs-30-whip-offer.sdp").read_text()
    session = await engine.publish("obs", obs)
    assert_loopback_only(session.answer_sdp)
    assert "a=rtpmap:96 H264/90000" in session.answer_sdp
    assert "a=rtpmap:111 opus/48000/2" in session.answer_sdp.replace("OPUS", "opus")
    assert session.answer_sdp.count("a=rtpmap:") == 2
    await engine.unpublish("obs", session.session_id)
    # Chromium: only the chosen H.264 (and its RTX) is answered
    chromium = (FIXTURES / "chromium-156-offer.sdp").read_text()
    session = await engine.publish("chromium", chromium)
    assert "a=rtpmap:108 H264/90000" in session.answer_sdp
    assert "VP8" not in session.answer_sdp and "a=rtpmap:102 " not in session.answer_sdp
    assert_loopback_only(session.answer_sdp)
    # main profile only: still forwarded (we never decode)
    main_only = chromium.replace("profile-level-id=42001f", "profile-level-id=4d001f").replace(
        "profile-level-id=42e01f", "profile-level-id=4d001f"
    )
    main = await engine.publish("main", main_only)
    assert main.video_codec.profile == "main"
    assert engine.frames_decoded == 0


async def test_unusable_offers(engine: MediaEngine) -> None:
    safari = (FIXTURES / "safari-mac-offer.sdp").read_text()
    with pytest.raises(UnusableOffer, match="must be sendonly"):
        await engine.publish("x", safari)
    obs = (FIXTURES / "obs-30-whip-offer.sdp").read_text()
    with pytest.raises(UnusableOffer, match="the offer has no video"):
        await engine.publish("x", obs.split("m=video")[0].replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0"))
    with pytest.raises(UnusableOffer, match="offer H264 packetization-mode=1 or VP8"):
        await engine.publish("x", obs.replace("H264/90000", "AV1/90000"))
    with pytest.raises(StreamNotLive):
        await engine.watch("x", safari)
    assert engine.stream_ids == []
    # a VP8-only viewer cannot watch an H.264 stream
    session = await engine.publish("h264", obs)
    firefox = (FIXTURES / "firefox-esr-153-offer.sdp").read_text().replace("sendonly", "recvonly")
    with pytest.raises(UnusableOffer, match="offer H264"):
        await engine.watch("h264", firefox)
    # Safari (viewer-shaped) can
    view = await engine.watch("h264", safari)
    assert "a=rtpmap:98 H264/90000" in view.answer_sdp  # same profile as OBS sends
    assert_loopback_only(view.answer_sdp)
    await engine.leave("h264", view.session_id)
    await engine.unpublish("h264", session.session_id)
