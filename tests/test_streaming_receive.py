"""A publisher's packets on their way in: SRTP unprotected in a buffer of ours and parsed lean, receive
statistics and NACKs counted by leaner classes, a fixed REMB. Each is checked against aiortc's own
classes, and end to end with a real aiortc publisher whose packets are lost on the way."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pylibsrtp
import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    is_rtcp,
    unpack_remb_fci,
)

from streaming import aiortc_internals, aiortc_receive
from streaming import testsource as ts
from streaming.engine import MediaEngine
from streaming.rtp_endpoints import REMB_BITRATE, NackTracker, ReceiveStatistics

EXTENSIONS = [
    (1, "urn:ietf:params:rtp-hdrext:sdes:mid"),
    (3, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    (4, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
]


def extensions_map() -> HeaderExtensionsMap:
    mapping = HeaderExtensionsMap()
    mapping.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=i, uri=uri) for i, uri in EXTENSIONS
    ]))
    return mapping


def srtp_sessions(count: int) -> tuple[pylibsrtp.Session, list[pylibsrtp.Session]]:
    """One outgoing session and ``count`` incoming ones with its key (each unprotects a packet once)."""
    key = os.urandom(30)
    out = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    return out, [
        pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
        for _ in range(count)
    ]


def random_packet(rng: random.Random, seq: int) -> RtpPacket:
    packet = RtpPacket(payload_type=rng.choice((96, 102, 111)), marker=rng.randint(0, 1), sequence_number=seq,
                       timestamp=rng.getrandbits(32), ssrc=rng.getrandbits(32),
                       payload=rng.randbytes(rng.choice((0, 1, 2, 160, 1100))))
    packet.csrc = [rng.getrandbits(32) for _ in range(rng.choice((0, 0, 1, 3)))]
    if rng.random() < 0.7:
        packet.extensions = HeaderExtensions(
            mid=rng.choice((None, "0", "video")),
            abs_send_time=rng.choice((None, rng.getrandbits(24))),
            audio_level=rng.choice((None, (True, rng.randint(0, 127)))),
        )
    if rng.random() < 0.2:
        packet.padding_size = rng.randint(1, 40)
    return packet


def fields(packet: RtpPacket) -> tuple[Any, ...]:
    return (packet.version, packet.marker, packet.payload_type, packet.sequence_number, packet.timestamp,
            packet.ssrc, list(packet.csrc), packet.payload, packet.padding_size, packet.extensions)


def test_the_lean_read_gives_what_aiortc_parses_from_pylibsrtp() -> None:
    rng = random.Random(7)
    mapping = extensions_map()
    out, (theirs, ours) = srtp_sessions(2)
    reader = aiortc_receive.RtpReader(ours)
    for seq in range(600):
        datagram = out.protect(random_packet(rng, seq).serialize(mapping))
        expected = RtpPacket.parse(theirs.unprotect(datagram), mapping)
        got = reader.read(datagram, mapping)
        assert got is not None and isinstance(got, RtpPacket)
        assert fields(got) == fields(expected)
    # what pylibsrtp refuses (a replay, a changed byte) and what aiortc's parse refuses is dropped
    datagram = out.protect(random_packet(rng, 600).serialize(mapping))
    assert reader.read(datagram, mapping) is not None
    assert reader.read(datagram, mapping) is None
    theirs.unprotect(datagram)
    with pytest.raises(pylibsrtp.Error):  # as pylibsrtp refuses the replay, aiortc's way
        theirs.unprotect(datagram)
    tampered = bytearray(out.protect(random_packet(rng, 601).serialize(mapping)))
    tampered[20] ^= 1
    assert reader.read(bytes(tampered), mapping) is None
    bad_padding = bytearray(RtpPacket(sequence_number=602, payload=b"abc").serialize())
    bad_padding[0] |= 0x20
    bad_padding[-1] = 200  # more padding than the packet has
    with pytest.raises(ValueError):
        RtpPacket.parse(bytes(bad_padding))
    assert reader.read(out.protect(bytes(bad_padding)), mapping) is None
    assert reader.read(b"\x80" * 1600, mapping) is None  # larger than any packet libsrtp takes here


compiled = pytest.mark.skipif(
    aiortc_receive._receive is None,
    reason="streaming/_receive.c is not compiled here (pip install -e . with a C compiler); datagrams are read in Python",
)


def read_all(sock: socket.socket, session: pylibsrtp.Session, mapping: HeaderExtensionsMap) -> list[Any]:
    """What the compiled read gives for everything waiting on ``sock``, one call after another (at most 64 each)."""
    address = aiortc_internals.srtp_address(session)
    calls = []
    while True:
        items, count, size = aiortc_receive._receive.read(
            sock.fileno(), address, aiortc_receive.ReceivedRtpPacket, mapping, aiortc_receive.READ_BATCH
        )
        if not items and not count:
            return calls
        assert len(items) <= aiortc_receive.READ_BATCH
        calls.append((items, count, size))


@compiled
def test_the_compiled_read_gives_what_the_python_way_gives() -> None:
    """Every datagram waiting read in one call: RTP unprotected and parsed as aiortc parses what pylibsrtp
    unprotects, what libsrtp or the parse refuses dropped but counted, anything else handed back whole with
    its address, all in the order they came."""
    rng = random.Random(5)
    mapping = extensions_map()
    out, (theirs, ours) = srtp_sessions(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        rx.setblocking(False)
        tx.bind(("127.0.0.1", 0))
        assert read_all(rx, ours, mapping) == []  # nothing waiting
        expected: list[Any] = []  # per datagram: fields of the packet, (datagram, address) or None: dropped
        rtp_count = rtp_bytes = 0
        for seq in range(150):
            roll = rng.random()
            if roll < 0.1:  # RTCP, STUN, DTLS: the Python way
                datagram = rng.choice((
                    bytes([0x81, 200]) + rng.randbytes(50), bytes([0x80, 208]) + rng.randbytes(30),
                    bytes([0x00, 0x01]) + rng.randbytes(18), bytes([22, 0xFE]) + rng.randbytes(100),
                    bytes([0xC0]) + rng.randbytes(300),
                ))
                expected.append((datagram, tx.getsockname()))
            else:
                datagram = out.protect(random_packet(rng, seq).serialize(mapping))
                rtp_count += 1
                rtp_bytes += len(datagram)
                if roll < 0.15:  # changed on the way: libsrtp refuses it
                    datagram = datagram[:20] + bytes([datagram[20] ^ 1]) + datagram[21:]
                    expected.append(None)
                else:
                    expected.append(fields(RtpPacket.parse(theirs.unprotect(datagram), mapping)))
            tx.sendto(datagram, rx.getsockname())
        replay = out.protect(random_packet(rng, 150).serialize(mapping))
        bad_padding = bytearray(RtpPacket(sequence_number=151, payload=b"abc").serialize())
        bad_padding[0] |= 0x20
        bad_padding[-1] = 200  # more padding than the packet has
        for datagram, outcome in ((replay, "packet"), (replay, None), (out.protect(bytes(bad_padding)), None),
                                  (b"\x80" * 1600, None)):  # larger than libsrtp takes here
            if outcome:
                expected.append(fields(RtpPacket.parse(theirs.unprotect(datagram), mapping)))
            else:
                expected.append(None)
            rtp_count += 1
            rtp_bytes += len(datagram)
            tx.sendto(datagram, rx.getsockname())
        calls = read_all(rx, ours, mapping)
    assert len(calls) == 3  # 154 datagrams, 64 at most a call
    items = [item for got, _, _ in calls for item in got]
    assert [fields(i) if isinstance(i, RtpPacket) else i for i in items] == [e for e in expected if e is not None]
    assert all(type(i) is aiortc_receive.ReceivedRtpPacket for i in items if not isinstance(i, tuple))
    # the transport's received RTP, counted before unprotecting as aiortc counts it
    assert sum(count for _, count, _ in calls) == rtp_count and sum(size for _, _, size in calls) == rtp_bytes


@compiled
def test_the_compiled_read_refuses_what_it_cannot_use() -> None:
    read = aiortc_receive._receive.read
    mapping = extensions_map()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.setblocking(False)
        with pytest.raises(TypeError, match="read\\(fd, session"):
            read(rx.fileno(), 1, aiortc_receive.ReceivedRtpPacket, mapping)  # a missing argument
        with pytest.raises(ValueError, match="libsrtp's session"):
            read(rx.fileno(), 0, aiortc_receive.ReceivedRtpPacket, mapping, 64)  # no session
    with pytest.raises(OSError):
        read(-1, 1, aiortc_receive.ReceivedRtpPacket, mapping, 64)  # no socket: the transport's error path


def sequence(rng: random.Random, count: int) -> list[int]:
    """Sequence numbers as a network delivers them: losses, reordering, duplicates, a wrap, a jump."""
    seq, out = 65000, []
    for i in range(count):
        step = rng.choices((1, 2, 5, 0, -3, 300), weights=(80, 6, 2, 4, 6, 1 if i % 500 == 0 else 0))[0]
        seq = (seq + step) & 0xFFFF
        out.append(seq)
    return out


def test_receive_statistics_and_nacks_are_aiortcs(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])  # both read the same arrival times
    theirs, ours = StreamStatistics(90000), ReceiveStatistics(90000)
    their_nacks, our_nacks = NackGenerator(), NackTracker()
    timestamp = 0
    for seq in sequence(rng, 3000):
        clock[0] += rng.random() * 0.01
        timestamp = (timestamp + rng.choice((0, 0, 3000))) & 0xFFFFFFFF
        packet = RtpPacket(sequence_number=seq, timestamp=timestamp)
        theirs.add(packet)
        ours.add(packet)
        assert our_nacks.add(packet) == their_nacks.add(packet)
        assert our_nacks.missing == their_nacks.missing and our_nacks.max_seq == their_nacks.max_seq
        assert (ours.max_seq, ours.cycles, ours.packets_received, ours.jitter) == (
            theirs.max_seq, theirs.cycles, theirs.packets_received, theirs.jitter)
        if rng.random() < 0.05:  # a receiver report's figures
            assert (ours.packets_lost, ours.fraction_lost) == (theirs.packets_lost, theirs.fraction_lost)
    assert ours.jitter > 0 and their_nacks.missing


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    engine = MediaEngine(ice_servers=[], ice_hosts=["127.0.0.1"], grace_period=1.0)
    yield engine
    await engine.close()


class Payloads:
    """A packet sink keeping each video payload the forwarder passed on."""

    def __init__(self) -> None:
        self.video: set[bytes] = set()

    def on_codec(self, kind: str, codec: Any) -> None:
        pass

    def on_packet(self, kind: str, packet: RtpPacket, arrival_time: float) -> None:
        if kind == "video":
            self.video.add(packet.payload)


@pytest.mark.media
async def test_a_publisher_gets_remb_reports_and_nacks_and_its_retransmissions_are_forwarded(
    engine: MediaEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled_reads = [0]  # RTP packets the compiled read took off the publisher's socket
    if aiortc_receive._receive is not None:
        real = aiortc_receive._receive

        class Counting:
            @staticmethod
            def read(*args: Any) -> Any:
                result = real.read(*args)
                compiled_reads[0] += result[1]
                return result

        monkeypatch.setattr(aiortc_receive, "_receive", Counting)
    async def signal(offer: str) -> str:
        return (await engine.publish("hall-1", offer)).answer_sdp

    publisher = await ts.publish_test_card(signal)
    video = next(t.sender for t in publisher.pc.getTransceivers() if t.kind == "video")
    ssrc = aiortc_internals.sender_ssrc(video)
    rtcp: list[Any] = []
    handle = video._handle_rtcp_packet

    async def seen(packet: Any) -> None:
        rtcp.append(packet)
        await handle(packet)

    video._handle_rtcp_packet = seen  # type: ignore[method-assign]
    lost: dict[int, bytes] = {}  # sequence number -> payload, of the video packets lost on the way
    sent = [0]

    def lose(data: bytes) -> bool:
        if is_rtcp(data) or int.from_bytes(data[8:12]) != ssrc:
            return False  # RTCP, audio and retransmissions (RTX has an SSRC of its own) get through
        sent[0] += 1
        if sent[0] % 37 or len(lost) >= 8:
            return False
        packet = RtpPacket.parse(data)
        lost[packet.sequence_number] = packet.payload
        return True

    aiortc_internals.lose_outgoing_rtp(video.transport, lose)
    payloads = Payloads()
    engine.add_packet_sink("hall-1", payloads)
    try:
        async with asyncio.timeout(20):
            while len(lost) < 8 or not all(p in payloads.video for p in lost.values()):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        engine.request_keyframe("hall-1")
        async with asyncio.timeout(5):
            while not any(isinstance(p, RtcpRrPacket) for p in rtcp) or not any(  # noqa: ASYNC110
                isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_PLI for p in rtcp
            ):
                await asyncio.sleep(0.05)
    finally:
        await publisher.close()
    nacked = {seq for p in rtcp if isinstance(p, RtcpRtpfbPacket) and p.fmt == RTCP_RTPFB_NACK for seq in p.lost}
    assert set(lost) <= nacked
    rembs = [unpack_remb_fci(p.fci) for p in rtcp if isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_APP]
    assert rembs and all(remb == (REMB_BITRATE, [ssrc]) for remb in rembs)
    reports = [r for p in rtcp if isinstance(p, RtcpRrPacket) for r in p.reports if r.ssrc == ssrc]
    assert reports and reports[-1].highest_sequence > min(lost)
    assert aiortc_receive._receive is None or compiled_reads[0] > 100  # the publisher's media came the compiled way
    assert 0 <= reports[-1].packets_lost <= len(lost)
