"""The forwarder's send loop alone: CPU per packet per viewer, compiled (streaming/_fanout.c) and in Python.

One :class:`streaming.forwarder.TrackForwarder` with N viewers, each a real
:class:`~streaming.forwarder.ViewerOutput` with its own SRTP session and its
own UDP socket (an asyncio datagram transport, as aioice's), sending to
sockets on 127.0.0.1 that nobody reads (the kernel drops what overflows: the
same for both ways). The figure is the CPU time of the sending thread only,
so other processes on a busy machine change it little; the ways alternate
and each is measured several times. Run::

    .venv/bin/python bench/send_loop.py --viewers 64 --packets 3000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pylibsrtp
from aiortc.rtp import RtpPacket

from streaming import fanout, forwarder
from streaming.forwarder import TrackForwarder, ViewerOutput

KEY = bytes(range(30))


async def viewer(loop: asyncio.AbstractEventLoop, sink: tuple[str, int], ssrc: int) -> tuple[ViewerOutput, Any]:
    """A ViewerOutput on what it reads of a DTLS transport: the SRTP session and the ICE pair in use."""
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    pair = SimpleNamespace(protocol=SimpleNamespace(transport=transport), remote_addr=sink)
    dtls = SimpleNamespace(
        _tx_srtp=pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)),
        transport=SimpleNamespace(_connection=SimpleNamespace(_nominated={1: pair})),
    )
    return ViewerOutput(dtls, 96, ssrc), transport  # type: ignore[arg-type]


def packets(count: int, first: int) -> list[RtpPacket]:
    """720p video's packets as they come: ~1,100 bytes, a marker at each frame's last."""
    out = []
    for i in range(first, first + count):
        p = RtpPacket(payload_type=96, sequence_number=i & 0xFFFF, timestamp=3000 * (i // 10), ssrc=1234)
        p.payload = b"\x7c\x01" + os.urandom(1098)  # an H.264 FU-A fragment, not a keyframe
        p.marker = int(i % 10 == 9)
        out.append(p)
    return out


def measure(track: TrackForwarder, stream: list[RtpPacket], compiled: bool) -> float:
    """µs of the thread's CPU per packet per viewer."""
    forwarder._send_all = fanout.send_all if compiled else None
    t0 = time.thread_time()
    for p in stream:
        track.on_packet(p)
    return (time.thread_time() - t0) / len(stream) / len(track.outputs) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=64)
    parser.add_argument("--packets", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if fanout.send_all is None:
        sys.exit("streaming/_fanout.c is not compiled here: python setup.py build_ext --inplace")
    loop = asyncio.get_running_loop()
    sinks = []
    for _ in range(args.viewers):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        sinks.append(s)
    track = TrackForwarder("video", lambda: None)
    transports = []
    for i, s in enumerate(sinks):
        output, transport = await viewer(loop, s.getsockname(), 1000 + i)
        track.attach(output)
        transports.append(transport)
    figures: dict[str, list[float]] = {"python": [], "compiled": []}
    first = 0
    for _ in range(args.rounds):
        for way in figures:
            stream = packets(args.packets, first)  # numbers go on: SRTP refuses a replayed index
            first += args.packets
            figures[way].append(measure(track, stream, way == "compiled"))
            await asyncio.sleep(0.05)
    for way, values in figures.items():
        print(f"{way:9} µs per packet per viewer: " + ", ".join(f"{v:.2f}" for v in values)
              + f"  (best {min(values):.2f})")
    print(f"compiled / python, best of each: {min(figures['compiled']) / min(figures['python']):.2f}")
    for t in transports:
        t.close()
    for s in sinks:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
