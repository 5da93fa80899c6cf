"""What the media path costs this server, as counters an operator (and ``bench/fanout.py``) reads on /metrics.

A broadcast's fixed cost is spent in two places: the event loop, which reads
publishers' SRTP off their sockets and forwards and hands each packet to the
recorder, and the recording's writer thread (depacketising, writing
segments). Process CPU alone cannot tell them apart, nor a packet's cost from
everything else the loop does (HTTP, WebSockets, the schedule).

:data:`receive` is counted once per batch read off a socket, not per packet:
two monotonic clock reads (vDSO, no system call) a batch. Its times are the
event loop's wall time in those steps; the loop thread is the one running
them, so on a machine that is not starved they are its CPU time.
The writer threads' CPU comes from their own thread clocks, read when /metrics
is read (:func:`recorder_cpu_seconds`), so recording costs nothing to count.
"""

from __future__ import annotations

import threading
import time


class ReceiveMeter:
    """Publishers' RTP received by this process: nanoseconds in the read (``recvmmsg``, libsrtp, parse)
    and in the forwarding (forwarder, NACK and REMB bookkeeping, the recorder's queue), and packets."""

    __slots__ = ("forward_ns", "packets", "read_ns")

    def __init__(self) -> None:
        self.read_ns = 0
        self.forward_ns = 0
        self.packets = 0


receive = ReceiveMeter()

#: A thread's CPU clock by its identifier (POSIX; missing on macOS, where running writers are not counted).
_thread_clock = getattr(time, "pthread_getcpuclockid", None)
_lock = threading.Lock()
_running: set[threading.Thread] = set()
_finished_cpu = 0.0  # seconds, of the writer threads that ended


def recorder_started(thread: threading.Thread) -> None:
    """Called by a recording's writer thread as it starts."""
    with _lock:
        _running.add(thread)


def recorder_finished(thread: threading.Thread) -> None:
    """Called by a recording's writer thread, in that thread, as it ends: its CPU joins the total."""
    global _finished_cpu
    with _lock:
        _finished_cpu += time.thread_time()
        _running.discard(thread)


def recorder_cpu_seconds() -> float:
    """CPU seconds of every recording's writer thread since this process started.

    Under the lock a running writer cannot end (it leaves the set under the lock, in its own
    thread), so its clock can be read and it is counted once.
    """
    with _lock:
        total = _finished_cpu
        if _thread_clock is None:
            return total
        for thread in _running:
            ident = thread.ident
            if ident is not None:
                total += time.clock_gettime(_thread_clock(ident))
        return total


def prometheus_text(loop_cpu_seconds: float) -> str:
    """The counters in Prometheus' text format; ``loop_cpu_seconds`` is the event loop thread's CPU."""
    return (
        "# HELP cloudexpo_event_loop_cpu_seconds_total CPU time of the event loop's thread.\n"
        "# TYPE cloudexpo_event_loop_cpu_seconds_total counter\n"
        f"cloudexpo_event_loop_cpu_seconds_total {loop_cpu_seconds:.6f}\n"
        "# HELP cloudexpo_media_packets_received_total RTP packets read from publishers (and origins, on an edge).\n"
        "# TYPE cloudexpo_media_packets_received_total counter\n"
        f"cloudexpo_media_packets_received_total {receive.packets}\n"
        "# HELP cloudexpo_media_receive_seconds_total Event-loop time on batches of received RTP: read (socket,"
        " SRTP, parse) and forward (to viewers and the recorder, with the batch's RTCP, STUN and DTLS).\n"
        "# TYPE cloudexpo_media_receive_seconds_total counter\n"
        f'cloudexpo_media_receive_seconds_total{{stage="read"}} {receive.read_ns / 1e9:.6f}\n'
        f'cloudexpo_media_receive_seconds_total{{stage="forward"}} {receive.forward_ns / 1e9:.6f}\n'
        "# HELP cloudexpo_recorder_cpu_seconds_total CPU time of the recordings' writer threads.\n"
        "# TYPE cloudexpo_recorder_cpu_seconds_total counter\n"
        f"cloudexpo_recorder_cpu_seconds_total {recorder_cpu_seconds():.6f}\n"
    )
