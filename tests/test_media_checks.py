"""The pure parts of media checking: sniffing, part plans, image and video processing."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from booths.errors import MediaRejected
from booths.media import checks, documents, images, sniffing, uploads, video
from tests.test_media_support import jpeg_with_exif, make_video, pdf_bytes, png_bomb, png_bytes

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", None),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
        (b"<html><script>alert(1)</script>", None),
        (b"just text", None),
        (b"", None),
    ],
)
def test_sniff(head: bytes, expected: str | None) -> None:
    assert sniffing.sniff(head) == expected


def test_type_is_judged_by_content_not_name() -> None:
    assert sniffing.check_type("image", png_bytes(), "photo.jpg") == "image/png"
    with pytest.raises(MediaRejected, match="a PDF document"):
        sniffing.check_type("image", pdf_bytes(), "photo.jpg")
    with pytest.raises(MediaRejected, match="not recognise"):
        sniffing.check_type("video", b"MZ\x90\x00 an executable", "film.mp4")


def test_size_checks() -> None:
    checks.check_size("image", 100, 100, 1000, "a.png")
    with pytest.raises(MediaRejected, match="announced"):
        checks.check_size("image", 101, 100, 1000, "a.png")
    with pytest.raises(MediaRejected, match="at most"):
        checks.check_size("image", 2000, 2000, 1000, "a.png")


@pytest.mark.parametrize(
    ("size", "part_size", "count"),
    [
        (1, 0, 1),
        (16 * MiB - 1, 0, 1),
        (16 * MiB, 8 * MiB, 2),
        (50_000_000, 8 * MiB, 6),
        (1024 * MiB, 16 * MiB, 64),
        (2 * 1024 * MiB, 32 * MiB, 64),
        (10 * 1024 * MiB, 64 * MiB, 160),
    ],
)
def test_part_plan(size: int, part_size: int, count: int) -> None:
    assert uploads.plan_parts(size) == (part_size, count)


def test_images_lose_exif_and_keep_orientation() -> None:
    result = images.process_image(jpeg_with_exif(1600, 1200, orientation=6))
    assert (result.width, result.height) == (1200, 1600)
    names = {d.name: d for d in result.derived}
    assert set(names) == {"display", "thumb_320", "thumb_640", "thumb_1280", "webp_320", "webp_640", "webp_1280"}
    for item in result.derived:
        img = Image.open(io.BytesIO(item.data))
        assert not img.getexif() and "exif" not in img.info
        assert img.height > img.width
    assert Image.open(io.BytesIO(names["thumb_640"].data)).width == 640
    assert Image.open(io.BytesIO(names["webp_1280"].data)).format == "WEBP"


def test_thumbnails_of_a_transparent_picture_keep_alpha_in_webp_and_are_white_behind_in_jpeg() -> None:
    img = Image.new("RGBA", (3000, 1500), (0, 0, 0, 0))
    img.paste((200, 30, 30, 255), (0, 0, 1500, 1500))  # the left half red, the right half transparent
    buf = io.BytesIO()
    img.save(buf, "PNG")
    names = {d.name: Image.open(io.BytesIO(d.data)) for d in images.process_image(buf.getvalue()).derived}
    assert names["display"].size == (2560, 1280) and names["display"].mode == "RGBA"
    for width in (320, 640, 1280):
        webp, jpeg = names[f"webp_{width}"], names[f"thumb_{width}"]
        assert webp.size == jpeg.size == (width, width // 2)
        webp = webp.convert("RGBA")
        jpeg = jpeg.convert("RGB")
        quarter, three_quarters = width // 4, 3 * width // 4
        assert webp.getpixel((three_quarters, width // 4))[3] == 0  # transparent stays transparent
        assert webp.getpixel((quarter, width // 4))[3] == 255
        assert all(c >= 245 for c in jpeg.getpixel((three_quarters, width // 4)))  # white behind, in a JPEG
        red = jpeg.getpixel((quarter, width // 4))
        assert red[0] > 170 and red[1] < 70 and red[2] < 70, red


def _psnr(a: Image.Image, b: Image.Image) -> float:
    rms = ImageStat.Stat(ImageChops.difference(a, b)).rms
    mse = sum(r * r for r in rms) / len(rms)
    return 10 * math.log10(255 * 255 / max(mse, 1e-9))


def test_a_large_photo_gives_thumbnails_as_good_as_resizing_it_directly() -> None:
    """Thumbnails come from the next larger copy, not each from the original: as close to the ideal (a
    direct LANCZOS resize) as that resize encoded the same way, where a bilinear filter loses 0.5-0.7 dB
    and nearest neighbour 6-12; and each as high as the picture's own proportions say, not a copy's
    rounding (6000x4000 at 1280 wide is 853 high, not 854)."""
    noise = Image.effect_noise((1500, 1000), 90).resize((6000, 4000), Image.Resampling.BICUBIC)
    original = Image.merge("RGB", (noise, Image.linear_gradient("L").resize((6000, 4000)), noise.rotate(180)))
    draw = ImageDraw.Draw(original)
    for x in range(0, 6000, 37):  # thin lines: detail a blurring or aliasing filter loses
        draw.line((x, 0, 6000 - x, 4000), fill=(255, 255, 255), width=3)
    buf = io.BytesIO()
    original.save(buf, "JPEG", quality=95)
    names = {d.name: Image.open(io.BytesIO(d.data)).convert("RGB") for d in images.process_image(buf.getvalue()).derived}
    for width, height in ((320, 213), (640, 427), (1280, 853)):
        direct = original.resize((width, height), Image.Resampling.LANCZOS)
        for name, fmt in ((f"webp_{width}", "WEBP"), (f"thumb_{width}", "JPEG")):
            ours = names[name]
            assert ours.size == (width, height), (name, ours.size)
            encoded = Image.open(io.BytesIO(images._encode(direct, fmt))).convert("RGB")
            assert _psnr(ours, direct) >= _psnr(encoded, direct) - 0.4, (name, _psnr(ours, direct), _psnr(encoded, direct))


def test_decompression_bomb_is_refused() -> None:
    with pytest.raises(MediaRejected, match="pixels"):
        images.process_image(png_bomb())
    with pytest.raises(MediaRejected, match="pixels"):
        images.process_image(png_bytes(100, 100), max_pixels=5000)
    assert Image.MAX_IMAGE_PIXELS != 5000  # the limit is restored


def test_broken_picture_is_refused() -> None:
    with pytest.raises(MediaRejected, match="cannot be decoded"):
        images.process_image(png_bytes()[:40])


@pytest.mark.parametrize(
    ("codec", "container", "audio", "sniffed", "ok"),
    [
        ("libx264", "mp4", "aac", "video/mp4", True),
        ("libx264", "mp4", None, "video/mp4", True),
        ("mpeg4", "mp4", "aac", "video/mp4", False),
        ("mjpeg", "mov", None, "video/quicktime", False),
        ("libvpx", "webm", "libopus", "video/webm", True),
    ],
)
def test_video_probe(tmp_path: Path, codec: str, container: str, audio: str | None, sniffed: str, ok: bool) -> None:
    path = make_video(tmp_path / f"v.{container}", codec=codec, container=container, audio=audio)
    assert sniffing.sniff(path.read_bytes()[:64]) == sniffed
    result = video.probe_video(path, sniffed)
    assert (result.width, result.height) == (320, 240)
    assert result.duration is not None and 0.9 < result.duration < 1.2
    assert result.browser_playable is ok
    assert (result.warning is None) is ok
    assert result.poster is not None
    poster = Image.open(io.BytesIO(result.poster.data))
    assert poster.format == "JPEG" and poster.size == (320, 240)


def test_truncated_video_is_refused(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4")
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(MediaRejected):
        video.probe_video(path, "video/mp4")


def test_pdf_trailer() -> None:
    documents.check_pdf_tail(pdf_bytes()[-1024:])
    with pytest.raises(MediaRejected, match="EOF"):
        documents.check_pdf_tail(b"%PDF-1.4\n1 0 obj")


def test_video_probed_through_ranged_reads(tmp_path: Path) -> None:
    data = make_video(tmp_path / "v.mp4", seconds=2.0).read_bytes()
    reads: list[tuple[int, int]] = []

    def fetch(start: int, length: int) -> bytes:
        reads.append((start, length))
        return data[start : start + length]

    reader = video.RangeReader(fetch, len(data), block=4096, keep=4)
    result = video.probe_video(reader, "video/mp4")
    assert result.video_codec == "h264" and result.poster is not None
    assert reads and all(length == 4096 for _, length in reads)
    reader.seek(-10, 2)
    assert reader.read() == data[-10:]
