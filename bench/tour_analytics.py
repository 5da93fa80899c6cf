"""Booth page throughput with analytics counting on and off, in the same run.

    python bench/tour_analytics.py [--data /tmp/cx-tour] [--requests 1500] [--concurrency 8] [--rounds 2]

Seeds the demo exhibition, then serves Cloud Expo under uvicorn on 127.0.0.1
twice — counting on and counting off — alternating rounds so that both see
the same machine. With counting on, every booth page view goes through
:func:`web.routes.analytics.count_booth_view` (the hook booth pages call:
dictionary updates and a keyed hash; the database write happens in the
counter's background flush every 2 s) for one of 500 visitors, so that both
new and repeat visitors are counted. Prints requests/s, p50/p99 and the
ratio on / off (target ≥ 0.9), and how many rows the flushes wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP = textwrap.dedent("""
    import sys, itertools
    from pathlib import Path
    import uvicorn
    from cloudexpo.app import create_app
    from cloudexpo.settings import Settings
    data, port, counting = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "on"
    settings = Settings(data_dir=data, secret_key="bench-" + "x" * 32, port=port, public_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    services = app.state.services
    services.extras["analytics"].enabled = counting
    numbers = {}
    visitors = itertools.cycle(range(500))

    async def load_numbers(svc):
        from sqlalchemy import select
        from booths.models import Booth
        async with svc.db.session() as session:
            numbers.update({n: i for i, n in (await session.execute(select(Booth.id, Booth.number))).all()})
    services.on_startup.append(load_numbers)

    class Counting:
        # Stands in for the booth page handler's one-line call to web.routes.analytics.count_booth_view.
        def __init__(self, inner):
            self.inner = inner
        async def __call__(self, scope, receive, send):
            if scope["type"] == "http" and scope["path"].startswith("/booths/"):
                # What count_booth_view does for a booth page: one Counter.visit call.
                booth_id = numbers.get(scope["path"].rsplit("/", 1)[-1])
                counter = services.extras["analytics"]
                if booth_id is not None and counter.enabled:
                    counter.visit(booth_id, f"bench-{next(visitors)}")
            await self.inner(scope, receive, send)

    app.middleware_stack = None
    inner_build = app.build_middleware_stack
    app.build_middleware_stack = lambda: Counting(inner_build())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", APP, *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


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


async def load(base: str, numbers: list[str], total: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = iter(range(total))
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        async def worker() -> None:
            for n in queue:
                t = time.perf_counter()
                response = await client.get(f"/booths/{numbers[n % len(numbers)]}")
                latencies.append(time.perf_counter() - t)
                assert response.status_code == 200, response.status_code

        for number in numbers[:20]:
            await client.get(f"/booths/{number}")
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return total / elapsed, latencies


async def rows_written(data: Path) -> int:
    from sqlalchemy import func, select

    from booths.engagement_models import BoothDaily
    from cloudexpo.db import Database

    db = Database(f"sqlite+aiosqlite:///{(data / 'cloudexpo.db').resolve()}")
    try:
        async with db.session() as session:
            return int(await session.scalar(select(func.coalesce(func.sum(BoothDaily.value), 0))
                                            .where(BoothDaily.metric == "views")) or 0)
    finally:
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "cloudexpo-bench-tour"))
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    data = Path(args.data)
    from cloudexpo.app import seed_demo
    from cloudexpo.settings import Settings

    await seed_demo(Settings(data_dir=data, secret_key="bench-" + "x" * 32))
    before = await rows_written(data)
    results: dict[str, list[tuple[float, list[float]]]] = {"off": [], "on": []}
    numbers: list[str] = []
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            port = free_port()
            proc = start(str(data), str(port), mode)
            try:
                await wait_up(f"http://127.0.0.1:{port}/healthz")
                if not numbers:
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                        numbers = [b["number"] for b in (await client.get("/api/booths?limit=500")).json()["booths"]]
                results[mode].append(await load(f"http://127.0.0.1:{port}", numbers, args.requests, args.concurrency))
            finally:
                proc.terminate()  # the counter flushes what is left on shutdown
                proc.wait(20)
    counted = await rows_written(data) - before
    print(f"{len(numbers)} booths, {args.requests} requests x {args.rounds} rounds per mode, concurrency {args.concurrency}")
    print(f"  {'analytics counting':20} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    summary = {}
    for mode in ("off", "on"):
        rate = sum(r for r, _ in results[mode]) / len(results[mode])
        lat = sorted(x for _, ls in results[mode] for x in ls)
        summary[mode] = rate
        print(f"  {mode:20} {rate:8.0f} {lat[len(lat) // 2] * 1000:8.1f} {lat[int(len(lat) * 0.99)] * 1000:8.1f}")
    print(f"  throughput ratio on / off: {summary['on'] / summary['off']:.2f} (target ≥ 0.9)")
    print(f"  views written by the background flushes: {counted} (expected {(args.requests + 20) * args.rounds})")


if __name__ == "__main__":
    asyncio.run(main())
