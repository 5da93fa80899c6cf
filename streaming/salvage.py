"""Crash salvage: close a spool folder a killed process left behind.

The readable part of the segment being written (``.part``, cut at any byte)
is kept, cut to its whole fragments (fragmented MP4, :mod:`streaming.fmp4`)
or whole 188-byte packets (MPEG-TS, written before Cloud Expo wrote fMP4),
and journalled; the journal gets its end. :meth:`streaming.recorder.RecorderService.recover` then uploads what
is missing and closes the replay's playlist.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
from pathlib import Path

import av

from cloudexpo.db import utcnow

from . import fmp4
from .spool import SpoolRecording, fsync_dir

TS_PACKET = 188
SHORTEST_KEPT = 0.2  # seconds: a shorter cut-off segment is dropped


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
        name = part.name[: -len(".part")]
        if name.endswith(".ts"):
            duration = readable_duration(part)
            keep = None
        else:
            duration, keep = _fragments(part)
        init = state.inits[-1] if keep is not None and state.inits else None  # the segment's: the last one written
        if not name.startswith("seg_") or duration is None or duration < SHORTEST_KEPT or (keep is not None and not init):
            part.unlink(missing_ok=True)  # an init segment is written whole, or not at all
            continue
        with open(part, "rb+") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.truncate(keep if keep is not None else size - size % TS_PACKET)
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
                # an init segment of its own (new parameter sets) comes with a discontinuity, as the writer does
                "discontinuity": bool(init and state.segments and state.segments[-1].get("map") != init),
                "salvaged": True,
                **({"map": init} if init else {}),
            }
        )
    if not state.ended:
        spool.append({"type": "end", "at": utcnow().isoformat(), "recovered": True})


def _fragments(path: Path) -> tuple[float | None, int]:
    """(seconds of video in the whole fragments, bytes they take) of a cut-off fMP4 segment."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, 0
    keep = fmp4.complete_prefix(data)
    try:
        timing = fmp4.track_timing(data[:keep], fmp4.VIDEO_TRACK)
    except (fmp4.Fmp4Error, struct.error):
        return None, 0
    if timing is None:
        return None, 0
    return (timing[1] - timing[0]) / fmp4.VIDEO_TIMESCALE, keep


def readable_duration(path: Path) -> float | None:
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
