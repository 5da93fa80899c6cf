"""Fragmented MP4 (ISO/IEC 14496-12, CMAF-style) for the recorder: H.264 and Opus as they arrived.

Pure functions over bytes. A recording is an init segment (``ftyp`` +
``moov``: the tracks and their codec set-up, no samples) and media segments,
each one or more fragments (``moof`` + ``mdat``). HLS players get the init
segment through ``EXT-X-MAP`` (RFC 8216 §4.3.2.5); ``init + segments``
concatenated is an MP4 file ffmpeg, VLC and browsers read.

Track 1 is H.264 (``avc1`` with the publisher's SPS/PPS in ``avcC``, samples
length-prefixed, timescale 90 kHz); track 2 is Opus (``Opus`` + ``dOps``,
"Encapsulation of Opus in ISO Base Media File Format", timescale 48 kHz).
Opus is stored untouched: no decode, no AAC encode while live.

:func:`fragment` writes one ``moof`` + ``mdat`` from samples already in
memory; the writer calls it a few times a second, so a segment cut short by a
crash keeps its whole fragments (:func:`complete_prefix`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .depacketize import NAL_PPS, NAL_SPS, iter_nals
from .payloads import _unescape

VIDEO_TRACK = 1
AUDIO_TRACK = 2
VIDEO_TIMESCALE = 90000
AUDIO_TIMESCALE = 48000
KEY_SAMPLE = 0x02000000  # sample_depends_on = 2 (an I-frame)
DELTA_SAMPLE = 0x01010000  # sample_depends_on = 1, sample_is_non_sync_sample
_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
_HIGH_PROFILES = {100, 110, 122, 144}


class Fmp4Error(ValueError):
    """Bytes that are not the fragmented MP4 this module writes."""


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


# --- H.264 -----------------------------------------------------------------------------------


class _Bits:
    """An exp-Golomb reader over an SPS's RBSP."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = len(data) * 8

    def u(self, n: int) -> int:
        if n > self.left:
            raise Fmp4Error("the SPS is cut short")
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise Fmp4Error("a bad exp-Golomb code in the SPS")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


@dataclass(frozen=True)
class H264Config:
    """What the init segment says about an H.264 stream: its parameter sets and picture size."""

    sps: bytes
    pps: bytes
    width: int
    height: int
    chroma_format: int = 1
    bit_depth_luma: int = 8
    bit_depth_chroma: int = 8


def h264_config(sps: bytes, pps: bytes) -> H264Config:
    """Read the picture size (and, for High profiles, the chroma format and bit depths) from an SPS NAL unit."""
    if len(sps) < 4 or sps[0] & 0x1F != NAL_SPS:
        raise Fmp4Error("not an H.264 SPS")
    bits = _Bits(_unescape(sps[1:]))
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma, depth_luma, depth_chroma = 1, 8, 8
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma = bits.ue()
        if chroma == 3:
            bits.u(1)  # separate_colour_plane_flag
        depth_luma = bits.ue() + 8
        depth_chroma = bits.ue() + 8
        bits.u(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if bits.u(1):
                    last = following = 8
                    for _ in range(16 if i < 6 else 64):
                        if following:
                            following = (last + bits.se() + 256) % 256
                        last = following or last
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1)
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field_flag
    bits.u(1)  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = (2 - frame_mbs_only) * height_units * 16
    if bits.u(1):  # frame_cropping_flag
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        unit_x = 1 if chroma in (0, 3) else 2
        unit_y = (2 - frame_mbs_only) * (2 if chroma == 1 else 1)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise Fmp4Error("the SPS gives no picture size")
    return H264Config(sps, pps, width, height, chroma, depth_luma, depth_chroma)


def parameter_sets(annexb: bytes) -> tuple[bytes | None, bytes | None]:
    """The first SPS and PPS NAL units of an Annex-B access unit (None where missing)."""
    sps = pps = None
    for nal in iter_nals(annexb):
        kind = nal[0] & 0x1F
        if kind == NAL_SPS and sps is None:
            sps = nal
        elif kind == NAL_PPS and pps is None:
            pps = nal
        if sps is not None and pps is not None:
            break
    return sps, pps


def annexb_to_avcc(annexb: bytes) -> bytes:
    """An Annex-B access unit as MP4 samples carry it: each NAL unit after its 4-byte length."""
    return b"".join(struct.pack(">I", len(nal)) + nal for nal in iter_nals(annexb))


