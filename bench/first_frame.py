"""Join to first decoded frame: how long a WHEP viewer waits for a picture.

A publisher process sends the pre-encoded 720p30 H.264 (keyframe every 2 s,
no B-frames) + Opus broadcast, which cannot make a keyframe on request, like
OBS with a long keyframe interval. A joiner process then starts viewers one
by one (each closed before the next, at a random point of the GOP); they
decode with aiortc and stamp each step of their join:

``offer``      createOffer + ICE gathering (127.0.0.1 only)
``answer``     the WHEP-style POST: offer out, answer back (server-side time
               in ``watch()`` printed separately)
``ice``        ICE connectivity checks done (iceConnectionState "completed")
``dtls``       DTLS handshake done (connectionState "connected")
``packet``     first video RTP packet
``keyframe``   first packet of an IDR picture
``frame``      first decoded video frame (track.recv() returns)

every figure counted from the start of the join. Cases, in the same run:

* ``engine``: :class:`streaming.engine.MediaEngine` (keyframe cache);
* ``stock``: the baseline, stock aiortc forwarding of the same encoded
  stream (MediaRelay of a ``decode=False``-style source, no cache): a joiner
  waits for the next keyframe of the stream;

and the connection time alone (``dtls``) is the floor of both. All on
127.0.0.1. Run::

    .venv/bin/python bench/first_frame.py --joins 24
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import pickle
import queue
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver
from aiortc.contrib.media import MediaRelay
from aiortc.rtp import RtpPacket

from bench._common import (
    HOSTS,
    encode_media,
    media_tracks,
    serve_signalling,
    signal,
    start_engine_publisher,
)
from streaming import aiortc_internals, forwarder
from streaming.engine import MediaEngine
from streaming.payloads import h264_inspect
from streaming.peers import accept_answer, answer_offer, create_offer, new_peer_connection
from streaming.testsource import prefer_codec

SECONDS = 4  # length of the pre-encoded loop (keyframe every 2 s)
STEPS = ("offer", "answer", "ice", "dtls", "packet", "keyframe", "frame")
JOIN_TIMEOUT = 10.0


class StampingReceiver(RTCRtpReceiver):
    """A decoding viewer receiver that notes its first video packet and first keyframe packet."""

    stamps: dict[str, float]

    @classmethod
    def install(cls, receiver: RTCRtpReceiver, stamps: dict[str, float]) -> StampingReceiver:
        stamping = aiortc_internals.become(receiver, cls)
        stamping.stamps = stamps
        return stamping

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        stamps = self.stamps
        if "keyframe" not in stamps and packet.payload:
            now = time.monotonic()
            stamps.setdefault("packet", now)
            if h264_inspect(packet.payload)[0]:
                stamps["keyframe"] = now
        await super()._handle_rtp_packet(packet, arrival_time_ms)


async def join_once(port: int) -> dict[str, float]:
    """One viewer: join, wait for the first decoded frame, leave. Times from the start."""
    stamps: dict[str, float] = {}
    t0 = time.monotonic()
    pc = new_peer_connection()
    got_frame = asyncio.Event()

    @pc.on("iceconnectionstatechange")
    def on_ice() -> None:
        if pc.iceConnectionState in ("completed", "connected"):
            stamps.setdefault("ice", time.monotonic())

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "connected":
            stamps.setdefault("dtls", time.monotonic())

    async def consume(track: MediaStreamTrack) -> None:
        while True:
            await track.recv()
            if track.kind == "video":
                stamps.setdefault("frame", time.monotonic())
                got_frame.set()

    tasks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        tasks.append(asyncio.ensure_future(consume(track)))

    video = pc.addTransceiver("video", direction="recvonly")
    StampingReceiver.install(video.receiver, stamps)
    pc.addTransceiver("audio", direction="recvonly")
    prefer_codec(pc, "video", "H264")
    try:
        offer = await create_offer(pc, HOSTS)
        stamps["offer"] = time.monotonic()
        answer = await signal(port, "watch", offer)
        stamps["answer"] = time.monotonic()
        await accept_answer(pc, answer, HOSTS)
        await asyncio.wait_for(got_frame.wait(), JOIN_TIMEOUT)
    except TimeoutError:
        stamps["timeout"] = time.monotonic()
    finally:
        await pc.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {k: v - t0 for k, v in stamps.items()}


def joiner_process(port: int, joins: int, results: Any) -> None:
    async def run() -> None:
        for _ in range(joins):
            results.put(await join_once(port))
            await asyncio.sleep(random.uniform(0.3, 0.9))  # land anywhere in the 2 s GOP
        results.put(None)

    asyncio.run(run())


async def run_case(mode: str, joins: int, media_path: Path) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ctx = mp.get_context("spawn")
    pub_stop = ctx.Event()
    publisher = None
    engine: MediaEngine | None = None
    pcs: list[RTCPeerConnection] = []
    server_ms: list[float] = []
    attach_gop: list[int] = []

    if mode == "engine":
        engine = MediaEngine(ice_servers=[], ice_hosts=HOSTS)
        original_attach = forwarder.TrackForwarder.attach

        def attach(self: forwarder.TrackForwarder, output: forwarder.ViewerOutput) -> None:
            if self.kind == "video":
                attach_gop.append(len(self.gop) if self.gop else 0)
            original_attach(self, output)

        forwarder.TrackForwarder.attach = attach  # type: ignore[method-assign]

        server, port, publisher = await start_engine_publisher(
            engine, media_path, SECONDS, ctx, pub_stop, ready_stat="keyframes", ready_at=1,
            on_watch=lambda seconds: server_ms.append(seconds * 1000),
        )
    else:
        media = pickle.loads(media_path.read_bytes())  # noqa: ASYNC240
        relay = MediaRelay()
        video, audio = media_tracks(media, SECONDS)

        async def handler(req: dict[str, Any]) -> str:
            pc = new_peer_connection()
            pcs.append(pc)

            def prepare(pc: RTCPeerConnection) -> None:
                pc.addTrack(relay.subscribe(video, buffered=False))
                pc.addTrack(relay.subscribe(audio, buffered=False))

            t = time.perf_counter()
            answer = await answer_offer(pc, req["sdp"], HOSTS, prepare)
            server_ms.append((time.perf_counter() - t) * 1000)
            return answer

        server, port = await serve_signalling(handler)

        async def drain(track: MediaStreamTrack) -> None:
            while True:
                await track.recv()

        # keep the relayed source running between viewers, like a live broadcast
        drains = [
            asyncio.ensure_future(drain(relay.subscribe(t, buffered=False))) for t in (video, audio)
        ]

    results = ctx.Queue()
    joiner = ctx.Process(target=joiner_process, args=(port, joins, results))
    joiner.start()
    rows: list[dict[str, float]] = []
    deadline = time.monotonic() + joins * (JOIN_TIMEOUT + 3) + 30
    while time.monotonic() < deadline:
        try:
            row = await loop.run_in_executor(None, results.get, True, JOIN_TIMEOUT + 30)
        except queue.Empty:
            print(f"{mode}: the joiner process stopped answering")
            break
        if row is None:
            break
        rows.append(row)
    await loop.run_in_executor(None, joiner.join, 30)
    stats = engine.stats("bench") if engine else {}
    pub_stop.set()
    if publisher is not None:
        await loop.run_in_executor(None, publisher.join, 30)
    if engine is not None:
        await engine.close()
        forwarder.TrackForwarder.attach = original_attach  # type: ignore[method-assign]
    await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
    if mode != "engine":
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
    server.close()
    return {
        "mode": mode,
        "rows": rows,
        "server_ms": server_ms,
        "attach_gop": attach_gop,
        "keyframe_requests": stats.get("keyframe_requests"),
    }


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def report(case: dict[str, Any]) -> None:
    rows = case["rows"]
    ok = [r for r in rows if "frame" in r]
    print(
        f"{case['mode']:6}: {len(ok)} of {len(rows)} joins got a frame "
        f"(server watch() {statistics.median(case['server_ms']):.0f} ms median)"
        if case["server_ms"]
        else f"{case['mode']:6}: {len(ok)} of {len(rows)} joins got a frame"
    )
    print("         step        p50 ms   p95 ms   max ms")
    for step in STEPS:
        values = [r[step] * 1000 for r in ok if step in r]
        if values:
            print(
                f"         {step:9} {pct(values, 50):8.0f} {pct(values, 95):8.0f} {max(values):8.0f}"
            )
    media = [(r["frame"] - r["dtls"]) * 1000 for r in ok if "dtls" in r]
    if media:
        print(f"         dtls->frame {pct(media, 50):6.0f} {pct(media, 95):8.0f} {max(media):8.0f}")
    if case["attach_gop"]:
        gops = case["attach_gop"]
        print(
            f"         cached GOP at join: {statistics.median(gops):.0f} packets median, "
            f"{max(gops)} max; keyframe requests {case['keyframe_requests']}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--joins", type=int, default=24, help="joins per case (>= 20)")
    parser.add_argument("--modes", default="engine,stock")
    args = parser.parse_args()
    media_path = Path(tempfile.gettempdir()) / "cloudexpo-bench-720p30.pickle"
    encode_media(media_path, SECONDS)
    cases = {}
    for mode in args.modes.split(","):
        cases[mode] = await run_case(mode, args.joins, media_path)
        report(cases[mode])
    print("\nfirst decoded frame, p50 / p95 (target p95 <= 1000 ms, goal 500 ms):")
    for mode, case in cases.items():
        frames = [r["frame"] * 1000 for r in case["rows"] if "frame" in r]
        connect = [r["dtls"] * 1000 for r in case["rows"] if "dtls" in r]
        print(
            f"  {mode:6}: {pct(frames, 50):.0f} / {pct(frames, 95):.0f} ms; "
            f"connect alone (ICE+DTLS) {pct(connect, 50):.0f} / {pct(connect, 95):.0f} ms; "
            f"first frame / connect (p50) {pct(frames, 50) / pct(connect, 50):.2f}"
        )
    if "engine" in cases and "stock" in cases:
        e = [r["frame"] for r in cases["engine"]["rows"] if "frame" in r]
        s = [r["frame"] for r in cases["stock"]["rows"] if "frame" in r]
        print(
            f"  engine / stock aiortc: p50 ratio {pct(e, 50) / pct(s, 50):.2f}, "
            f"p95 ratio {pct(e, 95) / pct(s, 95):.2f} (lower is better)"
        )


if __name__ == "__main__":
    asyncio.run(main())
