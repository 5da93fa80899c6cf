"""The recorder's local spool: finished segments on disk first, then in object storage.

One folder per slot, ``{data_dir}/spool/{slot_id}/``::

    journal.jsonl       what the writer finished, one JSON line each, fsynced:
                        {"type": "start", "at": iso, "video": "H264", ...}
                        {"type": "init", "name": "init_00001.mp4"}
                        {"type": "segment", "name": "seg_00001.m4s", "map": "init_00001.mp4",
                         "duration": 2.0, "pdt": iso, "discontinuity": false}
                        {"type": "end", "at": iso}
    uploaded.txt        names already in storage, one a line (appended by the uploader)
    seg_00007.m4s.part  the segment being written (a killed process leaves it behind)
    init_00001.mp4      an init segment (fragmented MP4: :mod:`streaming.fmp4`)
    seg_00001.m4s ...   finished segments, kept until the replay is complete

Replays recorded before Cloud Expo wrote fragmented MP4 have MPEG-TS segments
(``seg_00001.ts``) and no init segments; they are read and served the same way.

A segment is written to ``.part``, fsynced, renamed, and only then put in the
journal; the uploader sends what the journal lists and storage lacks, in
order, with retries and back-off, and rewrites the playlist in storage after
each. When storage is down nothing is lost: the journal says what is still
to send, also after a restart (:func:`unfinished_recordings`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudexpo.storage import ObjectStore

from .hls import Playlist, Segment, write_playlist

log = logging.getLogger(__name__)

JOURNAL = "journal.jsonl"
UPLOADED = "uploaded.txt"
PLAYLIST = "index.m3u8"
_CONTENT_TYPES = {".m4s": "video/iso.segment", ".mp4": "video/mp4", ".ts": "video/mp2t"}
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


def replay_prefix(slot_id: int) -> str:
    """Every object of a slot's replay lives under this prefix (deleting it removes them all)."""
    return f"replays/{slot_id}/"


def segment_name(index: int) -> str:
    return f"seg_{index:05d}.m4s"


def init_name(index: int) -> str:
    """The init segment whose first media segment is ``segment_name(index)``."""
    return f"init_{index:05d}.mp4"


_NUMBERED = re.compile(r"(?:seg|init)_(\d{5,})\.(?:ts|m4s|mp4)$")


def file_number(name: str) -> int | None:
    """The number of a segment or an init segment (7 for ``seg_00007.m4s``, ``init_00007.mp4``, also at the
    end of a storage key); None for another name."""
    found = _NUMBERED.search(name)
    return int(found.group(1)) if found else None


def content_type(name: str) -> str:
    """The content type a recording's file is stored and served with, by its extension."""
    return _CONTENT_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class JournalState:
    segments: list[dict[str, Any]]
    started: bool
    ended: bool
    start_info: dict[str, Any]
    inits: list[str] = field(default_factory=list)  # init segments, in the order written

    def files(self) -> list[str]:
        """Every file the journal lists, in the order written (an init before the segments that use it)."""
        out: list[str] = []
        known = set(self.inits)
        for entry in self.segments:
            init = entry.get("map")
            if init and init in known and init not in out:
                out.append(init)
            out.append(entry["name"])
        out += [i for i in self.inits if i not in out]
        return out


