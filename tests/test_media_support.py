"""Test media made at test time: pictures with EXIF, videos in several codecs, PDFs.

Helpers only (no tests here); the media tests import them.
"""

from __future__ import annotations

import array
import io
import math
import random
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw


def jpeg_with_exif(width: int = 800, height: int = 600, orientation: int = 6) -> bytes:
    """A JPEG whose EXIF has a camera, GPS data and an orientation tag."""
    img = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(0, width, 40):
        for y in range(height // 2):
            img.putpixel((x, y), (20, 20, 200))
    exif = Image.Exif()
    exif[0x010F] = "TestCam Maker"  # Make
    exif[0x0110] = "TestCam 3000"  # Model
    exif[0x0112] = orientation  # Orientation: 6 = rotate 90° clockwise to view
    exif[0x8825] = {1: "N", 2: (30.0, 40.0, 0.0), 3: "E", 4: (104.0, 4.0, 0.0)}  # GPS
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    return buf.getvalue()


def png_bytes(width: int = 64, height: int = 48, alpha: bool = False) -> bytes:
    img = Image.new("RGBA" if alpha else "RGB", (width, height), (10, 120, 200, 128) if alpha else (10, 120, 200))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares a huge picture (10 giga-pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + b"\x00" * 16  # a few rows compress to almost nothing
    idat = zlib.compress(row * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_video(
    path: Path,
    *,
    codec: str = "libx264",
    container: str = "mp4",
    audio: str | None = "aac",
    seconds: float = 1.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
) -> Path:
    """A short test card video encoded by PyAV (moving bars, a tone)."""
    width, height = size
    with av.open(str(path), "w", format=container) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            video.options = {"preset": "ultrafast"}
        astream = None
        if audio:
            astream = out.add_stream(audio, rate=48000)
            astream.layout = "stereo"
        frames = int(seconds * fps)
        for i in range(frames):
            img = Image.new("RGB", (width, height), (30, 60, 120))
            draw = ImageDraw.Draw(img)
            for j, colour in enumerate(((255, 255, 255), (255, 200, 0), (0, 200, 200), (0, 200, 0))):
                draw.rectangle((j * width // 4, 0, (j + 1) * width // 4, height // 2), fill=colour)
            x = (i * 8) % width
            draw.rectangle((x, height // 2, x + 16, height), fill=(255, 0, 0))
            frame = av.VideoFrame.from_image(img)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if astream is not None:
            rate = 48000
            samples = astream.codec_context.frame_size or 1024
            fmt = astream.codec_context.format.name
            total = int(seconds * rate)
            t = 0
            while t < total:
                frame = av.AudioFrame(format=fmt, layout="stereo", samples=samples)
                tone = [math.sin(2 * math.pi * 440 * (t + k) / rate) * 0.2 for k in range(samples)]
                mono = array.array("f", tone).tobytes() if fmt in ("flt", "fltp") else array.array(
                    "h", (int(v * 32767) for v in tone)).tobytes()
                if fmt.endswith("p"):
                    for plane in frame.planes:
                        plane.update(mono)
                else:
                    width_bytes = 4 if fmt == "flt" else 2
                    inter = bytearray()
                    for k in range(samples):
                        sample = mono[k * width_bytes : (k + 1) * width_bytes]
                        inter += sample + sample
                    frame.planes[0].update(bytes(inter))
                frame.sample_rate = rate
                frame.pts = t
                frame.time_base = Fraction(1, rate)
                for packet in astream.encode(frame):
                    out.mux(packet)
                t += samples
            for packet in astream.encode():
                out.mux(packet)
    return path


def pad_mp4(data: bytes, total: int, seed: int = 7) -> bytes:
    """``data`` (an MP4) followed by a top-level ``free`` box filling it up to ``total``
    bytes: still a valid MP4 that players read, of any size."""
    need = total - len(data)
    assert need >= 8
    block = random.Random(seed).randbytes(1 << 20)
    filler = (block * (need // len(block) + 1))[: need - 8]
    return data + struct.pack(">I", need) + b"free" + filler


def pdf_bytes(text: str = "Cloud Expo") -> bytes:
    """A minimal valid one-page PDF."""
    from booths.seed.media import write_pdf

    return write_pdf(f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode(), {"F1": "Helvetica"})
