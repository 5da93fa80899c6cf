"""Recording every broadcast into HLS segments while it is live, without re-encoding H.264.

Three parts per recording:

:class:`RecordingSink` (event loop, the hot path)
    a :class:`~streaming.forwarder.PacketSink` that only puts
    ``(kind, seq, ts, marker, payload, arrival)`` tuples on a queue: no parsing,
    no I/O, and it cannot raise into the forwarder.
:class:`SegmentWriter` (one thread)
    puts packets back in order, depacketizes H.264 into access units
    (:mod:`streaming.depacketize`) and muxes them untouched with PyAV into
    MPEG-TS segments of about ``target`` seconds, each starting on a keyframe
    (it asks the publisher for one when its keyframes are too far apart).
    Opus is decoded and encoded as AAC-LC (see "audio" below). Audio and
    video are placed on one timeline from the publisher's RTCP sender reports
    (NTP ↔ RTP), or from arrival times when no report came in time. A
    finished segment is fsynced into the spool (:mod:`streaming.spool`).
:class:`~streaming.spool.Uploader` (a task)
    sends finished segments and the playlist to storage with retries; storage
    trouble never reaches the broadcast.

:class:`RecorderService` starts a recording when the engine reports a stream
live and finishes it when the stream ends: the last segment is closed, the
playlist gets ``#EXT-X-ENDLIST`` and the replay is playable; a single MP4 is
then remuxed in the background (:func:`streaming.replays.build_mp4`). On start-up
:meth:`RecorderService.recover` completes what a killed process left behind.

Audio: AAC. Safari (and iOS) play HLS natively only with AAC (Opus in fMP4
only from Safari 17 on recent systems), hls.js does not play Opus in MPEG-TS,
and the download MP4 with AAC plays everywhere (QuickTime included). Opus →
AAC costs one Opus decode and one AAC encode of 48 kHz stereo: about 1 % of a
core, paid in the writer thread.

VP8-only broadcasts: the writer decodes VP8 and encodes H.264 (libx264,
``veryfast``, zero-latency, a forced keyframe every segment) for the recording
only — viewers still get VP8 forwarded untouched. The replay is then the same
HLS + MP4 as any other (DVR, trim, Safari). Cost: a decode and an encode in
the writer thread, roughly 20-40 % of a core at 720p30 (a few % at 320×240);
when the thread cannot keep up, its queue is capped and frames are dropped
from the recording, never from the broadcast.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fractions
import io
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
from aiortc.rtp import RtpPacket

from cloudexpo.db import Database, utcnow
from cloudexpo.storage import ObjectStore

from .depacketize import Frame, H264Depacketizer, ReorderBuffer, VP8Depacketizer
from .sdp import CodecChoice
from .spool import SpoolRecording, Uploader, fsync_dir, segment_name, unfinished_recordings

log = logging.getLogger(__name__)

VIDEO_RATE = 90000
AUDIO_RATE = 48000
PTS_BASE = 10 * VIDEO_RATE  # TS timestamps start at 10 s: AAC priming never goes below 0
SYNC_WAIT = 2.5  # seconds to wait for sender reports before aligning by arrival times
KEYFRAME_LATE = 0.3  # seconds past the target with no keyframe: ask for one
KEYFRAME_REQUEST_EVERY = 1.0
QUEUE_LIMIT = 20000  # ~60 s of 2.5 Mbit/s video; past it the recording drops, not the broadcast
TB_VIDEO = fractions.Fraction(1, VIDEO_RATE)
TB_AUDIO = fractions.Fraction(1, AUDIO_RATE)
END = ("end",)


def ntp_seconds(ntp: int) -> float:
    return (ntp >> 32) + (ntp & 0xFFFFFFFF) / 4294967296.0


def unwrap(ts: int, ref: int | None) -> int:
    """``ts`` (32-bit RTP) extended to the 64-bit value nearest ``ref``."""
    if ref is None:
        return ts
    return ref + (((ts - ref) + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class RecordingSink:
    """The recorder's end of the forwarder: enqueue and return (see module doc)."""

    __slots__ = ("_put", "_queue", "dropped")

    def __init__(self, q: queue.SimpleQueue[tuple[Any, ...]]) -> None:
        self._queue = q
        self._put = q.put
        self.dropped = 0

    def on_codec(self, kind: str, codec: CodecChoice) -> None:
        self._put(("codec", kind, codec.name))

    def on_packet(self, kind: str, packet: RtpPacket, arrival_time: float) -> None:
        if self._queue.qsize() > QUEUE_LIMIT:
            self.dropped += 1
            return
        self._put(("pkt", kind, packet.sequence_number, packet.timestamp, packet.marker, packet.payload, arrival_time))

    def on_rtcp_sr(self, kind: str, ntp_timestamp: int, rtp_timestamp: int) -> None:
        self._put(("sr", kind, ntp_timestamp, rtp_timestamp))


