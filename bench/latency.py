"""Latency the server adds: publisher packet in, last viewer's copy out.

One 720p30 H.264 (~2.5 Mbit/s, no B-frames) + Opus broadcast, pre-encoded and
replayed by a publisher process, goes through :class:`streaming.engine.MediaEngine`
to N viewers in other processes that count packets at the socket and never
decrypt or decode them (``bench._common.LightCounter``). Inside the server
process, for every media packet:

``rx``   ``time.perf_counter_ns()`` when asyncio hands the publisher's datagram
         to aioice (before SRTP unprotect, parsing and the forwarder; a
         wrapper of ``aioice.ice.StunProtocol.datagram_received``), keyed by
         the clear SRTP header's (SSRC, sequence number);
``in``   at the forwarder's entry (``TrackForwarder.on_packet``);
``out``  right after the last viewer's ``sendto`` (``streaming.forwarder.probe``).

The forwarder holds a video frame's packets until its last one is in (a viewer
decodes nothing before that), so what counts for a viewer is when a frame's
last packet (the marker bit) leaves: printed apart as "a video frame's last
packet"; the other packets' figures include the wait for it.

Printed: ``out - rx`` (what the server adds, aiortc's receive path included)
and ``out - in`` (the forwarder alone, with the CPU time the server thread
spent on it, so that time lost to other processes on a shared machine shows as
the difference), p50/p99/max, for N viewers and, in the same run, for 1 viewer
(the baseline), with the ratio, and the machine's load average. Time a
datagram spends in the socket buffer before the event loop reads it is not
included. The viewer processes run at a lower priority (``--nice``): they
stand for other machines. Run::

    .venv/bin/python bench/latency.py --viewers 100 --window 10
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aioice.ice
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    HOSTS,
    encode_media,
    start_engine_publisher,
    start_viewers,
)
from streaming import aiortc_receive as receive
from streaming import forwarder
from streaming.engine import MediaEngine

SECONDS = 4  # length of the pre-encoded loop


class Probe:
    """Receive stamps by (SSRC, seq) and the forwarder's probe callback."""

    def __init__(self) -> None:
        self.rx: dict[tuple[bytes, int], int] = {}
        self.last: set[tuple[bytes, int]] = set()  # packets with the marker bit: a video frame's last
        # (kind, out - rx, out - in, viewers, CPU time of this thread from in to out)
        self.samples: list[tuple[str, int, int, int, int]] = []
        self.recording = False
        self._original = aioice.ice.StunProtocol.datagram_received
        self._skip = receive._skip_stun_parsing
        self._compiled = receive._receive
        self._on_packet = forwarder.TrackForwarder.on_packet
        self._cpu_in = 0

    def install(self) -> None:
        original = self._original
        rx = self.rx
        last = self.last
        now = time.perf_counter_ns

        def datagram_received(proto: Any, data: bytes, addr: Any) -> None:
            if 128 <= data[0] < 192 and len(data) >= 12 and not 192 <= data[1] <= 223:
                rx[(data[8:12], (data[2] << 8) | data[3])] = now()
                if data[1] & 0x80:
                    last.add((data[8:12], (data[2] << 8) | data[3]))
            original(proto, data, addr)

        aioice.ice.StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]

        # RTP skips aioice's STUN parsing (receive._skip_stun_parsing puts a reader of its own on
        # each protocol of a publisher's connection): stamp there too
        skip = self._skip

        def skip_and_stamp(protocol: Any) -> None:
            skip(protocol)
            inner = vars(protocol).get("datagram_received")
            if inner is None or getattr(inner, "stamped", False):
                return

            def stamped(data: bytes, addr: Any) -> None:
                if 128 <= data[0] < 192 and len(data) >= 12 and not 192 <= data[1] <= 223:
                    rx[(data[8:12], (data[2] << 8) | data[3])] = now()
                    if data[1] & 0x80:
                        last.add((data[8:12], (data[2] << 8) | data[3]))
                inner(data, addr)

            stamped.stamped = True  # type: ignore[attr-defined]
            protocol.datagram_received = stamped

        receive._skip_stun_parsing = skip_and_stamp

        # where streaming/_receive.c reads a publisher's socket, its RTP never passes a protocol: stamp each
        # packet it reads with the moment the read began (the socket was ready)
        compiled = self._compiled
        if compiled is not None:

            class Stamped:
                @staticmethod
                def read(*args: Any) -> Any:
                    began = now()
                    result = compiled.read(*args)
                    for item in result[0]:
                        if not isinstance(item, tuple):
                            key = (item.ssrc.to_bytes(4, "big"), item.sequence_number)
                            rx[key] = began
                            if item.marker:
                                last.add(key)
                    return result

            receive._receive = Stamped
        forwarder.probe = self.on_forwarded
        on_packet = self._on_packet
        cpu = time.thread_time_ns

        def on_packet_timed(track: forwarder.TrackForwarder, packet: Any) -> None:
            self._cpu_in = cpu()  # wall time stays the forwarder's own (probe's t_in)
            on_packet(track, packet)

        forwarder.TrackForwarder.on_packet = on_packet_timed  # type: ignore[method-assign]

    def uninstall(self) -> None:
        aioice.ice.StunProtocol.datagram_received = self._original  # type: ignore[method-assign]
        receive._skip_stun_parsing = self._skip
        receive._receive = self._compiled
        forwarder.probe = None
        forwarder.TrackForwarder.on_packet = self._on_packet  # type: ignore[method-assign]

    def on_forwarded(self, kind: str, ssrc: int, seq: int, t_in: int, viewers: int) -> None:
        t_out = time.perf_counter_ns()
        cpu = time.thread_time_ns() - self._cpu_in
        key = (ssrc.to_bytes(4, "big"), seq)
        t_rx = self.rx.pop(key, None)
        if key in self.last:
            self.last.discard(key)
            kind = "frame" if kind == "video" else kind  # a video frame's last packet: the frame is complete
        if self.recording and t_rx is not None:
            self.samples.append((kind, t_out - t_rx, t_out - t_in, viewers, cpu))
        if len(self.rx) > 10000:  # stamps of packets that never reached the forwarder
            self.rx.clear()
            self.last.clear()


