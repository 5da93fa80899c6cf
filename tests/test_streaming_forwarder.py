"""The forwarder's numbering, caches and payload inspection, without sockets."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import random
import struct

import av
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RtpPacket

from streaming import fanout
from streaming.forwarder import FRAME_HOLD_MAX, OutputPacket, TrackForwarder
from streaming.payloads import _ue, h264_inspect, h264_slice_type, vp8_inspect
from streaming.sdp import CodecChoice
from streaming.testsource import draw_test_card

H264 = CodecChoice("video", "H264", 96, 90000, None, {}, None, "constrained-baseline")


class FakeOutput:
    """Stands in for a ViewerOutput: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[OutputPacket] = []
        self.catch_up = None

    def send(self, out: OutputPacket) -> None:
        self.sent.append(out)


def packet(ssrc: int, seq: int, ts: int, payload: bytes, marker: int = 0) -> RtpPacket:
    p = RtpPacket(
        payload_type=96, sequence_number=seq & 0xFFFF, timestamp=ts & 0xFFFFFFFF, ssrc=ssrc
    )
    p.payload = payload
    p.marker = marker
    return p


def seq_ts(out: OutputPacket) -> tuple[int, int]:
    sequence_number, _marker, rtp = out
    seq, ts = struct.unpack("!HI", rtp[2:8])
    assert seq == sequence_number and rtp[1] == 0 and rtp[8:12] == b"\x00" * 4  # PT and SSRC: each viewer's
    return seq, ts


IDR = bytes([0x65, 0x88, 0x84]) + b"\x00" * 20  # single NAL, IDR slice
P_SLICE = bytes([0x41, 0x9A, 0x00]) + b"\x00" * 20  # single NAL, non-IDR slice


def make_track() -> tuple[TrackForwarder, list[int]]:
    requests: list[int] = []
    track = TrackForwarder("video", lambda: requests.append(1))
    track.set_codec(H264)
    return track, requests


async def test_takeover_keeps_numbering_continuous() -> None:
    track, _ = make_track()
    out = FakeOutput()
    track.outputs.append(out)  # type: ignore[arg-type]
    for i in range(5):
        track.on_packet(packet(1111, 65533 + i, 1000 + 3000 * i, P_SLICE, marker=1))
    await asyncio.sleep(0.05)
    for i in range(5):  # the new publisher starts anywhere
        track.on_packet(packet(2222, 100 + i, 777777 + 3000 * i, P_SLICE, marker=1))
    numbers = [seq_ts(e) for e in out.sent]
    seqs = [s for s, _ in numbers]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    stamps = [t for _, t in numbers]
    gaps = [(b - a) & 0xFFFFFFFF for a, b in itertools.pairwise(stamps)]
    assert gaps[:4] == [3000] * 4 and gaps[5:] == [3000] * 4
    assert 4000 <= gaps[4] < 90000  # ~50 ms of wall clock between the two publishers
    assert track.packets_lost == 0


async def test_an_encoder_restarted_with_its_old_ssrc_is_a_new_source() -> None:
    """OBS's Stop and Start may keep the SSRC and begin new numbers: viewers still see one track."""
    track, requests = make_track()
    out = FakeOutput()
    track.outputs.append(out)  # type: ignore[arg-type]
    for i in range(5):
        track.on_packet(packet(1111, 40000 + i, 5000 + 3000 * i, IDR if i == 0 else P_SLICE, marker=1))
    await asyncio.sleep(0.05)
    asked = len(requests)
    track.new_source()  # the engine's takeover
    for i in range(5):
        track.on_packet(packet(1111, 7 + i, 123 + 3000 * i, P_SLICE, marker=1))
    seqs = [seq_ts(e)[0] for e in out.sent]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    stamps = [seq_ts(e)[1] for e in out.sent]
    assert 4000 <= (stamps[5] - stamps[4]) & 0xFFFFFFFF < 90000  # the real time between them, never backwards
    assert track.packets_lost == 0
    assert len(requests) == asked + 1  # the new encoder is asked for a keyframe for the viewers' decoders


async def test_padding_is_hidden_and_losses_counted() -> None:
    track, _ = make_track()
    out = FakeOutput()
    track.outputs.append(out)  # type: ignore[arg-type]
    track.on_packet(packet(1, 10, 0, P_SLICE, 1))
    track.on_packet(packet(1, 11, 0, b""))  # padding only
    track.on_packet(packet(1, 12, 3000, P_SLICE, 1))
    track.on_packet(packet(1, 15, 6000, P_SLICE, 1))  # 13, 14 lost
    seqs = [seq_ts(e)[0] for e in out.sent]
    assert (seqs[1] - seqs[0]) & 0xFFFF == 1  # no hole where the padding was
    assert (seqs[2] - seqs[1]) & 0xFFFF == 3
    assert track.packets_lost == 2
    track.on_packet(packet(1, 13, 0, P_SLICE))  # retransmission arrives late
    assert track.packets_lost == 1


