"""Chat to thousands: how long a chat message takes to reach 5,000 websocket clients.

Cloud Expo runs as ``cloudexpo serve`` does, in its own process on 127.0.0.1:
one node (in-process bus), or two nodes sharing the data folder and Redis
(``--nodes 2``; ``CLOUDEXPO_BENCH_REDIS_URL``, default redis://127.0.0.1:6379/0)
with the clients split between them. The clients follow one slot over
``/ws``, as a watch page does, in a few processes of their own (niced: they
stand for the visitors' machines); each is a small websocket client that reads
frames and notes when each chat message arrived. Signed-in chatters post
through ``/ws`` too, all at once every ``--period`` seconds (a burst, like
reactions after a launch's big moment); each message carries its send time.
With two nodes, the chatters alternate between the nodes, and viewer-count
events (``{"type": "viewers"}``, as the live ticker publishes them) go
through Redis once a second as well.

Figures: delivery delay (post -> frame read by the client) p50/p99/max over
every client and message, messages missed, and the server processes' CPU
(all nodes) per client. Goal: p99 <= 250 ms. Run::

    .venv/bin/python bench/chat_fanout.py --clients 5000 --seconds 30
    .venv/bin/python bench/chat_fanout.py --clients 5000 --seconds 30 --nodes 2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._serving import SERVER, free_port, profile, seed_slot, start, wait_up

PASSWORD = "chat-bench-password-1"
MARK = b"bench:"
HIST_MS = 10_000  # delays are counted per millisecond up to this, beyond in the last bucket
CLIENT_NICE = 0


# -- the clients ---------------------------------------------------------------------------------------


class Client(asyncio.Protocol):
    """A websocket client that reads frames, answers pings and notes marked chat messages' delays."""

    def __init__(self, request: bytes, hist: list[int], ready: asyncio.Event, counts: dict[str, int]) -> None:
        self.request = request
        self.hist = hist
        self.ready = ready
        self.counts = counts
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.counts["closed"] += 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[:end]:
                self.counts["refused"] += 1
                self.transport.close()  # type: ignore[union-attr]
                return
            del buf[: end + 4]
            self.upgraded = True
            self.ready.set()
        while len(buf) >= 2:
            length = buf[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, offset = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, offset = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < offset + length:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[offset : offset + length])
            del buf[: offset + length]
            if opcode == 1:
                self._text(payload)
            elif opcode == 9:  # ping: pong with the same data (masked with a zero key)
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)  # type: ignore[union-attr]

    def _text(self, payload: bytes) -> None:
        """One event, or a burst of them as a JSON array: each marked chat message's delay."""
        now = int(time.time() * 1000)
        at = payload.find(MARK)
        while at >= 0:
            end = stop = at + len(MARK)
            while stop < len(payload) and 48 <= payload[stop] <= 57:
                stop += 1
            self.hist[min(max(now - int(payload[end:stop]), 0), HIST_MS - 1)] += 1
            self.counts["chat"] += 1
            at = payload.find(MARK, stop)
        self.counts["viewers"] += payload.count(b'"type":"viewers"')


