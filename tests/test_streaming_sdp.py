"""SDP checks on real offers from OBS, Chromium, Firefox and Safari."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaming.errors import UnusableOffer
from streaming.sdp import (
    CodecChoice,
    candidate_hosts,
    check_publish_offer,
    check_view_offer,
    filter_candidates,
    is_loopback,
    summarize_offer,
)

FIXTURES = Path(__file__).parent / "fixtures" / "sdp"
ALL = sorted(p.name for p in FIXTURES.glob("*.sdp"))
H264_CB = CodecChoice("video", "H264", 96, 90000, None, {}, None, "constrained-baseline")
VP8 = CodecChoice("video", "VP8", 96, 90000)
OPUS = CodecChoice("audio", "opus", 111, 48000, 2)


def offer(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode()


def test_fixtures_are_verbatim_crlf() -> None:
    assert len(ALL) == 7
    for name in ALL:
        raw = (FIXTURES / name).read_bytes()
        assert raw.startswith(b"v=0\r\n") and raw.endswith(b"\r\n")
        assert b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize("name", ALL)
def test_every_fixture_parses(name: str) -> None:
    summary = summarize_offer(offer(name))
    assert summary.has_video
    assert summary.has_audio
    assert summary.video is not None  # every one of them has something we forward
    assert summary.audio is not None and summary.audio.name == "opus"


def test_obs_quirks() -> None:
    summary = check_publish_offer(offer("obs-30-whip-offer.sdp"))
    assert summary.ice_at_session_level
    assert [m.kind for m in summary.media] == ["audio", "video"]
    assert all(m.direction == "sendonly" for m in summary.media)
    assert summary.video == CodecChoice(
        "video",
        "H264",
        96,
        90000,
        None,
        {"profile-level-id": "42e01f", "packetization-mode": "1", "level-asymmetry-allowed": "1"},
        None,
        "constrained-baseline",
    )
    audio = summary.audio
    assert audio is not None and audio.name == "opus" and audio.payload_type == 111
    assert summary.section("audio").codec_names == ["OPUS"]  # type: ignore[union-attr]
    # candidates on non-loopback addresses only, which our filter drops
    assert summary.candidate_hosts and not any(is_loopback(h) for h in summary.candidate_hosts)
    stripped = filter_candidates(offer("obs-30-whip-offer.sdp"), is_loopback)
    assert candidate_hosts(stripped) == []
    assert stripped.endswith("\r\n") and "a=end-of-candidates" not in stripped
    assert filter_candidates(offer("obs-30-whip-offer.sdp"), lambda h: True) == offer(
        "obs-30-whip-offer.sdp"
    )


@pytest.mark.parametrize(
    ("name", "pt", "profile", "rtx"),
    [
        ("chromium-120-offer.sdp", 106, "constrained-baseline", 107),
        ("chromium-156-offer.sdp", 108, "constrained-baseline", 109),
        ("chromium-156-simulcast-offer.sdp", 108, "constrained-baseline", 109),
        ("firefox-121-offer.sdp", 126, "constrained-baseline", 127),
    ],
)
def test_browsers_pick_h264_mode_1(name: str, pt: int, profile: str, rtx: int) -> None:
    summary = check_publish_offer(offer(name))
    video = summary.video
    assert video is not None
    assert (video.name, video.payload_type, video.profile, video.rtx_payload_type) == (
        "H264",
        pt,
        profile,
        rtx,
    )
    profiles = {c.profile for c in summary.section("video").forwardable if c.name == "H264"}  # type: ignore[union-attr]
    # packetization-mode=0 twins are never forwardable
    assert all(
        c.parameters.get("packetization-mode") == "1"
        for c in summary.section("video").forwardable  # type: ignore[union-attr]
        if c.name == "H264"
    )
    if name.startswith("chromium"):
        assert profiles == {"constrained-baseline", "baseline", "main"}


def test_simulcast_is_noticed() -> None:
    assert summarize_offer(offer("chromium-156-simulcast-offer.sdp")).simulcast
    assert not summarize_offer(offer("chromium-156-offer.sdp")).simulcast


def test_firefox_esr_without_openh264_publishes_vp8() -> None:
    summary = check_publish_offer(offer("firefox-esr-153-offer.sdp"))
    assert summary.video is not None and summary.video.name == "VP8"
    assert summary.video.payload_type == 120 and summary.video.rtx_payload_type == 124
    assert summary.audio is not None and summary.audio.payload_type == 109
    assert set(summary.candidate_hosts) == {"127.0.0.1", "::1"}
    # a stream already watched in H.264 cannot be taken over by a VP8-only publisher
    with pytest.raises(UnusableOffer, match="receive H264"):
        check_publish_offer(offer("firefox-esr-153-offer.sdp"), like=H264_CB)


def test_safari_is_a_viewer_offer() -> None:
    with pytest.raises(UnusableOffer, match="must be sendonly"):
        check_publish_offer(offer("safari-mac-offer.sdp"))
    summary = check_view_offer(offer("safari-mac-offer.sdp"), H264_CB, OPUS)
    video = summary.section("video")
    assert video is not None
    assert [c.profile for c in video.forwardable if c.name == "H264"] == [
        "constrained-high",
        "constrained-baseline",
    ]
    assert summary.video is not None and summary.video.payload_type == 98
    check_view_offer(offer("safari-mac-offer.sdp"), VP8, OPUS)


@pytest.mark.parametrize("name", [n for n in ALL if "safari" not in n])
def test_publisher_offers_are_not_viewer_offers(name: str) -> None:
    summary = summarize_offer(offer(name))
    if summary.section("video").direction == "sendonly":  # type: ignore[union-attr]
        with pytest.raises(UnusableOffer, match="must be recvonly"):
            check_view_offer(offer(name), H264_CB, OPUS)
    else:  # sendrecv offers can both publish and watch
        check_view_offer(offer(name), H264_CB, OPUS)


def test_offer_without_video() -> None:
    # OBS's offer without its video section (mid 1), and so without mid 1 in its BUNDLE group
    audio_only = offer("obs-30-whip-offer.sdp").split("m=video")[0].replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0")
    with pytest.raises(UnusableOffer, match="the offer has no video"):
        check_publish_offer(audio_only)


def test_offer_without_forwardable_video_codec() -> None:
    text = offer("firefox-121-offer.sdp")
    text = text.replace("VP8/90000", "VP9/90000").replace(
        "packetization-mode=1", "packetization-mode=0"
    )
    with pytest.raises(UnusableOffer, match="offer H264 packetization-mode=1 or VP8"):
        check_publish_offer(text)


def test_offer_without_opus() -> None:
    text = offer("obs-30-whip-offer.sdp").replace("OPUS/48000/2", "G722/8000")
    with pytest.raises(UnusableOffer, match="offer Opus"):
        check_publish_offer(text)


def test_not_sdp() -> None:
    with pytest.raises(UnusableOffer, match="not an SDP offer"):
        summarize_offer("hello")


def test_viewer_without_h264_cannot_watch_h264() -> None:
    with pytest.raises(UnusableOffer, match="offer H264"):
        text = offer("firefox-esr-153-offer.sdp").replace("sendonly", "recvonly")
        check_view_offer(text, H264_CB, OPUS)