async def test_nack_answered_from_ring() -> None:
    track, _ = make_track()
    out = FakeOutput()
    track.outputs.append(out)  # type: ignore[arg-type]
    for i in range(10):
        track.on_packet(packet(1, i, 3000 * i, P_SLICE, 1))
    wanted = [seq_ts(out.sent[3])[0], seq_ts(out.sent[7])[0], (seq_ts(out.sent[9])[0] + 5) & 0xFFFF]
    other = FakeOutput()
    track.retransmit(other, wanted)  # type: ignore[arg-type]
    assert other.sent == [out.sent[3], out.sent[7]]


async def test_late_joiner_starts_at_the_last_keyframe() -> None:
    track, requests = make_track()
    for i in range(3):
        track.on_packet(packet(1, i, 3000 * i, P_SLICE, 1))
    track.on_packet(packet(1, 3, 9000, IDR, 1))
    for i in range(4, 8):
        track.on_packet(packet(1, i, 3000 * i, P_SLICE, 1))
    assert track.gop is not None and len(track.gop) == 5 and track.keyframes == 1
    out = FakeOutput()
    track.attach(out)  # type: ignore[arg-type]
    assert requests == [1]  # and a fresh keyframe is asked for
    track.on_packet(packet(1, 8, 24000, P_SLICE, 1))  # arrives while catching up
    await asyncio.sleep(0.05)
    seqs = [seq_ts(e)[0] for e in out.sent]
    assert len(seqs) == 6 and out.sent[0][2][12:] == IDR
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    assert out in track.outputs and not track.joining  # type: ignore[comparison-overlap]


def test_h264_inspection_of_encoded_packets() -> None:
    encoder = H264Encoder()
    frame = av.VideoFrame.from_image(draw_test_card(1, 320, 240, (255, 0, 0)))
    frame.pts, frame.time_base = 0, fractions.Fraction(1, 90000)
    payloads, _ = encoder.encode(frame, force_keyframe=True)
    assert h264_inspect(payloads[0])[0]  # SPS/PPS (STAP-A) or IDR first
    frame.pts = 3000
    payloads, _ = encoder.encode(frame)
    assert not any(h264_inspect(p)[0] for p in payloads)


def _read_ue_bit_by_bit(data: bytes, bit: int) -> tuple[int, int]:
    """ITU-T H.264 9.1 as written: count leading zeros, then read that many bits."""
    total = len(data) * 8
    zeros = 0
    while bit < total and not (data[bit >> 3] >> (7 - (bit & 7))) & 1:
        zeros += 1
        bit += 1
    if bit >= total or zeros > 31:
        raise ValueError("truncated")
    bit += 1
    value = 0
    for _ in range(zeros):
        if bit >= total:
            raise ValueError("truncated")
        value = (value << 1) | ((data[bit >> 3] >> (7 - (bit & 7))) & 1)
        bit += 1
    return (1 << zeros) - 1 + value, bit


def test_exp_golomb_reads_as_the_standard_writes_it() -> None:
    """The forwarder's exp-Golomb read gives what reading bit by bit gives, or refuses the same codes."""
    rng = random.Random(11)
    cases = [bytes(n) for n in range(4)] + [b"\x80", b"\x40", b"\x01\xff", b"\x00\x00\x00\x01\xff\xff\xff\xff"]
    cases += [bytes(4) + b"\x80" + bytes(4)]  # 32 zeros with room for the code: refused as too long, not cut short
    cases += [rng.randbytes(rng.randint(1, 8)) for _ in range(3000)]
    cases += [bytes([0] * rng.randint(0, 4)) + rng.randbytes(rng.randint(1, 4)) for _ in range(3000)]
    for data in cases:
        for bit in range(len(data) * 8 + 1):
            try:
                expected: tuple[int, int] | None = _read_ue_bit_by_bit(data, bit)
            except ValueError:
                expected = None
            try:
                value, left = _ue(int.from_bytes(data, "big"), len(data) * 8 - bit)
                got: tuple[int, int] | None = (value, len(data) * 8 - left)
            except ValueError:
                got = None
            assert got == expected, (data.hex(), bit)


