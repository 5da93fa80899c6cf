"""Fonts for pictures Cloud Expo draws itself (seed banners and logos, the demo's replay card).

Chinese text needs a CJK font; Pillow's built-in font has Latin glyphs only.
:func:`cjk_font_path` looks for Noto Sans CJK (Debian/Ubuntu ``fonts-noto-cjk``,
Fedora ``google-noto-sans-cjk-fonts``, Alpine ``font-noto-cjk``, Homebrew) and
then asks fontconfig; when none is installed it returns None once and logs how
to install one, and callers draw Latin text instead.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/opt/homebrew/share/fonts/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
INSTALL_HINT = "install a CJK font (Debian/Ubuntu: apt-get install fonts-noto-cjk) to draw Chinese names"
# Index of the Simplified Chinese face in NotoSansCJK-*.ttc (0 JP, 1 KR, 2 SC, 3 TC, 4 HK)
FACES = {"zh-Hans": 2, "zh-Hant": 3, "en": 2}


@functools.cache
def cjk_font_path() -> str | None:
    """A CJK font file on this machine, or None (logged once, with how to install one)."""
    for candidate in CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    if shutil.which("fc-match"):
        try:
            found = subprocess.run(
                ["fc-match", "-f", "%{file}", "sans-serif:lang=zh-cn"], capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found and Path(found).is_file() and _has_chinese(found):
            return found
    log.warning("no CJK font found: seeded pictures show Latin names only; %s", INSTALL_HINT)
    return None


def _has_chinese(path: str) -> bool:
    try:
        font = ImageFont.truetype(path, 20)
    except OSError:
        return False
    # a font without the glyphs draws the same box (or nothing) for both
    return glyph(font, "质") != glyph(font, "量")


def glyph(font: Any, char: str) -> bytes:
    """The pixels of ``char`` drawn in ``font`` (to tell a real glyph from a missing-glyph box)."""
    img = Image.new("L", (64, 64))
    ImageDraw.Draw(img).text((4, 4), char, font=font, fill=255)
    return img.tobytes()


def has_cjk_font() -> bool:
    return cjk_font_path() is not None


@functools.cache
def font(size: int, language: str = "en") -> Any:
    """A font of ``size`` px for ``language``: the CJK font when there is one, else Pillow's own."""
    path = cjk_font_path()
    if path is not None:
        try:
            return ImageFont.truetype(path, size, index=FACES.get(language, 2) if path.endswith(".ttc") else 0)
        except OSError:
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                pass
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()
