"""Booth page throughput and latency over a real uvicorn server, next to a bare Starlette + Jinja2 app.

    python bench/tour.py [--data /tmp/cx-tour] [--requests 2000] [--concurrency 8]

Seeds the demo exhibition (242 booths) into the data folder when it is empty,
serves Cloud Expo on 127.0.0.1 as ``cloudexpo serve`` does, and a bare Starlette app that
renders the same booth HTML through a Jinja2 template, each in its own
process; requests booth pages (all 242 numbers in turn) from both in the same
run, the two taking turns in ten rounds, and prints requests/s, p50/p99 and the
ratio Cloud Expo / bare (target ≥ 0.6).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 10
sys.path.insert(0, str(ROOT))

from bench._serving import free_port, start, wait_up  # noqa: E402

APP = textwrap.dedent("""
    import sys
    from pathlib import Path
    from cloudexpo.cli import _serve
    from cloudexpo.settings import Settings
    data, port = Path(sys.argv[1]), int(sys.argv[2])
    settings = Settings(data_dir=data, secret_key="bench-" + "x" * 32, port=port, public_url=f"http://127.0.0.1:{port}",
                        log_level="warning")
    _serve(settings)  # as `cloudexpo serve` runs it
""")

BARE = textwrap.dedent("""
    import sys
    import jinja2, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route
    html = open(sys.argv[1], encoding="utf-8").read()
    env = jinja2.Environment(autoescape=True)
    template = env.from_string("{{ head|safe }}<!-- {{ number }} -->{{ body|safe }}")
    half = len(html) // 2
    async def booth(request):
        return HTMLResponse(template.render(head=html[:half], body=html[half:], number=request.path_params["ref"]))
    uvicorn.run(Starlette(routes=[Route("/booths/{ref}", booth)]), host="127.0.0.1", port=int(sys.argv[2]),
                log_level="warning", access_log=False)
""")


class Load:
    """Requests booth pages (all numbers in turn, ``concurrency`` at a time) in rounds; keeps every latency."""

    def __init__(self, base: str, numbers: list[str], concurrency: int) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=30)
        self.numbers, self.concurrency = numbers, concurrency
        self.sent = 0
        self.elapsed = 0.0
        self.latencies: list[float] = []

    async def round(self, count: int) -> None:
        queue = iter(range(self.sent, self.sent + count))

        async def worker() -> None:
            for n in queue:
                t = time.perf_counter()
                response = await self.client.get(f"/booths/{self.numbers[n % len(self.numbers)]}")
                self.latencies.append(time.perf_counter() - t)
                assert response.status_code == 200, response.status_code

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        self.elapsed += time.perf_counter() - started
        self.sent += count

    def figures(self) -> tuple[float, float, float]:
        latencies = sorted(self.latencies)
        return self.sent / self.elapsed, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "cloudexpo-bench-tour"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    data = Path(args.data)
    from cloudexpo.app import seed_demo
    from cloudexpo.settings import Settings

    started = time.perf_counter()
    await seed_demo(Settings(data_dir=data, secret_key="bench-" + "x" * 32))
    print(f"seeded (or found) the demo exhibition in {time.perf_counter() - started:.1f} s")
    port, bare_port = free_port(), free_port()
    app = start(APP, str(data), str(port))
    try:
        await wait_up(f"http://127.0.0.1:{port}/healthz")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            numbers = [b["number"] for b in (await client.get("/api/booths?limit=500")).json()["booths"]]
            html = (await client.get(f"/booths/{numbers[0]}")).text
        with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False, encoding="utf-8") as fh:
            fh.write(html)
        bare = start(BARE, fh.name, str(bare_port))
        try:
            await wait_up(f"http://127.0.0.1:{bare_port}/booths/x")
            # The two servers take turns, a tenth of the requests at a time, so that a noisy neighbour on a
            # shared machine slows both alike; the first round of Cloud Expo holds its first (uncached) visits.
            ours = Load(f"http://127.0.0.1:{port}", numbers, args.concurrency)
            base = Load(f"http://127.0.0.1:{bare_port}", numbers, args.concurrency)
            for load in (ours, base):
                for number in numbers[:20]:  # warm up
                    await load.client.get(f"/booths/{number}")
            for n in range(ROUNDS):
                share = args.requests // ROUNDS + (1 if n < args.requests % ROUNDS else 0)
                await ours.round(share)
                await base.round(share)
            await ours.client.aclose()
            await base.client.aclose()
        finally:
            bare.terminate()
            bare.wait(10)
            os.unlink(fh.name)
    finally:
        app.terminate()
        app.wait(10)
    print(f"{len(numbers)} booths, {args.requests} requests, concurrency {args.concurrency}, page {len(html) // 1024} KiB")
    print(f"  {'':22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    mine, bare_figures = ours.figures(), base.figures()
    print(f"  {'Cloud Expo booth page':22} {mine[0]:8.0f} {mine[1] * 1000:8.1f} {mine[2] * 1000:8.1f}")
    print(f"  {'bare Starlette+Jinja2':22} {bare_figures[0]:8.0f} {bare_figures[1] * 1000:8.1f} {bare_figures[2] * 1000:8.1f}")
    print(f"  throughput ratio Cloud Expo / bare: {mine[0] / bare_figures[0]:.2f} (target ≥ 0.6)")


if __name__ == "__main__":
    asyncio.run(main())
