"""What a broadcast costs the server: CPU of ``cloudexpo serve`` (recording on) per viewer.

One 720p30 H.264 (~2.5 Mbit/s, no B-frames) + Opus broadcast, encoded once at
the start and replayed without re-encoding, goes to N viewers in other
processes that count packets at the socket and never decrypt or decode (they
stand for other machines). Everything is on 127.0.0.1. Each case is a server
in its own process; the figure is that process's CPU time (user + system, all
threads) over a window, as a fraction of one core.

* ``serve``: Cloud Expo as users run it: ``cloudexpo serve`` with its
  database, object storage (a folder, or S3 with ``--storage s3``: moto's
  server in another process) and the recorder. A publisher process sends the
  broadcast over WHIP to a live slot; viewers join over WHEP.
* ``engine``: :class:`streaming.engine.MediaEngine` alone (no recorder, no
  web app), the forwarder's own figure; signalling is JSON over TCP.
* ``stock``: the yardstick, stock aiortc relaying encoded media without
  recording: the pre-encoded packets (a ``decode=False``-style source) go
  through ``MediaRelay`` to one ``RTCRtpSender`` per viewer, which packetizes
  and protects them.

Per case: the server idle (no broadcast; ``serve`` only), the fixed cost
(the broadcast received and, for ``serve``, recorded and stored, no viewers),
then each N in turn. Printed: total CPU per viewer (everything included,
fixed cost shared by the N viewers), marginal CPU per added viewer, and both
as ratios to stock. For ``serve`` also what the server's own counters on
/metrics say of each window (``streaming/media_meter.py``): microseconds a
received packet spends in the read and in the forward step, the event loop's
CPU and the recorder's writer thread's. Run::

    .venv/bin/python bench/fanout.py --viewers 8,16,32,64 --window 8
    .venv/bin/python bench/fanout.py --modes serve --viewers 64 --profile 20   # py-spy on the server
    .venv/bin/python bench/fanout.py --modes serve --viewers 1 --audio mono    # a browser's mono Opus
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    HOSTS,
    encode_media,
    serve_signalling,
    start_engine_publisher,
    start_viewers,
    stock_relay,
    whip_publisher_process,
)
from bench._serving import SERVER, free_port, profile, start, wait_up

SECONDS = 4  # length of the pre-encoded loop
VIEWER_NICE = 10  # viewers stand for other machines: they yield the CPU to the server measured


STREAM_PPS = 0.0  # RTP packets a second of the broadcast, audio and video (set in main)


def stream_packets_per_second(media: dict[str, list[tuple[bytes, int]]]) -> float:
    """What a viewer receives at full rate: the media packetized as aiortc's sender packetizes it."""
    from aiortc.codecs.h264 import H264Encoder

    video = sum(len(H264Encoder._packetize(H264Encoder._split_bitstream(data))) for data, _ in media["video"])
    return (video + len(media["audio"])) / SECONDS


@dataclass
class Server:
    """A server process under measurement and where its viewers sign in."""

    pid: int
    target: int | str  # a signalling port (engine, stock) or a WHEP URL (serve)
    idle: float | None = None  # CPU with no broadcast
    notes: list[str] = field(default_factory=list)
    metrics_url: str | None = None  # serve: its /metrics (streaming/media_meter.py's counters)


#: The serve process's counters of its media path (``streaming/media_meter.py``), by the names read.
METER = {
    "cloudexpo_event_loop_cpu_seconds_total": "loop",
    "cloudexpo_media_packets_received_total": "packets",
    'cloudexpo_media_receive_seconds_total{stage="read"}': "read",
    'cloudexpo_media_receive_seconds_total{stage="forward"}': "forward",
    "cloudexpo_recorder_cpu_seconds_total": "recorder",
}


async def read_meter(url: str) -> dict[str, float]:
    """The media path's counters on the server's /metrics, with the time they were read."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(url)).text
    figures = {"at": time.monotonic()}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in METER:
            figures[METER[name]] = float(value)
    return figures


def meter_line(before: dict[str, float], after: dict[str, float]) -> str:
    """Where the window's CPU went, from the server's own counters: per packet received, and per second."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    packets = max(d.get("packets", 0.0), 1.0)
    return (f"media path (server's counters): {d['packets'] / d['at']:.0f} packets/s received; read "
            f"{d['read'] / packets * 1e6:.1f} us/packet, forward and hand to the recorder "
            f"{d['forward'] / packets * 1e6:.1f} us/packet ({(d['read'] + d['forward']) / d['at'] * 100:.2f}% of a core); "
            f"event loop {d['loop'] / d['at'] * 100:.2f}%, recorder's writer {d['recorder'] / d['at'] * 100:.2f}%")


