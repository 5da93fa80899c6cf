"""What the HTTP benchmarks share: a free port, a server script in its own process, waiting for it to answer,
and the whole server as `cloudexpo serve` runs it (:data:`SERVER`) with a live slot (:func:`seed_slot`)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(code: str, *args: str) -> subprocess.Popen[bytes]:
    """Run ``python -c code args`` from the project's root, with the project importable."""
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


#: ``python -c SERVER DATA PORT SECRET [STORAGE_URL]``: Cloud Expo as ``cloudexpo serve`` runs it (recording
#: on, embedded defaults; object storage in the data folder unless a storage URL is given) on 127.0.0.1.
SERVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from cloudexpo.cli import _serve
    from cloudexpo.settings import Settings
    data, port, secret = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    storage = sys.argv[4] if len(sys.argv) > 4 else None
    settings = Settings(data_dir=data, secret_key=secret, port=port, public_url=f"http://127.0.0.1:{port}",
                        ice_hosts=["127.0.0.1"], log_level="warning", signin_rate=10000, storage_url=storage)
    _serve(settings)  # as `cloudexpo serve` runs it, recording on
""")


async def seed_slot(data: Path, secret: str, minutes: float, storage_url: str | None = None) -> tuple[int, str]:
    """A forum slot on the main stage, live from a minute ago for ``minutes``: (slot id, WHIP token)."""
    import datetime as dt

    from cloudexpo.app import open_services
    from cloudexpo.settings import Settings
    from tests.live_support import make_slot

    services = open_services(Settings(data_dir=data, secret_key=secret, storage_url=storage_url))
    try:
        await services.db.migrate()
        return await make_slot(services, booth_id=None, exhibitor_id=None, minutes=int(minutes) + 30,
                               start_in=dt.timedelta(minutes=-1))
    finally:
        await services.close()
