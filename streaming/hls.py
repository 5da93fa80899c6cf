"""HLS media playlists (RFC 8216): writing, reading and trimming them. Pure functions.

The recorder keeps a playlist in storage beside the segments with relative
URIs (``seg_00001.m4s``, its init segment in ``EXT-X-MAP``), so VLC or ffmpeg
can play a replay straight from the bucket; the app serves the same playlist
with each URI swapped for a signed or presigned URL (:func:`write_playlist`
with ``uri_for``). Replays recorded as MPEG-TS (``.ts``, no map) read and
write the same way.

Every segment starts on a keyframe, so trimming (:func:`trim`) keeps whole
segments: the start snaps back to the beginning of its segment and the end
forward to the end of its segment (nothing the editor asked for is cut).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

_MAP_URI = re.compile(r'URI="([^"]*)"')


class PlaylistError(ValueError):
    """Text that is not an HLS media playlist we can read."""


class TrimError(ValueError):
    """Trim points outside the recording or in the wrong order; the message says which."""


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float
    discontinuity: bool = False
    program_date_time: dt.datetime | None = None
    map: str | None = None  # the init segment's URI (fragmented MP4); None for MPEG-TS


@dataclass
class Playlist:
    segments: list[Segment] = field(default_factory=list)
    media_sequence: int = 0
    playlist_type: str | None = "EVENT"  # "EVENT" while recording, "VOD" when done
    ended: bool = False
    target_duration: int | None = None  # computed from the segments when None
    independent_segments: bool = True
    discontinuity_sequence: int = 0  # discontinuities before the first segment (a live window's)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    def starts(self) -> list[float]:
        """Where each segment starts on the playlist's timeline, in seconds."""
        out, t = [], 0.0
        for s in self.segments:
            out.append(t)
            t += s.duration
        return out