SPLIT: dict[int, float] = {}  # pid -> the main thread's share of the last measurement


async def cpu(pid: int, seconds: float) -> float:
    """Fraction of one core the process (all threads) used over ``seconds``.

    The event loop's (main thread's) share is kept in :data:`SPLIT`; the rest is
    the recorder, the database and storage threads.
    """
    proc = psutil.Process(pid)

    def main_thread() -> float:
        return sum(t.user_time + t.system_time for t in proc.threads() if t.id == pid)

    c0, m0, t0 = proc.cpu_times(), main_thread(), time.monotonic()
    await asyncio.sleep(seconds)
    c1, m1, elapsed = proc.cpu_times(), main_thread(), time.monotonic() - t0
    total = float((c1.user + c1.system - c0.user - c0.system) / elapsed)
    SPLIT[pid] = (m1 - m0) / elapsed
    return total


def split(pid: int, total: float) -> str:
    loop = SPLIT.get(pid, 0.0)
    return f"event loop {loop * 100:.1f}%, other threads {(total - loop) * 100:.1f}%"


# -- the servers -----------------------------------------------------------------


def engine_or_stock_process(mode: str, media_path: str, ports: Any, stop: Any) -> None:
    """The engine alone (with a publisher process) or stock aiortc relaying the pre-encoded media."""

    async def run() -> None:
        from aiortc import RTCPeerConnection

        from streaming.engine import MediaEngine
        from streaming.peers import answer_offer, new_peer_connection

        ctx = mp.get_context("spawn")
        pub_stop = ctx.Event()
        pcs: list[RTCPeerConnection] = []
        engine = None
        publisher = None
        if mode == "engine":
            engine = MediaEngine(ice_servers=[], ice_hosts=HOSTS)
            server, port, publisher = await start_engine_publisher(engine, media_path, SECONDS, ctx, pub_stop)
        else:
            prepare = stock_relay(media_path, SECONDS)

            async def handler(req: dict[str, Any]) -> str:
                pc = new_peer_connection()
                pcs.append(pc)
                return await answer_offer(pc, req["sdp"], HOSTS, prepare)

            server, port = await serve_signalling(handler)
        ports.put(port)
        while not stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        pub_stop.set()
        if publisher is not None:
            publisher.join(30)
        if engine is not None:
            await engine.close()
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        server.close()

    asyncio.run(run())


@asynccontextmanager
async def engine_or_stock(mode: str, media_path: Path) -> AsyncIterator[Server]:
    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=engine_or_stock_process, args=(mode, str(media_path), ports, stop))
    proc.start()
    loop = asyncio.get_running_loop()
    try:
        port = await loop.run_in_executor(None, ports.get, True, 120)
        yield Server(proc.pid or 0, port)
    finally:
        stop.set()
        await loop.run_in_executor(None, proc.join, 60)


def start_moto(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@asynccontextmanager
async def moto() -> AsyncIterator[dict[str, str]]:
    """moto's S3 server in its own process and a bucket on it: the environment that points boto3 there."""
    import boto3

    port = free_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    proc = start_moto(port)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        await wait_up(env["AWS_ENDPOINT_URL"] + "/")
        boto3.client("s3").create_bucket(Bucket="bench-media")
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(30)


@asynccontextmanager
async def served(media_path: Path, storage: str, idle_window: float) -> AsyncIterator[Server]:
    """``cloudexpo serve`` (recording on) with a live slot and a WHIP publisher sending the broadcast."""
    data = Path(tempfile.mkdtemp(prefix="cloudexpo-fanout-"))
    secret = "fanout-" + "x" * 32
    async with moto() if storage == "s3" else _nothing() as s3:
        storage_url = "s3://bench-media/fanout" if s3 else None
        slot, token = await seed_slot_in(data, secret, storage_url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        args = [str(data), str(port), secret] + ([f"storage_url={storage_url}"] if storage_url else [])
        server = start(SERVER, *args)
        ctx = mp.get_context("spawn")
        stop = ctx.Event()
        publisher = None
        try:
            await wait_up(base + "/healthz")
            await asyncio.sleep(1.0)
            idle = await cpu(server.pid, idle_window)
            publisher = ctx.Process(target=whip_publisher_process,
                                    args=(base, slot, token, str(media_path), stop, SECONDS))
            publisher.start()
            await asyncio.sleep(4.0)  # connected, recording started (sender reports, first keyframe)
            result = Server(server.pid, f"{base}/whep/{slot}", idle, metrics_url=f"{base}/metrics")
            yield result
            segments = sorted(p.name for p in (data / "spool").rglob("seg_*"))
            objects = sorted(p.name for p in (data / "objects").rglob("seg_*.m4s")) if not s3 else []
            result.notes.append(f"recorded: {len(segments)} segments in the spool"
                                + (f", {len(objects)} in local storage" if not s3 else ""))
        finally:
            stop.set()
            if publisher is not None:
                await asyncio.get_running_loop().run_in_executor(None, publisher.join, 30)
            server.terminate()
            server.wait(timeout=30)
            shutil.rmtree(data, ignore_errors=True)


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield None


async def seed_slot_in(data: Path, secret: str, storage_url: str | None) -> tuple[int, str]:
    from bench._serving import seed_slot

    return await seed_slot(data, secret, 30, storage_url)


# -- measuring --------------------------------------------------------------------


async def with_viewers(server: Server, n: int, window: float, procs: int) -> dict[str, Any]:
    """Server CPU with ``n`` viewers watching; what the viewers received and lost."""
    loop = asyncio.get_running_loop()
    running = mp.get_context("spawn").RawArray("q", procs)
    children, ready, stop, results = start_viewers(server.target, n, procs, light=True, nice=VIEWER_NICE,
                                                   running=running)
    for _ in children:
        await loop.run_in_executor(None, ready.acquire)
    await asyncio.sleep(2.0)  # warm up: late-join catch-up and keyframe requests settle
    before = sum(running)
    url = server.metrics_url
    meter_before = await read_meter(url) if url else {}
    busy = await cpu(server.pid, window)
    delivered = sum(running) - before
    meter = meter_line(meter_before, await read_meter(url)) if url else ""
    where = split(server.pid, busy)
    stop.set()
    received = lost = 0
    for _ in children:
        r, lo = await loop.run_in_executor(None, results.get)
        received, lost = received + r, lost + lo
    for child in children:
        await loop.run_in_executor(None, child.join, 60)
    await asyncio.sleep(1.0)  # the viewers' sessions end
    # the share of the stream each viewer got in the window: a starved server (or starved viewers)
    # sends less, and its CPU is then counted per full-rate viewer
    share = min(1.0, delivered / (window * STREAM_PPS * n)) if STREAM_PPS else 1.0
    return {"busy": busy, "received": received, "lost": lost, "split": where, "share": share, "meter": meter}


async def run_mode(mode: str, counts: list[int], media_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    cm = served(media_path, args.storage, args.window) if mode == "serve" else engine_or_stock(mode, media_path)
    rows: dict[str, Any] = {"mode": mode, "n": {}}
    async with cm as server:
        await asyncio.sleep(1.0)
        rows["idle"] = server.idle
        url = server.metrics_url
        before = await read_meter(url) if url else {}
        rows["fixed"] = await cpu(server.pid, args.window)
        rows["fixed_split"] = split(server.pid, rows["fixed"])
        if url:
            rows["fixed_meter"] = meter_line(before, await read_meter(url))
        if args.profile and mode == "serve":
            await profile(server.pid, args.profile, Path(tempfile.gettempdir()) / "fanout-profile-0")
        for n in counts:
            rows["n"][n] = await with_viewers(server, n, args.window, args.procs)
            r = rows["n"][n]
            r["marginal"] = max(0.0, r["busy"] - rows["fixed"]) / (n * max(r["share"], 0.05))
            r["total"] = rows["fixed"] / n + r["marginal"]
            print(f"{mode:6} N={n:3}: server {r['busy'] * 100:5.1f}% of a core (fixed {rows['fixed'] * 100:.1f}%, "
                  f"{r['split']}); viewers got {r['share'] * 100:.0f}% of the stream in the window "
                  f"(received {r['received']}, lost {r['lost']}); per full-rate viewer {r['total'] * 100:.3f}% total, "
                  f"{r['marginal'] * 100:.3f}% marginal", flush=True)
            if r["meter"]:
                print(f"{mode:6} N={n:3}: {r['meter']}", flush=True)
        if args.profile and mode == "serve":
            children, ready, stop, results = start_viewers(server.target, max(counts), args.procs, light=True,
                                                           nice=VIEWER_NICE)
            loop = asyncio.get_running_loop()
            for _ in children:
                await loop.run_in_executor(None, ready.acquire)
            await asyncio.sleep(2.0)
            await profile(server.pid, args.profile, Path(tempfile.gettempdir()) / f"fanout-profile-{max(counts)}")
            stop.set()
            for _ in children:
                await loop.run_in_executor(None, results.get)
            for child in children:
                await loop.run_in_executor(None, child.join, 60)
    for note in server.notes:
        print(f"{mode:6} {note}")
    idle = f"idle {rows['idle'] * 100:.1f}%, " if rows["idle"] is not None else ""
    print(f"{mode:6} {idle}fixed cost (broadcast, no viewers) {rows['fixed'] * 100:.1f}% of a core "
          f"({rows['fixed_split']})", flush=True)
    if "fixed_meter" in rows:
        print(f"{mode:6} fixed cost's {rows['fixed_meter']}", flush=True)
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", default="8,16,32,64", help="comma-separated viewer counts")
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per case")
    parser.add_argument("--procs", type=int, default=4, help="viewer processes")
    parser.add_argument("--modes", default="serve,stock,engine")
    parser.add_argument("--storage", choices=("local", "s3"), default="local",
                        help="serve: object storage in the data folder, or S3 (moto's server)")
    parser.add_argument("--profile", type=float, default=0.0,
                        help="serve: seconds of py-spy on the server with no viewer, then with the largest N watching")
    parser.add_argument("--audio", choices=("stereo", "mono"), default="stereo",
                        help="the publisher's Opus: stereo as OBS sends it, or mono as a browser does")
    args = parser.parse_args()
    channels = 2 if args.audio == "stereo" else 1
    media_path = Path(tempfile.gettempdir()) / f"cloudexpo-bench-720p30{'' if channels == 2 else '-mono'}.pickle"
    t0 = time.monotonic()
    media = encode_media(media_path, SECONDS, audio_channels=channels)
    video_bytes = sum(len(d) for d, _ in media["video"])
    print(f"media: {len(media['video'])} H.264 frames, {video_bytes * 8 / SECONDS / 1e6:.2f} Mbit/s, "
          f"{len(media['audio'])} {args.audio} Opus packets (encoded in {time.monotonic() - t0:.1f} s)")
    global STREAM_PPS
    STREAM_PPS = stream_packets_per_second(media)
    print(f"stream: {STREAM_PPS:.0f} RTP packets a second (video and audio)")
    counts = [int(x) for x in args.viewers.split(",")]
    results = {mode: await run_mode(mode, counts, media_path, args) for mode in args.modes.split(",")}

    print("\n% of a core per full-rate viewer: total, everything included (marginal, per added viewer)")
    print(f"{'':8} {'fixed':>6}" + "".join(f"  {'N=' + str(n):>17}" for n in counts))
    for mode, rows in results.items():
        cells = "".join(f"  {rows['n'][n]['total'] * 100:7.3f} ({rows['n'][n]['marginal'] * 100:5.3f})" for n in counts)
        print(f"{mode:8} {rows['fixed'] * 100:6.2f}{cells}")
    stock = results.get("stock")
    if stock is not None:
        for mode, rows in results.items():
            if mode != "stock":
                ratios = ", ".join(f"N={n}: {rows['n'][n]['total'] / stock['n'][n]['total']:.2f}" for n in counts)
                print(f"ratio {mode} / stock, per viewer everything included: {ratios}")


if __name__ == "__main__":
    asyncio.run(main())
