"""Looking into RTP payloads without decoding them: keyframes and B-frames.

Pure functions over ``bytes``. H.264 payloads follow RFC 6184 (single NAL
unit, STAP-A, FU-A); VP8 payloads follow RFC 7741.
"""

from __future__ import annotations

NAL_SLICE = 1
NAL_IDR = 5
NAL_SPS = 7
NAL_STAP_A = 24
NAL_FU_A = 28
SLICE_B = 1  # slice_type % 5 (ITU-T H.264 table 7-6)


def _unescape(data: bytes) -> bytes:
    # remove emulation prevention bytes (00 00 03 -> 00 00)
    return data.replace(b"\x00\x00\x03", b"\x00\x00") if b"\x00\x00\x03" in data else data


def _ue(bits: int, left: int) -> tuple[int, int]:
    """The unsigned exp-Golomb number in the ``left`` lowest bits of ``bits``; (value, bits left after it).

    In integer steps rather than bit by bit (every frame's first slice is read on the forwarder's hot
    path): the code is ``zeros`` 0 bits, a 1 and ``zeros`` more bits, and its value is those
    ``2 * zeros + 1`` bits as a number, minus one.
    """
    rest = bits & ((1 << left) - 1) if left > 0 else 0
    zeros = left - rest.bit_length()
    length = 2 * zeros + 1
    if not rest or zeros > 31 or length > left:
        raise ValueError("truncated exp-Golomb code")
    return (rest >> (left - length)) - 1, left - length


def _slice_type(body: bytes) -> int | None:
    """``slice_type % 5`` from the first bytes of a slice after its NAL header, or None."""
    body = _unescape(body)
    bits = int.from_bytes(body, "big")
    try:
        _first_mb, left = _ue(bits, len(body) * 8)
        slice_type, _ = _ue(bits, left)
    except ValueError:
        return None
    return slice_type % 5


def h264_slice_type(nal: bytes) -> int | None:
    """``slice_type % 5`` of a slice NAL unit (with its 1-byte header), or None."""
    if len(nal) < 2 or (nal[0] & 0x1F) not in (NAL_SLICE, NAL_IDR):
        return None
    return _slice_type(nal[1:9])


def h264_inspect(payload: bytes) -> tuple[bool, int | None]:
    """(starts or contains a keyframe, slice_type % 5 of the first slice start).

    A keyframe is an IDR slice or an SPS (encoders send SPS/PPS right before
    the IDR, so the packet with the SPS is where a joining viewer must start).
    For FU-A only the start fragment says anything.
    """
    if not payload:
        return False, None
    nal_type = payload[0] & 0x1F
    if nal_type == NAL_FU_A:
        if len(payload) < 2 or not payload[1] & 0x80:
            return False, None
        inner = payload[1] & 0x1F
        slice_type = None
        if inner in (NAL_SLICE, NAL_IDR):
            slice_type = _slice_type(payload[2:10]) if len(payload) > 2 else None
        return inner in (NAL_IDR, NAL_SPS), slice_type
    if nal_type == NAL_STAP_A:
        keyframe = False
        slice_type = None
        offset = 1
        while offset + 2 <= len(payload):
            size = (payload[offset] << 8) | payload[offset + 1]
            offset += 2
            if size == 0 or offset + size > len(payload):
                break
            inner = payload[offset] & 0x1F
            keyframe = keyframe or inner in (NAL_IDR, NAL_SPS)
            if slice_type is None and inner in (NAL_SLICE, NAL_IDR):
                slice_type = h264_slice_type(payload[offset : offset + min(size, 10)])
            offset += size
        return keyframe, slice_type
    if nal_type in (NAL_SLICE, NAL_IDR):
        return nal_type == NAL_IDR, h264_slice_type(payload[:10])
    return nal_type == NAL_SPS, None


def vp8_inspect(payload: bytes) -> tuple[bool, int | None]:
    """(is the first packet of a VP8 keyframe, None). VP8 has no B-frames."""
    if not payload:
        return False, None
    b0 = payload[0]
    offset = 1
    if b0 & 0x80:  # X: extended control bits
        if len(payload) < 2:
            return False, None
        b1 = payload[1]
        offset = 2
        if b1 & 0x80:  # I: picture id, 7 or 15 bits
            if offset >= len(payload):
                return False, None
            offset += 2 if payload[offset] & 0x80 else 1
        if b1 & 0x40:  # L: TL0PICIDX
            offset += 1
        if b1 & 0x30:  # T or K: TID/KEYIDX
            offset += 1
    start_of_partition_0 = (b0 & 0x10) and (b0 & 0x0F) == 0
    if not start_of_partition_0 or offset >= len(payload):
        return False, None
    return not payload[offset] & 0x01, None


def opus_inspect(payload: bytes) -> tuple[bool, int | None]:
    return False, None


INSPECTORS = {"H264": h264_inspect, "VP8": vp8_inspect, "opus": opus_inspect}
