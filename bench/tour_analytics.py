"""Booth page throughput with analytics counting on and off, in the same run.

    python bench/tour_analytics.py [--data /tmp/cx-tour] [--requests 1500] [--concurrency 8] [--rounds 2]

Seeds the demo exhibition, then serves Cloud Expo under uvicorn on 127.0.0.1
twice — counting on and counting off — alternating rounds so that both see
the same machine. With counting on, every booth page view goes through
:func:`web.routes.analytics.count_booth_view` (the hook booth pages call:
dictionary updates and a keyed hash; the database write happens in the
counter's background flush every 2 s); the requests come from 500 visitor
sessions in turn, so that both new and repeat visitors are counted. Prints requests/s, p50/p99 and the
ratio on / off (target ≥ 0.9), and how many rows the flushes wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._serving import free_port, start, wait_up  # noqa: E402

APP = textwrap.dedent("""
    import sys
    from pathlib import Path
    import uvicorn
    from cloudexpo.app import build_runtime
    from cloudexpo.settings import Settings
    from web.app import build_app
    data, port, counting = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "on"
    settings = Settings(data_dir=data, secret_key="bench-" + "x" * 32, port=port, public_url=f"http://127.0.0.1:{port}")
    runtime = build_runtime(settings)
    runtime.booths.analytics.enabled = counting
    app = build_app(runtime)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
""")


SESSION_COOKIE = "cloudexpo_session"
VISITORS = 500


async def visitor_sessions(base: str, number: str, count: int) -> list[str]:
    """``count`` browser sessions (their signed cookies), each from a first visit to booth ``number``."""
    sessions: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(count):
            client.cookies.clear()
            response = await client.get(f"/booths/{number}")
            sessions.append(response.cookies[SESSION_COOKIE])
    return sessions


async def load(base: str, numbers: list[str], sessions: list[str], total: int, concurrency: int) -> tuple[float, list[float]]:
    """Booth pages, each request from one of the visitor ``sessions`` in turn (new and repeat visitors)."""
    latencies: list[float] = []
    queue = iter(range(total))
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        async def worker() -> None:
            for n in queue:
                t = time.perf_counter()
                headers = {"Cookie": f"{SESSION_COOKIE}={sessions[n % len(sessions)]}"}
                response = await client.get(f"/booths/{numbers[n % len(numbers)]}", headers=headers)
                latencies.append(time.perf_counter() - t)
                assert response.status_code == 200, response.status_code
                client.cookies.clear()

        for number in numbers[:20]:
            await client.get(f"/booths/{number}")
            client.cookies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return total / elapsed, latencies


async def rows_written(data: Path) -> int:
    from sqlalchemy import func, select

    from booths.engagement.models import BoothDaily
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
    setup_views = 0
    results: dict[str, list[tuple[float, list[float]]]] = {"off": [], "on": []}
    numbers: list[str] = []
    sessions: list[str] = []
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            port = free_port()
            proc = start(APP, str(data), str(port), mode)
            try:
                await wait_up(f"http://127.0.0.1:{port}/healthz")
                if not numbers:
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                        numbers = [b["number"] for b in (await client.get("/api/booths?limit=500")).json()["booths"]]
                    # Signed with the same secret: valid on every server of the run. Their first visits count too.
                    sessions = await visitor_sessions(f"http://127.0.0.1:{port}", numbers[0], VISITORS)
                    setup_views += VISITORS if mode == "on" else 0
                results[mode].append(await load(f"http://127.0.0.1:{port}", numbers, sessions, args.requests, args.concurrency))
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
    print(f"  views written by the background flushes: {counted} (expected {(args.requests + 20) * args.rounds + setup_views})")


if __name__ == "__main__":
    asyncio.run(main())
