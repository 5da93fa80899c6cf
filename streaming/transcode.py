"""Transcoding for the recording only: VP8 → H.264 (viewers get the original).

It runs in the recording's writer thread (:mod:`streaming.segmenter`) and
hands back encoded packets for :mod:`streaming.muxer`.

Audio is not transcoded: Opus goes into the fragmented MP4 segments as the
publisher sent it (hls.js plays Opus in fMP4 through Media Source Extensions
in Chromium, Firefox and Safari 17+); only the download MP4 gets AAC, once,
when the replay is made (:func:`streaming.replays.remake_mp4`), for players
such as QuickTime. That saved the Opus decode and AAC encode every recording
paid while live (about 1 % of a core per broadcast).

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
