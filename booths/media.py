"""What the server does with an uploaded object: check it, then make what pages need.

An exhibitor's browser puts the object straight into storage
(:mod:`booths.uploads`); nothing here trusts the name or the browser's type.

1. **Check** (cheap, at completion): the size storage reports must be the size
   announced and within the limit for the asset's kind; the type comes from
   the first bytes (:func:`sniff`). A refused object is deleted and the asset
   becomes ``rejected`` with a ``problem`` the exhibitor reads.
2. **Process** (in the background, :class:`MediaWorker`): images are decoded
   under a pixel limit (decompression bombs are refused), re-encoded without
   EXIF (orientation applied) into a display copy and thumbnails 320/640/1280
   wide in JPEG and WebP; videos are probed with PyAV (duration, size, codecs),
   get a poster frame and a warning when browsers cannot play them; PDFs are
   checked for header and trailer and get a first-page thumbnail when
   ``pdftoppm`` is installed. CPU work runs in worker threads.

Every derived object lives beside the original under the asset's folder
(``media/e{exhibitor}/a{asset}/``), so deleting an asset deletes that folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from PIL import Image, ImageOps, UnidentifiedImageError

from booths.assets import Asset, derived_key, refresh_booth_has_video
from booths.errors import Invalid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from booths.uploads import Limits
    from cloudexpo.db import Database
    from cloudexpo.services import Services
    from cloudexpo.storage import ObjectStore

log = logging.getLogger(__name__)

#: Pictures larger than this many pixels are refused (about 8000 × 5000).
MAX_PIXELS = 40_000_000
THUMB_WIDTHS = (320, 640, 1280)
DISPLAY_MAX = 2560
POSTER_MAX_WIDTH = 1280
SNIFF_BYTES = 4096
JPEG_QUALITY = 85
WEBP_QUALITY = 80

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
VIDEO_TYPES = {"video/mp4", "video/quicktime", "video/webm", "video/x-matroska"}
DOCUMENT_TYPES = {"application/pdf"}
#: What each kind of asset may be, by sniffed type.
ALLOWED_TYPES: dict[str, set[str]] = {
    "logo": IMAGE_TYPES,
    "banner": IMAGE_TYPES,
    "image": IMAGE_TYPES,
    "video": VIDEO_TYPES,
    "document": DOCUMENT_TYPES,
}
KIND_WORDS = {
    "logo": "a picture (JPEG, PNG, WebP or GIF)",
    "banner": "a picture (JPEG, PNG, WebP or GIF)",
    "image": "a picture (JPEG, PNG, WebP or GIF)",
    "video": "a video (MP4, MOV or WebM)",
    "document": "a PDF document",
}
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "application/pdf": ".pdf",
}


class MediaRejected(Invalid):
    """The object is not what its kind allows; the message tells the exhibitor why."""


# --- sniffing -----------------------------------------------------------------------


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file show, or None when unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand[:3] in {b"M4A", b"M4B", b"M4P"} or brand in {b"heic", b"heix", b"mif1", b"msf1", b"avif"}:
            return None  # audio-only MP4 and HEIF/AVIF stills are not videos
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # EBML: the DocType element (0x42 0x82) names webm or matroska.
        at = head.find(b"\x42\x82")
        if at != -1 and at + 3 < len(head):
            size = head[at + 2] & 0x7F if head[at + 2] & 0x80 else 0
            doctype = head[at + 3 : at + 3 + size] if size else b""
            if doctype == b"webm":
                return "video/webm"
            if doctype == b"matroska":
                return "video/x-matroska"
        return "video/webm"
    return None


def describe(content_type: str | None) -> str:
    """A few words for a sniffed type, for messages."""
    names = {
        "image/jpeg": "a JPEG picture",
        "image/png": "a PNG picture",
        "image/webp": "a WebP picture",
        "image/gif": "a GIF picture",
        "video/mp4": "an MP4 video",
        "video/quicktime": "a QuickTime (MOV) video",
        "video/webm": "a WebM video",
        "video/x-matroska": "a Matroska (MKV) video",
        "application/pdf": "a PDF document",
    }
    return names.get(content_type or "", "a file of a type we do not recognise")


def check_type(kind: str, head: bytes, filename: str) -> str:
    """The sniffed content type when it suits ``kind``; else :class:`MediaRejected`."""
    found = sniff(head)
    if found is None or found not in ALLOWED_TYPES[kind]:
        raise MediaRejected(
            f"“{filename}” is {describe(found)}, judged by its content, not its name; "
            f"a {kind} must be {KIND_WORDS[kind]}. Export it in one of those formats and upload it again."
        )
    return found


def check_size(kind: str, size: int, declared: int, limit: int, filename: str) -> None:
    if size != declared:
        raise MediaRejected(
            f"“{filename}” arrived with {size} bytes but {declared} were announced; "
            "the upload was incomplete or the file changed meanwhile. Upload it again."
        )
    if size > limit:
        raise MediaRejected(
            f"“{filename}” is {human_bytes(size)}; a {kind} may be at most {human_bytes(limit)}. "
            "Make it smaller and upload it again."
        )
    if size == 0:
        raise MediaRejected(f"“{filename}” is empty.")


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


# --- images ---------------------------------------------------------------------


@dataclass
class Derived:
    """One object made from the original: its name in ``meta``, bytes and type."""

    name: str
    data: bytes
    content_type: str
    ext: str


@dataclass
class ImageResult:
    width: int
    height: int
    format: str
    derived: list[Derived] = field(default_factory=list)


def _open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode under a pixel limit; bombs and undecodable data become MediaRejected."""
    previous = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise MediaRejected(
                    f"the picture declares {width} × {height} pixels; at most {max_pixels:,} pixels "
                    "are accepted. Scale it down and upload it again."
                )
            img.load()
            return img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRejected(
            f"the picture declares more pixels than the {max_pixels:,} accepted ({exc}). "
            "Scale it down and upload it again."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaRejected(f"the picture cannot be decoded ({exc}); it may be damaged. Export it again.") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _flatten(img: Image.Image, keep_alpha: bool) -> Image.Image:
    has_alpha = img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        if keep_alpha:
            return rgba
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _encode(img: Image.Image, fmt: str) -> bytes:
    """Re-encode without any metadata (no EXIF, no XMP, no ICC but sRGB assumed)."""
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", quality=WEBP_QUALITY, method=4)
    else:
        img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _resize(img: Image.Image, width: int) -> Image.Image:
    if img.width <= width:
        return img
    height = max(1, round(img.height * width / img.width))
    return img.resize((width, height), Image.Resampling.LANCZOS)


def process_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageResult:
    """Decode safely; a display copy and thumbnails, all without EXIF. CPU-bound."""
    img = _open_image(data, max_pixels)
    fmt = img.format or "?"
    with contextlib.suppress(Exception):
        img.seek(0)  # first frame of an animation
    # Apply the EXIF orientation to the pixels, since the EXIF itself goes.
    upright = ImageOps.exif_transpose(img) or img
    result = ImageResult(width=upright.width, height=upright.height, format=fmt)
    with_alpha = _flatten(upright, keep_alpha=True)
    has_alpha = with_alpha.mode == "RGBA"
    opaque = _flatten(upright, keep_alpha=False)

    display = _resize(with_alpha if has_alpha else opaque, DISPLAY_MAX)
    if has_alpha or fmt == "PNG":
        result.derived.append(Derived("display", _encode(display, "PNG"), "image/png", ".png"))
    else:
        result.derived.append(Derived("display", _encode(display, "JPEG"), "image/jpeg", ".jpg"))
    for width in THUMB_WIDTHS:
        result.derived.append(
            Derived(f"thumb_{width}", _encode(_resize(opaque, width), "JPEG"), "image/jpeg", ".jpg")
        )
        source = with_alpha if has_alpha else opaque
        result.derived.append(
            Derived(f"webp_{width}", _encode(_resize(source, width), "WEBP"), "image/webp", ".webp")
        )
    return result


def poster_from_image(img: Image.Image) -> Derived:
    frame = _resize(img.convert("RGB"), POSTER_MAX_WIDTH)
    return Derived("poster", _encode(frame, "JPEG"), "image/jpeg", ".jpg")


# --- videos ---------------------------------------------------------------------

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
    import av

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
    import av

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


# --- documents ------------------------------------------------------------------


def check_pdf_tail(tail: bytes) -> None:
    if b"%%EOF" not in tail:
        raise MediaRejected(
            "the PDF has no end marker (%%EOF); it is incomplete or damaged. Export it again."
        )


def pdf_first_page(path: Path, width: int = 640) -> bytes | None:
    """The first page as JPEG through poppler's pdftoppm, or None when it is not installed."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "page"
        try:
            subprocess.run(
                [tool, "-jpeg", "-f", "1", "-l", "1", "-scale-to-x", str(width), "-scale-to-y", "-1",
                 "-singlefile", str(path), str(out)],
                check=True, capture_output=True, timeout=60,
            )
        except (subprocess.SubprocessError, OSError):
            return None
        made = out.with_suffix(".jpg")
        return made.read_bytes() if made.exists() else None


# --- checking and processing stored objects -------------------------------------------


async def _cpu(func: Callable[..., Any], *args: Any) -> Any:
    """CPU-bound work in a worker thread, so the event loop keeps serving."""
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


async def check_object(store: ObjectStore, asset: Asset, limit: int) -> str:
    """The cheap checks on a completed upload: size (as stored), type (first
    bytes), PDF trailer. Returns the sniffed content type or raises MediaRejected."""
    info = await store.head(asset.key)
    if info is None:
        raise MediaRejected(f"nothing arrived for “{asset.filename}”; upload it again.")
    check_size(asset.kind, info.size, asset.size, limit, asset.filename)
    head = await store.read_range(asset.key, 0, SNIFF_BYTES)
    found = check_type(asset.kind, head, asset.filename)
    if found == "application/pdf":
        check_pdf_tail(await store.read_range(asset.key, max(0, info.size - 1024), 1024))
    return found


async def derive(store: ObjectStore, asset: Asset, *, data: bytes | None = None) -> dict[str, Any]:
    """Make and store what pages need from the original; returns the asset's ``meta``.

    ``data`` is the original when the caller has it in memory already.
    """
    head = data[:SNIFF_BYTES] if data is not None else await store.read_range(asset.key, 0, SNIFF_BYTES)
    found = check_type(asset.kind, head, asset.filename)
    meta: dict[str, Any] = {"type": found}

    async def put(item: Derived) -> str:
        key = derived_key(asset, item.name, item.ext)
        await store.put_bytes(key, item.data, item.content_type)
        return key

    if found in IMAGE_TYPES:
        original = data if data is not None else await store.get_bytes(asset.key)
        image: ImageResult = await _cpu(process_image, original)
        meta.update(width=image.width, height=image.height, format=image.format, variants={})
        for item in image.derived:
            key = await put(item)
            if item.name == "display":
                meta["display"] = key
                meta["display_type"] = item.content_type
            else:
                meta["variants"][item.name] = key
        return meta

    if found == "application/pdf" and shutil.which("pdftoppm") is None:
        if data is not None:
            check_pdf_tail(data[-1024:])
        else:
            info = await store.head(asset.key)
            size = info.size if info is not None else 0
            check_pdf_tail(await store.read_range(asset.key, max(0, size - 1024), 1024))
        meta["thumbnail"] = "none: pdftoppm (poppler-utils) is not installed"
        return meta

    if found in VIDEO_TYPES:
        # Read through ranges: a 2 GB video is not copied out of storage to be probed.
        source: IO[bytes] | RangeReader
        if data is not None:
            source = io.BytesIO(data)
        else:
            info = await store.head(asset.key)
            if info is None:
                raise MediaRejected(f"nothing arrived for “{asset.filename}”; upload it again.")
            source = store_reader(store, asset.key, info.size, asyncio.get_running_loop())
        video: VideoResult = await _cpu(probe_video, source, found)
        meta.update(
            duration=round(video.duration, 3) if video.duration is not None else None,
            width=video.width,
            height=video.height,
            codecs={"video": video.video_codec, "audio": video.audio_codec},
            browser_playable=video.browser_playable,
        )
        if video.warning:
            meta["warning"] = video.warning
        if video.poster is not None:
            meta["poster"] = await put(video.poster)
        return meta

    with tempfile.TemporaryDirectory(prefix="cloudexpo-media-") as folder:
        path = Path(folder) / ("original" + EXTENSIONS.get(found, ".bin"))
        if data is not None:
            await _cpu(path.write_bytes, data)
        else:
            await store.download_file(asset.key, path)
        # a PDF
        size = path.stat().st_size
        with path.open("rb") as fh:
            fh.seek(max(0, size - 1024))
            check_pdf_tail(fh.read())
        page: bytes | None = await _cpu(pdf_first_page, path)
        if page is None:
            meta["thumbnail"] = "none: the first page could not be drawn"
        else:
            meta["poster"] = await put(Derived("poster", page, "image/jpeg", ".jpg"))
            thumb = Derived("thumb_640", page, "image/jpeg", ".jpg")
            meta["variants"] = {"thumb_640": await put(thumb)}
        return meta


async def reject(session: AsyncSession, store: ObjectStore, asset: Asset, problem: str) -> None:
    """Delete every object of the asset and tell the exhibitor why. The caller commits."""
    await store.delete_prefix(asset.folder)
    asset.state = "rejected"
    asset.problem = problem
    asset.meta = {}
    await session.flush()
    await refresh_booth_has_video(session, asset.booth_id)


def _problem(filename: str, exc: MediaRejected) -> str:
    text = str(exc)
    return text if filename in text else f"“{filename}”: {text}"


async def process_asset(db: Database, store: ObjectStore, asset_id: int, limits: Limits) -> None:
    """Check and process one asset in state ``processing``; it ends ``ready`` or ``rejected``.

    Safe to run again after a crash: derived objects are simply written anew.
    No database transaction stays open while media are decoded.
    """
    async with db.session() as session:
        asset = await session.get(Asset, asset_id)
        if asset is None or asset.state != "processing":
            return
        session.expunge(asset)
    try:
        found = await check_object(store, asset, limits.for_kind(asset.kind))
        meta = await derive(store, asset)
    except MediaRejected as exc:
        async with db.session() as session:
            current = await session.get(Asset, asset_id)
            if current is not None and current.state == "processing":
                await reject(session, store, current, _problem(current.filename, exc))
                await session.commit()
        return
    async with db.session() as session:
        current = await session.get(Asset, asset_id)
        if current is None or current.state != "processing":
            # deleted meanwhile: what was made goes too
            if current is None:
                await store.delete_prefix(asset.folder)
            return
        current.meta = meta
        current.content_type = found
        current.state = "ready"
        current.problem = None
        await session.flush()
        await refresh_booth_has_video(session, current.booth_id)
        await session.commit()


# --- the background worker ---------------------------------------------------------


ProcessFunc = Callable[[int], Awaitable[None]]


class MediaWorker:
    """Runs processing jobs as asyncio tasks, a few at a time; picks up leftovers at start."""

    def __init__(self, process: ProcessFunc, concurrency: int = 2) -> None:
        self._process = process
        self._limit = asyncio.Semaphore(concurrency)
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def submit(self, asset_id: int) -> None:
        if asset_id in self._tasks and not self._tasks[asset_id].done():
            return
        task = asyncio.get_running_loop().create_task(self._run(asset_id), name=f"media-{asset_id}")
        self._tasks[asset_id] = task
        task.add_done_callback(lambda done: self._forget(asset_id, done))

    def _forget(self, asset_id: int, task: asyncio.Task[None]) -> None:
        if self._tasks.get(asset_id) is task:
            del self._tasks[asset_id]

    async def _run(self, asset_id: int) -> None:
        async with self._limit:
            try:
                await self._process(asset_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("processing asset %s failed", asset_id)

    async def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no job runs (tests and shutdown)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


WORKER_KEY = "media_worker"


def worker_for(services: Services) -> MediaWorker | None:
    worker = services.extras.get(WORKER_KEY)
    return worker if isinstance(worker, MediaWorker) else None


async def start_media_worker(services: Services) -> None:
    """Startup hook: a worker in ``services.extras``; assets left processing are picked up again."""
    from booths import assets, uploads

    if worker_for(services) is not None:
        return
    limits = uploads.Limits.from_settings(services.settings)

    async def run(asset_id: int) -> None:
        await process_asset(services.db, services.store, asset_id, limits)

    worker = MediaWorker(run)
    services.extras[WORKER_KEY] = worker

    async def stop(_services: Services) -> None:
        await worker.close()
        services.extras.pop(WORKER_KEY, None)

    services.on_shutdown.append(stop)
    for asset_id in await assets.unfinished_assets(services.db):
        worker.submit(asset_id)
    try:
        await uploads.abort_stale_uploads(services.db, services.store)
    except Exception:  # storage may be briefly away at start; the next start cleans up
        log.exception("could not clean up abandoned uploads")

