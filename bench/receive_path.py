"""A publisher's packets off the socket alone: CPU per packet of reading, unprotecting and parsing SRTP.

The component beside ``bench/fanout.py`` (which measures ``cloudexpo serve`` as users run it): the
same 720p30 H.264 + Opus broadcast (``bench/_common.encode_media``), packetized as aiortc's sender
packetizes it and SRTP-protected, is sent over 127.0.0.1 to a socket in bursts of a video frame's
packets (as an encoder sends them), and read the two ways the server can:

* ``python``: one ``recvfrom_into`` per datagram, an exact-size copy, libsrtp's unprotect through
  cffi into a buffer of ours and a lean parse in Python (``RtpReader``; where ``streaming/_receive.c``
  is not compiled);
* ``compiled``: every datagram waiting in one call of ``streaming/_receive.c`` (``recvmmsg``,
  unprotect and parse in C).

Both make the same ``ReceivedRtpPacket`` for each packet. Printed: the reading thread's CPU per
packet for each (sending happens in another process), and the ratio. Run::

    .venv/bin/python bench/receive_path.py --rounds 5
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import select
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pylibsrtp
from aiortc.rtp import HeaderExtensionsMap

from bench.recorder import packets
from streaming import aiortc_receive as receive
from streaming.aiortc_internals import srtp_address

KEY = bytes(range(30))
LOOP = 4  # seconds of the broadcast read each time


def datagrams() -> list[list[bytes]]:
    """The bench media's RTP (as ``bench/recorder.py`` packetizes it), protected, in bursts: a video
    frame's packets together, each audio packet alone."""
    session = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    bursts: list[list[bytes]] = []
    frame = None
    for _, kind, packet in packets(LOOP):
        datagram = session.protect(packet.serialize())
        if kind == "video" and frame == packet.timestamp:
            bursts[-1].append(datagram)
        else:
            bursts.append([datagram])
        frame = packet.timestamp if kind == "video" else None
    return bursts


def sender(port: int, bursts: list[list[bytes]], ready: mp.Event, go: mp.Event, done: mp.Event) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ready.set()
        go.wait()
        for burst in bursts:
            for datagram in burst:
                sock.sendto(datagram, ("127.0.0.1", port))
            time.sleep(0.0005)  # the reader catches up between bursts, as between an encoder's frames
        done.set()


def run(way: str, bursts: list[list[bytes]]) -> tuple[float, int]:
    """CPU seconds of this thread and packets read, the whole media once."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    inbound = pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    mapping = HeaderExtensionsMap()
    total = sum(len(b) for b in bursts)
    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    proc = ctx.Process(target=sender, args=(rx.getsockname()[1], bursts, ready, go, done))
    proc.start()
    ready.wait()
    got = 0
    buffer = bytearray(receive.DATAGRAM_MAX)
    view = memoryview(buffer)
    reader = receive.RtpReader(inbound)
    compiled = receive._receive
    address = srtp_address(inbound)
    fd = rx.fileno()
    poll = select.poll()  # wait for the socket as the event loop does, then read what is waiting
    poll.register(fd, select.POLLIN)
    cpu0 = time.thread_time()
    go.set()
    while got < total and (poll.poll(200) or not done.is_set()):
        if way == "python":  # as aiortc_receive.read_datagrams_exactly: until the socket is empty
            for _ in range(receive.READ_BATCH):
                try:
                    size, _ = rx.recvfrom_into(buffer)
                except BlockingIOError:
                    break
                if reader.read(bytes(view[:size]), mapping) is not None:
                    got += 1
        else:
            items, _, _ = compiled.read(fd, address, receive.ReceivedRtpPacket, mapping, receive.READ_BATCH)
            got += len(items)
    cpu = time.thread_time() - cpu0
    proc.join()
    rx.close()
    return cpu, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="each way this many times, alternating")
    args = parser.parse_args()
    if receive._receive is None or os.environ.get("CLOUDEXPO_PURE_FANOUT") == "1":
        sys.exit("streaming/_receive.c is not compiled here (pip install -e . with a C compiler)")
    bursts = datagrams()
    total = sum(len(b) for b in bursts)
    print(f"media: {len(bursts)} bursts, {total} packets ({LOOP} s of the broadcast)")
    per: dict[str, list[float]] = {"python": [], "compiled": []}
    for _ in range(args.rounds):
        for way in per:
            cpu, got = run(way, bursts)
            per[way].append(cpu / max(got, 1) * 1e6)
            print(f"{way:9} read {got}/{total} packets, {per[way][-1]:.2f} µs of CPU per packet")
    best = {way: min(v) for way, v in per.items()}
    print(f"best of {args.rounds}: python {best['python']:.2f} µs, compiled {best['compiled']:.2f} µs per packet; "
          f"ratio compiled / python {best['compiled'] / best['python']:.2f}")


if __name__ == "__main__":
    main()