class SpoolRecording:
    """One slot's spool folder (see the module doc)."""

    def __init__(self, root: Path, slot_id: int) -> None:
        self.slot_id = slot_id
        self.dir = root / str(slot_id)

    @property
    def exists(self) -> bool:
        return (self.dir / JOURNAL).exists()

    def ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def append(self, entry: dict[str, Any]) -> None:
        """Add a line to the journal and fsync it (the writer thread's only way to say "done")."""
        self.ensure()
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with open(self.dir / JOURNAL, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def state(self) -> JournalState:
        segments: list[dict[str, Any]] = []
        inits: list[str] = []
        started = ended = False
        start_info: dict[str, Any] = {}
        try:
            text = (self.dir / JOURNAL).read_text(encoding="utf-8")
        except FileNotFoundError:
            return JournalState([], False, False, {})
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            kind = entry.get("type")
            if kind == "start":
                started, ended = True, False
                if not start_info:
                    start_info = entry
            elif kind == "segment":
                segments.append(entry)
            elif kind == "init":
                inits.append(entry["name"])
            elif kind == "end":
                ended = True
        return JournalState(segments, started, ended, start_info, inits)

    def seed(self, entries: list[dict[str, Any]]) -> None:
        """Start an empty journal with segment entries already in storage (:mod:`streaming.continuation`)."""
        self.ensure()
        for name, lines in ((JOURNAL, [json.dumps(e, separators=(",", ":")) for e in entries]),
                            (UPLOADED, [e["name"] for e in entries])):
            with open(self.dir / name, "a", encoding="utf-8") as fh:
                fh.write("".join(line + "\n" for line in lines))
                fh.flush()
                os.fsync(fh.fileno())

    def uploaded(self) -> set[str]:
        try:
            return set((self.dir / UPLOADED).read_text(encoding="utf-8").split())
        except FileNotFoundError:
            return set()

    def mark_uploaded(self, name: str) -> None:
        with open(self.dir / UPLOADED, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def part_files(self) -> list[Path]:
        return sorted(self.dir.glob("*.part")) if self.dir.exists() else []

    def path(self, name: str) -> Path:
        return self.dir / name

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def playlist_from_journal(state: JournalState, names: set[str] | None = None, *, ended: bool = False) -> Playlist:
    """The playlist of the journal's segments (only those in ``names`` when given, as a prefix)."""
    segments: list[Segment] = []
    for entry in state.segments:
        if names is not None and entry["name"] not in names:
            break  # storage must list a contiguous prefix
        pdt = dt.datetime.fromisoformat(entry["pdt"]) if entry.get("pdt") else None
        init = entry.get("map")
        if init and names is not None and init not in names:
            break
        segments.append(Segment(entry["name"], float(entry["duration"]), bool(entry.get("discontinuity")), pdt, init))
    return Playlist(segments, playlist_type="VOD" if ended else "EVENT", ended=ended)


def unfinished_recordings(root: Path) -> list[int]:
    """Slots whose spool folder has a journal without an end (a killed process), or unsent segments."""
    found: list[int] = []
    if not root.exists():
        return found
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.isdigit() and (child / JOURNAL).exists():
            found.append(int(child.name))
    return found


class Uploader:
    """Sends one recording's finished segments and playlist to storage, in order, until told to stop.

    Runs as a task on the event loop (the store's calls are async and do their
    blocking work in threads). :meth:`kick` wakes it (thread-safe through
    ``loop.call_soon_threadsafe``). Upload failures are retried with back-off
    forever; they never reach the broadcast.
    """

    def __init__(
        self,
        store: ObjectStore,
        spool: SpoolRecording,
        *,
        first_delay: float = 0.5,
        max_delay: float = 10.0,
        on_playlist: Callable[[Playlist], None] | None = None,
        live_playlist: Callable[[Playlist], Awaitable[object]] | None = None,
    ) -> None:
        self.store = store
        self.spool = spool
        self.prefix = replay_prefix(spool.slot_id)
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.on_playlist = on_playlist
        self.live_playlist = live_playlist  # writes the live window (streaming.live_hls) before the playlist
        self._wake = asyncio.Event()
        self._finish = False
        self.failures = 0
        self.uploaded_count = 0
        self.storage_ok = True
        self.playlist: Playlist | None = None
        self.done = asyncio.Event()

    def kick(self) -> None:
        self._wake.set()

    def finish(self) -> None:
        """The journal is complete: send the rest, then the final playlist with ENDLIST."""
        self._finish = True
        self._wake.set()

    async def _retry(self, what: str, call: Callable[[], Any]) -> None:
        delay = self.first_delay
        while True:
            try:
                await call()
                if not self.storage_ok:
                    log.info("recorder: storage is back for slot %s", self.spool.slot_id)
                self.storage_ok = True
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                if self.storage_ok:
                    log.warning("recorder: %s for slot %s failed (%s); retrying", what, self.spool.slot_id, exc)
                self.storage_ok = False
                await asyncio.sleep(delay)
                delay = min(self.max_delay, delay * 2)

    async def sync_once(self, *, final: bool) -> bool:
        """Send what is missing; return True when everything (and the final playlist, if ``final``) is sent."""
        state = await asyncio.to_thread(self.spool.state)
        uploaded = await asyncio.to_thread(self.spool.uploaded)
        sent_any = False
        for name in state.files():
            if name in uploaded:
                continue
            path = self.spool.path(name)
            if not path.exists():
                log.error("recorder: %s of slot %s is missing from the spool", name, self.spool.slot_id)
                uploaded.add(name)
                continue

            async def upload(p: Path = path, n: str = name) -> None:
                await self.store.put_file(self.prefix + n, p, content_type(n))

            await self._retry(f"uploading {name}", upload)
            await asyncio.to_thread(self.spool.mark_uploaded, name)
            uploaded.add(name)
            self.uploaded_count += 1
            sent_any = True
            if not final and not name.startswith("init_"):
                await self._put_playlist(state, uploaded, ended=False)
        complete = all(name in uploaded for name in state.files())
        if final and complete:
            await self._put_playlist(state, uploaded, ended=True)
        elif sent_any and final:
            await self._put_playlist(state, uploaded, ended=False)
        return complete

    async def _put_playlist(self, state: Any, uploaded: set[str], *, ended: bool) -> None:
        playlist = playlist_from_journal(state, uploaded, ended=ended)
        if (live := self.live_playlist) is not None:
            await self._retry("writing the live playlist", lambda: live(playlist))
        text = write_playlist(playlist).encode()
        await self._retry("writing the playlist", lambda: self.store.put_bytes(self.prefix + PLAYLIST, text, PLAYLIST_TYPE))
        self.playlist = playlist
        if self.on_playlist is not None:
            self.on_playlist(playlist)

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                final = self._finish
                complete = await self.sync_once(final=final)
                if final and complete:
                    return
                if not final:
                    await self._wake.wait()
        finally:
            self.done.set()
