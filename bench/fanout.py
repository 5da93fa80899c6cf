"""Fan-out cost: CPU of the server process per viewer, our engine against stock aiortc.

One 720p30 H.264 (~2.5 Mbit/s, no B-frames) + Opus broadcast, encoded once at
the start and replayed without re-encoding, goes to N viewers that run in
other processes and only count packets (they never decode). Everything is on
127.0.0.1.

* ``engine``: a publisher process sends the media over WebRTC to
  :class:`streaming.engine.MediaEngine`, which forwards it to the viewers.
* ``stock``: the baseline, aiortc's usual way of relaying encoded media: the
  pre-encoded packets (a ``decode=False``-style source) go through
  ``MediaRelay`` to one ``RTCRtpSender`` per viewer, which packetizes them.

The figure is the server process's CPU time (user + system, all threads) over
a window, minus the same without viewers, divided by N: a fraction of one
core per viewer. Run::

    .venv/bin/python bench/fanout.py --viewers 8,32 --window 8
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaRelay

from bench._common import (
    HOSTS,
    encode_media,
    media_tracks,
    serve_signalling,
    start_engine_publisher,
    start_viewers,
)
from streaming.engine import MediaEngine
from streaming.peers import answer_offer, new_peer_connection

SECONDS = 4  # length of the pre-encoded loop
VERBOSE = False


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def measure(proc: psutil.Process, seconds: float) -> float:
    c0, t0 = proc.cpu_times(), time.monotonic()
    await asyncio.sleep(seconds)
    c1, elapsed = proc.cpu_times(), time.monotonic() - t0
    user, system = (c1.user - c0.user) / elapsed, (c1.system - c0.system) / elapsed
    if VERBOSE:
        print(f"    cpu over {elapsed:.1f} s: user {user * 100:.1f}% system {system * 100:.1f}%")
    return user + system


async def run_case(
    mode: str, viewers: int, media_path: Path, window: float, procs: int
) -> dict[str, Any]:
    import multiprocessing as mp

    proc = psutil.Process()
    loop = asyncio.get_running_loop()
    ctx = mp.get_context("spawn")
    publisher = None
    pub_stop = ctx.Event()
    engine: MediaEngine | None = None
    pcs: list[RTCPeerConnection] = []

    if mode == "engine":
        engine = MediaEngine(ice_servers=[], ice_hosts=HOSTS)
        server, port, publisher = await start_engine_publisher(engine, media_path, SECONDS, ctx, pub_stop)
    else:
        import pickle

        media = pickle.loads(media_path.read_bytes())  # noqa: ASYNC240
        relay = MediaRelay()
        video, audio = media_tracks(media, SECONDS)

        async def handler(req: dict[str, Any]) -> str:
            pc = new_peer_connection()
            pcs.append(pc)

            def prepare(pc: RTCPeerConnection) -> None:
                pc.addTrack(relay.subscribe(video, buffered=False))
                pc.addTrack(relay.subscribe(audio, buffered=False))

            return await answer_offer(pc, req["sdp"], HOSTS, prepare)

        server, port = await serve_signalling(handler)

    await asyncio.sleep(1.0)
    idle = await measure(proc, 3.0)
    forwarded0 = engine.stats("bench")["packets_forwarded"] if engine else 0

    children, ready, stop, results = start_viewers(port, viewers, procs)
    for _ in children:
        await loop.run_in_executor(None, ready.acquire)
    await asyncio.sleep(2.0)  # warm up: late-join bursts and keyframe requests settle
    f0 = engine.stats("bench")["packets_forwarded"] if engine else 0
    busy = await measure(proc, window)
    f1 = engine.stats("bench")["packets_forwarded"] if engine else 0
    stop.set()
    received = lost = 0
    for _ in children:
        r, lo = await loop.run_in_executor(None, results.get)
        received += r
        lost += lo
    for child in children:
        await loop.run_in_executor(None, child.join, 30)
    stats = engine.stats("bench") if engine else {}
    pub_stop.set()
    if publisher is not None:
        await loop.run_in_executor(None, publisher.join, 30)
    if engine is not None:
        await engine.close()
    await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
    server.close()
    return {
        "mode": mode,
        "viewers": viewers,
        "idle_core": idle,
        "busy_core": busy,
        "per_viewer_core": (busy - idle) / viewers,
        "forwarded_per_s": (f1 - f0) / window if engine else None,
        "forwarded_total": (stats.get("packets_forwarded", 0) - forwarded0) if engine else None,
        "received": received,
        "lost": lost,
        "publisher_kbps": stats.get("publisher_bitrate", 0) / 1000 if engine else None,
        "frames_decoded": engine.frames_decoded if engine else None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", default="8,32", help="comma-separated viewer counts")
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per case")
    parser.add_argument("--procs", type=int, default=4, help="viewer processes")
    parser.add_argument("--modes", default="engine,stock")
    parser.add_argument("--verbose", action="store_true", help="print user/system CPU split")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    media_path = Path(tempfile.gettempdir()) / "cloudexpo-bench-720p30.pickle"
    t0 = time.monotonic()
    media = encode_media(media_path, SECONDS)
    video_bytes = sum(len(d) for d, _ in media["video"])
    print(
        f"media: {len(media['video'])} H.264 frames, {video_bytes * 8 / SECONDS / 1e6:.2f} Mbit/s, "
        f"{len(media['audio'])} Opus packets (encoded in {time.monotonic() - t0:.1f} s)"
    )
    rows = []
    for n in [int(x) for x in args.viewers.split(",")]:
        for mode in args.modes.split(","):
            row = await run_case(mode, n, media_path, args.window, args.procs)
            rows.append(row)
            print(
                f"{mode:6} N={n:3}: server {row['busy_core'] * 100:5.1f}% of a core "
                f"(idle {row['idle_core'] * 100:4.1f}%), per viewer {row['per_viewer_core'] * 100:.3f}%, "
                f"viewers received {row['received']} lost {row['lost']}"
                + (
                    f", forwarded {row['forwarded_per_s']:.0f} pkt/s "
                    f"({(row['busy_core'] - row['idle_core']) / max(row['forwarded_per_s'], 1) * 1e6:.1f} us "
                    f"of CPU per packet sent), publisher {row['publisher_kbps']:.0f} kbit/s, "
                    f"decoded {row['frames_decoded']}"
                    if row["mode"] == "engine"
                    else ""
                ),
                flush=True,
            )
    print("\nper-viewer CPU, engine / stock aiortc (lower is better):")
    for n in sorted({r["viewers"] for r in rows}):
        by_mode = {r["mode"]: r for r in rows if r["viewers"] == n}
        if "engine" in by_mode and "stock" in by_mode:
            e, s = by_mode["engine"]["per_viewer_core"], by_mode["stock"]["per_viewer_core"]
            print(
                f"  N={n:3}: engine {e * 100:.3f}% vs stock {s * 100:.3f}% of a core -> ratio {e / s:.2f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
