"""A ZIP written while it is sent: no temporary file, memory bounded by one chunk.

Python's :mod:`zipfile` writes to a stream it cannot seek by putting each
entry's sizes and CRC in a data descriptor after its bytes (APPNOTE 4.3.9),
which unzip, 7-Zip, Windows Explorer and macOS's Archive Utility read. Files
that are compressed already (PDFs) are stored as they are; text is deflated.
Non-ASCII names are flagged UTF-8, so Chinese names open as Chinese.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any


class _Sink:
    """The write end zipfile sees: collects bytes until the generator hands them on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._offset += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._offset

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class ZipStream:
    """Add entries with :meth:`file` and :meth:`text`, then iterate :meth:`close` for the end."""

    def __init__(self) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, mode="w", allowZip64=True)  # type: ignore[call-overload]

    async def file(self, name: str, chunks: AsyncIterable[bytes], *, compress: bool = False) -> AsyncIterator[bytes]:
        """One entry from ``chunks``; yields the ZIP's bytes as they are made."""
        info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        with self._zip.open(info, mode="w", force_zip64=False) as out:
            async for chunk in chunks:
                out.write(chunk)
                data = self._sink.take()
                if data:
                    yield data
        data = self._sink.take()
        if data:
            yield data

    async def text(self, name: str, body: str) -> AsyncIterator[bytes]:
        async def one() -> AsyncIterator[bytes]:
            yield body.encode("utf-8")

        async for data in self.file(name, one(), compress=True):
            yield data

    def close(self) -> bytes:
        """The central directory: the ZIP's last bytes."""
        self._zip.close()
        return self._sink.take()
