"""aiortc's private parts the forwarder uses: pinned, present, and reported clearly when they change."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from streaming import aiortc_internals
from streaming.engine import MediaEngine

ROOT = Path(__file__).resolve().parent.parent


def test_the_installed_libraries_are_the_pinned_ones_with_every_internal_used() -> None:
    assert aiortc_internals.problems() == []
    aiortc_internals.check()


def test_pyproject_pins_the_versions_the_internals_were_written_for() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(d.split("==", 1) for d in dependencies if d.split("==")[0] in aiortc_internals.PINNED)
    assert pins == aiortc_internals.PINNED


def test_another_aiortc_version_is_reported_with_where_to_look() -> None:
    versions = {**aiortc_internals.installed_versions(), "aiortc": "1.99.0"}
    found = aiortc_internals.problems(versions)
    assert found == ["aiortc 1.99.0 is installed, but Cloud Expo uses private parts of aiortc 1.16.0"]


def test_a_missing_private_attribute_fails_the_engine_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    aiortc_internals.check.cache_clear()
    try:
        with pytest.raises(aiortc_internals.AiortcChanged) as caught:
            MediaEngine()
    finally:
        monkeypatch.undo()
        aiortc_internals.check.cache_clear()
    message = str(caught.value)
    assert "RTCRtpReceiver has no method '_send_rtcp_pli'" in message
    assert "streaming/aiortc_internals.py" in message and "pyproject.toml" in message
    MediaEngine()  # restored: the engine starts again


def test_only_aiortc_internals_reaches_into_the_webrtc_libraries_privately() -> None:
    private = re.compile(
        r"_RTCRtp\w+__|\._tx_srtp|\._nominated|\._connection\b|\._codecs\b|__class__ = |pylibsrtp\._"
        r"|\._register_rtp|\._unregister_rtp|\._send_rtp\b|\.CODECS = |ice\.get_host_addresses =|_RTCPeerConnection__"
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted([*(ROOT / "streaming").glob("*.py"), *(ROOT / "bench").glob("*.py"), *(ROOT / "tests").glob("*.py")])
        if path.name not in ("aiortc_internals.py", "test_streaming_internals.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []
