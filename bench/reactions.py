"""Reactions from thousands: 2,000 websocket clients each tapping a reaction once a second.

Cloud Expo runs as ``cloudexpo serve`` does, in its own process on 127.0.0.1:
one node, or two sharing the data folder and Redis (``--nodes 2``;
``CLOUDEXPO_BENCH_REDIS_URL``, default redis://127.0.0.1:6379/0) with the
clients split between them. The clients follow one live slot over ``/ws`` as
a watch page does, in a few processes of their own (bench.chat_fanout's
client), and send ``{"type": "react"}`` once a second each, spread over the
second. Each node adds the taps up per interval (500 ms) and publishes the
counts once (streaming.reactions); every client receives every node's counts.

Two phases in one run, same clients, same server: first they only listen
(the baseline), then they react. Figures: delivery delay of the aggregated
counts (the node's publish time, ``sent`` in the event -> frame read by the
client) p50/p99/max over every client and event; taps sent and taps the
counts added up to (a sample of clients adds up every count it receives);
the server's CPU per client idle and reacting, and their ratio. Goal: p99 <=
250 ms. Run::

    .venv/bin/python bench/reactions.py --clients 2000 --seconds 20
    .venv/bin/python bench/reactions.py --clients 2000 --seconds 20 --nodes 2

On a machine shared with other work, ``--server-nice -10 --client-nice -5``
(root) puts the nodes and the clients ahead of it, as a dedicated server and
the visitors' own machines would be; taps a node reads late from a backlog
can go over the per-connection limit and are refused (counted).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._serving import free_port, profile, seed_slot
from bench.chat_fanout import HIST_MS, Client, cpu_of, gather_results, percentile, start_nodes

KINDS = ("like", "heart", "clap", "party", "wow")
SENT = b'"sent":'


def masked_text(payload: bytes) -> bytes:
    """A client's text frame (clients mask what they send; a zero key keeps the bytes as they are)."""
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


class Reactor(Client):
    """bench.chat_fanout's client, noting the delay of each ``reactions`` event; a sampler adds up the counts."""

    def __init__(self, *args: Any, sampler: bool = False) -> None:
        super().__init__(*args)
        self.sampler = sampler

    def _text(self, payload: bytes) -> None:
        now = int(time.time() * 1000)
        at = payload.find(SENT)
        while at >= 0:
            end = stop = at + len(SENT)
            while stop < len(payload) and 48 <= payload[stop] <= 57:
                stop += 1
            self.hist[min(max(now - int(payload[end:stop]), 0), HIST_MS - 1)] += 1
            self.counts["events"] += 1
            at = payload.find(SENT, stop)
        if self.sampler and b'"reactions"' in payload:
            frame = json.loads(payload)
            for event in frame if isinstance(frame, list) else [frame]:
                if event.get("type") == "reactions":
                    self.counts["sampled_taps"] += sum(event["counts"].values())
                    self.counts["sampled_events"] += 1
                    self.counts["flush_late_ms"] += max(0, event["sent"] - event["at"] - event["interval_ms"])
        if b'"error"' in payload:
            self.counts["refused_taps"] += 1