def clients_process(ports: list[int], count: int, slot: int, ready: Any, stop: Any, results: Any) -> None:
    os.nice(CLIENT_NICE)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        hist = [0] * HIST_MS
        counts = {"chat": 0, "viewers": 0, "closed": 0, "refused": 0}
        connected = 0
        for i in range(count):
            port = ports[i % len(ports)]
            key = base64.b64encode(os.urandom(16)).decode()
            request = (f"GET /ws?slots={slot} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                       f"Origin: http://127.0.0.1:{port}\r\n\r\n").encode()
            up = asyncio.Event()
            await loop.create_connection(lambda r=request, u=up: Client(r, hist, u, counts), "127.0.0.1", port)  # type: ignore[misc]
            try:
                await asyncio.wait_for(up.wait(), 30)
                connected += 1
            except TimeoutError:
                counts["refused"] += 1
        ready.release()
        while not stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the last burst arrives
        results.put((connected, hist, counts))

    asyncio.run(run())


# -- the server side -----------------------------------------------------------------------------------


async def seed(data: Path, secret: str, chatters: int, redis_url: str | None) -> int:
    from cloudexpo import accounts
    from cloudexpo.app import open_services
    from cloudexpo.settings import Settings

    slot, _ = await seed_slot(data, secret, 30)
    services = open_services(Settings(data_dir=data, secret_key=secret, redis_url=redis_url))
    try:
        async with services.db.session() as db:
            for i in range(chatters):
                await accounts.create_user(db, f"chatter{i}@bench.example", PASSWORD)
            await db.commit()
    finally:
        await services.close()
    return slot


async def chatter(base: str, slot: int, email: str, go: asyncio.Condition, sent: list[int], stop: asyncio.Event,
                  joined: list[int]) -> None:
    import websockets

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        csrf = (await http.get("/api/me")).json()["csrf_token"]
        signed = await http.post("/api/session", json={"email": email, "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
        assert signed.status_code == 200, signed.text
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    async with websockets.connect(base.replace("http://", "ws://") + "/ws", origin=base,  # type: ignore[arg-type]
                                  additional_headers={"Cookie": cookie}) as ws:

        async def drain() -> None:
            async for frame in ws:
                if '"error"' in str(frame)[:40]:
                    print("chatter:", frame)

        reader = asyncio.create_task(drain())
        joined[0] += 1
        while not stop.is_set():
            async with go:
                await go.wait()
            if stop.is_set():
                break
            await ws.send(json.dumps({"type": "chat", "slot": slot, "text": f"{MARK.decode()}{int(time.time() * 1000)} 好"}))
            sent[0] += 1
        reader.cancel()


async def viewer_counts(redis_url: str, secret: str, slot: int, stop: asyncio.Event, sent: list[int]) -> None:
    """Viewer-count events through Redis, as the live ticker publishes them (once a second)."""
    import redis.asyncio as aioredis

    from cloudexpo.bus import channel_prefix

    client = aioredis.from_url(redis_url)
    n = 0
    while not stop.is_set():
        n += 1
        body = {"t": f"slot.{slot}", "d": {"type": "viewers", "slot": slot, "count": 4000 + n % 50}}
        await client.publish(f"{channel_prefix(secret)}slot.{slot}", json.dumps(body))
        sent[0] += 1
        await asyncio.sleep(1.0)
    await client.aclose()


async def start_nodes(servers: list[Any], ports: list[int], data: Path, secret: str, extra: list[str], nice: int) -> list[int]:
    """``cloudexpo serve`` on each port, niced, once each answers; added to ``servers`` as they start (the caller stops them)."""
    for port in ports:
        servers.append(start(SERVER, str(data), str(port), secret, *extra))
        await wait_up(f"http://127.0.0.1:{port}/healthz")
    pids = [s.pid for s in servers]
    for pid in pids:
        psutil.Process(pid).nice(nice)
    return pids


async def gather_results(clients: list[Any], results: Any) -> tuple[int, list[int], dict[str, int]]:
    """What every client process put on ``results``, added up: (clients connected, delay histogram, counters)."""
    loop = asyncio.get_running_loop()
    hist = [0] * HIST_MS
    connected = 0
    totals: dict[str, int] = {}
    for _ in clients:
        c, h, counts = await loop.run_in_executor(None, results.get)
        connected += c
        hist = [a + b for a, b in zip(hist, h, strict=True)]
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    for p in clients:
        await loop.run_in_executor(None, p.join, 30)
    return connected, hist, totals


def percentile(hist: list[int], q: float) -> int:
    total = sum(hist)
    if not total:
        return -1
    need = q * total
    seen = 0
    for ms, n in enumerate(hist):
        seen += n
        if seen >= need:
            return ms
    return len(hist) - 1


async def cpu_of(pids: list[int], seconds: float) -> float:
    procs = [psutil.Process(p) for p in pids]
    c0 = [p.cpu_times() for p in procs]
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    c1 = [p.cpu_times() for p in procs]
    return sum(b.user + b.system - a.user - a.system for a, b in zip(c0, c1, strict=True)) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=1)
    parser.add_argument("--chatters", type=int, default=10, help="messages in each burst")
    parser.add_argument("--period", type=float, default=3.0, help="seconds between bursts (chat allows one message per 2 s per user)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the measured chat")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--profile", choices=("gil", "idle"), help="py-spy on the (first) node while the chat runs: "
                        "stacks holding the GIL, or all (waiting too)")
    parser.add_argument("--server-nice", type=int, default=0,
                        help="niceness of the nodes (negative: ahead of other work on a shared machine; needs root)")
    args = parser.parse_args()
    redis_url = os.environ.get("CLOUDEXPO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0") if args.nodes == 2 else None

    data = Path(tempfile.mkdtemp(prefix="cloudexpo-chat-"))
    secret = "chat-bench-" + "x" * 32
    slot = await seed(data, secret, args.chatters, redis_url)
    ports = [free_port() for _ in range(args.nodes)]
    extra = [f"redis_url={redis_url}"] if redis_url else []
    servers = []
    ctx = mp.get_context("spawn")
    stop_clients = ctx.Event()
    stop = asyncio.Event()
    try:
        pids = await start_nodes(servers, ports, data, secret, extra, args.server_nice)
        idle = await cpu_of(pids, 3.0)
        ready, results = ctx.Semaphore(0), ctx.Queue()
        per = [args.clients // args.procs + (1 if i < args.clients % args.procs else 0) for i in range(args.procs)]
        t0 = time.monotonic()
        clients = [ctx.Process(target=clients_process, args=(ports, n, slot, ready, stop_clients, results)) for n in per if n]
        for p in clients:
            p.start()
        loop = asyncio.get_running_loop()
        for _ in clients:
            await loop.run_in_executor(None, ready.acquire)
        print(f"{args.clients} clients connected to {args.nodes} node(s) in {time.monotonic() - t0:.1f} s", flush=True)
        quiet = await cpu_of(pids, 3.0)

        go = asyncio.Condition()
        sent = [0]
        counts_sent = [0]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        joined = [0]
        tasks = [asyncio.create_task(chatter(bases[i % len(bases)], slot, f"chatter{i}@bench.example", go, sent, stop, joined))
                 for i in range(args.chatters)]
        if redis_url:
            tasks.append(asyncio.create_task(viewer_counts(redis_url, secret, slot, stop, counts_sent)))
        deadline = time.monotonic() + 60
        while joined[0] < args.chatters and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # chatters sign in and connect
        print(f"{joined[0]} chatters signed in and connected", flush=True)

        async def bursts() -> None:
            while not stop.is_set():
                async with go:
                    go.notify_all()
                await asyncio.sleep(args.period)

        burst_task = asyncio.create_task(bursts())
        spy = asyncio.create_task(profile(pids[0], args.seconds - 2, Path(tempfile.gettempdir()) / "chat-profile",
                                           idle=args.profile == "idle")) if args.profile else None
        busy = await cpu_of(pids, args.seconds)
        if spy is not None:
            await spy
        stop.set()
        burst_task.cancel()
        async with go:
            go.notify_all()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                print(f"a chatter failed: {outcome!r}")
        stop_clients.set()
        connected, hist, totals = await gather_results(clients, results)
        expected = sent[0] * connected
        print(f"chat: {sent[0]} messages in bursts of {args.chatters} every {args.period:g} s to {connected} clients; "
              f"{totals['chat']} of {expected} deliveries ({expected - totals['chat']} missed)")
        if redis_url:
            print(f"viewer counts: {counts_sent[0]} published, {totals['viewers']} received (of {counts_sent[0] * connected})")
        print(f"delivery delay: p50 {percentile(hist, 0.5)} ms, p99 {percentile(hist, 0.99)} ms, "
              f"max {max((i for i, n in enumerate(hist) if n), default=-1)} ms (goal: p99 <= 250 ms)")
        print(f"server CPU ({args.nodes} node(s), nice {args.server_nice}): idle {idle * 100:.1f}%, {connected} clients quiet {quiet * 100:.1f}%, "
              f"chatting {busy * 100:.1f}% of a core = {busy / max(connected, 1) * 1e6 / 100:.2f}% of a core per 10,000 clients; "
              f"{busy / max(totals['chat'] / args.seconds, 1) * 1e6:.1f} us per delivery; clients closed {totals['closed']}, refused {totals['refused']}")
    finally:
        stop.set()
        stop_clients.set()
        for s in servers:
            s.terminate()
        for s in servers:
            s.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
