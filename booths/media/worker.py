"""The background worker: processes checked uploads a few at a time, off the request.

A completed upload is handed over with :meth:`MediaWorker.submit`; at start the
worker resumes assets a stopped process left ``processing`` and drops uploads
abandoned long ago.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from booths.media.assets import unfinished_assets
from booths.media.processing import process_asset
from booths.media.uploads import abort_stale_uploads

if TYPE_CHECKING:
    from cloudexpo.services import Services

log = logging.getLogger(__name__)

ProcessFunc = Callable[[int], Awaitable[None]]


class MediaWorker:
    """Runs processing jobs as asyncio tasks, a few at a time; picks up leftovers at start."""

    def __init__(self, process: ProcessFunc, concurrency: int = 2) -> None:
        self._process = process
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
                await self._process(asset_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("processing asset %s failed", asset_id)

    async def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no job runs (tests and shutdown)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


WORKER_KEY = "media_worker"


def worker_for(services: Services) -> MediaWorker | None:
    worker = services.extras.get(WORKER_KEY)
    return worker if isinstance(worker, MediaWorker) else None


async def start_media_worker(services: Services) -> None:
    """Startup hook: a worker in ``services.extras``; assets left processing are picked up again,
    uploads abandoned long ago are dropped."""
    if worker_for(services) is not None:
        return

    async def run(asset_id: int) -> None:
        await process_asset(services.db, services.store, asset_id)

    worker = MediaWorker(run)
    services.extras[WORKER_KEY] = worker

    async def stop(_services: Services) -> None:
        await worker.close()
        services.extras.pop(WORKER_KEY, None)

    services.on_shutdown.append(stop)
    for asset_id in await unfinished_assets(services.db):
        worker.submit(asset_id)
    try:
        await abort_stale_uploads(services.db, services.store)
    except Exception:  # storage may be briefly away at start; the next start cleans up
        log.exception("could not clean up abandoned uploads")
