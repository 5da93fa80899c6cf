"""The background worker: processes checked uploads a few at a time, off the request.

A completed upload is handed over with :meth:`MediaWorker.submit`; at start the
worker resumes assets a stopped process left ``processing`` and drops uploads
abandoned long ago. One per process: ``booths.runtime.BoothsRuntime.media``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from booths.media.assets import unfinished_assets
from booths.media.processing import process_asset
from booths.media.uploads import abort_stale_uploads

if TYPE_CHECKING:
    from cloudexpo.db import Database
    from cloudexpo.storage import ObjectStore

log = logging.getLogger(__name__)


class MediaWorker:
    """Processes uploaded assets as asyncio tasks, a few at a time; picks up leftovers at start."""

    def __init__(self, db: Database, store: ObjectStore, concurrency: int = 2) -> None:
        self.db = db
        self.store = store
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
                await process_asset(self.db, self.store, asset_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("processing asset %s failed", asset_id)

    async def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no job runs (tests and shutdown)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def start(self) -> None:
        """Resume the assets a stopped process left processing; drop uploads abandoned long ago."""
        for asset_id in await unfinished_assets(self.db):
            self.submit(asset_id)
        try:
            await abort_stale_uploads(self.db, self.store)
        except Exception:  # storage may be briefly away at start; the next start cleans up
            log.exception("could not clean up abandoned uploads")

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
