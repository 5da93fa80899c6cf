"""Reliability drills: PostgreSQL restarted under load, Redis down and back.

Each drill starts its OWN PostgreSQL or Redis on a free port of 127.0.0.1
(never the shared ones), runs the whole app under uvicorn against it, breaks
it while traffic flows and checks that the server answers every request
(nothing hangs) and recovers by itself. The object-storage outage drill is
tests/test_replay_faults.py. Under CI=true missing binaries fail the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudexpo.settings import Settings
from tests.conftest import IN_CI, PASSWORD, free_port, live_settings, serve_app

REQUEST_TIMEOUT = 20.0  # a request that takes longer than this "hangs"


def _need(path: str | None, what: str) -> str:
    if path:
        return path
    message = f"{what} is needed for this drill (Debian: see scripts/test.sh)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


# --- a private PostgreSQL -------------------------------------------------------------------------


class PrivatePostgres:
    """initdb into a temporary folder and run ``postgres`` on a free port, as the postgres user when root."""

    def __init__(self, folder: Path) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        self.bin = Path(_need(found[-1] if found else shutil.which("initdb"), "PostgreSQL's initdb")).parent
        self.data = folder / "pgdata"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.as_user: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        folder.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(folder, "postgres")
        subprocess.run([*self.as_user, str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.process = subprocess.Popen([
            *self.as_user, str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.data}", "-c", "fsync=off",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)
        time.sleep(0.3)

    def stop(self) -> None:
        """A fast shutdown: the server ends every connection (as a restart by an operator does)."""
        if self.process is not None:
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                           check=False, capture_output=True)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
            if self.process.poll() is None:
                self.process.kill()
            self.process = None


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not under pytest's tmp_path: the postgres user cannot enter root's private folders.
    folder = Path(tempfile.mkdtemp(prefix="cloudexpo-drill-pg-"))
    os.chmod(folder, 0o755)
    try:
        pg = PrivatePostgres(folder / "pg")
        pg.start()
        try:
            yield pg
        finally:
            pg.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- a private Redis ------------------------------------------------------------------------------


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        self.binary = _need(shutil.which("redis-server"), "redis-server")
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen([
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.folder),
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # gone at once, as a crashed or unplugged Redis is
            self.process.wait(timeout=30)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


# --- seeding --------------------------------------------------------------------------------------


async def _seed(settings: Settings) -> dict[str, Any]:
    from cloudexpo import accounts
    from cloudexpo.app import open_services
    from tests.live_support import make_slot
    from tests.test_booths_support import make_expo

    services = open_services(settings)
    try:
        await services.db.migrate()
        expo = await make_expo(services)
        async with services.db.session() as db:
            await accounts.create_user(db, "drill@example.org", PASSWORD)
            await db.commit()
        booth = expo.booths["1A-001"]
        slot_id, _ = await make_slot(services, booth_id=booth, exhibitor_id=expo.exhibitors["1A-001"])
        return {"booth": booth, "slot": slot_id}
    finally:
        await services.close()


async def _sign_in(http: httpx.AsyncClient) -> str:
    csrf = (await http.get("/api/me")).json()["csrf_token"]
    answer = await http.post("/api/session", json={"email": "drill@example.org", "password": PASSWORD},
                             headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 200, answer.text
    return str((await http.get("/api/me")).json()["csrf_token"])


# --- PostgreSQL restarted under load --------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_postgres_restart_under_load(private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    settings = live_settings(tmp_path, database_url=private_postgres.url.replace("postgresql://", "postgresql+asyncpg://"))
    seeded = await _seed(settings)
    paths = ["/api/booths", f"/booths/{seeded['booth']}", f"/api/slots/{seeded['slot']}", "/readyz", "/api/programme"]
    answers: Counter[str] = Counter()
    slowest = 0.0
    phase = "before"
    stop = asyncio.Event()

    async def visitor(n: int, base: str) -> None:
        nonlocal slowest
        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as http:
            i = n
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = str((await http.get(paths[i % len(paths)])).status_code)
                except httpx.TimeoutException:
                    status = "hung"
                except httpx.TransportError as exc:
                    status = f"transport:{type(exc).__name__}"
                slowest = max(slowest, time.monotonic() - started)
                answers[f"{phase}:{status}"] += 1
                i += 1
                await asyncio.sleep(0.02)

    with serve_app(settings, name="drill-pg") as server:
        workers = [asyncio.create_task(visitor(n, server.url)) for n in range(8)]
        warm = time.monotonic() + 60
        while answers["before:200"] < 20 and time.monotonic() < warm:  # noqa: ASYNC110 (load flows first)
            await asyncio.sleep(0.2)
        phase = "down"
        await asyncio.to_thread(private_postgres.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(private_postgres.start)
        phase = "after"
        restarted = time.monotonic()
        # The pools must recover by themselves: every path answers 200 again, soon.
        async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT) as http:
            while True:
                statuses = [(await http.get(path)).status_code for path in paths]
                if all(s == 200 for s in statuses):
                    break
                assert time.monotonic() - restarted < 30, f"not recovered 30 s after the restart: {statuses}"
                await asyncio.sleep(0.5)
            recovered = time.monotonic() - restarted
            phase = "recovered"
            await asyncio.sleep(2)
            stop.set()
            await asyncio.gather(*workers)
            final = [(await http.get(path)).status_code for path in paths]
    print(f"postgres drill: recovered {recovered:.1f} s after the restart; slowest request {slowest:.1f} s; {dict(answers)}")
    assert final == [200] * len(paths)
    assert not any(":hung" in k for k in answers), f"requests hung: {dict(answers)}"
    assert slowest < REQUEST_TIMEOUT
    assert answers["before:200"] > 0 and answers["recovered:200"] > 0, dict(answers)
    bad_after = {k: v for k, v in answers.items() if k.startswith("recovered:") and k != "recovered:200"}
    assert not bad_after, f"errors after recovery: {bad_after}"
    # While the database is down requests fail fast with a 503 to retry; they never wait for it.
    assert set(answers) <= {"before:200", "down:200", "down:503", "after:200", "after:503", "recovered:200"}, dict(answers)


# --- Redis down and back --------------------------------------------------------------------------


async def _next_chat(ws: Any, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(ws.recv(), left)
        except TimeoutError:
            return False
        if text in frame:
            return True
    return False


@pytest.mark.timeout(300)
async def test_redis_down_and_back(private_redis: PrivateRedis, tmp_path: Path) -> None:
    import websockets

    settings = live_settings(tmp_path, redis_url=private_redis.url)
    seeded = await _seed(settings)
    slot = seeded["slot"]
    with serve_app(settings, name="drill-redis") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT) as http:
            csrf = await _sign_in(http)
            ws = await websockets.connect(server.url.replace("http://", "ws://") + "/ws", origin=server.url)
            try:
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
                await ws.send(json.dumps({"type": "subscribe", "slots": [slot]}))
                assert await _next_chat(ws, '"snapshot"', 10), "no snapshot after subscribing"
                await asyncio.sleep(0.5)  # the node's Redis subscription is made in the background

                async def chat(text: str) -> int:
                    return (await http.post(f"/api/slots/{slot}/chat", json={"text": text},
                                            headers={"X-CSRF-Token": csrf})).status_code

                assert await chat("before the outage") == 201
                assert await _next_chat(ws, "before the outage", 10), "chat over Redis does not arrive"

                private_redis.stop()
                # The limits fall back to counting on this node: signing in still works.
                started = time.monotonic()
                async with httpx.AsyncClient(base_url=server.url, timeout=REQUEST_TIMEOUT) as other:
                    assert (await _sign_in(other))
                assert time.monotonic() - started < REQUEST_TIMEOUT
                during = await chat("during the outage")
                assert during == 201, f"chat while Redis is down: {during} (kept, sent live once it is back)"
                health = await http.get("/healthz")
                assert health.status_code == 200

                private_redis.start()
                # The bus reconnects by itself and chat resumes on the same socket.
                deadline = time.monotonic() + 45
                delivered = False
                n = 0
                while time.monotonic() < deadline and not delivered:
                    n += 1
                    text = f"after the outage {n}"
                    status = await chat(text)
                    if status == 201:
                        delivered = await _next_chat(ws, text, 3)
                    else:
                        await asyncio.sleep(1)
                assert delivered, "chat did not resume after Redis came back"
                assert (await http.get("/readyz")).status_code == 200
            finally:
                await ws.close()