def test_bframes_detected_in_libx264_output() -> None:
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 240, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.options = {"bframes": "2", "preset": "veryfast", "b-adapt": "0"}
    slice_types = []
    frames = []
    for i in range(30):
        frame = av.VideoFrame.from_image(draw_test_card(i, 320, 240, (i * 8, 0, 0)))
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        frames.append(frame)
    for frame in [*frames, None]:
        for pkt in codec.encode(frame):
            for nal in bytes(pkt).split(b"\x00\x00\x01")[1:]:
                nal = nal.rstrip(b"\x00")
                st = h264_slice_type(nal)
                if st is not None:
                    slice_types.append(st)
                    # a single-NAL RTP packet of that slice says the same, and so does its FU-A start fragment
                    assert h264_inspect(nal)[1] == st
                    fragment = bytes([(nal[0] & 0xE0) | 28, 0x80 | (nal[0] & 0x1F)]) + nal[1:40]
                    assert h264_inspect(fragment)[1] == st
    assert 1 in slice_types  # B
    assert 2 in slice_types  # I


def test_vp8_keyframe_detection() -> None:
    encoder = Vp8Encoder()
    frame = av.VideoFrame.from_image(draw_test_card(1, 320, 240, (255, 0, 0)))
    frame.pts, frame.time_base = 0, fractions.Fraction(1, 90000)
    payloads, _ = encoder.encode(frame, force_keyframe=True)
    assert vp8_inspect(payloads[0])[0]
    assert not any(vp8_inspect(p)[0] for p in payloads[1:])
    frame.pts = 3000
    payloads, _ = encoder.encode(frame)
    assert not any(vp8_inspect(p)[0] for p in payloads)


async def test_a_frame_goes_out_when_its_last_packet_is_in() -> None:
    """Held until its marker, the next frame's first packet, or FRAME_HOLD_MAX; a late packet at once."""
    track, _ = make_track()
    track.holds_frames = True  # the default where streaming/_fanout.c is compiled
    out = FakeOutput()
    track.outputs.append(out)  # type: ignore[arg-type]
    for i in range(3):
        track.on_packet(packet(1, 100 + i, 9000, IDR if i == 0 else P_SLICE, int(i == 2)))
        assert len(out.sent) == (3 if i == 2 else 0)  # nothing before the frame is complete
    track.on_packet(packet(1, 103, 12000, P_SLICE))  # a frame whose last packet never says so
    track.on_packet(packet(1, 104, 12000, P_SLICE))
    assert len(out.sent) == 3
    track.on_packet(packet(1, 106, 15000, P_SLICE))  # the next frame begins (105 lost): the one before goes
    assert [seq_ts(e)[1] for e in out.sent[3:]] == [seq_ts(out.sent[0])[1] + 3000] * 2
    track.on_packet(packet(1, 105, 12000, P_SLICE))  # the lost one, retransmitted: at once, not held
    assert len(out.sent) == 6 and seq_ts(out.sent[5])[0] == (seq_ts(out.sent[0])[0] + 5) & 0xFFFF
    await asyncio.sleep(FRAME_HOLD_MAX * 3)  # 106's frame never ends: it goes after FRAME_HOLD_MAX
    seqs = [seq_ts(e)[0] for e in out.sent]
    assert len(seqs) == 7 and seqs[6] == (seqs[0] + 6) & 0xFFFF
    assert track.packets_forwarded == 7 and track.packets_lost == 0


@pytest.mark.parametrize("watched", [True, False], ids=["held-for-another-viewer", "nobody-watching"])
async def test_a_viewer_who_joins_during_a_frame_gets_it_once(watched: bool) -> None:
    """Mid-frame, a joining viewer gets the frame's first packets from the cached keyframe's run and the
    rest when the frame is complete: each once, in order, whether the frame was held for a viewer already
    there or, with nobody watching, went out at once (nothing held, no timer)."""
    track, _ = make_track()
    track.holds_frames = True
    first = FakeOutput()
    if watched:
        track.outputs.append(first)  # type: ignore[arg-type]
    track.on_packet(packet(1, 0, 0, IDR, 1))
    track.on_packet(packet(1, 1, 3000, P_SLICE))  # its frame is not complete
    assert (len(track._held), track._hold_timer is not None) == ((1, True) if watched else (0, False))
    out = FakeOutput()
    track.attach(out)  # type: ignore[arg-type]  # catches up from the cached keyframe
    track.on_packet(packet(1, 2, 3000, P_SLICE, 1))
    await asyncio.sleep(0.05)
    for viewer in (out, first) if watched else (out,):
        seqs = [seq_ts(e)[0] for e in viewer.sent]
        assert len(seqs) == 3 and all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
    assert out in track.outputs and not track.joining  # type: ignore[comparison-overlap]
    assert not track._held and track._hold_timer is None


def test_frames_are_held_only_by_a_track_with_the_compiled_loop() -> None:
    assert TrackForwarder("video", lambda: None).holds_frames is (fanout.send_burst is not None)
    assert not TrackForwarder("audio", lambda: None).holds_frames  # audio packets are frames of their own
