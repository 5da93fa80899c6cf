"""The demo's simulated launch: a test card published over WHIP to the server itself.

``cloudexpo demo`` starts the server with ``demo_live=True``; after start-up
this posts the built-in publisher's offer (test card with a running clock and a
tone, :mod:`streaming.testsource`) to ``/whip/{slot}`` on 127.0.0.1 with the
slot's bearer token, exactly as OBS would, so "live now" plays at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
from sqlalchemy import select

from cloudexpo.db import utcnow
from cloudexpo.services import Services

from .models import Slot, SlotState, Stage, StageKind
from .schedule import token_of

log = logging.getLogger(__name__)


async def pick_demo_slot(services: Services) -> Slot | None:
    """The release-zone slot open for publishing now (the seed puts one there)."""
    now = utcnow()
    async with services.db.session() as db:
        rows = await db.scalars(
            select(Slot)
            .join(Stage, Stage.id == Slot.stage_id)
            .where(
                Stage.kind == StageKind.RELEASE.value,
                Slot.starts_at <= now,
                Slot.ends_at > now,
                Slot.approved.is_(True),
                Slot.state.in_(
                    [SlotState.SCHEDULED.value, SlotState.GREEN_ROOM.value, SlotState.LIVE.value]
                ),
            )
            .order_by(Slot.starts_at)
        )
        return rows.first()


class DemoLaunch:
    """Runs the simulated launch in the background of a running server."""

    def __init__(self, services: Services, base_url: str | None = None) -> None:
        self.services = services
        self.base_url = base_url or f"http://127.0.0.1:{services.settings.port}"
        self.publisher: Any = None
        self.slot_id: int | None = None
        self.location: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Publish in the background once the server answers (it starts listening after start-up)."""
        self._task = asyncio.create_task(self._run(), name="demo-launch")

    async def _run(self) -> None:

        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=20) as http:
                for _ in range(200):  # the server accepts connections after the lifespan started
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                warned = False
                while True:  # one launch after another, for as long as the server runs
                    slot = await pick_demo_slot(self.services)
                    if slot is None:
                        if not warned:
                            log.warning("demo launch: no release-zone slot is open now; waiting for the next one")
                            warned = True
                        await asyncio.sleep(30)
                        continue
                    warned = False
                    try:
                        await self._publish(http, slot)
                    except Exception:
                        log.exception("demo launch: publishing to slot %s failed; trying again soon", slot.id)
                        await asyncio.sleep(30)
                        continue
                    await self._wait_for_end(slot.id)
                    if self.publisher is not None:
                        with contextlib.suppress(Exception):
                            await self.publisher.close()
                        self.publisher = None
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("demo launch failed")

    async def _publish(self, http: httpx.AsyncClient, slot: Slot) -> None:
        from .testsource import publish_test_card

        self.slot_id = slot.id
        token = token_of(self.services.secret_key, slot)

        async def signal(offer: str) -> str:
            response = await http.post(
                f"/whip/{slot.id}",
                content=offer,
                headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"WHIP answered {response.status_code}: {response.text}")
            self.location = response.headers.get("location")
            return response.text

        hosts = self.services.settings.ice_hosts or ["127.0.0.1"]
        self.publisher = await publish_test_card(signal, width=640, height=360, hosts=hosts)
        log.info("demo launch: publishing the test card to slot %s", slot.id)

    async def _wait_for_end(self, slot_id: int) -> None:
        """Until the slot is over (its end time, or ended by a moderator)."""
        while True:
            await asyncio.sleep(5)
            async with self.services.db.session() as db:
                slot = await db.get(Slot, slot_id)
            if slot is None or slot.state in (SlotState.ENDED.value, SlotState.CANCELLED.value) or slot.ends_at <= utcnow():
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.publisher is not None:
            with contextlib.suppress(Exception):
                await self.publisher.close()
