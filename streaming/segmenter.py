"""The writer thread of one recording: packets back in order, on one timeline, into segments.

:class:`SegmentWriter` reads what :class:`~streaming.recording_sink.RecordingSink`
queued, puts packets back in order (:class:`~streaming.depacketize.ReorderBuffer`),
depacketizes video into access units (:mod:`streaming.depacketize`) and hands
them to the :class:`~streaming.muxer.SegmentMuxer` untouched (H.264) or through
:class:`~streaming.transcode.Vp8ToH264`; Opus packets go to it untouched. It
asks the publisher for a keyframe when its keyframes are too far apart for
``target``-second segments.

The timeline: video pts 0 is the first keyframe. Audio is placed on it from
the publisher's RTCP sender reports (NTP ↔ RTP), or from arrival times when no
report came within :data:`SYNC_WAIT` seconds.

One recording spans a broadcast's publisher sessions: when another session
takes over (``("resume", "")`` from the sink) the open segment is closed, the
gap is cut out of the timeline (the new session's first keyframe comes right
after the last frame written) and the next segment starts with a
discontinuity, since the encoder, and perhaps the picture size, changed.
A recording that goes on from one in storage (another node recorded the
broadcast before, :mod:`streaming.continuation`) starts the same way
(:meth:`SegmentWriter.continue_after`).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import av

from . import media_meter
from .depacketize import Frame, H264Depacketizer, ReorderBuffer, VP8Depacketizer
from .muxer import SegmentMuxer
from .recording_sink import END, RecorderQueue, RecordingSink
from .spool import SpoolRecording
from .transcode import AUDIO_RATE, VIDEO_RATE, Vp8ToH264, opus_is_stereo

log = logging.getLogger(__name__)

SYNC_WAIT = 2.5  # seconds to wait for sender reports before aligning by arrival times
KEYFRAME_LATE = 0.3  # seconds past the target with no keyframe: ask for one
KEYFRAME_REQUEST_EVERY = 1.0
# seconds between the writer's turns at its queue: each turn pays for caches the other threads and
# processes cooled (on a loaded 2-core machine 0.25 s cost 0.6-0.9 % of a core less than 0.05 s;
# 0.5 s no less than 0.25 s); a segment reaches the spool at most this much later
BATCH_PERIOD = 0.25


def ntp_seconds(ntp: int) -> float:
    return (ntp >> 32) + (ntp & 0xFFFFFFFF) / 4294967296.0


def unwrap(ts: int, ref: int | None) -> int:
    """``ts`` (32-bit RTP) extended to the 64-bit value nearest ``ref``."""
    if ref is None:
        return ts
    return ref + (((ts - ref) + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class SegmentWriter(threading.Thread):
    """The writer thread of one recording (see the module doc).

    ``on_segment()``, ``request_keyframe()`` and ``on_start(wall_time)`` are
    called from this thread; the service wraps them with ``call_soon_threadsafe``.
    """

    def __init__(
        self,
        spool: SpoolRecording,
        *,
        on_segment: Callable[[], object] = lambda: None,
        request_keyframe: Callable[[], object] = lambda: None,
        on_start: Callable[[float], object] = lambda wall: None,
        target: float = 2.0,
    ) -> None:
        super().__init__(name=f"recorder-{spool.slot_id}", daemon=True)
        self.spool = spool
        self.queue: RecorderQueue = queue.SimpleQueue()
        self.sink = RecordingSink(self.queue)
        self.request_keyframe_cb = request_keyframe
        self.on_start = on_start
        self.target = target
        self.codecs: dict[str, str] = {}
        self.sender_reports: dict[str, tuple[float, int]] = {}  # kind -> (NTP seconds, extended RTP)
        self._extended_ts: dict[str, int | None] = {"video": None, "audio": None}  # last 64-bit RTP timestamp
        self._reorder: dict[str, ReorderBuffer[tuple[int, bool, bytes, float]]] = {
            "video": ReorderBuffer(96),
            "audio": ReorderBuffer(16),
        }
        self._video_depack: H264Depacketizer | VP8Depacketizer | None = None
        self.pending: list[tuple[Any, ...]] = []
        self.ready = False
        self.sync_mode = ""
        self.first_arrival: float | None = None
        self._last_video_arrival = 0.0
        # the timeline
        self.video_origin: int | None = None  # extended RTP timestamp of video pts 0
        self.origin_ntp = 0.0  # NTP seconds of video pts 0 (sender reports)
        self.origin_arrival = 0.0  # monotonic arrival time of video pts 0
        self.audio_origin: int | None = None  # extended RTP timestamp of audio sample 0
        self.pts_base = 0  # where the current publisher session's first keyframe goes on the timeline
        self.resumes = 0  # publisher sessions after the first one
        # outputs
        self.muxer = SegmentMuxer(spool, self.codecs, target=target, on_segment=on_segment)
        self._vp8: Vp8ToH264 | None = None
        self._last_keyframe_request = -1e9
        # figures
        self.keyframe_requests = 0
        self.error: BaseException | None = None
        self.finished = threading.Event()

    # -- control (any thread) ----------------------------------------------------

    def stop(self) -> None:
        self.queue.put(END)

    def continue_after(self, duration: float, next_index: int, audio_channels: int | None = None) -> None:
        """Go on from a recording already in storage (:mod:`streaming.continuation`); before :meth:`start`.

        Its first keyframe goes ``duration`` seconds into the timeline, its first
        segment is numbered ``next_index`` (or later) and starts a discontinuity, its
        audio keeps the stored part's ``audio_channels`` (where known), and no "start"
        is journalled: the recording started with the stored part.
        """
        self.pts_base = round(duration * VIDEO_RATE)
        self.resumes += 1
        self.muxer.continue_at(next_index)
        if audio_channels is not None:
            self.muxer.keep_audio_channels(audio_channels)

    # -- the thread -------------------------------------------------------------------

    def run(self) -> None:
        media_meter.recorder_started(self)
        try:
            get = self.queue.get_nowait
            ending = False
            while not ending:
                # Wake up every BATCH_PERIOD and take what came, instead of at every packet: a
                # thread woken 330 times a second costs the broadcast more than the work it does.
                time.sleep(BATCH_PERIOD)
                while True:
                    try:
                        item = get()
                    except queue.Empty:
                        break
                    if item is END:
                        ending = True
                        break
                    try:
                        self._handle(item)
                    except Exception:
                        log.exception("recorder %s: a packet could not be recorded", self.spool.slot_id)
                try:
                    if not self.ready:
                        self._check_ready()
                    self._check_keyframe_age()
                except Exception:
                    log.exception("recorder %s: a packet could not be recorded", self.spool.slot_id)
            self._finish()
        except BaseException as exc:  # keep the thread's failure for the service
            self.error = exc
            log.exception("recorder %s failed", self.spool.slot_id)
        finally:
            media_meter.recorder_finished(self)
            self.finished.set()

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[1]
        if item[0] == "pkt":
            if self.first_arrival is None:
                self.first_arrival = item[6]
            if kind == "audio" and not self.muxer.audio_channels_fixed and opus_is_stereo(item[5]):
                self.muxer.prefer_stereo()  # before the first segment opens, this makes the recording stereo
            if self.ready:
                self._packet(item)
            else:
                self.pending.append(item)
        elif item[0] == "sr":
            _, kind, ntp, rtp = item
            extended = unwrap(rtp, self._extended_ts.get(kind))
            self.sender_reports[kind] = (ntp_seconds(ntp), extended)
        elif item[0] == "resume":
            self._resume()
        elif item[0] == "codec":
            name = item[2]
            if kind == "audio" and item[3]:  # the publisher said it sends stereo
                self.muxer.prefer_stereo()
            if self.codecs.get(kind) != name:
                self.codecs[kind] = name
                if kind == "video":
                    self._video_depack = VP8Depacketizer() if name == "VP8" else H264Depacketizer()

    def _check_ready(self) -> None:
        has_audio = "audio" in self.codecs
        if "video" in self.sender_reports and (not has_audio or "audio" in self.sender_reports):
            self.sync_mode = "rtcp"
        elif self.first_arrival is not None and time.monotonic() - self.first_arrival >= SYNC_WAIT:
            self.sync_mode = "arrival"
            log.info("recorder %s: no sender reports; aligning audio and video by arrival", self.spool.slot_id)
        else:
            return
        self.ready = True
        pending, self.pending = self.pending, []
        for item in pending:
            self._packet(item)

    def _request_keyframe(self) -> None:
        now = time.monotonic()
        if now - self._last_keyframe_request < KEYFRAME_REQUEST_EVERY:
            return
        self._last_keyframe_request = now
        self.keyframe_requests += 1
        try:
            self.request_keyframe_cb()
        except Exception:
            log.exception("recorder %s: keyframe request failed", self.spool.slot_id)

    def _check_keyframe_age(self) -> None:
        if not self.ready or self.codecs.get("video") == "VP8":
            return  # VP8 recordings force keyframes in their own encoder
        depack = self._video_depack
        if depack is not None and depack.waiting_for_keyframe and self.first_arrival is not None:
            self._request_keyframe()
            return
        age = self.muxer.segment_age()
        if age is not None and age >= self.target + KEYFRAME_LATE:
            self._request_keyframe()

    # -- packets ----------------------------------------------------------------------

    def _packet(self, item: tuple[Any, ...]) -> None:
        _, kind, seq, ts, marker, payload, arrival = item
        if kind == "video":
            self._last_video_arrival = arrival
        self._in_order(kind, self._reorder[kind].push(seq, (ts, marker, payload, arrival)))

    def _in_order(self, kind: str, packets: list[tuple[tuple[int, bool, bytes, float], bool]]) -> None:
        for (ts, marker, payload, arrival), lost in packets:
            extended = unwrap(ts, self._extended_ts[kind])
            self._extended_ts[kind] = extended
            if kind == "video":
                self._video_packet(extended, marker, payload, lost)
            elif kind == "audio":
                self._audio_packet(extended, payload, arrival)

    def _video_packet(self, extended: int, marker: bool, payload: bytes, lost: bool) -> None:
        depack = self._video_depack
        if depack is None:
            return
        # the depacketizer works on 32-bit timestamps; frames carry them back
        for frame in depack.push(payload, extended & 0xFFFFFFFF, marker, lost):
            self._video_frame(frame, unwrap(frame.timestamp, extended))

    def _resume(self) -> None:
        """Another publisher session: write out the last one, then cut the gap (see the module doc)."""
        self._drain()
        self.sender_reports.clear()  # the new encoder's clock
        if self.video_origin is None:
            return  # nothing written yet: the new session starts the timeline
        self.pts_base = self.muxer.pause()  # after the last frame and the last audio, whichever ends later
        self.video_origin = None
        self.audio_origin = None
        self.resumes += 1

    def _set_origin(self, extended: int) -> None:
        base = self.pts_base
        self.video_origin = extended - base
        self.origin_arrival = self._last_video_arrival - base / VIDEO_RATE
        wall0 = time.time() - (time.monotonic() - self.origin_arrival)
        self.muxer.wall0 = wall0
        if self.sync_mode == "rtcp" and "video" in self.sender_reports:
            ntp, rtp = self.sender_reports["video"]
            self.origin_ntp = ntp + (self.video_origin - rtp) / VIDEO_RATE
            if "audio" in self.sender_reports:
                a_ntp, a_rtp = self.sender_reports["audio"]
                self.audio_origin = round(a_rtp + (self.origin_ntp - a_ntp) * AUDIO_RATE)
        if self.resumes:
            return  # the recording started with the first session
        self.spool.append(
            {
                "type": "start",
                "at": dt.datetime.fromtimestamp(wall0, dt.UTC).isoformat(),
                "video": self.codecs.get("video"),
                "audio": self.codecs.get("audio"),
                "sync": self.sync_mode,
            }
        )
        self.on_start(wall0)

    def _video_frame(self, frame: Frame, extended: int) -> None:
        if self.video_origin is None:
            if not frame.keyframe:
                return
            self._set_origin(extended)
        assert self.video_origin is not None
        pts = extended - self.video_origin
        if pts <= self.muxer.last_video_pts:
            return  # a frame out of order cannot be muxed
        if self.codecs.get("video") == "VP8":
            if self._vp8 is None:
                self._vp8 = Vp8ToH264(self.target * VIDEO_RATE)
            self._write_video(self._vp8.push(frame.data, pts))
        else:
            self.muxer.write_video(pts, frame.data, frame.keyframe)

    def _write_video(self, packets: list[tuple[int, bytes, bool]]) -> None:
        for pts, data, keyframe in packets:
            self.muxer.write_video(pts, data, keyframe)

    def _audio_packet(self, extended: int, payload: bytes, arrival: float) -> None:
        if self.video_origin is None or self.muxer.segment is None or self.codecs.get("audio") != "opus":
            return
        if self.audio_origin is None:  # aligned by arrival time
            self.audio_origin = extended - round((arrival - self.origin_arrival) * AUDIO_RATE)
        pts = extended - self.audio_origin
        # audio starts where this session's video does: after a stored part (a continued recording) or an
        # earlier session the timeline does not start at 0, and the time before is not this session's
        if pts >= self.pts_base * AUDIO_RATE // VIDEO_RATE:
            self.muxer.write_audio(pts, payload)

    def _drain(self) -> None:
        """Write out what the reorder buffers and the depacketizer still hold."""
        for kind in ("video", "audio"):
            self._in_order(kind, self._reorder[kind].flush())
        if self._video_depack is not None:
            extended = self._extended_ts["video"] or 0
            for frame in self._video_depack.flush():
                self._video_frame(frame, unwrap(frame.timestamp, extended))

    def _finish(self) -> None:
        self._drain()
        try:
            if self._vp8 is not None:
                self._write_video(self._vp8.flush())
        except av.FFmpegError:
            pass  # what the encoder still held is lost; the segments written stay
        self.muxer.finish()
