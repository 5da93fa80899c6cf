"""Videos (PyAV): duration, size and codecs, a poster frame, and whether browsers play them.

A stored video is read through ranged reads (:class:`RangeReader`), so a large
file is probed without copying it out of storage. CPU-bound; callers run it in
a thread.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import av

from booths.errors import MediaRejected
from booths.media.images import Derived, poster_from_image
from booths.media.sniffing import describe

if TYPE_CHECKING:
    from cloudexpo.storage import ObjectStore

BROWSER_MP4_VIDEO = {"h264"}
BROWSER_MP4_AUDIO = {"aac", None}
BROWSER_WEBM_VIDEO = {"vp8", "vp9", "av1"}
BROWSER_WEBM_AUDIO = {"opus", "vorbis", None}
CODEC_NAMES = {
    "h264": "H.264",
    "hevc": "H.265/HEVC",
    "mpeg4": "MPEG-4 Part 2",
    "mjpeg": "Motion JPEG",
    "vp8": "VP8",
    "vp9": "VP9",
    "av1": "AV1",
    "prores": "Apple ProRes",
    "mpeg2video": "MPEG-2",
    "aac": "AAC",
    "mp3": "MP3",
    "opus": "Opus",
    "vorbis": "Vorbis",
    "pcm_s16le": "PCM",
    "ac3": "AC-3",
}


@dataclass
class VideoResult:
    duration: float | None
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    browser_playable: bool
    warning: str | None
    poster: Derived | None


def playable(container: str, video_codec: str, audio_codec: str | None) -> tuple[bool, str | None]:
    """Whether browsers play this combination, and if not, a warning that says what to do."""
    if container == "video/mp4" and video_codec in BROWSER_MP4_VIDEO and audio_codec in BROWSER_MP4_AUDIO:
        return True, None
    if container == "video/webm" and video_codec in BROWSER_WEBM_VIDEO and audio_codec in BROWSER_WEBM_AUDIO:
        return True, None
    what = CODEC_NAMES.get(video_codec, video_codec)
    if audio_codec:
        what += f" video with {CODEC_NAMES.get(audio_codec, audio_codec)} audio"
    else:
        what += " video"
    return False, (
        f"This is {what} in {describe(container)}; web browsers play H.264 video with AAC audio in MP4, "
        "or VP8/VP9/AV1 in WebM. Visitors can download it but may not be able to watch it on the page. "
        "Convert it, for example: ffmpeg -i input -c:v libx264 -pix_fmt yuv420p -c:a aac -movflags +faststart output.mp4"
    )


def probe_video(source: Path | IO[bytes] | RangeReader, container: str) -> VideoResult:
    """Duration, resolution, codecs and a poster frame, read with PyAV from a file
    or a seekable file-like object (:class:`RangeReader`). CPU-bound."""
    try:
        with av.open(str(source) if isinstance(source, Path) else source, "r") as media:
            videos = [s for s in media.streams if s.type == "video"]
            audios = [s for s in media.streams if s.type == "audio"]
            if not videos:
                raise MediaRejected("the file holds no video picture; upload a video with a picture track.")
            stream = videos[0]
            video_codec = stream.codec_context.name
            audio_codec = audios[0].codec_context.name if audios else None
            width = int(getattr(stream.codec_context, "width", 0) or 0)
            height = int(getattr(stream.codec_context, "height", 0) or 0)
            duration: float | None = None
            if media.duration is not None:
                duration = media.duration / 1_000_000
            elif stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            poster = _poster(media, stream, duration)
    except MediaRejected:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise MediaRejected(f"the video cannot be read ({exc}); it may be damaged or incomplete. Export it again.") from None
    if not width or not height:
        raise MediaRejected("the video has no picture size; it may be damaged. Export it again.")
    ok, warning = playable(container, video_codec, audio_codec)
    return VideoResult(duration, width, height, video_codec, audio_codec, ok, warning, poster)


def _poster(media: Any, stream: Any, duration: float | None) -> Derived | None:
    """A frame about a tenth into the video (at most 2 s in), else the first one."""
    target = min(2.0, duration / 10) if duration else 0.0
    try:
        if target > 0 and stream.time_base is not None:
            media.seek(int(target / stream.time_base), stream=stream, any_frame=False, backward=True)
        for frame in media.decode(stream):
            if frame.time is None or frame.time + 1e-6 >= target or target == 0:
                return poster_from_image(frame.to_image())
    except av.FFmpegError:
        pass
    try:  # seeking failed: the first frame will do
        media.seek(0)
        for frame in media.decode(stream):
            return poster_from_image(frame.to_image())
    except av.FFmpegError:
        return None
    return None


class RangeReader(io.RawIOBase):
    """A read-only, seekable file over ranged reads of a stored object.

    PyAV reads a video's headers and the frames of its poster through it, so a
    large video is probed without copying it whole out of storage. ``fetch``
    is called from a worker thread with ``(start, length)``; blocks of
    ``block`` bytes are cached (the few most recent).
    """

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, block: int = 1 << 20, keep: int = 8) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._block = block
        self._keep = keep
        self._cache: dict[int, bytes] = {}
        self._pos = 0
        self.fetched = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}.get(whence)
        if base is None:
            raise ValueError(f"unsupported whence {whence}")
        self._pos = max(0, base + offset)
        return self._pos

    def _get(self, index: int) -> bytes:
        data = self._cache.get(index)
        if data is None:
            data = self._fetch(index * self._block, self._block)
            self.fetched += len(data)
            if len(self._cache) >= self._keep:
                self._cache.pop(next(iter(self._cache)))
            self._cache[index] = data
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), max(0, self._size - self._pos))
        done = 0
        while done < want:
            index, offset = divmod(self._pos, self._block)
            chunk = self._get(index)[offset : offset + want - done]
            if not chunk:
                break
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
            self._pos += len(chunk)
        return done


def store_reader(store: ObjectStore, key: str, size: int, loop: asyncio.AbstractEventLoop) -> RangeReader:
    """A :class:`RangeReader` whose reads run on ``loop`` (call it from a worker thread)."""

    def fetch(start: int, length: int) -> bytes:
        future = asyncio.run_coroutine_threadsafe(store.read_range(key, start, length), loop)
        return future.result(timeout=300)

    return RangeReader(fetch, size)
