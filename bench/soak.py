"""Soak: the whole server under mixed load for a bounded time; does anything grow?

Cloud Expo runs as ``cloudexpo serve`` does (recording on, embedded defaults)
in its own process on 127.0.0.1. One publisher sends the pre-encoded
H.264 + Opus broadcast (360p30, 1 Mbit/s) over WHIP (recorded as it runs); 50 WHEP viewers in
two processes join and leave all the time (each stays 20-60 s); signed-in
visitors chat over ``/ws`` while others follow the slot; a page and API
client tours the booth, programme, watch page and JSON. Everything is on
127.0.0.1.

Figures, read from ``/metrics`` (and the process itself) once the load is
steady, at the end of the soak under the same load, and after the load
stopped: resident memory (RSS), open file descriptors, asyncio tasks, WebRTC
peer connections. The goal: RSS growth under 5 % from start to end, and
nothing left behind (no peer connections, tasks back to the idle count).
RSS growth is given from the start (after the warm-up: ``--warmup``, 180 s,
in which every viewer seat has been left and joined again at least twice and
every chat socket has reconnected once), from the first figures of the
load (after 60 s, still rising: the first viewers are still leaving and the
heap's free lists still filling; in 10-minute runs that point fell anywhere
between 186 and 194 MB, and the end 198-205 MB), and
from idle (before any load), and after the load once more after a garbage
collection (SIGUSR1) and then glibc's ``malloc_trim`` (SIGUSR2) in the server (see
``bench/_serving.py``): what that gives back was freed memory the allocator
kept, not memory in use. Set ``MALLOC_ARENA_MAX=2`` in the environment to
see how much glibc's per-thread arenas add. The server keeps glibc's trim
and mmap thresholds fixed (``cloudexpo/heap.py``): with glibc raising them,
the free tops of the threads' arenas grew all through the soak (5.7 to
12.6 MB in 10 minutes), out of ``malloc_trim``'s reach. Run::

    .venv/bin/python bench/soak.py --minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import HOSTS, encode_media, whip_publisher_process
from bench._serving import SERVER, free_port, start, wait_up

PASSWORD = "soak-password-1"
SECONDS = 4
EARLY = 60.0  # seconds of load: the first figures (the warm-up still rising)


async def seed(data: Path, secret: str, minutes: float) -> dict[str, Any]:
    """A small exhibition, a slot live for the whole soak with its WHIP token, and accounts."""
    import datetime as dt

    from cloudexpo import accounts
    from cloudexpo.app import open_services
    from cloudexpo.settings import Settings
    from tests.live_support import make_slot
    from tests.test_booths_support import make_expo

    services = open_services(Settings(data_dir=data, secret_key=secret))
    try:
        await services.db.migrate()
        expo = await make_expo(services)
        async with services.db.session() as db:
            await accounts.create_user(db, "moderator@soak.example", PASSWORD, role="moderator")
            for i in range(4):
                await accounts.create_user(db, f"visitor{i}@soak.example", PASSWORD)
            await db.commit()
        booth = expo.booths["1A-001"]
        slot, token = await make_slot(services, booth_id=booth, exhibitor_id=expo.exhibitors["1A-001"],
                                      minutes=int(minutes) + 30, start_in=dt.timedelta(minutes=-1))
        return {"booth": booth, "slot": slot, "token": token}
    finally:
        await services.close()


# --- media processes -------------------------------------------------------------------------------


def viewers_process(base: str, slot: int, count: int, stop: Any, results: Any, seed_value: int) -> None:
    """Keep ``count`` WHEP viewers; each leaves after 20-60 s and a new one joins."""
    from aiortc import RTCPeerConnection

    from bench._common import LightCounter
    from streaming.peers import accept_answer, create_offer, new_peer_connection
    from streaming.testsource import prefer_codec

    rng = random.Random(seed_value)
    joined = left = failed = 0

    async def viewer(http: httpx.AsyncClient) -> None:
        nonlocal joined, left, failed
        pc: RTCPeerConnection = new_peer_connection()
        for kind in ("video", "audio"):
            pc.addTransceiver(kind, direction="recvonly")
        prefer_codec(pc, "video", "H264")
        location = None
        try:
            offer = await create_offer(pc, HOSTS)
            answer = await http.post(f"/whep/{slot}", content=offer, headers={"Content-Type": "application/sdp"})
            if answer.status_code != 201:
                failed += 1
                await asyncio.sleep(2)
                return
            location = answer.headers["location"]
            await accept_answer(pc, answer.text, HOSTS)
            joined += 1
            deadline = time.monotonic() + rng.uniform(20, 60)
            while time.monotonic() < deadline and not stop.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.5)
        except Exception:
            failed += 1
        finally:
            await pc.close()
            if location is not None:
                try:
                    await http.delete(location)
                except httpx.HTTPError:
                    pass
                left += 1

    async def seat(http: httpx.AsyncClient, n: int) -> None:
        await asyncio.sleep(n * 0.3)  # not all at once
        while not stop.is_set():
            await viewer(http)

    async def run() -> None:
        LightCounter().install()  # viewers stand for other machines: count media at the socket, never decrypt
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            await asyncio.gather(*(seat(http, n) for n in range(count)))
        results.put((joined, left, failed))

    asyncio.run(run())


# --- chat and page traffic -------------------------------------------------------------------------


async def chatter(base: str, slot: int, email: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    import websockets

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        csrf = (await http.get("/api/me")).json()["csrf_token"]
        signed = await http.post("/api/session", json={"email": email, "password": PASSWORD},
                                 headers={"X-CSRF-Token": csrf})
        assert signed.status_code == 200, signed.text
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    while not stop.is_set():
        async with websockets.connect(base.replace("http://", "ws://") + "/ws", origin=base,
                                      additional_headers={"Cookie": cookie}) as ws:
            await ws.send(json.dumps({"type": "subscribe", "slots": [slot]}))
            reconnect_at = time.monotonic() + random.uniform(30, 90)  # sockets come and go too
            while not stop.is_set() and time.monotonic() < reconnect_at:
                await ws.send(json.dumps({"type": "chat", "slot": slot, "text": f"你好 {counts['sent']}"}))
                counts["sent"] += 1
                end = time.monotonic() + 4
                while (left := end - time.monotonic()) > 0:
                    try:
                        await asyncio.wait_for(ws.recv(), left)
                        counts["received"] += 1
                    except TimeoutError:
                        break


async def tourist(base: str, seeded: dict[str, Any], stop: asyncio.Event, counts: dict[str, int]) -> None:
    paths = ["/", f"/booths/{seeded['booth']}", "/api/booths", "/api/programme", f"/live/{seeded['slot']}",
             f"/api/slots/{seeded['slot']}", "/programme", "/search?q=car", "/api/live/now", "/map"]
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        i = 0
        while not stop.is_set():
            status = (await http.get(paths[i % len(paths)])).status_code
            counts["pages" if status < 400 else f"page_{status}"] = counts.get("pages" if status < 400 else f"page_{status}", 0) + 1
            i += 1
            await asyncio.sleep(0.1)


# --- figures ---------------------------------------------------------------------------------------


async def figures(base: str, proc: psutil.Process) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(base + "/metrics")).text
    found = dict(line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#") and " " in line)
    return {
        "rss_mb": proc.memory_info().rss / 1e6,
        "fds": float(proc.num_fds()),
        "tasks": float(found.get("cloudexpo_asyncio_tasks", "nan")),
        "peers": float(found.get("cloudexpo_peer_connections", "nan")),
        "threads": float(proc.num_threads()),
    }


def show(label: str, f: dict[str, float]) -> None:
    print(f"{label:>12}: RSS {f['rss_mb']:7.1f} MB  fds {f['fds']:5.0f}  asyncio tasks {f['tasks']:5.0f}  "
          f"peer connections {f['peers']:4.0f}  threads {f['threads']:4.0f}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the soak under steady load")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--chatters", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=180.0, help="seconds of load before the start's figures")
    args = parser.parse_args()

    # 360p at 1 Mbit/s: the soak looks for growth, not throughput, and shares a small machine.
    media_path = Path(tempfile.gettempdir()) / "cloudexpo-bench-360p30-1m.pickle"
    encode_media(media_path, SECONDS, width=640, height=360, bitrate=1_000_000)
    data = Path(tempfile.mkdtemp(prefix="cloudexpo-soak-"))
    secret = "soak-" + "x" * 32
    seeded = await seed(data, secret, args.minutes)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(SERVER, str(data), str(port), secret)
    ctx = mp.get_context("spawn")
    stop_media = ctx.Event()
    results = ctx.Queue()
    stop = asyncio.Event()
    counts: dict[str, int] = {"sent": 0, "received": 0}
    try:
        await wait_up(base + "/healthz")
        proc = psutil.Process(server.pid)
        idle = await figures(base, proc)
        show("idle", idle)
        publisher = ctx.Process(target=whip_publisher_process, args=(base, seeded["slot"], seeded["token"], str(media_path), stop_media))
        publisher.start()
        await asyncio.sleep(3)
        per = [args.viewers // 2, args.viewers - args.viewers // 2]
        viewers = [ctx.Process(target=viewers_process, args=(base, seeded["slot"], n, stop_media, results, i))
                   for i, n in enumerate(per)]
        for p in viewers:
            p.start()
        load = [asyncio.create_task(chatter(base, seeded["slot"], f"visitor{i % 4}@soak.example", stop, counts))
                for i in range(args.chatters)]
        load += [asyncio.create_task(tourist(base, seeded, stop, counts)) for _ in range(2)]
        await asyncio.sleep(min(EARLY, args.warmup))
        early = await figures(base, proc)
        show("after 60 s", early)
        await asyncio.sleep(max(0.0, args.warmup - EARLY))
        first = await figures(base, proc)
        show("start", first)
        began = time.monotonic()
        cpu0 = proc.cpu_times()
        while (left := args.minutes * 60 - (time.monotonic() - began)) > 0:
            await asyncio.sleep(min(left, 300))
            show(f"{(time.monotonic() - began) / 60:.0f} min", await figures(base, proc))
        last = await figures(base, proc)
        cpu1 = proc.cpu_times()
        show("end", last)
        stop.set()
        stop_media.set()
        await asyncio.gather(*load, return_exceptions=True)
        joined = left_ = failed = 0
        for _ in viewers:
            a, b, c = results.get(timeout=120)
            joined, left_, failed = joined + a, left_ + b, failed + c
        for p in [*viewers, publisher]:
            p.join(timeout=60)
        await asyncio.sleep(15)  # the broadcast's grace period and the viewers' sessions end
        after = await figures(base, proc)
        show("after load", after)
        server.send_signal(signal.SIGUSR1)
        await asyncio.sleep(3)
        collected = await figures(base, proc)
        show("+ collected", collected)
        server.send_signal(signal.SIGUSR2)
        await asyncio.sleep(3)
        trimmed = await figures(base, proc)
        show("+ trimmed", trimmed)
        growth = (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"] * 100
        early_growth = (last["rss_mb"] - early["rss_mb"]) / early["rss_mb"] * 100
        cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (args.minutes * 60) * 100
        print(f"\nsoak: {args.minutes:g} min under load; server CPU {cpu:.0f} % of a core; "
              f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}")
        print(f"viewers: {joined} joins, {left_} leaves, {failed} failed joins; chat: {counts['sent']} sent, "
              f"{counts['received']} frames received; pages: {counts.get('pages', 0)} "
              f"(errors: { {k: v for k, v in counts.items() if k.startswith('page_')} })")
        print(f"RSS idle {idle['rss_mb']:.0f} MB, after 60 s of load {early['rss_mb']:.0f} MB, "
              f"start (after {args.warmup:g} s of load) {first['rss_mb']:.0f} MB, "
              f"end {last['rss_mb']:.0f} MB, after load {after['rss_mb']:.0f} MB, "
              f"after a full collection {collected['rss_mb']:.0f} MB, then malloc_trim {trimmed['rss_mb']:.0f} MB; "
              f"growth from idle to end: "
              f"{(last['rss_mb'] - idle['rss_mb']) / idle['rss_mb'] * 100:+.1f} %")
        print(f"RSS growth from 60 s of load → end: {early_growth:+.1f} % (the warm-up's rise included)")
        print(f"RSS growth start → end: {growth:+.1f} % (goal < 5 %); "
              f"fds {first['fds']:.0f} → {last['fds']:.0f} → {after['fds']:.0f} after (idle {idle['fds']:.0f}); "
              f"tasks {first['tasks']:.0f} → {last['tasks']:.0f} → {after['tasks']:.0f} after (idle {idle['tasks']:.0f}); "
              f"peer connections {first['peers']:.0f} → {last['peers']:.0f} → {after['peers']:.0f} after")
        # memory in use after the load: what a collection and malloc_trim leave, against the start under load
        held = (trimmed["rss_mb"] - first["rss_mb"]) / first["rss_mb"] * 100
        leaked = after["peers"] > 0 or after["tasks"] > idle["tasks"] + 2 or held > 5
        print(f"in use after the load (collected, trimmed) vs start: {held:+.1f} %; growth goal "
              f"{'met' if growth < 5 else 'missed'}; " + ("LEAK SUSPECTED" if leaked else "nothing leaked"))
    finally:
        stop.set()
        stop_media.set()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
