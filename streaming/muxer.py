"""MPEG-TS segments of one recording, muxed without re-encoding, into its spool.

:class:`SegmentMuxer` takes encoded H.264 access units and AAC packets on the
recording's timeline (pts from 0 at its first keyframe, 1/90000 s for video,
1/48000 s for audio) and writes segments of about ``target`` seconds, each
starting on a keyframe. A segment is written to ``.part``, fsynced, renamed
and only then added to the spool's journal (:mod:`streaming.spool`), so a
segment cut by a crash stays readable (:mod:`streaming.salvage`).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import av

from cloudexpo.db import utcnow

from .spool import SpoolRecording, fsync_dir, segment_name
from .transcode import AUDIO_RATE, TB_AUDIO, TB_VIDEO, VIDEO_RATE

log = logging.getLogger(__name__)

PTS_BASE = 10 * VIDEO_RATE  # TS timestamps start at 10 s: AAC priming never goes below 0
SHORTEST_SEGMENT = 0.75  # of the target: a keyframe earlier than this does not cut


class _Segment:
    def __init__(self, index: int, path: Path, start_pts: int, discontinuity: bool, template: Mapping[str, Any]) -> None:
        self.index = index
        self.part = path.with_name(path.name + ".part")
        self.path = path
        self.start_pts = start_pts
        self.discontinuity = discontinuity
        self.container: Any = av.open(str(self.part), "w", format="mpegts")
        self.video = self.container.add_stream_from_template(template["video"])
        self.audio = self.container.add_stream_from_template(template["audio"]) if "audio" in template else None

    def mux(self, packet: av.Packet, stream: Any) -> None:
        packet.stream = stream
        self.container.mux(packet)


class SegmentMuxer:
    """Cuts, muxes, closes and journals the segments of one recording (see the module doc).

    :param codecs: the recording's codecs by kind, as the writer learns them;
        the segments get an audio stream when ``"audio"`` is in it at the
        first cut.
    :param on_segment: called after each segment is in the journal (and at
        the end).
    """

    def __init__(
        self,
        spool: SpoolRecording,
        codecs: Mapping[str, str],
        *,
        target: float,
        on_segment: Callable[[], object],
    ) -> None:
        self.spool = spool
        self.codecs = codecs
        self.target = target
        self.on_segment = on_segment
        self.wall0 = 0.0  # wall-clock time (epoch seconds) of pts 0: each segment's program date-time
        self.segment: _Segment | None = None
        self.last_video_pts = -1
        self.frame_duration = VIDEO_RATE // 30
        self._template_container: Any = None
        self._template: dict[str, Any] = {}
        state = spool.state()
        indices = [int(e["name"][4:9]) for e in state.segments if e["name"].startswith("seg_")]
        self.next_index = max(indices, default=0) + 1
        # the AAC stream's channels: mono, as browsers send unless the answer asks for stereo (Cloud Expo's does
        # not), until the publisher shows stereo (prefer_stereo); settled when the first segment opens or by the
        # recording's earlier part: one layout a recording, so its MP4 and its players never meet a change
        self.audio_channels = 1
        self.audio_channels_fixed = False
        # segments already in the spool, or a publisher session came back (pause): the next segment starts a discontinuity
        self.continues = bool(state.segments)
        # figures
        self.segments_written = 0
        self.frames_written = 0
        self.audio_frames_written = 0

    def prefer_stereo(self) -> None:
        """The publisher said it sends stereo (``sprop-stereo=1`` in its offer, RFC 7587: OBS says so) or a
        stereo Opus packet came: the recording is stereo, unless its layout is settled already."""
        if not self.audio_channels_fixed:
            self.audio_channels = 2

    def keep_audio_channels(self, channels: int) -> None:
        """The recording's earlier part (stored, or in the spool) has ``channels``: the new segments follow it."""
        self.audio_channels = channels
        self.audio_channels_fixed = True

    @property
    def audio_encoder(self) -> Any:
        """The AAC encoder every segment's audio stream copies; None before the first cut or without audio."""
        return self._template.get("audio")

    def segment_age(self) -> float | None:
        """Seconds of video in the open segment, or None."""
        if self.segment is None or self.last_video_pts < 0:
            return None
        return (self.last_video_pts - self.segment.start_pts) / VIDEO_RATE

    def write_video(self, pts: int, data: bytes, keyframe: bool) -> None:
        segment = self.segment
        if keyframe and (segment is None or pts - segment.start_pts >= SHORTEST_SEGMENT * self.target * VIDEO_RATE):
            self._cut(pts)
            segment = self.segment
        if segment is None:
            return
        if self.last_video_pts >= 0:
            step = pts - self.last_video_pts
            if 0 < step < VIDEO_RATE:
                self.frame_duration = step
        self.last_video_pts = pts
        packet = av.Packet(data)
        packet.pts = packet.dts = PTS_BASE + pts
        packet.time_base = TB_VIDEO
        packet.is_keyframe = keyframe
        segment.mux(packet, segment.video)
        self.frames_written += 1

    def write_audio(self, packet: av.Packet) -> None:
        segment = self.segment
        if segment is None or segment.audio is None or packet.pts is None:
            return
        packet.pts = packet.dts = int(packet.pts) + PTS_BASE * AUDIO_RATE // VIDEO_RATE
        packet.time_base = TB_AUDIO
        segment.mux(packet, segment.audio)
        self.audio_frames_written += 1

    def continue_at(self, next_index: int) -> None:
        """Segments before ``next_index`` exist elsewhere (in storage): number after them, discontinuity first."""
        self.next_index = max(self.next_index, next_index)
        self.continues = True

    def pause(self) -> int:
        """A publisher session ended: close the open segment; the next one starts a discontinuity.

        Returns the pts right after the last frame written, where the next
        session's first keyframe goes (the gap is not part of the replay).
        """
        end = self.last_video_pts + self.frame_duration if self.last_video_pts >= 0 else 0
        if self.segment is not None:
            self._close_segment(end)
        self.continues = True
        return end

    def finish(self) -> None:
        """Close the last segment, drop unfinished parts and end the journal."""
        if self.segment is not None:
            self._close_segment(self.last_video_pts + self.frame_duration)
        for part in self.spool.part_files():
            part.unlink(missing_ok=True)
        self.spool.append({"type": "end", "at": utcnow().isoformat()})
        self._notify()
        if self._template_container is not None:
            try:
                self._template_container.close()
            except Exception:
                pass

    def _make_template(self) -> None:
        """Stream parameters every segment copies (one H.264 and one AAC stream)."""
        container = av.open(io.BytesIO(), "w", format="mpegts")
        video = container.add_stream("libx264", width=64, height=64)
        video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "threads": "1"}
        self._template = {"video": video}
        if "audio" in self.codecs:
            if not self.audio_channels_fixed:
                earlier = [e["name"] for e in self.spool.state().segments if not e.get("stored")]
                found = audio_channels_of(self.spool.path(earlier[-1])) if earlier else None
                if found is not None:  # this spool's earlier segments (the server restarted mid-broadcast)
                    self.keep_audio_channels(found)
            self.audio_channels_fixed = True  # settled: the segments share this encoder
            layout = "stereo" if self.audio_channels == 2 else "mono"
            audio = container.add_stream("aac", rate=AUDIO_RATE, layout=layout)
            audio.codec_context.bit_rate = 128000
            # FFmpeg's default AAC coder (two-loop search) costs ~5 % of a core for one stereo stream;
            # the fast one ~1 %, at a quality that does not matter for a launch's speech and music
            audio.codec_context.options = {"aac_coder": "fast"}
            self._template["audio"] = audio
        container.start_encoding()
        self._template_container = container

    def _cut(self, pts: int) -> None:
        if self._template_container is None:
            self._make_template()
        discontinuity = False
        if self.segment is not None:
            self._close_segment(pts)
        elif self.continues:
            discontinuity = True
        index = self.next_index
        self.next_index += 1
        self.segment = _Segment(index, self.spool.path(segment_name(index)), pts, discontinuity, self._template)

    def _close_segment(self, end_pts: int) -> None:
        segment = self.segment
        if segment is None:
            return
        self.segment = None
        segment.container.close()
        with open(segment.part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(segment.part, segment.path)
        fsync_dir(segment.path.parent)
        duration = max(0.001, (end_pts - segment.start_pts) / VIDEO_RATE)
        pdt = dt.datetime.fromtimestamp(self.wall0 + segment.start_pts / VIDEO_RATE, dt.UTC)
        self.spool.append(
            {
                "type": "segment",
                "name": segment.path.name,
                "duration": round(duration, 3),
                "pdt": pdt.isoformat(),
                "discontinuity": segment.discontinuity,
                "start": round(segment.start_pts / VIDEO_RATE, 3),
            }
        )
        self.segments_written += 1
        self._notify()

    def _notify(self) -> None:
        try:
            self.on_segment()
        except Exception:
            log.exception("recorder %s: on_segment failed", self.spool.slot_id)


def audio_channels_of(path: Path) -> int | None:
    """The channels of a recorded segment's audio stream; None without one, or when it cannot be read."""
    try:
        with av.open(str(path)) as container:
            for stream in container.streams.audio:
                channels = stream.codec_context.channels
                return int(channels) if channels in (1, 2) else None
    except (av.FFmpegError, OSError):
        return None
    return None
