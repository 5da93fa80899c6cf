"""The segments of one recording, H.264 and Opus as they came, into its spool (fragmented MP4).

:class:`SegmentMuxer` takes H.264 access units (Annex B) and Opus packets on
the recording's timeline (pts from 0 at its first keyframe, 1/90000 s for
video, 1/48000 s for audio) and writes segments of about ``target`` seconds,
each starting on a keyframe (:mod:`streaming.fmp4`). Nothing is decoded or
encoded: the cost of a recording is copying bytes.

An init segment (``init_NNNNN.mp4``) holds the tracks' set-up; a new one is
written when the publisher's SPS/PPS change (a new session, another encoder)
and its first segment starts a discontinuity. Samples are written to the
segment's ``.part`` a fragment at a time (:data:`FRAGMENT` seconds), so a
segment cut by a crash keeps its whole fragments (:mod:`streaming.salvage`);
a finished segment is fsynced, renamed and only then added to the spool's
journal (:mod:`streaming.spool`), after its init segment.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from cloudexpo.db import utcnow

from . import fmp4
from .spool import SpoolRecording, file_number, fsync_dir, init_name, segment_name
from .transcode import AUDIO_RATE, VIDEO_RATE

log = logging.getLogger(__name__)

SHORTEST_SEGMENT = 0.75  # of the target: a keyframe earlier than this does not cut
FRAGMENT = 0.5  # seconds of video a fragment holds: what a crash can cost the segment being written
LONGEST_FILL = 5 * AUDIO_RATE  # a longer gap in the audio stays a gap on the timeline (a new fragment)


class _Segment:
    def __init__(self, index: int, path: Path, start_pts: int, discontinuity: bool, init: str) -> None:
        self.index = index
        self.part = path.with_name(path.name + ".part")
        self.path = path
        self.start_pts = start_pts
        self.discontinuity = discontinuity
        self.init = init
        self.file: BinaryIO = open(self.part, "wb")


class SegmentMuxer:
    """Cuts, writes, closes and journals the segments of one recording (see the module doc).

    :param codecs: the recording's codecs by kind, as the writer learns them;
        an init segment gets an Opus track when ``"audio"`` is in it.
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
        self._init_key: tuple[bytes, bytes, int] | None = None  # (SPS, PPS, audio channels) of the init in use
        self._init_name = ""
        self._sequence = 0  # fragments written (each moof's sequence number)
        self._video: list[tuple[int, bytes, bool]] = []  # (pts, sample, keyframe) not yet in a fragment
        self._audio: list[tuple[int, bytes]] = []  # (pts at 48 kHz, Opus packet)
        self.audio_end = 0  # 48 kHz: right after the last audio sample taken
        state = spool.state()
        # past every segment and init segment in the journal: an init whose segment a crash lost is in
        # storage already, and a name is never written twice
        numbers = [file_number(e["name"]) for e in state.segments] + [file_number(name) for name in state.inits]
        self.next_index = max((n for n in numbers if n is not None), default=0) + 1
        # the Opus track's channels: mono, as browsers send unless the answer asks for stereo (Cloud Expo's does
        # not), until the publisher shows stereo (prefer_stereo); settled when the first segment opens or by the
        # recording's earlier part: one layout a recording, so its MP4 and its players never meet a change
        self.audio_channels = 1
        self.audio_channels_fixed = False
        if state.inits:  # this spool's earlier part (the server restarted mid-broadcast) settled the layout
            try:
                found = fmp4.audio_channels(spool.path(state.inits[-1]).read_bytes())
            except OSError:
                found = None
            if found:
                self.keep_audio_channels(found)
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
    def has_audio(self) -> bool:
        """Whether the init segment in use has an audio track (False before the first cut)."""
        return self._init_key is not None and self._init_key[2] > 0

    def segment_age(self) -> float | None:
        """Seconds of video in the open segment, or None."""
        if self.segment is None or self.last_video_pts < 0:
            return None
        return (self.last_video_pts - self.segment.start_pts) / VIDEO_RATE

    def write_video(self, pts: int, data: bytes, keyframe: bool) -> None:
        """One H.264 access unit (Annex B) at ``pts``; a keyframe may start a segment."""
        segment = self.segment
        if keyframe:
            sets = fmp4.parameter_sets(data)  # read once: whether to cut, and the init segment the cut needs
            if (segment is None or pts - segment.start_pts >= SHORTEST_SEGMENT * self.target * VIDEO_RATE
                    or self._new_parameter_sets(sets)):
                self._cut(pts, sets)
                segment = self.segment
        if segment is None:
            return
        if self.last_video_pts >= 0:
            step = pts - self.last_video_pts
            if 0 < step < VIDEO_RATE:
                self.frame_duration = step
        self.last_video_pts = pts
        self._video.append((pts, fmp4.annexb_to_avcc(data), keyframe))
        self.frames_written += 1
        if pts - self._video[0][0] >= FRAGMENT * VIDEO_RATE:
            self._write_fragment(None)

    def write_audio(self, pts: int, packet: bytes) -> None:
        """One Opus packet at ``pts`` (48 kHz); dropped before the first segment, without an audio track, or
        when it does not come after the last one taken.

        Each sample lasts what its packet codes (the Opus-in-ISOBMFF rule), one after another: players
        place decoded audio back to back, so time the publisher sent no packet for (a loss, a pause) is
        filled with empty packets, which decoders conceal (RFC 6716 §3.2.1); past :data:`LONGEST_FILL`
        a new fragment starts at the packet's time instead.
        """
        duration = fmp4.opus_duration(packet)
        if self.segment is None or not self.has_audio or not duration or pts < self.audio_end - duration // 2:
            return
        if not self.audio_frames_written:  # the first: the sound starts with the picture
            self.audio_end = min(pts, self.segment.start_pts * AUDIO_RATE // VIDEO_RATE)
        gap = pts - self.audio_end
        if gap > LONGEST_FILL:
            if self._audio:
                self._write_fragment(None)
            self.audio_end = pts
        elif gap >= fmp4.SHORTEST_FILLER:
            self._fill(gap, packet[0] & 0x04)
        self._audio.append((self.audio_end, packet))
        self.audio_end += duration
        self.audio_frames_written += 1
        if self._audio[-1][0] - self._audio[0][0] >= 2 * FRAGMENT * AUDIO_RATE:  # no video coming: audio alone
            self._write_fragment(None)

    def _fill(self, samples: int, stereo: int) -> None:
        for filler in fmp4.opus_fillers(samples, stereo):
            self._audio.append((self.audio_end, filler))
            self.audio_end += fmp4.opus_duration(filler)

    def continue_at(self, next_index: int) -> None:
        """Segments before ``next_index`` exist elsewhere (in storage): number after them, discontinuity first."""
        self.next_index = max(self.next_index, next_index)
        self.continues = True

    def pause(self) -> int:
        """A publisher session ended: close the open segment; the next one starts a discontinuity.

        Returns the pts right after the last frame (or audio) written, where the
        next session's first keyframe goes (the gap is not part of the replay).
        """
        end = self.last_video_pts + self.frame_duration if self.last_video_pts >= 0 else 0
        end = max(end, -(-self.audio_end * VIDEO_RATE // AUDIO_RATE))
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

    # -- segments ------------------------------------------------------------------------------

    def _new_parameter_sets(self, sets: tuple[bytes | None, bytes | None]) -> bool:
        """Whether a keyframe's SPS/PPS differ from the init segment's (the publisher's encoder changed the
        picture size, as WebRTC senders do when bandwidth or CPU run short): its segment must start there,
        with an init segment of its own, since ``avc1`` players set their decoder up from it."""
        sps, pps = sets
        return self._init_key is not None and sps is not None and pps is not None and (sps, pps) != self._init_key[:2]

    def _init_for(self, sets: tuple[bytes | None, bytes | None]) -> bool:
        """Make sure the init segment fits a keyframe's SPS/PPS (and the audio); True if a new one was written."""
        sps, pps = sets
        if sps is None or pps is None:
            if self._init_key is not None:
                return False  # parameter sets given once: the ones in use go on
            raise fmp4.Fmp4Error("the first keyframe has no SPS/PPS")
        if "audio" in self.codecs:
            self.audio_channels_fixed = True  # settled: one layout a recording
        channels = self.audio_channels if "audio" in self.codecs else 0
        key = (sps, pps, channels)
        if key == self._init_key:
            return False
        try:
            config = fmp4.h264_config(sps, pps)
        except fmp4.Fmp4Error:
            if self._init_key is None:
                raise
            log.warning("recorder %s: an SPS could not be read; the segments keep the init segment in use",
                        self.spool.slot_id)
            return False
        data = fmp4.init_segment(config, channels or None)
        name = init_name(self.next_index)
        path = self.spool.path(name)
        _write_durably(path, data)
        self.spool.append({"type": "init", "name": name})
        self._init_key = key
        self._init_name = name
        return True

    def _cut(self, pts: int, sets: tuple[bytes | None, bytes | None]) -> None:
        if self.segment is not None:
            self._close_segment(pts)
        try:
            new_init = self._init_for(sets)
        except fmp4.Fmp4Error as exc:
            log.warning("recorder %s: a keyframe could not start a segment (%s)", self.spool.slot_id, exc)
            return
        discontinuity = self.continues or (new_init and self.segments_written > 0)
        self.continues = False
        index = self.next_index
        self.next_index += 1
        self.segment = _Segment(index, self.spool.path(segment_name(index)), pts, discontinuity, self._init_name)

    def _write_fragment(self, end_pts: int | None) -> None:
        """Write what is pending as one fragment; without ``end_pts`` the last frame waits (its duration is
        the time to the next one)."""
        segment = self.segment
        if segment is None:
            return
        video = self._video if end_pts is not None else self._video[:-1]
        self._video = [] if end_pts is not None else self._video[-1:]
        audio, self._audio = self._audio, []
        runs = []
        if video:
            ends = [p for p, _, _ in video[1:]]
            ends.append(end_pts if end_pts is not None else self._video[0][0])
            runs.append(fmp4.TrackRun(
                fmp4.VIDEO_TRACK, video[0][0],
                [max(1, e - p) for e, (p, _, _) in zip(ends, video, strict=True)],
                [fmp4.KEY_SAMPLE if k else fmp4.DELTA_SAMPLE for _, _, k in video],
                [s for _, s, _ in video],
            ))
        if audio:
            durations = [fmp4.opus_duration(p) for _, p in audio]
            runs.append(fmp4.TrackRun(fmp4.AUDIO_TRACK, audio[0][0], durations, [fmp4.KEY_SAMPLE] * len(audio),
                                      [p for _, p in audio]))
        if runs:
            self._sequence += 1
            segment.file.write(fmp4.fragment(self._sequence, runs))
            segment.file.flush()

    def _close_segment(self, end_pts: int) -> None:
        segment = self.segment
        if segment is None:
            return
        self._write_fragment(end_pts)
        self.segment = None
        segment.file.flush()
        os.fsync(segment.file.fileno())
        segment.file.close()
        os.replace(segment.part, segment.path)
        fsync_dir(segment.path.parent)
        duration = max(0.001, (end_pts - segment.start_pts) / VIDEO_RATE)
        pdt = dt.datetime.fromtimestamp(self.wall0 + segment.start_pts / VIDEO_RATE, dt.UTC)
        self.spool.append(
            {
                "type": "segment",
                "name": segment.path.name,
                "map": segment.init,
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


def _write_durably(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)
    fsync_dir(path.parent)
