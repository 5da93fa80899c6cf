"""PDF documents: the end marker a complete file has, and the first page drawn by poppler's
``pdftoppm`` when it is installed (a thumbnail; without it the document has none)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from booths.errors import MediaRejected


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


def can_draw() -> bool:
    """Whether first pages can be drawn here (``pdftoppm`` from poppler-utils is installed)."""
    return shutil.which("pdftoppm") is not None