# --- Opus ---------------------------------------------------------------------------------------

_OPUS_FRAME = (480, 960, 1920, 2880) * 3 + (480, 960) * 2 + (120, 240, 480, 960) * 4


SHORTEST_FILLER = 120  # samples in the shortest Opus frame (2.5 ms)


def opus_fillers(samples: int, stereo: int) -> list[bytes]:
    """Empty Opus packets (a TOC byte, one frame of 0 bytes: decoders conceal it as a lost frame) covering
    ``samples`` at 48 kHz, in 20 ms then 2.5 ms frames (a rest under 2.5 ms is left out)."""
    stereo = 0x04 if stereo else 0
    long, short = bytes([31 << 3 | stereo]), bytes([28 << 3 | stereo])  # CELT fullband 20 ms, 2.5 ms
    return [long] * (samples // 960) + [short] * (samples % 960 // SHORTEST_FILLER)


def opus_duration(packet: bytes) -> int:
    """Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 §3.1); 0 for an empty packet."""
    if not packet:
        return 0
    toc = packet[0]
    frames = (1, 2, 2, 0)[toc & 3]
    if not frames:
        frames = packet[1] & 0x3F if len(packet) > 1 else 0
    return _OPUS_FRAME[toc >> 3] * frames


# --- init segment -------------------------------------------------------------------------------


def _track(track_id: int, timescale: int, handler: bytes, name: bytes, media_header: bytes,
           sample_entry: bytes, width: int = 0, height: int = 0) -> bytes:
    volume = 0x0100 if handler == b"soun" else 0
    tkhd = full_box(
        b"tkhd", 0, 3,
        struct.pack(">IIIII", 0, 0, track_id, 0, 0), bytes(8),
        struct.pack(">hhHH", 0, 0, volume, 0), _MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))  # language "und"
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I", 0), handler, bytes(12), name + b"\x00")
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
        full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    minf = box(b"minf", media_header, dinf, stbl)
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))


def _avc1(config: H264Config) -> bytes:
    avcc = struct.pack(">BBBBBBH", 1, config.sps[1], config.sps[2], config.sps[3], 0xFF, 0xE1, len(config.sps))
    avcc += config.sps + struct.pack(">BH", 1, len(config.pps)) + config.pps
    if config.sps[1] in _HIGH_PROFILES:
        avcc += bytes([0xFC | config.chroma_format, 0xF8 | (config.bit_depth_luma - 8),
                       0xF8 | (config.bit_depth_chroma - 8), 0])
    compressor = bytes(32)
    return box(
        b"avc1", bytes(6), struct.pack(">HHH", 1, 0, 0), bytes(12),
        struct.pack(">HHIII", config.width, config.height, 0x00480000, 0x00480000, 0),
        struct.pack(">H", 1), compressor, struct.pack(">Hh", 0x0018, -1),
        box(b"avcC", avcc),
    )


def _opus(channels: int) -> bytes:
    dops = struct.pack(">BBHIhB", 0, channels, 0, AUDIO_TIMESCALE, 0, 0)  # pre-skip 0: a live stream's middle
    return box(
        b"Opus", bytes(6), struct.pack(">H", 1), bytes(8),
        struct.pack(">HHHHI", channels, 16, 0, 0, AUDIO_TIMESCALE << 16),
        box(b"dOps", dops),
    )


def init_segment(video: H264Config, audio_channels: int | None) -> bytes:
    """``ftyp`` + ``moov`` for an H.264 track and, when ``audio_channels`` is given, an Opus track."""
    ftyp = box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6isomavc1mp41")
    traks = [
        _track(VIDEO_TRACK, VIDEO_TIMESCALE, b"vide", b"Cloud Expo video",
               full_box(b"vmhd", 0, 1, bytes(8)), _avc1(video), video.width, video.height)
    ]
    trexes = [full_box(b"trex", 0, 0, struct.pack(">IIIII", VIDEO_TRACK, 1, 0, 0, 0))]
    if audio_channels:
        traks.append(_track(AUDIO_TRACK, AUDIO_TIMESCALE, b"soun", b"Cloud Expo audio",
                            full_box(b"smhd", 0, 0, bytes(4)), _opus(audio_channels)))
        trexes.append(full_box(b"trex", 0, 0, struct.pack(">IIIII", AUDIO_TRACK, 1, 0, 0, 0)))
    mvhd = full_box(
        b"mvhd", 0, 0, struct.pack(">IIIIIH", 0, 0, 1000, 0, 0x00010000, 0x0100), bytes(10), _MATRIX,
        bytes(24), struct.pack(">I", len(traks) + 1),
    )
    return ftyp + box(b"moov", mvhd, *traks, box(b"mvex", *trexes))