def _format_pdt(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def write_playlist(playlist: Playlist, uri_for: Callable[[str], str] | None = None) -> str:
    """The playlist as text; ``uri_for`` maps each segment URI (e.g. to a signed URL)."""
    target = playlist.target_duration
    if target is None:
        target = target_for(playlist.segments)
    # EXT-X-MAP without EXT-X-I-FRAMES-ONLY needs version 6 (RFC 8216 §7); 7 is what fMP4 HLS is known by
    version = 7 if any(s.map for s in playlist.segments) else 3
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", f"#EXT-X-TARGETDURATION:{target}"]
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{playlist.media_sequence}")
    if playlist.discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{playlist.discontinuity_sequence}")
    if playlist.playlist_type:
        lines.append(f"#EXT-X-PLAYLIST-TYPE:{playlist.playlist_type}")
    if playlist.independent_segments:
        lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    current_map: str | None = None
    for segment in playlist.segments:
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if segment.map and segment.map != current_map:
            lines.append(f'#EXT-X-MAP:URI="{uri_for(segment.map) if uri_for else segment.map}"')
            current_map = segment.map
        if segment.program_date_time is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_format_pdt(segment.program_date_time)}")
        lines.append(f"#EXTINF:{segment.duration:.3f},")
        lines.append(uri_for(segment.uri) if uri_for else segment.uri)
    if playlist.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _parse_pdt(value: str) -> dt.datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise PlaylistError(f"bad EXT-X-PROGRAM-DATE-TIME {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def parse_playlist(text: str) -> Playlist:
    """Read a media playlist (the tags this module writes; others are ignored)."""
    lines = [line.strip() for line in text.splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("an HLS playlist starts with #EXTM3U")
    playlist = Playlist(playlist_type=None, independent_segments=False)
    duration: float | None = None
    discontinuity = False
    pdt: dt.datetime | None = None
    current_map: str | None = None
    for line in lines[1:]:
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[8:].split(",", 1)[0])
            except ValueError as exc:
                raise PlaylistError(f"bad segment duration in {line!r}") from exc
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            playlist.target_duration = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            playlist.media_sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            playlist.discontinuity_sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-PLAYLIST-TYPE:"):
            playlist.playlist_type = line.split(":", 1)[1]
        elif line == "#EXT-X-INDEPENDENT-SEGMENTS":
            playlist.independent_segments = True
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = _parse_pdt(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MAP:"):
            match = _MAP_URI.search(line)
            if match is None:
                raise PlaylistError(f"no URI in {line!r}")
            current_map = match.group(1)
        elif line == "#EXT-X-ENDLIST":
            playlist.ended = True
        elif line.startswith("#"):
            continue
        else:
            if duration is None:
                raise PlaylistError(f"segment {line!r} has no #EXTINF before it")
            playlist.segments.append(Segment(line, duration, discontinuity, pdt, current_map))
            duration, discontinuity, pdt = None, False, None
    return playlist


def target_for(segments: Sequence[Segment]) -> int:
    """EXT-X-TARGETDURATION for these segments: the longest, rounded up (at least 1)."""
    return max(1, max((math.ceil(s.duration - 0.001) for s in segments), default=2))


def live_window(playlist: Playlist, count: int) -> Playlist:
    """The last ``count`` segments as a live playlist (RFC 8216 §6.2.2): no type, the media and
    discontinuity sequences counting what slid out, the target duration of the whole recording
    (so it does not change as segments slide out)."""
    first = max(0, len(playlist.segments) - count)
    dropped = playlist.segments[:first]
    return Playlist(
        list(playlist.segments[first:]),
        media_sequence=playlist.media_sequence + first,
        playlist_type=None,
        ended=playlist.ended,
        target_duration=playlist.target_duration or target_for(playlist.segments),
        independent_segments=playlist.independent_segments,
        discontinuity_sequence=playlist.discontinuity_sequence + sum(1 for s in dropped if s.discontinuity),
    )


def snap_trim(
    segments: Sequence[Segment], start: float | None, end: float | None
) -> tuple[int, int, float, float]:
    """(first index, end index (exclusive), snapped start, snapped end) for trim points in seconds.

    ``None`` means "from the beginning" / "to the end". Raises :class:`TrimError`
    for points outside ``[0, duration]`` or a start not before the end.
    """
    total = sum(s.duration for s in segments)
    if not segments:
        raise TrimError("The recording has no segments yet; trim it when it has some.")
    lo = 0.0 if start is None else float(start)
    hi = total if end is None else float(end)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise TrimError("Give trim points as numbers of seconds.")
    if lo < 0 or lo >= total:
        raise TrimError(f"The start must be between 0 and {total:.1f} s (the recording's length); it was {lo:g}.")
    if hi <= 0 or hi > total + 0.001:
        raise TrimError(f"The end must be between 0 and {total:.1f} s (the recording's length); it was {hi:g}.")
    if lo >= hi:
        raise TrimError(f"The start ({lo:g} s) must come before the end ({hi:g} s).")
    t = 0.0
    first = 0
    last = len(segments)
    snapped_start = 0.0
    for i, seg in enumerate(segments):
        if t <= lo + 1e-6:
            first, snapped_start = i, t
        t += seg.duration
    t = 0.0
    snapped_end = total
    for i, seg in enumerate(segments):
        t += seg.duration
        if t >= hi - 1e-6:
            last, snapped_end = i + 1, t
            break
    return first, last, snapped_start, snapped_end


def trim(playlist: Playlist, start: float | None, end: float | None) -> Playlist:
    """A copy of ``playlist`` keeping the whole segments that cover ``[start, end]``."""
    first, last, _, _ = snap_trim(playlist.segments, start, end)
    kept = list(playlist.segments[first:last])
    if kept and kept[0].discontinuity:
        kept[0] = replace(kept[0], discontinuity=False)
    return replace(playlist, segments=kept, media_sequence=playlist.media_sequence + first)
