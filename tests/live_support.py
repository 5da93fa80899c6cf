"""Helpers for the live tests: stages and slots straight in the database, a publisher in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from cloudexpo import accounts
from cloudexpo.app import open_services
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from streaming.models import Slot, StageKind
from streaming.schedule import SlotInput, create_slot, ensure_stage, token_of


async def make_slot(
    services: Services,
    *,
    start_in: dt.timedelta = dt.timedelta(minutes=-1),
    minutes: int = 30,
    booth_id: int | None = 7,
    exhibitor_id: int | None = 70,
    stage: str = "release-a",
    kind: StageKind = StageKind.RELEASE,
    **changes: Any,
) -> tuple[int, str]:
    """A slot (id, WHIP token) starting ``start_in`` from now on ``stage``."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    async with services.db.session() as db:
        st = await ensure_stage(db, stage, {"en": stage, "zh-Hans": stage}, kind=kind)
        slot = await create_slot(db, services.secret_key, SlotInput(
            stage_id=st.id,
            title={"en": f"Launch on {stage}", "zh-Hans": "新品发布"},
            starts_at=now + start_in,
            ends_at=now + start_in + dt.timedelta(minutes=minutes),
            booth_id=booth_id,
            exhibitor_id=exhibitor_id,
            forum=None if booth_id is not None else "Main forum",
        ))
        for key, value in changes.items():
            setattr(slot, key, value)
        await db.commit()
        return slot.id, token_of(services.secret_key, slot)


async def moderator_over_http(settings: Settings, base: str, email: str) -> Any:
    """A moderator account made in the server's database, signed in over HTTP at ``base`` (a tests.conftest.Client)."""
    return await account_over_http(settings, base, email, role="moderator")


async def account_over_http(settings: Settings, base: str, email: str, *, role: str = "visitor", exhibitor_id: int | None = None) -> Any:
    """An account of ``role`` made in the server's database, signed in over HTTP at ``base`` (a tests.conftest.Client)."""
    from tests.conftest import PASSWORD, Client

    svc = open_services(settings)
    try:
        async with svc.db.session() as db:
            await accounts.create_user(db, email, PASSWORD, role=role, exhibitor_id=exhibitor_id)
            await db.commit()
    finally:
        await svc.db.close()
    client = Client(httpx.AsyncClient(base_url=base, timeout=20))
    await client.sign_in(email, PASSWORD)
    return client


@contextlib.contextmanager
def two_app_nodes(tmp_path: Path, *, node_urls: bool = False) -> Iterator[tuple[str, str, Settings]]:
    """Two app nodes sharing one SQLite file, one secret and one Redis: (url A, url B, settings).

    With ``node_urls`` each advertises its own CLOUDEXPO_NODE_URL, so one node can pull media from the other.
    """
    from tests.conftest import REDIS_URL, free_port, live_settings, require_service, serve_app

    require_service(REDIS_URL, "CLOUDEXPO_TEST_REDIS_URL")
    secret = "nodes-" + secrets.token_hex(8)
    with contextlib.ExitStack() as stack:
        nodes = []
        for index in range(2):
            port = free_port()
            settings = live_settings(
                tmp_path, data_dir=tmp_path / "shared", secret_key=secret, port=port,
                redis_url=REDIS_URL, public_url=f"http://127.0.0.1:{port}",
                node_url=f"http://127.0.0.1:{port}" if node_urls else None,
            )
            nodes.append(stack.enter_context(serve_app(settings, f"node-{index}")))
        yield nodes[0].url, nodes[1].url, nodes[0].settings


async def slot_row(services: Services, slot_id: int) -> Slot:
    async with services.db.session() as db:
        slot = await db.get(Slot, slot_id)
        assert slot is not None
        return slot


class _PeerThread(threading.Thread):
    """An aiortc peer in a thread of its own loop (browser tests drive pages from sync code):
    ``started`` is set once it is up, or with ``error`` when it could not start;
    ``stop_event`` makes it leave."""

    def __init__(self, base: str, slot_id: int) -> None:
        super().__init__(daemon=True)
        self.base, self.slot_id = base, slot_id
        self.stop_event = threading.Event()
        self.started = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.error = exc
            self.started.set()

    async def _run(self) -> None:
        raise NotImplementedError


class ViewerThread(_PeerThread):
    """An aiortc WHEP viewer of a slot (it waits for the publisher): holds a place on the node until stopped."""

    async def _run(self) -> None:
        from streaming import testsource as ts

        async with httpx.AsyncClient(base_url=self.base, timeout=20) as http:
            location = ""

            async def whep(offer: str) -> str:
                nonlocal location
                for _ in range(100):
                    response = await http.post(f"/whep/{self.slot_id}", content=offer, headers={"Content-Type": "application/sdp"})
                    if response.status_code == 201:
                        location = response.headers["location"]
                        return response.text
                    await asyncio.sleep(0.2)
                raise AssertionError(f"WHEP kept answering {response.status_code}: {response.text}")

            viewer = await ts.watch(whep, hosts=("127.0.0.1",))
            await viewer.wait_frames(3, within=20)
            self.started.set()
            await asyncio.to_thread(self.stop_event.wait)
            await http.delete(location)
            await viewer.close()


class PublisherThread(_PeerThread):
    """An aiortc publisher of the flash card over the real WHIP endpoint, in its own loop."""

    def __init__(self, base: str, slot_id: int, token: str) -> None:
        super().__init__(base, slot_id)
        self.token = token

    async def _run(self) -> None:
        from streaming import testsource as ts
        from tests.media_flash import flash_tracks

        location = ""

        async def signal(offer: str) -> str:
            nonlocal location
            async with httpx.AsyncClient() as http:
                response = await http.post(f"{self.base}/whip/{self.slot_id}", content=offer,
                                           headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"})
                assert response.status_code == 201, response.text
                location = response.headers["location"]
                return response.text

        video, audio = flash_tracks()
        publisher = await ts.make_publisher(video, audio, signal)
        self.started.set()
        await asyncio.to_thread(self.stop_event.wait)
        async with httpx.AsyncClient() as http:
            await http.delete(location if location.startswith("http") else self.base + location,
                              headers={"Authorization": f"Bearer {self.token}"})
        await publisher.close()