# --- fragments ------------------------------------------------------------------------------------


@dataclass
class TrackRun:
    """One track's samples in a fragment: where they start (``base_time``, in the track's timescale),
    each one's duration and flags, and their bytes."""

    track_id: int
    base_time: int
    durations: Sequence[int]
    flags: Sequence[int]
    samples: Sequence[bytes]


_TRUN_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400  # data offset; duration, size, flags per sample


def fragment(sequence: int, runs: Sequence[TrackRun]) -> bytes:
    """One ``moof`` + ``mdat`` with each run's samples, in order (empty runs are left out)."""
    runs = [r for r in runs if r.samples]
    if not runs:
        return b""
    # sizes first: the data offsets depend on the moof's length, which does not depend on them
    moof_size = 8 + 16 + sum(8 + 16 + 20 + 20 + 12 * len(r.samples) for r in runs)
    offset = moof_size + 8
    trafs = []
    for run in runs:
        n = len(run.samples)
        table = [0] * (3 * n)
        table[0::3] = run.durations
        table[1::3] = [len(s) for s in run.samples]
        table[2::3] = run.flags
        trafs.append(box(
            b"traf",
            full_box(b"tfhd", 0, 0x020000, struct.pack(">I", run.track_id)),  # default-base-is-moof
            full_box(b"tfdt", 1, 0, struct.pack(">Q", run.base_time)),
            full_box(b"trun", 0, _TRUN_FLAGS, struct.pack(f">Ii{3 * n}I", n, offset, *table)),
        ))
        offset += sum(table[1::3])
    moof = box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), *trafs)
    assert len(moof) == moof_size
    payload = [s for run in runs for s in run.samples]
    return moof + struct.pack(">I", 8 + sum(map(len, payload))) + b"mdat" + b"".join(payload)


# --- reading back ---------------------------------------------------------------------------------


def iter_boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, start of the body, end of the box) of each whole box in ``data[start:end]``; stops at a cut one."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            body = pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            return
        yield kind, body, pos + size
        pos += size


def complete_prefix(data: bytes) -> int:
    """How many leading bytes of a (possibly cut-off) media segment are whole fragments."""
    keep = 0
    moof_seen = False
    for kind, _, end in iter_boxes(data):
        if kind == b"moof":
            moof_seen = True
        elif kind == b"mdat" and moof_seen:
            keep, moof_seen = end, False
        elif kind not in (b"styp", b"sidx", b"prft", b"emsg"):
            moof_seen = False
    return keep


def track_timing(data: bytes, track_id: int) -> tuple[int, int] | None:
    """(first decode time, end time) of ``track_id``'s samples in a media segment's whole fragments, or None."""
    first: int | None = None
    end = 0
    for kind, body, stop in iter_boxes(data):
        if kind != b"moof":
            continue
        for traf_kind, traf_body, traf_end in iter_boxes(data, body, stop):
            if traf_kind != b"traf":
                continue
            run_track, base, total = None, None, 0
            for inner, inner_body, _ in iter_boxes(data, traf_body, traf_end):
                if inner == b"tfhd":
                    run_track = struct.unpack_from(">I", data, inner_body + 4)[0]
                elif inner == b"tfdt":
                    version = data[inner_body]
                    base = struct.unpack_from(">Q" if version else ">I", data, inner_body + 4)[0]
                elif inner == b"trun":
                    total += _trun_duration(data, inner_body)
            if run_track == track_id and base is not None:
                first = base if first is None else min(first, base)
                end = max(end, base + total)
    return None if first is None else (first, end)


def _trun_duration(data: bytes, body: int) -> int:
    flags = int.from_bytes(data[body + 1 : body + 4], "big")
    count = struct.unpack_from(">I", data, body + 4)[0]
    pos = body + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
    if not flags & 0x100:
        raise Fmp4Error("a trun without sample durations")
    step = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    return sum(struct.unpack_from(">I", data, pos + i * step)[0] for i in range(count))


def audio_channels(init: bytes) -> int | None:
    """The Opus track's channel count in an init segment (its ``dOps``), or None without one."""
    at = init.find(b"dOps")
    if at < 0 or at + 6 > len(init):
        return None
    return init[at + 5]
