"""Recording every broadcast into HLS segments while it is live, without re-encoding H.264.

A recording runs along this path, one module per step:

1. :mod:`streaming.recording_sink` (event loop, the hot path): the forwarder's
   packet sink only puts packets on a queue.
2. :mod:`streaming.segmenter` (one thread per recording): packets back in
   order, audio and video on one timeline, keyframe requests.
3. :mod:`streaming.transcode` (same thread): VP8 → H.264 for the recording
   only; H.264 is never decoded, Opus never transcoded.
4. :mod:`streaming.muxer` (same thread): fragmented MP4 segments
   (:mod:`streaming.fmp4`) of about ``target`` seconds, each starting on a
   keyframe, fsynced into the spool.
5. :mod:`streaming.spool` (a task): the spool's journal, and the
   :class:`~streaming.spool.Uploader` that sends finished segments and the
   playlist to storage with retries; storage trouble never reaches the
   broadcast.
6. :mod:`streaming.salvage`: on start-up, what a killed process left in the
   spool is closed (:meth:`RecorderService.recover`).
7. :mod:`streaming.continuation`: a recording starting without a spool (its
   origin moved here from a node that died, or the slot is live again) goes
   on from what storage holds of the slot, never over it.

:class:`RecorderService` (this module) starts a recording when the engine
reports a stream live and finishes it when the stream ends: the last segment
is closed, the playlist gets ``#EXT-X-ENDLIST`` and the replay is playable; a
single MP4 (with AAC sound) is then made in the background (:meth:`streaming.replays.ReplayFiles.remake_mp4`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from cloudexpo.db import Database
from cloudexpo.storage import ObjectStore

from .continuation import continue_stored, continued_elsewhere
from .live_hls import LiveHls
from .replays import ReplayFiles
from .salvage import salvage_part
from .segmenter import SegmentWriter
from .spool import SpoolRecording, Uploader, unfinished_recordings
from .states import StreamState

log = logging.getLogger(__name__)


class _Active:
    def __init__(self, writer: SegmentWriter, uploader: Uploader, task: asyncio.Task[None]) -> None:
        self.writer = writer
        self.uploader = uploader
        self.task = task
        self.started_wall: float | None = None
        self.continuing: asyncio.Task[None] | None = None  # reading storage before the writer starts


class RecorderService:
    """Records every stream of the engine named ``slot-{id}`` this node receives from its publisher; one per process.

    When a recording's playlist is closed (the replay is playable) it tells
    :mod:`streaming.replays`, which updates the database, and remakes the MP4.
    """

    def __init__(
        self,
        engine: Any,
        db: Database,
        store: ObjectStore,
        spool_root: Path,
        *,
        target: float = 2.0,
        make_mp4: bool = True,
        upload_first_delay: float = 0.5,
        upload_max_delay: float = 10.0,
        files: ReplayFiles | None = None,
        live_hls: LiveHls | None = None,
    ) -> None:
        self.engine = engine
        self.db = db
        self.store = store
        self.spool_root = spool_root
        self.target = target
        self.make_mp4 = make_mp4
        self.upload_first_delay = upload_first_delay
        self.upload_max_delay = upload_max_delay
        # Makes the download MP4s (shared with the replay pages, so one job per slot at a time).
        self.files = files or ReplayFiles(db, store, spool_root)
        # The sliding-window playlist HLS viewers play while the broadcast is live.
        self.live_hls = live_hls or LiveHls(store)
        self.active: dict[int, _Active] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._finishing: dict[int, asyncio.Task[None]] = {}
        self._closed = False
        engine.add_state_listener(self._on_state)

    # -- engine events (synchronous, on the loop) ----------------------------------------

    def _on_state(self, stream: str, state: StreamState) -> None:
        from .live import slot_id_of

        slot_id = slot_id_of(stream)
        if slot_id is None:
            return
        relayed = state == StreamState.LIVE and self.engine.is_relayed(stream)
        if relayed:
            # Pulled from the broadcast's origin on another node (this node is an edge): the origin
            # records it. A node that was the origin and now follows a publisher that moved to
            # another node stops recording here.
            running = self._finishing.get(slot_id)
            if slot_id in self.active and (running is None or running.done()):
                self._finishing[slot_id] = self._spawn(self.finish(slot_id))
            return
        if state == StreamState.LIVE and slot_id not in self.active and not self._closed:
            try:
                self.start(slot_id, stream)
            except Exception:
                log.exception("recorder: could not start recording slot %s", slot_id)
        elif state == StreamState.ENDED and slot_id in self.active:
            self._finishing[slot_id] = self._spawn(self.finish(slot_id))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recorder: a task failed", exc_info=task.exception())

    def start(self, slot_id: int, stream: str | None = None) -> SegmentWriter:
        """Attach a writer to the engine's stream of ``slot_id`` (called on its "live" state)."""
        from . import replays
        from .live import stream_id

        stream = stream or stream_id(slot_id)
        loop = asyncio.get_running_loop()
        spool = SpoolRecording(self.spool_root, slot_id)
        fresh = not spool.exists  # nothing of the slot here: storage may hold an earlier part
        spool.ensure()
        live_hls = self.live_hls
        uploader = Uploader(
            self.store, spool, first_delay=self.upload_first_delay, max_delay=self.upload_max_delay,
            live_playlist=lambda playlist: live_hls.put(slot_id, playlist),
        )
        engine = self.engine

        def request_keyframe() -> None:
            engine.request_keyframe(stream)

        def on_start(wall: float) -> None:
            active.started_wall = wall
            self._spawn(replays.recording_started(self.db, slot_id, dt.datetime.fromtimestamp(wall, dt.UTC), writer.codecs.get("video")))

        writer = SegmentWriter(
            spool,
            on_segment=lambda: loop.call_soon_threadsafe(uploader.kick),
            request_keyframe=lambda: loop.call_soon_threadsafe(request_keyframe),
            on_start=lambda wall: loop.call_soon_threadsafe(on_start, wall),
            target=self.target,
        )
        active = _Active(writer, uploader, self._spawn(uploader.run()))
        self.active[slot_id] = active
        engine.add_packet_sink(stream, writer.sink)  # packets wait in the writer's queue until it starts
        if fresh:
            active.continuing = self._spawn(self._continue_stored(writer))
        else:
            writer.start()
        self._spawn(replays.recording_begun(self.db, slot_id))
        return writer

    async def _continue_stored(self, writer: SegmentWriter) -> None:
        try:
            stored = await continue_stored(self.store, writer.spool)
            if stored is not None:
                writer.continue_after(stored.duration, stored.next_index, stored.audio_channels)
        finally:
            writer.start()

    async def finish(self, slot_id: int) -> None:
        """Close the last segment, send everything, close the playlist (ENDLIST); then the MP4."""
        active = self.active.get(slot_id)
        if active is None:
            return
        from .live import stream_id

        self.engine.remove_packet_sink(stream_id(slot_id), active.writer.sink)
        if active.continuing is not None:
            await asyncio.gather(active.continuing, return_exceptions=True)
        active.writer.stop()
        await asyncio.to_thread(active.writer.join)
        active.uploader.finish()
        await active.task
        if self.active.get(slot_id) is active:
            del self.active[slot_id]
        await self._closed_playlist(slot_id, active.uploader)

    async def _closed_playlist(self, slot_id: int, uploader: Uploader) -> None:
        from . import replays

        playlist = uploader.playlist
        count = len(playlist.segments) if playlist else 0
        await replays.recording_closed(self.db, slot_id, playlist)
        if self.make_mp4 and count:
            self._spawn(self._mp4(slot_id))
        elif slot_id not in self.active:
            await asyncio.to_thread(SpoolRecording(self.spool_root, slot_id).remove)

    async def _mp4(self, slot_id: int) -> None:
        try:
            await self.files.remake_mp4(slot_id)
        finally:
            if slot_id not in self.active:
                await asyncio.to_thread(SpoolRecording(self.spool_root, slot_id).remove)

    async def recover(self) -> list[int]:
        """Complete recordings a killed process left in the spool; returns their slot ids."""
        recovered = []
        for slot_id in unfinished_recordings(self.spool_root):
            if slot_id in self.active:
                continue
            spool = SpoolRecording(self.spool_root, slot_id)
            if await continued_elsewhere(self.store, spool):
                state, uploaded = await asyncio.to_thread(spool.state), await asyncio.to_thread(spool.uploaded)
                unsent = sum(1 for e in state.segments if e["name"] not in uploaded)
                log.warning("recorder: slot %s was recorded on by another node after this one stopped; "
                            "%d unsent segments of this node are dropped", slot_id, unsent)
                await asyncio.to_thread(spool.remove)
                continue
            await asyncio.to_thread(salvage_part, spool)
            uploader = Uploader(self.store, spool, first_delay=self.upload_first_delay, max_delay=self.upload_max_delay)
            uploader.finish()
            self._spawn(self._recover_one(slot_id, uploader))
            recovered.append(slot_id)
        return recovered

    async def _recover_one(self, slot_id: int, uploader: Uploader) -> None:
        await uploader.run()
        await self._closed_playlist(slot_id, uploader)
        log.info("recorder: recovered the recording of slot %s", slot_id)

    async def wait_idle(self) -> None:
        """Wait for finishing recordings and MP4 jobs (tests, shutdown)."""
        while self._tasks - {t for a in self.active.values() for t in (a.task,)}:
            pending = [t for t in self._tasks if all(t is not a.task for a in self.active.values())]
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        """Finish every recording (the engine may already have ended them)."""
        self._closed = True
        for slot_id in list(self.active):
            task = self._finishing.get(slot_id)
            if task is None or task.done():
                await self.finish(slot_id)
        await self.wait_idle()