def clients_process(ports: list[int], count: int, slot: int, ready: Any, go: Any, stop: Any, results: Any, nice: int) -> None:
    os.nice(nice)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        hist = [0] * HIST_MS
        counts = {"events": 0, "closed": 0, "refused": 0, "sampled_taps": 0, "refused_taps": 0, "taps": 0, "samplers": 0,
                  "sampled_events": 0, "flush_late_ms": 0}
        protocols: list[Reactor] = []
        for i in range(count):
            port = ports[i % len(ports)]
            key = base64.b64encode(os.urandom(16)).decode()
            request = (f"GET /ws?slots={slot} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                       f"Origin: http://127.0.0.1:{port}\r\n\r\n").encode()
            up = asyncio.Event()
            sampler = i < 2
            _, protocol = await loop.create_connection(
                lambda r=request, u=up, s=sampler: Reactor(r, hist, u, counts, sampler=s), "127.0.0.1", port)  # type: ignore[misc]
            try:
                await asyncio.wait_for(up.wait(), 30)
                protocols.append(protocol)
            except TimeoutError:
                counts["refused"] += 1
        ready.release()
        while not go.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        hist[:] = [0] * HIST_MS  # the baseline's events (there are none: nobody reacted) do not count
        frames = [masked_text(json.dumps({"type": "react", "slot": slot, "kind": KINDS[i % len(KINDS)]}).encode())
                  for i in range(len(KINDS))]
        slices = 20  # each second in 20 slices of 50 ms: every client taps once a second, spread over it
        sampled_from = {id(p) for p in protocols[:2]}
        counts["samplers"] = len(sampled_from)
        tick = 0
        started = time.monotonic()
        while not stop.is_set():
            part = tick % slices
            for index in range(part, len(protocols), slices):
                transport = protocols[index].transport
                if transport is not None and not transport.is_closing():
                    transport.write(frames[index % len(frames)])
                    counts["taps"] += 1
            tick += 1
            late = time.monotonic() - (started + tick / slices)
            if late > 1.0 / slices:  # this process fell behind: skip ahead rather than tap twice as fast
                started += late
            await asyncio.sleep(max(0.0, started + tick / slices - time.monotonic()))
        await asyncio.sleep(1.5)  # the last intervals arrive
        results.put((len(protocols), hist, counts))

    asyncio.run(run())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=1)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (idle, then reacting)")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--server-nice", type=int, default=0,
                        help="niceness of the nodes (negative: ahead of other work on a shared machine; needs root)")
    parser.add_argument("--client-nice", type=int, default=0,
                        help="niceness added to the client processes (negative needs root: visitors' machines are not shared)")
    parser.add_argument("--profile", choices=("gil", "idle"), help="py-spy on the (first) node while the clients react")
    args = parser.parse_args()
    redis_url = os.environ.get("CLOUDEXPO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0") if args.nodes == 2 else None

    data = Path(tempfile.mkdtemp(prefix="cloudexpo-reactions-"))
    secret = "reactions-bench-" + "x" * 32
    slot, _ = await seed_slot(data, secret, 30, state="live", live_at=dt.datetime.now(dt.UTC))  # reactions count on air
    ports = [free_port() for _ in range(args.nodes)]
    extra = [f"redis_url={redis_url}"] if redis_url else []
    servers = []
    ctx = mp.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    try:
        pids = await start_nodes(servers, ports, data, secret, extra, args.server_nice)
        empty = await cpu_of(pids, 3.0)
        ready, results = ctx.Semaphore(0), ctx.Queue()
        per = [args.clients // args.procs + (1 if i < args.clients % args.procs else 0) for i in range(args.procs)]
        t0 = time.monotonic()
        clients = [ctx.Process(target=clients_process, args=(ports, n, slot, ready, go, stop, results, args.client_nice)) for n in per if n]
        for p in clients:
            p.start()
        loop = asyncio.get_running_loop()
        for _ in clients:
            await loop.run_in_executor(None, ready.acquire)
        print(f"{args.clients} clients connected to {args.nodes} node(s) in {time.monotonic() - t0:.1f} s", flush=True)
        await asyncio.sleep(1.0)
        idle = await cpu_of(pids, args.seconds)  # the baseline: the same clients, listening
        go.set()
        await asyncio.sleep(1.0)  # the first taps and intervals
        spy = asyncio.create_task(profile(pids[0], args.seconds - 2, Path(tempfile.gettempdir()) / "reactions-profile",
                                           idle=args.profile == "idle")) if args.profile else None
        busy = await cpu_of(pids, args.seconds)
        if spy is not None:
            await spy
        stop.set()
        connected, hist, totals = await gather_results(clients, results)
        samplers = max(totals["samplers"], 1)
        print(f"reactions: {totals['taps']} taps ({totals['taps'] / (args.seconds + 1):.0f}/s) from {connected} clients; "
              f"{totals['refused_taps']} refused; the counts a client received added up to "
              f"{totals['sampled_taps'] / samplers:.0f} taps (mean of {samplers} sampling clients)")
        print(f"intervals sent {totals['flush_late_ms'] / max(totals['sampled_events'], 1):.0f} ms after they ended, on average "
              f"({totals['sampled_events'] / samplers:.0f} count events per sampling client)")
        print(f"count events: {totals['events']} received, {totals['events'] / max(connected, 1) / (args.seconds + 2.5):.2f} per client per second")
        print(f"delivery delay of the counts: p50 {percentile(hist, 0.5)} ms, p99 {percentile(hist, 0.99)} ms, "
              f"max {max((i for i, n in enumerate(hist) if n), default=-1)} ms (goal: p99 <= 250 ms)")
        per_client = 100 / max(connected, 1)  # % of a core per client, from a fraction of a core
        print(f"server CPU ({args.nodes} node(s), nice {args.server_nice}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores): no clients {empty * 100:.1f}% of a core; {connected} clients listening "
              f"{idle * 100:.1f}% ({idle * per_client:.4f}% per client); reacting {busy * 100:.1f}% "
              f"({busy * per_client:.4f}% per client, {busy * 1e6 / max(totals['taps'] / (args.seconds + 1), 1):.0f} us per tap); "
              f"reacting / listening = {busy / max(idle, 1e-9):.1f}x; clients closed {totals['closed']}, refused {totals['refused']}")
    finally:
        stop.set()
        for s in servers:
            s.terminate()
        for s in servers:
            s.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
