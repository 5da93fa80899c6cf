"""RTP payloads back into whole frames, without decoding: H.264 (RFC 6184) and VP8 (RFC 7741).

Pure classes over bytes, used by the recorder's writer thread:

- :class:`ReorderBuffer` puts packets back in sequence order (the forwarder
  hands over retransmissions and late packets as they arrive) and reports a
  gap that did not fill in time as a loss;
- :class:`H264Depacketizer` joins single NAL units, STAP-A aggregates and
  FU-A fragments into Annex-B access units, keeps the last SPS/PPS and puts
  them in front of every IDR that comes without them, so each segment that
  starts on a keyframe decodes on its own;
- :class:`VP8Depacketizer` strips the VP8 payload descriptor and joins the
  partitions of one frame.

After a loss, both drop frames until the next keyframe (a broken frame would
smear every frame after it) and say so, so the caller can ask for one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

START_CODE = b"\x00\x00\x00\x01"
NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
NAL_STAP_A = 24
NAL_FU_A = 28

T = TypeVar("T")


@dataclass(frozen=True)
class Frame:
    """One access unit (H.264, Annex-B) or one VP8 frame, with its RTP timestamp."""

    timestamp: int
    data: bytes
    keyframe: bool


class ReorderBuffer(Generic[T]):
    """Puts items back in RTP sequence order; a gap older than ``depth`` packets is a loss.

    :meth:`push` returns the items now in order, each with ``lost_before``:
    whether packets were given up on just before it.
    """

    def __init__(self, depth: int = 64) -> None:
        self.depth = depth
        self._next: int | None = None  # extended sequence number expected next
        self._held: dict[int, T] = {}
        self._highest = -1
        self.lost = 0

    def _extend(self, seq: int) -> int:
        if self._next is None:
            return seq
        base = self._next
        ext = (base & ~0xFFFF) | seq
        if ext < base - 0x8000:
            ext += 0x10000
        elif ext > base + 0x8000:
            ext -= 0x10000
        return ext

    def push(self, seq: int, item: T) -> list[tuple[T, bool]]:
        ext = self._extend(seq)
        if self._next is None:
            self._next = ext
        if ext == self._next and not self._held:  # the usual case: the packet expected, none waiting
            self._next = ext + 1
            if ext > self._highest:
                self._highest = ext
            return [(item, False)]
        if ext < self._next or ext in self._held:
            return []  # a duplicate, or too late: already given up on
        self._held[ext] = item
        self._highest = max(self._highest, ext)
        out: list[tuple[T, bool]] = []
        lost_before = False
        while True:
            while self._next in self._held:
                out.append((self._held.pop(self._next), lost_before))
                lost_before = False
                self._next += 1
            if not self._held or self._highest - self._next < self.depth:
                break
            # the gap is too old: skip to the oldest packet held
            oldest = min(self._held)
            self.lost += oldest - self._next
            self._next = oldest
            lost_before = True
        return out

    def flush(self) -> list[tuple[T, bool]]:
        """Everything still held, in order (gaps reported as losses)."""
        out: list[tuple[T, bool]] = []
        for ext in sorted(self._held):
            lost = self._next is not None and ext != self._next
            out.append((self._held[ext], lost))
            self._next = ext + 1
        self._held.clear()
        return out


def iter_nals(annexb: bytes) -> Iterator[bytes]:
    """The NAL units of an Annex-B byte string (3- or 4-byte start codes)."""
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        j = annexb.find(b"\x00\x00\x01", start)
        end = len(annexb) if j < 0 else j
        nal = annexb[start:end]
        if j >= 0 and nal.endswith(b"\x00"):
            nal = nal[:-1]
        if nal:
            yield nal
        i = j


class H264Depacketizer:
    """RFC 6184 packetization mode 0 and 1 (single NAL, STAP-A, FU-A) → access units."""

    def __init__(self) -> None:
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        self._ts: int | None = None
        self._nals: list[bytes] = []
        self._fu: bytearray | None = None
        self._broken = False
        self.waiting_for_keyframe = True
        self.frames_dropped = 0

    def push(self, payload: bytes, timestamp: int, marker: bool, lost_before: bool = False) -> list[Frame]:
        """Add one packet (in sequence order); return the access units it completed."""
        out: list[Frame] = []
        if self._ts is not None and timestamp != self._ts:
            self._emit(out)  # a new frame began without the previous one's marker
        if lost_before:
            self._broken = True
            self._fu = None
        self._ts = timestamp
        if payload:
            self._add(payload)
        if marker:
            self._emit(out)
        return out

    def flush(self) -> list[Frame]:
        out: list[Frame] = []
        self._emit(out)
        return out

    def _add(self, payload: bytes) -> None:
        nal_type = payload[0] & 0x1F
        if nal_type == NAL_FU_A:
            if len(payload) < 2:
                return
            header = payload[1]
            if header & 0x80:  # start
                self._fu = bytearray([(payload[0] & 0xE0) | (header & 0x1F)])
                self._fu += payload[2:]
            elif self._fu is None:
                self._broken = True  # a middle or end fragment whose start we lost
                return
            else:
                self._fu += payload[2:]
            if header & 0x40:  # end
                self._nal(bytes(self._fu))
                self._fu = None
        elif nal_type == NAL_STAP_A:
            offset = 1
            while offset + 2 <= len(payload):
                size = (payload[offset] << 8) | payload[offset + 1]
                offset += 2
                if size == 0 or offset + size > len(payload):
                    self._broken = True
                    break
                self._nal(payload[offset : offset + size])
                offset += size
        elif 1 <= nal_type <= 23:
            self._nal(payload)
        # STAP-B, MTAP, FU-B (interleaved mode) are not offered by the engine

    def _nal(self, nal: bytes) -> None:
        nal_type = nal[0] & 0x1F
        if nal_type == NAL_SPS:
            self.sps = nal
        elif nal_type == NAL_PPS:
            self.pps = nal
        elif nal_type == NAL_AUD:
            return
        self._nals.append(nal)

    def _emit(self, out: list[Frame]) -> None:
        nals, self._nals = self._nals, []
        broken = self._broken or self._fu is not None
        self._broken = False
        self._fu = None
        ts = self._ts
        if broken:
            self.frames_dropped += 1
            self.waiting_for_keyframe = True
            return
        if not nals or ts is None:
            return
        types = [n[0] & 0x1F for n in nals]
        keyframe = NAL_IDR in types
        if self.waiting_for_keyframe:
            if not keyframe or self.sps is None or self.pps is None:
                self.frames_dropped += 1
                return
            self.waiting_for_keyframe = False
        if keyframe:
            head: list[bytes] = []
            if NAL_SPS not in types and self.sps is not None:
                head.append(self.sps)
            if NAL_PPS not in types and self.pps is not None:
                head.append(self.pps)
            nals = head + nals
        out.append(Frame(ts, b"".join(START_CODE + n for n in nals), keyframe))


def vp8_descriptor_size(payload: bytes) -> int:
    """Bytes of the VP8 payload descriptor at the start of ``payload`` (RFC 7741 §4.2)."""
    if not payload:
        raise ValueError("empty VP8 payload")
    size = 1
    if payload[0] & 0x80:
        if len(payload) < 2:
            raise ValueError("truncated VP8 descriptor")
        x = payload[1]
        size = 2
        if x & 0x80:
            if len(payload) <= size:
                raise ValueError("truncated VP8 descriptor")
            size += 2 if payload[size] & 0x80 else 1
        if x & 0x40:
            size += 1
        if x & 0x30:
            size += 1
    if size > len(payload):
        raise ValueError("truncated VP8 descriptor")
    return size


class VP8Depacketizer:
    """RFC 7741 → whole VP8 frames (partitions joined), by timestamp and marker."""

    def __init__(self) -> None:
        self._ts: int | None = None
        self._parts: list[bytes] = []
        self._broken = False
        self._started = False
        self.waiting_for_keyframe = True
        self.frames_dropped = 0

    def push(self, payload: bytes, timestamp: int, marker: bool, lost_before: bool = False) -> list[Frame]:
        out: list[Frame] = []
        if self._ts is not None and timestamp != self._ts:
            self._emit(out)
        if lost_before:
            self._broken = True
        self._ts = timestamp
        try:
            size = vp8_descriptor_size(payload)
        except ValueError:
            self._broken = True
            size = len(payload)
        if payload and size < len(payload):
            start = payload[0] & 0x10 and (payload[0] & 0x0F) == 0
            if start:
                self._started = True
            elif not self._started:
                self._broken = True
            self._parts.append(payload[size:])
        if marker:
            self._emit(out)
        return out

    def flush(self) -> list[Frame]:
        out: list[Frame] = []
        self._emit(out)
        return out

    def _emit(self, out: list[Frame]) -> None:
        parts, self._parts = self._parts, []
        broken, self._broken = self._broken or not self._started, False
        self._started = False
        ts = self._ts
        if not parts or ts is None:
            return
        data = b"".join(parts)
        keyframe = not data[0] & 0x01
        if broken:
            self.frames_dropped += 1
            self.waiting_for_keyframe = True
            return
        if self.waiting_for_keyframe:
            if not keyframe:
                self.frames_dropped += 1
                return
            self.waiting_for_keyframe = False
        out.append(Frame(ts, data, keyframe))
