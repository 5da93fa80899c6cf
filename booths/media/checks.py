"""The checks at completion, done once: size as stored, type by the first bytes, a PDF's end.

:func:`check_object` runs on an upload the browser put into storage;
:func:`check_data` on bytes the server holds (the demo seed). Either returns
the sniffed content type, which the asset keeps (the processing trusts it),
or raises :class:`MediaRejected` with words for the exhibitor.
"""

from __future__ import annotations

from booths.errors import MediaRejected
from booths.media.documents import check_pdf_tail
from booths.media.models import Asset
from booths.media.sniffing import SNIFF_BYTES, check_type
from cloudexpo.storage import ObjectStore

PDF_TAIL = 1024


def check_size(kind: str, size: int, declared: int, limit: int, filename: str) -> None:
    """The stored size must be the one announced, within the kind's limit, and not empty."""
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
    """A size for people: 1.5 MB (powers of 1000, as file managers show)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


async def check_object(store: ObjectStore, asset: Asset, limit: int) -> str:
    """The checks on a completed upload: size (as stored), type (first bytes), PDF end marker.
    Returns the sniffed content type or raises :class:`MediaRejected`."""
    info = await store.head(asset.key)
    if info is None:
        raise MediaRejected(f"nothing arrived for “{asset.filename}”; upload it again.")
    check_size(asset.kind, info.size, asset.size, limit, asset.filename)
    head = await store.read_range(asset.key, 0, SNIFF_BYTES)
    found = check_type(asset.kind, head, asset.filename)
    if found == "application/pdf":
        check_pdf_tail(await store.read_range(asset.key, max(0, info.size - PDF_TAIL), PDF_TAIL))
    return found


def check_data(kind: str, data: bytes, filename: str) -> str:
    """The same checks on bytes in memory (no size limit: the server made them)."""
    if not data:
        raise MediaRejected(f"“{filename}” is empty.")
    found = check_type(kind, data[:SNIFF_BYTES], filename)
    if found == "application/pdf":
        check_pdf_tail(data[-PDF_TAIL:])
    return found