def pct(values: list[int], q: float) -> float:
    """Nearest-rank percentile (q in 0..100), in ms."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] / 1e6


async def run_case(
    viewers: int, media_path: Path, window: float, procs: int, probe: Probe, nice: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ctx = mp.get_context("spawn")
    pub_stop = ctx.Event()
    engine = MediaEngine(ice_servers=[], ice_hosts=HOSTS)
    server, port, publisher = await start_engine_publisher(engine, media_path, SECONDS, ctx, pub_stop)
    children, ready, stop, results = start_viewers(
        port, viewers, min(procs, viewers), light=True, nice=nice
    )
    for _ in children:  # bounded: a viewer process that died must not hang the bench
        if not await loop.run_in_executor(None, ready.acquire, True, 120):
            stop.set()
            pub_stop.set()
            for child in [*children, publisher]:
                child.terminate()
            await engine.close()
            server.close()
            raise TimeoutError("viewer processes did not connect within 120 s")
    await asyncio.sleep(3.0)  # joins' keyframe catch-up bursts are over
    proc = psutil.Process()
    c0 = proc.cpu_times()
    probe.samples.clear()
    probe.recording = True
    t0 = time.monotonic()
    await asyncio.sleep(window)
    probe.recording = False
    elapsed = time.monotonic() - t0
    c1 = proc.cpu_times()
    stats = engine.stats("bench")
    stop.set()
    received = lost = 0
    for _ in children:
        r, lo = await loop.run_in_executor(None, results.get, True, 60)
        received += r
        lost += lo
    for child in children:
        await loop.run_in_executor(None, child.join, 30)
    pub_stop.set()
    await loop.run_in_executor(None, publisher.join, 30)
    await engine.close()
    server.close()
    samples = list(probe.samples)
    full = [s[1] for s in samples if s[3] == viewers]
    fwd = [s[2] for s in samples if s[3] == viewers]
    cpu = [s[4] for s in samples if s[3] == viewers]
    video = [s[1] for s in samples if s[3] == viewers and s[0] in ("video", "frame")]
    frames = [s[1] for s in samples if s[3] == viewers and s[0] == "frame"]
    return {
        "viewers": viewers,
        "packets": len(samples),
        "partial": len(samples) - len(full),
        "full": full,
        "fwd": fwd,
        "fwd_cpu": cpu,
        "video": video,
        "frames": frames,
        "cpu": (c1.user + c1.system - c0.user - c0.system) / elapsed,
        "received": received,
        "lost": lost,
        "decoded": engine.frames_decoded,
        "forwarded": stats["packets_forwarded"],
        "load": os.getloadavg()[0],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", default="100", help="comma-separated viewer counts")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per case")
    parser.add_argument("--procs", type=int, default=3, help="viewer processes")
    parser.add_argument(
        "--nice", type=int, default=10, help="niceness of the viewer processes (0: none)"
    )
    parser.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="niceness of the server process (e.g. -10, needs privileges: as if the "
        "machine were the server's alone)",
    )
    args = parser.parse_args()
    if args.server_nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.server_nice)
        except PermissionError:
            print(f"server niceness {args.server_nice} not allowed; running at 0")
    print(f"server niceness {os.getpriority(os.PRIO_PROCESS, 0)}, viewers' {args.nice}")
    media_path = Path(tempfile.gettempdir()) / "cloudexpo-bench-720p30.pickle"
    encode_media(media_path, SECONDS)
    probe = Probe()
    probe.install()
    rows = []
    try:
        for n in [1] + [int(x) for x in args.viewers.split(",")]:
            row = await run_case(n, media_path, args.window, args.procs, probe, args.nice)
            rows.append(row)
            print(
                f"N={n:3}: {len(row['full'])} packets; server adds (rx->last send) "
                f"p50 {pct(row['full'], 50):.3f} p99 {pct(row['full'], 99):.3f} "
                f"max {pct(row['full'], 100):.3f} ms (video p99 {pct(row['video'], 99):.3f}; a video frame's "
                f"last packet p50 {pct(row['frames'], 50):.3f} p99 {pct(row['frames'], 99):.3f}); "
                f"forwarder alone p50 {pct(row['fwd'], 50):.3f} p99 {pct(row['fwd'], 99):.3f} ms "
                f"(its CPU time p50 {pct(row['fwd_cpu'], 50):.3f} p99 {pct(row['fwd_cpu'], 99):.3f} ms); "
                f"server {row['cpu'] * 100:.1f}% of a core; viewers received {row['received']} "
                f"lost {row['lost']}; decoded {row['decoded']}; load average {row['load']:.1f}",
                flush=True,
            )
    finally:
        probe.uninstall()
    base = rows[0]
    print("\nlatency the server adds, N viewers / 1 viewer (goal p99 <= 5 ms at N=100):")
    for row in rows[1:]:
        print(
            f"  N={row['viewers']:3}: p50 {pct(row['full'], 50):.3f} ms (x{pct(row['full'], 50) / pct(base['full'], 50):.1f}), "
            f"p99 {pct(row['full'], 99):.3f} ms (x{pct(row['full'], 99) / pct(base['full'], 99):.1f}) "
            f"vs 1 viewer p50 {pct(base['full'], 50):.3f} / p99 {pct(base['full'], 99):.3f} ms; "
            f"a video frame complete (its last packet) p50 {pct(row['frames'], 50):.3f} / "
            f"p99 {pct(row['frames'], 99):.3f} ms vs 1 viewer {pct(base['frames'], 50):.3f} / "
            f"{pct(base['frames'], 99):.3f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
