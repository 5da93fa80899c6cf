"""aiortc's private parts the forwarder uses: pinned, present, and reported clearly when they change."""

from __future__ import annotations

import asyncio
import re
import socket
import tomllib
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from streaming import aiortc_internals, aiortc_receive
from streaming import testsource as ts
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


def test_only_aiortc_internals_and_its_receive_half_reach_into_the_webrtc_libraries_privately() -> None:
    private = re.compile(
        r"_RTCRtp\w+__|\._tx_srtp|\._nominated|\._connection\b|\._codecs\b|__class__ = |pylibsrtp\._"
        r"|\._register_rtp|\._unregister_rtp|\._send_rtp\b|\.CODECS = |ice\.get_host_addresses =|_RTCPeerConnection__"
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted([*(ROOT / "streaming").glob("*.py"), *(ROOT / "bench").glob("*.py"), *(ROOT / "tests").glob("*.py")])
        if path.name not in ("aiortc_internals.py", "aiortc_receive.py", "test_streaming_internals.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []


async def test_a_datagram_is_read_into_memory_of_its_own_size() -> None:
    """asyncio reads each datagram into a 256 KiB block, then shrinks it: under the server's kept mmap
    threshold (cloudexpo/heap.py) a mapping of its own per packet, hundreds a second. Read exactly, a
    datagram costs its size, and arrives whole up to the largest there is."""
    loop = asyncio.get_running_loop()
    received: list[tuple[bytes, tuple[str, int]]] = []

    class Collect(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
            received.append((data, addr))

    stock, _ = await loop.create_datagram_endpoint(Collect, local_addr=("127.0.0.1", 0))
    exact, _ = await loop.create_datagram_endpoint(Collect, local_addr=("127.0.0.1", 0))
    await asyncio.sleep(0)  # both transports start reading
    assert aiortc_receive.read_datagrams_exactly(exact)
    assert not aiortc_receive.read_datagrams_exactly(exact)  # once per transport
    assert not aiortc_receive.read_datagrams_exactly(object())  # not asyncio's datagram transport: left alone
    packets = [bytes([0x80, i]) + bytes(1198) for i in range(50)]
    overshoot = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.1", 0))
        try:
            for name, transport in (("stock", stock), ("exact", exact)):
                received.clear()
                tracemalloc.start()
                try:
                    for packet in packets:
                        sender.sendto(packet, transport.get_extra_info("sockname"))
                        async with asyncio.timeout(10):
                            while len(received) < packets.index(packet) + 1:  # noqa: ASYNC110 - the loop reads the socket
                                await asyncio.sleep(0.001)
                    current, peak = tracemalloc.get_traced_memory()
                    overshoot[name] = peak - current  # beyond what was received and kept
                finally:
                    tracemalloc.stop()
                assert [data for data, _ in received] == packets
                assert {addr for _, addr in received} == {sender.getsockname()}
            assert overshoot["stock"] > 200_000  # asyncio's 256 KiB read
            assert overshoot["exact"] < 32_000, overshoot
            received.clear()
            largest = bytes(range(256)) * 255 + bytes(227)  # 65,507 bytes: the most a UDP datagram holds
            sender.sendto(largest, exact.get_extra_info("sockname"))
            async with asyncio.timeout(10):
                while not received:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)
            assert received[0][0] == largest
        finally:
            stock.close()
            exact.close()


@pytest.mark.media
async def test_the_engine_reads_its_connections_datagrams_at_their_size() -> None:
    """The publisher's media and the viewers' RTCP come in on sockets that read exactly (see above)."""
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"])
    publisher = await ts.publish_test_card(lambda offer: _answer(engine.publish("exact", offer)))
    viewer = await ts.watch(lambda offer: _answer(engine.watch("exact", offer)), decode=False)
    try:
        await viewer.wait_frames(3)
        stream = engine._streams["exact"]
        assert stream.publisher is not None and len(stream.viewers) == 1
        for pc in [stream.publisher.pc, *(v.pc for v in stream.viewers.values())]:
            transports = [p.transport for p in pc.getTransceivers()[0].receiver.transport.transport._connection._protocols]
            assert transports
            assert all("_read_ready" in vars(t) for t in transports), "a connection's socket still reads 256 KiB a time"
    finally:
        await viewer.close()
        await publisher.close()
        await engine.close()


async def _answer(session: Any) -> str:
    return (await session).answer_sdp
