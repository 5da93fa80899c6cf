"""What the HTTP benchmarks share: a free port, a server script in its own process, waiting for it to answer,
and the whole server as `cloudexpo serve` runs it (:data:`SERVER`) with a live slot (:func:`seed_slot`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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


#: ``python -c SERVER DATA PORT SECRET [NAME=VALUE ...]``: Cloud Expo as ``cloudexpo serve`` runs it (recording
#: on, embedded defaults; object storage in the data folder) on 127.0.0.1; NAME=VALUE sets another of its
#: settings (``storage_url=s3://bucket``, ``redis_url=redis://...``).
SERVER = textwrap.dedent("""
    import ctypes, gc, signal, sys
    from pathlib import Path
    from cloudexpo.cli import _serve
    from cloudexpo.settings import Settings
    # SIGUSR1: collect garbage; SIGUSR2: hand free heap back to the system (glibc's malloc_trim), so a
    # benchmark can tell memory still in use from memory freed but kept by the allocator
    signal.signal(signal.SIGUSR1, lambda *_: gc.collect())
    signal.signal(signal.SIGUSR2, lambda *_: ctypes.CDLL("libc.so.6").malloc_trim(0))
    data, port, secret = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    extra = dict(arg.split("=", 1) for arg in sys.argv[4:])
    settings = Settings(data_dir=data, secret_key=secret, port=port, public_url=f"http://127.0.0.1:{port}",
                        ice_hosts=["127.0.0.1"], log_level="warning", signin_rate=10000, **extra)
    _serve(settings)  # as `cloudexpo serve` runs it, recording on
""")


async def seed_slot(data: Path, secret: str, minutes: float, storage_url: str | None = None, **changes: Any) -> tuple[int, str]:
    """A forum slot on the main stage, live from a minute ago for ``minutes``: (slot id, WHIP token);
    ``changes`` set more of its columns (``state="live"``)."""
    import datetime as dt

    from cloudexpo.app import open_services
    from cloudexpo.settings import Settings
    from tests.live_support import make_slot

    services = open_services(Settings(data_dir=data, secret_key=secret, storage_url=storage_url))
    try:
        await services.db.migrate()
        return await make_slot(services, booth_id=None, exhibitor_id=None, minutes=int(minutes) + 30,
                               start_in=dt.timedelta(minutes=-1), **changes)
    finally:
        await services.close()


async def profile(pid: int, seconds: float, out: Path, idle: bool = False) -> None:
    """py-spy (``pip install py-spy``) samples the server's Python stacks that hold the GIL (``idle``:
    all stacks, waiting ones too)."""
    spy = shutil.which("py-spy")
    if spy is None:
        print("py-spy is not installed (pip install py-spy): no profile")
        return
    raw = out.with_suffix(".txt")
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
           "--format", "raw", "--output", str(raw), "--nonblocking", "--idle" if idle else "--gil"]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    await proc.wait()
    if raw.exists():
        print_profile(raw)


def print_profile(raw: Path, top: int = 25) -> None:
    """Own time and total time per function from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        samples += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            total[f] = total.get(f, 0) + n
    print(f"\nprofile: {samples} samples, {raw}\n  own%  total%  function")
    for name, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {n / samples * 100:4.1f}  {total[name] / samples * 100:5.1f}   {name[:150]}")