class _Segment:
    def __init__(self, index: int, path: Path, start_pts: int, discontinuity: bool, template: Any) -> None:
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


class SegmentWriter(threading.Thread):
    """The writer thread of one recording (see module doc).

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
        self.queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.sink = RecordingSink(self.queue)
        self.on_segment = on_segment
        self.request_keyframe_cb = request_keyframe
        self.on_start = on_start
        self.target = target
        self.codecs: dict[str, str] = {}
        self.sr: dict[str, tuple[float, int]] = {}  # kind -> (NTP seconds, extended RTP)
        self._ext: dict[str, int | None] = {"video": None, "audio": None}
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
        self.v_origin: int | None = None
        self.t0_ntp = 0.0
        self.t0_mono = 0.0
        self.wall0 = 0.0
        self.a_origin: int | None = None
        self.audio_next = 0
        self.last_video_pts = -1
        self.frame_duration = VIDEO_RATE // 30
        # outputs
        self._template_container: Any = None
        self._template: dict[str, Any] = {}
        self._aac: Any = None
        self._opus: Any = None
        self._resampler: Any = None
        self._vp8_decoder: Any = None
        self._x264: Any = None
        self._x264_size: tuple[int, int] = (0, 0)
        self._last_forced_pts = -(10**12)
        self.segment: _Segment | None = None
        state = spool.state()
        indices = [int(e["name"][4:9]) for e in state.segments if e["name"].startswith("seg_")]
        self.next_index = max(indices, default=0) + 1
        self.continues = bool(state.segments)
        self._last_kf_request = -1e9
        # figures
        self.segments_written = 0
        self.frames_written = 0
        self.audio_frames_written = 0
        self.keyframe_requests = 0
        self.error: BaseException | None = None
        self.finished = threading.Event()

    # -- control (any thread) ----------------------------------------------------

    def stop(self) -> None:
        self.queue.put(END)

    # -- the thread -------------------------------------------------------------------

    def run(self) -> None:
        try:
            while True:
                try:
                    item = self.queue.get(timeout=0.1)
                except queue.Empty:
                    item = None
                if item is END:
                    break
                try:
                    if item is not None:
                        self._handle(item)
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
            self.finished.set()

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[1]
        if item[0] == "pkt":
            if self.first_arrival is None:
                self.first_arrival = item[6]
            if self.ready:
                self._packet(item)
            else:
                self.pending.append(item)
        elif item[0] == "sr":
            _, kind, ntp, rtp = item
            ext = unwrap(rtp, self._ext.get(kind))
            self.sr[kind] = (ntp_seconds(ntp), ext)
        elif item[0] == "codec":
            name = item[2]
            if self.codecs.get(kind) != name:
                self.codecs[kind] = name
                if kind == "video":
                    self._video_depack = VP8Depacketizer() if name == "VP8" else H264Depacketizer()

    def _check_ready(self) -> None:
        has_audio = "audio" in self.codecs
        if "video" in self.sr and (not has_audio or "audio" in self.sr):
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
        if now - self._last_kf_request < KEYFRAME_REQUEST_EVERY:
            return
        self._last_kf_request = now
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
        segment = self.segment
        if segment is not None and self.last_video_pts >= 0:
            age = (self.last_video_pts - segment.start_pts) / VIDEO_RATE
            if age >= self.target + KEYFRAME_LATE:
                self._request_keyframe()

    # -- packets ----------------------------------------------------------------------

    def _packet(self, item: tuple[Any, ...]) -> None:
        _, kind, seq, ts, marker, payload, arrival = item
        if kind == "video":
            self._last_video_arrival = arrival
        for (ts_, marker_, payload_, arrival_), lost in self._reorder[kind].push(seq, (ts, marker, payload, arrival)):
            ext = unwrap(ts_, self._ext[kind])
            self._ext[kind] = ext
            if kind == "video":
                self._video_packet(ext, marker_, payload_, lost)
            elif kind == "audio":
                self._audio_packet(ext, payload_, arrival_)

    def _video_packet(self, ext: int, marker: bool, payload: bytes, lost: bool) -> None:
        depack = self._video_depack
        if depack is None:
            return
        # the depacketizer works on 32-bit timestamps; frames carry them back
        for frame in depack.push(payload, ext & 0xFFFFFFFF, marker, lost):
            self._video_frame(frame, unwrap(frame.timestamp, ext))

    def _set_origin(self, ext: int) -> None:
        self.v_origin = ext
        self.t0_mono = self._last_video_arrival
        self.wall0 = time.time() - (time.monotonic() - self.t0_mono)
        if self.sync_mode == "rtcp":
            ntp, rtp = self.sr["video"]
            self.t0_ntp = ntp + (ext - rtp) / VIDEO_RATE
            if "audio" in self.sr:
                a_ntp, a_rtp = self.sr["audio"]
                self.a_origin = round(a_rtp + (self.t0_ntp - a_ntp) * AUDIO_RATE)
        self.spool.append(
            {
                "type": "start",
                "at": dt.datetime.fromtimestamp(self.wall0, dt.UTC).isoformat(),
                "video": self.codecs.get("video"),
                "audio": self.codecs.get("audio"),
                "sync": self.sync_mode,
            }
        )
        self.on_start(self.wall0)

    def _video_frame(self, frame: Frame, ext: int) -> None:
        if self.v_origin is None:
            if not frame.keyframe:
                return
            self._set_origin(ext)
        assert self.v_origin is not None
        pts = ext - self.v_origin
        if pts <= self.last_video_pts:
            return  # a frame out of order cannot be muxed
        if self.codecs.get("video") == "VP8":
            self._transcode_vp8(frame, pts)
        else:
            self._write_video(pts, frame.data, frame.keyframe)

    def _write_video(self, pts: int, data: bytes, keyframe: bool) -> None:
        segment = self.segment
        if keyframe and (segment is None or pts - segment.start_pts >= 0.75 * self.target * VIDEO_RATE):
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

    def _transcode_vp8(self, frame: Frame, pts: int) -> None:
        if self._vp8_decoder is None:
            self._vp8_decoder = av.CodecContext.create("vp8", "r")
        try:
            pictures = self._vp8_decoder.decode(av.Packet(frame.data))
        except av.FFmpegError:
            self._vp8_decoder = None
            return
        for picture in pictures:
            size = (picture.width, picture.height)
            if self._x264 is None or size != self._x264_size:
                self._x264 = av.CodecContext.create("libx264", "w")
                self._x264.width, self._x264.height = size
                self._x264.pix_fmt = "yuv420p"
                self._x264.time_base = TB_VIDEO
                self._x264.options = {
                    "preset": "veryfast",
                    "tune": "zerolatency",
                    "x264-params": "keyint=infinite:repeat-headers=1:scenecut=0",
                }
                self._x264_size = size
                self._last_forced_pts = -(10**12)
            picture = picture.reformat(format="yuv420p") if picture.format.name != "yuv420p" else picture
            picture.pts = pts
            picture.time_base = TB_VIDEO
            if pts - self._last_forced_pts >= self.target * VIDEO_RATE:
                picture.pict_type = av.video.frame.PictureType.I
                self._last_forced_pts = pts
            else:
                picture.pict_type = av.video.frame.PictureType.NONE
            for packet in self._x264.encode(picture):
                self._write_video(int(packet.pts), bytes(packet), bool(packet.is_keyframe))

    # -- audio ---------------------------------------------------------------------------

    def _audio_packet(self, ext: int, payload: bytes, arrival: float) -> None:
        if self.v_origin is None or self.segment is None or self.codecs.get("audio") != "opus":
            return
        if self.a_origin is None:  # aligned by arrival time
            self.a_origin = ext - round((arrival - self.t0_mono) * AUDIO_RATE)
        pos = ext - self.a_origin
        if pos < 0 or pos < self.audio_next - 480:
            return  # before the recording's start, or a duplicate
        if self._opus is None:
            self._opus = av.CodecContext.create("opus", "r")
            self._opus.sample_rate = AUDIO_RATE
            self._opus.layout = "stereo"
            self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        if pos - self.audio_next >= 480:
            self._encode_audio(self._silence(pos - self.audio_next))
        try:
            decoded = self._opus.decode(av.Packet(payload))
        except av.FFmpegError:
            return
        for frame in decoded:
            for out in self._resampler.resample(frame):
                self._encode_audio(out)

    def _silence(self, samples: int) -> av.AudioFrame:
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = AUDIO_RATE
        return frame

    def _encode_audio(self, frame: av.AudioFrame) -> None:
        frame.pts = self.audio_next
        frame.time_base = TB_AUDIO
        self.audio_next += frame.samples
        for packet in self._template["audio"].encode(frame):
            self._mux_audio(packet)

    def _mux_audio(self, packet: av.Packet) -> None:
        segment = self.segment
        if segment is None or segment.audio is None or packet.pts is None:
            return
        packet.pts = packet.dts = int(packet.pts) + PTS_BASE * AUDIO_RATE // VIDEO_RATE
        packet.time_base = TB_AUDIO
        segment.mux(packet, segment.audio)
        self.audio_frames_written += 1

    # -- segments ------------------------------------------------------------------------

    def _make_template(self) -> None:
        """Stream parameters every segment copies (one H.264 and one AAC stream)."""
        container = av.open(io.BytesIO(), "w", format="mpegts")
        video = container.add_stream("libx264", width=64, height=64)
        video.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "threads": "1"}
        self._template = {"video": video}
        if "audio" in self.codecs:
            audio = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            audio.codec_context.bit_rate = 128000
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
        try:
            self.on_segment()
        except Exception:
            log.exception("recorder %s: on_segment failed", self.spool.slot_id)

    def _finish(self) -> None:
        for kind in ("video", "audio"):
            for (ts_, marker_, payload_, arrival_), lost in self._reorder[kind].flush():
                ext = unwrap(ts_, self._ext[kind])
                self._ext[kind] = ext
                if kind == "video":
                    self._video_packet(ext, marker_, payload_, lost)
                elif self.segment is not None:
                    self._audio_packet(ext, payload_, arrival_)
        if self._video_depack is not None:
            ext = self._ext["video"] or 0
            for frame in self._video_depack.flush():
                self._video_frame(frame, unwrap(frame.timestamp, ext))
        if self._x264 is not None:
            try:
                for packet in self._x264.encode(None):
                    self._write_video(int(packet.pts), bytes(packet), bool(packet.is_keyframe))
            except av.FFmpegError:
                pass
        if "audio" in self._template and self.segment is not None:
            try:
                for packet in self._template["audio"].encode(None):
                    self._mux_audio(packet)
            except av.FFmpegError:
                pass
        if self.segment is not None:
            self._close_segment(self.last_video_pts + self.frame_duration)
        for part in self.spool.part_files():
            part.unlink(missing_ok=True)
        self.spool.append({"type": "end", "at": utcnow().isoformat()})
        try:
            self.on_segment()
        except Exception:
            log.exception("recorder %s: on_segment failed", self.spool.slot_id)
        if self._template_container is not None:
            try:
                self._template_container.close()
            except Exception:
                pass


# --- crash recovery of one spool folder -----------------------------------------------------------


def salvage_part(spool: SpoolRecording) -> None:
    """Close a spool folder a killed process left: keep the readable part of the last segment, end the journal."""
    state = spool.state()
    if state.ended and not spool.part_files():
        return
    last_end: dt.datetime | None = None
    if state.segments:
        last = state.segments[-1]
        if last.get("pdt"):
            last_end = dt.datetime.fromisoformat(last["pdt"]) + dt.timedelta(seconds=float(last["duration"]))
    for part in spool.part_files():
        duration = _readable_duration(part)
        name = part.name[: -len(".part")]
        if duration is None or duration < 0.2:
            part.unlink(missing_ok=True)
            continue
        with open(part, "rb+") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.truncate(size - size % 188)
            os.fsync(fh.fileno())
        os.replace(part, spool.path(name))
        fsync_dir(spool.dir)
        pdt = last_end or utcnow()
        spool.append(
            {
                "type": "segment",
                "name": name,
                "duration": round(duration, 3),
                "pdt": pdt.isoformat(),
                "discontinuity": False,
                "salvaged": True,
            }
        )
    if not state.ended:
        spool.append({"type": "end", "at": utcnow().isoformat(), "recovered": True})


def _readable_duration(path: Path) -> float | None:
    """Seconds of video in a (possibly cut-off) TS file that starts on a keyframe; None if unreadable."""
    try:
        with av.open(str(path), "r", format="mpegts") as container:
            video = next((s for s in container.streams if s.type == "video"), None)
            if video is None:
                return None
            first = last = None
            step = 0
            for packet in container.demux(video):
                if packet.pts is None:
                    continue
                if first is None:
                    if not packet.is_keyframe:
                        return None
                    first = packet.pts
                elif last is not None:
                    step = packet.pts - last
                last = packet.pts
            if first is None or last is None or video.time_base is None:
                return None
            return float((last - first + max(step, 0)) * video.time_base)
    except (av.FFmpegError, OSError, StopIteration):
        return None


# --- the service -----------------------------------------------------------------------------------


class _Active:
    def __init__(self, writer: SegmentWriter, uploader: Uploader, task: asyncio.Task[None]) -> None:
        self.writer = writer
        self.uploader = uploader
        self.task = task
        self.started_wall: float | None = None


class RecorderService:
    """Records every stream of the engine named ``slot-{id}``; one per process.

    :param on_finished: ``await on_finished(slot_id)`` after a recording's
        playlist is closed (the replay is playable); :mod:`streaming.replays`
        uses it to update the database and start the MP4.
    """

    def __init__(
        self,
        engine: Any,
        db: Database,
        store: ObjectStore,
        spool_root: Path,
        *,
        target: float = 2.0,
        make_mp4: bool = True,
        upload_first_delay: float = 0.5,
        upload_max_delay: float = 10.0,
    ) -> None:
        self.engine = engine
        self.db = db
        self.store = store
        self.spool_root = spool_root
        self.target = target
        self.make_mp4 = make_mp4
        self.upload_first_delay = upload_first_delay
        self.upload_max_delay = upload_max_delay
        self.active: dict[int, _Active] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finishing: dict[int, asyncio.Task[None]] = {}
        self._closed = False
        engine.add_state_listener(self._on_state)

    # -- engine events (synchronous, on the loop) ----------------------------------------

    def _on_state(self, stream: str, state: str) -> None:
        from .live import slot_id_of

        slot_id = slot_id_of(stream)
        if slot_id is None:
            return
        if state == "live" and slot_id not in self.active and not self._closed:
            try:
                self.start(slot_id, stream)
            except Exception:
                log.exception("recorder: could not start recording slot %s", slot_id)
        elif state == "ended" and slot_id in self.active:
            self._finishing[slot_id] = self._spawn(self.finish(slot_id))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recorder: a task failed", exc_info=task.exception())

    def start(self, slot_id: int, stream: str | None = None) -> SegmentWriter:
        """Attach a writer to the engine's stream of ``slot_id`` (called on its "live" state)."""
        from . import replays
        from .live import stream_id

        stream = stream or stream_id(slot_id)
        loop = asyncio.get_running_loop()
        spool = SpoolRecording(self.spool_root, slot_id)
        spool.ensure()
        uploader = Uploader(self.store, spool, first_delay=self.upload_first_delay, max_delay=self.upload_max_delay)
        engine = self.engine

        def request_keyframe() -> None:
            engine.request_keyframe(stream)

        def on_start(wall: float) -> None:
            active.started_wall = wall
            self._spawn(replays.recording_started(self.db, slot_id, dt.datetime.fromtimestamp(wall, dt.UTC), writer.codecs.get("video")))

        writer = SegmentWriter(
            spool,
            on_segment=lambda: loop.call_soon_threadsafe(uploader.kick),
            request_keyframe=lambda: loop.call_soon_threadsafe(request_keyframe),
            on_start=lambda wall: loop.call_soon_threadsafe(on_start, wall),
            target=self.target,
        )
        active = _Active(writer, uploader, self._spawn(uploader.run()))
        self.active[slot_id] = active
        writer.start()
        engine.add_packet_sink(stream, writer.sink)
        self._spawn(replays.recording_begun(self.db, slot_id))
        return writer

    async def finish(self, slot_id: int) -> None:
        """Close the last segment, send everything, close the playlist (ENDLIST); then the MP4."""
        active = self.active.get(slot_id)
        if active is None:
            return
        from .live import stream_id

        self.engine.remove_packet_sink(stream_id(slot_id), active.writer.sink)
        active.writer.stop()
        await asyncio.to_thread(active.writer.join)
        active.uploader.finish()
        await active.task
        if self.active.get(slot_id) is active:
            del self.active[slot_id]
        await self._closed_playlist(slot_id, active.uploader)

    async def _closed_playlist(self, slot_id: int, uploader: Uploader) -> None:
        from . import replays

        playlist = uploader.playlist
        count = len(playlist.segments) if playlist else 0
        await replays.recording_closed(self.db, slot_id, playlist)
        if self.make_mp4 and count:
            self._spawn(self._mp4(slot_id))
        elif slot_id not in self.active:
            await asyncio.to_thread(SpoolRecording(self.spool_root, slot_id).remove)

    async def _mp4(self, slot_id: int) -> None:
        from . import replays

        try:
            await replays.remake_mp4(self.db, self.store, slot_id, self.spool_root)
        finally:
            if slot_id not in self.active:
                await asyncio.to_thread(SpoolRecording(self.spool_root, slot_id).remove)

    async def recover(self) -> list[int]:
        """Complete recordings a killed process left in the spool; returns their slot ids."""
        recovered = []
        for slot_id in unfinished_recordings(self.spool_root):
            if slot_id in self.active:
                continue
            spool = SpoolRecording(self.spool_root, slot_id)
            await asyncio.to_thread(salvage_part, spool)
            uploader = Uploader(self.store, spool, first_delay=self.upload_first_delay, max_delay=self.upload_max_delay)
            uploader.finish()
            self._spawn(self._recover_one(slot_id, uploader))
            recovered.append(slot_id)
        return recovered

    async def _recover_one(self, slot_id: int, uploader: Uploader) -> None:
        await uploader.run()
        await self._closed_playlist(slot_id, uploader)
        log.info("recorder: recovered the recording of slot %s", slot_id)

    async def wait_idle(self) -> None:
        """Wait for finishing recordings and MP4 jobs (tests, shutdown)."""
        while self._tasks - {t for a in self.active.values() for t in (a.task,)}:
            pending = [t for t in self._tasks if all(t is not a.task for a in self.active.values())]
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Finish every recording (the engine may already have ended them)."""
        self._closed = True
        for slot_id in list(self.active):
            task = self._finishing.get(slot_id)
            if task is None or task.done():
                await self.finish(slot_id)
        await self.wait_idle()


def install_recorder(services: Any) -> RecorderService:
    """Record every broadcast of ``services.extras["media"]``; recover the spool at start-up.

    Called by the composition root after :func:`streaming.runtime.install_live`.
    """
    if "recorder" in services.extras:
        return services.extras["recorder"]
    recorder = RecorderService(
        services.extras["media"], services.db, services.store, Path(services.settings.data_dir) / "spool"
    )
    services.extras["recorder"] = recorder

    async def start(svc: Any) -> None:
        await recorder.recover()

    async def stop(svc: Any) -> None:
        await recorder.close()

    services.on_startup.append(start)
    services.on_shutdown.append(stop)
    return recorder
