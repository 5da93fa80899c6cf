"""Several ``cloudexpo serve`` processes as one deployment, and a viewer that moves between them.

Used by tests/test_cluster.py and bench/cluster.py. Every node runs in its own
process on 127.0.0.1 with its own port, data folder and ``CLOUDEXPO_NODE_URL``,
and shares the database, Redis, the bucket and the secret key with the others,
as the nodes behind ``infra/Caddyfile`` do.

:class:`RollingViewer` is the aiortc counterpart of what web/static/js/watch.js
does in a browser: when no video frame came for :data:`STALL` seconds it asks
whether its node is still there; a node that does not answer is given up and
the viewer POSTs a new WHEP offer to the next node that answers (in
production the proxy picks a live node for the same URL). A node that answers
keeps the session: the broadcast is paused upstream (its publisher is
reconnecting) and resumes on the same session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from streaming import testsource as ts

ROOT = Path(__file__).resolve().parent.parent
STALL = 0.6  # seconds without a decoded frame before a viewer asks whether its node is there (a false alarm costs one request)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Node:
    """One ``cloudexpo serve`` process of the deployment."""

    def __init__(self, name: str, folder: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"{name}.log"
        self.data_dir = folder / name
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            **env,
            "CLOUDEXPO_PORT": str(self.port),
            "CLOUDEXPO_HOST": "127.0.0.1",
            "CLOUDEXPO_NODE_URL": self.url,
            "CLOUDEXPO_PUBLIC_URL": self.url,
            "CLOUDEXPO_ICE_HOSTS": "127.0.0.1",
            "CLOUDEXPO_DATA_DIR": str(self.data_dir),
            "PYTHONPATH": str(ROOT),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cloudexpo.cli", "serve"], cwd=ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"node {self.name} exited: {self.log.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"node {self.name} not ready after {within} s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """Gone at once, as a crashed or unplugged machine is."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time the node's process used so far."""
        import psutil

        assert self.process is not None
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


def cluster_env(*, database_url: str, redis_url: str, storage_url: str, secret_key: str) -> dict[str, str]:
    """The environment every node shares (AWS_* for the bucket come from the caller's environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDEXPO_")}
    env.update({
        "CLOUDEXPO_DATABASE_URL": database_url,
        "CLOUDEXPO_REDIS_URL": redis_url,
        "CLOUDEXPO_STORAGE_URL": storage_url,
        "CLOUDEXPO_SECRET_KEY": secret_key,
        "CLOUDEXPO_LOG_LEVEL": "info",
    })
    return env


async def whep_signal(base: str, slot_id: int, sessions: list[str] | None = None) -> ts.Signal:
    """A WHEP POST to ``base`` for ``slot_id`` (session URLs are appended to ``sessions``)."""

    async def signal(offer: str) -> str:
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.post(f"{base}/whep/{slot_id}", content=offer,
                                       headers={"Content-Type": "application/sdp"})
        if response.status_code != 201:
            raise RuntimeError(f"WHEP on {base}: {response.status_code} {response.text}")
        if sessions is not None:
            sessions.append(response.headers["location"])
        return response.text

    return signal


async def whip_publish(base: str, slot_id: int, token: str, colour: tuple[int, int, int]) -> ts.TestPublisher:
    """The test card published to ``base`` over WHIP."""

    async def signal(offer: str) -> str:
        async with httpx.AsyncClient(timeout=10.0) as http:
            response = await http.post(f"{base}/whip/{slot_id}", content=offer,
                                       headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
        if response.status_code != 201:
            raise RuntimeError(f"WHIP on {base}: {response.status_code} {response.text}")
        return response.text

    return await ts.publish_test_card(signal, colour=colour)


async def node_answers(base: str) -> bool:
    """Whether the node is up: a dead one refuses the connection at once; a busy one may be slow."""
    try:
        async with httpx.AsyncClient(timeout=3.0) as http:
            return (await http.get(f"{base}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


class RollingViewer:
    """A decoding aiortc viewer that moves to another node when its node is gone (see module doc).

    ``nodes``: the URLs it may use, its first choice first.
    """

    def __init__(self, nodes: Sequence[str], slot_id: int, *, decode: bool = True) -> None:
        self.nodes = list(nodes)
        self.slot_id = slot_id
        self.decode = decode
        self.node: str | None = None
        self.viewer: ts.TestViewer | None = None
        self.frames: list[tuple[int, tuple[int, int, int], float]] = []  # every session's frames
        self.locations: list[str] = []  # every session's WHEP URL (Location), the current one last
        self.moves: list[tuple[str, str, int]] = []  # (from node, to node, index in frames of the new session's first)
        self._seen = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._connect(self.nodes)
        self._task = asyncio.create_task(self._watch())

    async def _connect(self, candidates: Sequence[str]) -> None:
        last: Exception | None = None
        for base in candidates:
            if not await node_answers(base):
                continue
            try:
                self.viewer = await ts.watch(await whep_signal(base, self.slot_id, self.locations), decode=self.decode)
            except RuntimeError as exc:
                last = exc
                continue
            self._seen = 0
            self.node = base
            return
        raise RuntimeError(f"no node would play slot {self.slot_id}: {last}")

    def _collect(self) -> float | None:
        """Move new frames to :attr:`frames`; the time of the newest frame of this session."""
        viewer = self.viewer
        if viewer is None:
            return None
        new = viewer.frames[self._seen:]
        self._seen += len(new)
        self.frames.extend(new)
        return viewer.frames[-1][2] if viewer.frames else viewer.started_at

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            last = self._collect()
            if last is None or time.monotonic() - last < STALL:
                continue
            assert self.node is not None
            if await node_answers(self.node):
                continue  # the node is there: the broadcast is paused upstream, keep the session
            gone, old = self.node, self.viewer
            self.viewer = None
            if old is not None:
                await old.close()
            order = [n for n in self.nodes if n != gone] + [gone]
            while True:
                try:
                    await self._connect(order)
                    break
                except RuntimeError:
                    await asyncio.sleep(0.2)
            self.moves.append((gone, self.node or "", len(self.frames)))

    async def wait_frames(self, count: int, within: float = 15.0, after: float = 0.0) -> None:
        """Wait until ``count`` frames newer than ``after`` (monotonic time) arrived."""
        deadline = time.monotonic() + within
        while sum(1 for f in self.frames if f[2] > after) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sum(1 for f in self.frames if f[2] > after)} of {count} frames after {within} s")
            await asyncio.sleep(0.02)

    def moved_at(self, move: int = -1) -> tuple[float, float]:
        """(last frame before, first frame after) one of the moves, in monotonic time."""
        index = self.moves[move][2]
        return self.frames[index - 1][2], self.frames[index][2]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.viewer is not None:
            await self.viewer.close()
