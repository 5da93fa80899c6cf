"""Pictures (Pillow): decoded under a pixel limit, re-encoded without EXIF into a display copy
and thumbnails 320/640/1280 wide in JPEG and WebP. CPU-bound; callers run it in a thread."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps, UnidentifiedImageError

from booths.errors import MediaRejected

#: Pictures larger than this many pixels are refused (about 8000 × 5000).
MAX_PIXELS = 40_000_000
THUMB_WIDTHS = (320, 640, 1280)
DISPLAY_MAX = 2560
POSTER_MAX_WIDTH = 1280
JPEG_QUALITY = 85
WEBP_QUALITY = 80


@dataclass
class Derived:
    """One picture made from the original: its name in ``meta``, bytes, type and file suffix."""

    name: str
    data: bytes
    content_type: str
    suffix: str


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


def _fit(size: tuple[int, int], width: int) -> tuple[int, int]:
    """``size`` scaled down to ``width`` (kept when it is narrower)."""
    if size[0] <= width:
        return size
    return width, max(1, round(size[1] * width / size[0]))


def _resize(img: Image.Image, width: int, original: tuple[int, int] | None = None) -> Image.Image:
    """``img`` at ``width``; its height from ``original`` (the picture's own size) when it is a smaller copy."""
    size = _fit(original or img.size, width)
    return img if img.size == size else img.resize(size, Image.Resampling.LANCZOS)


def process_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageResult:
    """Decode safely; a display copy and thumbnails, all without EXIF. CPU-bound."""
    img = _open_image(data, max_pixels)
    fmt = img.format or "?"
    with contextlib.suppress(Exception):
        img.seek(0)  # first frame of an animation
    # Apply the EXIF orientation to the pixels, since the EXIF itself goes.
    upright = ImageOps.exif_transpose(img) or img
    result = ImageResult(width=upright.width, height=upright.height, format=fmt)
    base = _flatten(upright, keep_alpha=True)  # RGBA where the picture has transparency, else RGB
    has_alpha = base.mode == "RGBA"

    display = _resize(base, DISPLAY_MAX)
    if has_alpha or fmt == "PNG":
        result.derived.append(Derived("display", _encode(display, "PNG"), "image/png", ".png"))
    else:
        result.derived.append(Derived("display", _encode(display, "JPEG"), "image/jpeg", ".jpg"))
    # Each thumbnail is resized once (the JPEG and the WebP share it) and from the next larger copy, the
    # display copy first: a camera's 24-megapixel photo is resized at its full size once, not four times.
    # Sizes come from the picture's own, so a copy's rounding does not carry into the next.
    thumbs: dict[int, Image.Image] = {}
    source = display
    for width in sorted(THUMB_WIDTHS, reverse=True):
        source = thumbs[width] = _resize(source, width, upright.size)
    for width in THUMB_WIDTHS:
        thumb = thumbs[width]
        opaque = _flatten(thumb, keep_alpha=False) if has_alpha else thumb  # a JPEG is white where it was clear
        result.derived.append(Derived(f"thumb_{width}", _encode(opaque, "JPEG"), "image/jpeg", ".jpg"))
        result.derived.append(Derived(f"webp_{width}", _encode(thumb, "WEBP"), "image/webp", ".webp"))
    return result


def poster_from_image(img: Image.Image) -> Derived:
    frame = _resize(img.convert("RGB"), POSTER_MAX_WIDTH)
    return Derived("poster", _encode(frame, "JPEG"), "image/jpeg", ".jpg")
