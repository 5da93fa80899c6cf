"""Transcoding for the recording only: VP8 → H.264 and Opus → AAC (viewers get the original).

Both run in the recording's writer thread (:mod:`streaming.segmenter`) and
hand back encoded packets for :mod:`streaming.muxer`.

Audio: AAC. Safari (and iOS) play HLS natively only with AAC (Opus in fMP4
only from Safari 17 on recent systems), hls.js does not play Opus in MPEG-TS,
and the download MP4 with AAC plays everywhere (QuickTime included). Opus →
AAC costs one Opus decode and one AAC encode of 48 kHz stereo: about 1 % of a
core; in mono (what browsers send unless asked for stereo) about 40 % less.
The encoder's layout is the recording's (:meth:`streaming.muxer.SegmentMuxer.prefer_stereo`); Opus
packets of another layout are decoded into it (libopus's and FFmpeg's decoders
mix stereo down to mono, or copy mono to both sides).

VP8-only broadcasts: VP8 is decoded and encoded as H.264 (libx264,
``veryfast``, zero-latency, a forced keyframe every segment). The replay is
then the same HLS + MP4 as any other (DVR, trim, Safari). Cost: a decode and
an encode, roughly 20-40 % of a core at 720p30 (a few % at 320×240); when the
writer cannot keep up, its queue is capped and frames are dropped from the
recording (:mod:`streaming.recording_sink`), never from the broadcast.
"""

from __future__ import annotations

import fractions
from typing import Any

import av

VIDEO_RATE = 90000
AUDIO_RATE = 48000
TB_VIDEO = fractions.Fraction(1, VIDEO_RATE)
TB_AUDIO = fractions.Fraction(1, AUDIO_RATE)
OPUS_FRAME = 480  # samples in 10 ms at 48 kHz: the smallest gap worth filling, the largest overlap ignored

# (pts in 1/90000 s, Annex B access unit, keyframe)
EncodedVideo = tuple[int, bytes, bool]


class Vp8ToH264:
    """Decodes VP8 frames and encodes them as H.264 with a keyframe every ``keyframe_interval`` ticks."""

    def __init__(self, keyframe_interval: float) -> None:
        self.keyframe_interval = keyframe_interval
        self._decoder: Any = None
        self._encoder: Any = None
        self._size: tuple[int, int] = (0, 0)
        self._last_forced_pts = -(10**12)

    def push(self, data: bytes, pts: int) -> list[EncodedVideo]:
        """One VP8 frame at ``pts``; returns the H.264 packets the encoder had ready."""
        if self._decoder is None:
            self._decoder = av.CodecContext.create("vp8", "r")
        try:
            pictures = self._decoder.decode(av.Packet(data))
        except av.FFmpegError:
            self._decoder = None  # start over at the next keyframe
            return []
        out: list[EncodedVideo] = []
        for picture in pictures:
            size = (picture.width, picture.height)
            if self._encoder is None or size != self._size:
                self._open_encoder(size)
            picture = picture.reformat(format="yuv420p") if picture.format.name != "yuv420p" else picture
            picture.pts = pts
            picture.time_base = TB_VIDEO
            if pts - self._last_forced_pts >= self.keyframe_interval:
                picture.pict_type = av.video.frame.PictureType.I
                self._last_forced_pts = pts
            else:
                picture.pict_type = av.video.frame.PictureType.NONE
            out += _packets(self._encoder.encode(picture))
        return out

    def flush(self) -> list[EncodedVideo]:
        """What the encoder still holds, at the end of the recording."""
        if self._encoder is None:
            return []
        try:
            return _packets(self._encoder.encode(None))
        except av.FFmpegError:
            return []

    def _open_encoder(self, size: tuple[int, int]) -> None:
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height = size
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = TB_VIDEO
        encoder.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "x264-params": "keyint=infinite:repeat-headers=1:scenecut=0",
        }
        self._encoder = encoder
        self._size = size
        self._last_forced_pts = -(10**12)


def _packets(packets: Any) -> list[EncodedVideo]:
    return [(int(p.pts), bytes(p), bool(p.is_keyframe)) for p in packets]


def opus_is_stereo(payload: bytes) -> bool:
    """Whether an Opus packet codes stereo: the ``s`` bit of its TOC byte (RFC 6716, 3.1)."""
    return bool(payload) and bool(payload[0] & 0x04)


class OpusToAac:
    """Decodes Opus packets placed on the recording's audio timeline and encodes them as AAC.

    :param encoder: the AAC encoder (the segments' audio stream template,
        :attr:`streaming.muxer.SegmentMuxer.audio_encoder`); its layout is the one decoded into.
    """

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.layout = encoder.layout.name
        self.next_sample = 0  # the audio timeline's position, in samples since the recording's start
        self._decoder: Any = None
        self._resampler: Any = None

    def push(self, position: int, payload: bytes) -> list[av.Packet]:
        """The Opus packet that starts ``position`` samples into the recording; returns AAC packets.

        Silence fills a gap before it; a packet before the start, or one that
        overlaps what was already encoded (a duplicate), is ignored.
        """
        if position < 0 or position < self.next_sample - OPUS_FRAME:
            return []
        if self._decoder is None:
            self._decoder = av.CodecContext.create("opus", "r")
            self._decoder.sample_rate = AUDIO_RATE
            self._decoder.layout = self.layout
            self._resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=AUDIO_RATE)
        out: list[av.Packet] = []
        if position - self.next_sample >= OPUS_FRAME:
            out += self._encode(_silence(position - self.next_sample, self.layout))
        try:
            decoded = self._decoder.decode(av.Packet(payload))
        except av.FFmpegError:
            return out
        for frame in decoded:
            for resampled in self._resampler.resample(frame):
                out += self._encode(resampled)
        return out

    def flush(self) -> list[av.Packet]:
        """What the AAC encoder still holds, at the end of the recording."""
        try:
            return list(self.encoder.encode(None))
        except av.FFmpegError:
            return []

    def _encode(self, frame: av.AudioFrame) -> list[av.Packet]:
        frame.pts = self.next_sample
        frame.time_base = TB_AUDIO
        self.next_sample += frame.samples
        return list(self.encoder.encode(frame))


def _silence(samples: int, layout: str) -> av.AudioFrame:
    frame = av.AudioFrame(format="fltp", layout=layout, samples=samples)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = AUDIO_RATE
    return frame
