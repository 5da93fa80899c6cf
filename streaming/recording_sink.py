"""The recorder's end of the forwarder: the first step of a recording, on the hot path.

:class:`RecordingSink` is a :class:`~streaming.forwarder.PacketSink` that only
puts tuples on the writer thread's queue (:mod:`streaming.segmenter`): no
parsing, no I/O, and it cannot raise into the forwarder. The items:

``("pkt", kind, seq, ts, marker, payload, arrival)``
    a media packet in the stream's output numbering; ``arrival`` is
    ``time.monotonic()`` at reception;
``("sr", kind, ntp, rtp)``
    a publisher's RTCP sender report (64-bit NTP, RTP in the output numbering);
``("codec", kind, name, sprop_stereo)``
    the codec of a kind became known or changed (``sprop_stereo``: the
    publisher said it sends stereo audio);
``("resume", "")``
    another publisher session took over: what follows is after a gap;
:data:`END`
    the recording stops.

Past :data:`QUEUE_LIMIT` queued items (the writer cannot keep up) packets are
dropped from the recording, never from the broadcast.
"""

from __future__ import annotations

import queue
from typing import Any

from aiortc.rtp import RtpPacket

from .sdp import CodecChoice

QUEUE_LIMIT = 20000  # ~60 s of 2.5 Mbit/s video; past it the recording drops, not the broadcast
END = ("end",)

RecorderQueue = queue.SimpleQueue[tuple[Any, ...]]


class RecordingSink:
    """Enqueue and return (see the module doc)."""

    __slots__ = ("_put", "_queue", "dropped")

    def __init__(self, q: RecorderQueue) -> None:
        self._queue = q
        self._put = q.put
        self.dropped = 0

    def on_codec(self, kind: str, codec: CodecChoice) -> None:
        # with whether the publisher said it sends stereo (RFC 7587's sprop-stereo; OBS does, browsers do not)
        self._put(("codec", kind, codec.name, codec.parameters.get("sprop-stereo") == "1"))

    def on_packet(self, kind: str, packet: RtpPacket, arrival_time: float) -> None:
        if self._queue.qsize() > QUEUE_LIMIT:
            self.dropped += 1
            return
        self._put(("pkt", kind, packet.sequence_number, packet.timestamp, packet.marker, packet.payload, arrival_time))

    def on_new_publisher(self) -> None:
        self._put(("resume", ""))

    def on_rtcp_sr(self, kind: str, ntp_timestamp: int, rtp_timestamp: int) -> None:
        self._put(("sr", kind, ntp_timestamp, rtp_timestamp))
