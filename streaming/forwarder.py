"""The hot path: one publisher's RTP packets out to every viewer, never decoded.

One :class:`TrackForwarder` per stream and kind (audio, video) keeps the
stream's *output* numbering: sequence numbers and timestamps that stay
continuous when a publisher takes over from another (offsets are rebased on a
new publisher's first packet, :meth:`TrackForwarder.new_source`), so each
viewer's decoder goes on through an interruption without a new session. Each incoming packet is turned once into an
:data:`OutputPacket` (the whole output RTP packet with payload type and SSRC
left blank) kept in a ring for retransmission; each viewer then copies
that packet into a buffer of its own, writes its payload type and SSRC, has
libsrtp protect it in place with its own session and hands a view of the
result to its UDP socket, with no await, no queue and no per-viewer Python
objects in between; where ``streaming/_fanout.c`` is compiled, that loop over
the viewers runs in C (:mod:`streaming.fanout`), and a video frame's packets
are held until its last one is in and then go to each viewer together, runs of
equal size in one system call (UDP segmentation offload). Nobody decodes a
frame before its last packet arrives, so holding the others costs the viewer
nothing but the frame reaching it as one burst. Publisher header extensions are
dropped (their ids are the publisher's; viewers demultiplex by the SSRC in our
answer).

Packets come in through :class:`streaming.rtp_endpoints.ForwardingReceiver`
(the publisher's side) and each viewer's :class:`ViewerOutput` belongs to a
:class:`streaming.rtp_endpoints.ForwardingSender`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiortc import clock
from aiortc.rtp import RtcpSrPacket, RtpPacket

from . import aiortc_internals as internals
from . import aiortc_receive, fanout
from .payloads import INSPECTORS
from .sdp import CodecChoice

if TYPE_CHECKING:
    from aiortc.rtcdtlstransport import RTCDtlsTransport


logger = logging.getLogger(__name__)

RING_SIZE = 1024  # power of two; ~3 s of 720p30 video at 2.5 Mbit/s, ~20 s of Opus
RING_MASK = RING_SIZE - 1
GOP_LIMIT = 3000  # packets; a longer GOP is not cached (the joiner waits for a keyframe)
CATCH_UP_BATCH = 32  # cached packets sent to a joining viewer per loop turn
CATCH_UP_PAUSE = 0.004  # seconds between catch-up batches (~8 MB/s, below socket buffers)
FRAME_HOLD_MAX = 0.025  # seconds a video frame's first packet waits for its last at most
FRAME_HOLD_PACKETS = 16  # a larger frame (a keyframe) goes out in parts of this many: bursts of ~20 KB a viewer
_BYTE0 = [bytes([0x80 | cc]) for cc in range(16)]  # the RTP header's first byte: V=2, no padding, no extension, CSRC count
_SEQ_TS = struct.Struct("!HI")
_NTP_PER_SECOND = 1 << 32

_SRTP_MAX_IN = internals.SRTP_MAX_IN  # what fits in our libsrtp buffer

#: A packet as the forwarder sends it, made once per incoming packet and kept in the ring:
#: ``(output sequence number, marker bit (0 or 1), RTP packet)``, the RTP packet with the
#: output numbering and its payload type and SSRC left 0 for each viewer to fill in.
#: A plain tuple: the hot path unpacks it with no attribute lookups.
OutputPacket = tuple[int, int, bytes]

# Measurement hook (bench/latency.py): when set, called once per forwarded media packet
# as ``probe(kind, input ssrc, input seq, perf_counter_ns() at on_packet entry, viewers)``
# right after the last viewer's send. None (the default) costs one global lookup a packet.
probe: Callable[[str, int, int, int, int], None] | None = None
_perf_ns = time.perf_counter_ns


class PacketSink(Protocol):
    """What a recorder implements to receive a stream's media (``add_packet_sink``).

    ``on_codec`` is called when the sink is added and whenever the codec of a
    kind becomes known or changes (publisher takeover). ``on_packet`` is called
    synchronously on the event loop for every media packet of the publisher,
    in arrival order (retransmissions included, padding-only packets not),
    with ``packet.sequence_number`` and ``packet.timestamp`` already rewritten
    to the stream's continuous output numbering and ``packet.ssrc`` the
    publisher's. ``arrival_time`` is ``time.monotonic()`` at reception. Do
    blocking work elsewhere; do not keep the packet beyond the call if you
    mutate it.

    Optional: ``on_rtcp_sr(kind, ntp_timestamp, rtp_timestamp)`` is called for
    each sender report of the current publisher (64-bit NTP, RTP timestamp in
    the output numbering), so a recorder can align audio with video.
    ``on_new_publisher()`` is called when another publisher session takes
    over the stream (after an interruption or replacing one), after the last
    packet of the one before and before the first of the new one; the output
    numbering goes on, its timestamps jumping by the time that passed.
    """

    def on_codec(self, kind: str, codec: CodecChoice) -> None: ...

    def on_packet(self, kind: str, packet: RtpPacket, arrival_time: float) -> None: ...


class ViewerOutput:
    """One viewer's end of a track: its SSRC, payload type, SRTP session and socket.

    The hot path (:meth:`send`) copies the ready-made packet into a buffer of
    its own, writes its payload type and SSRC into it, has libsrtp protect it
    in place (no Python objects in between) and hands a view of the result to the
    ICE pair's UDP socket. What asyncio's transport would do differently (a full
    socket buffer, an error, data already queued) goes through the transport.
    Everything it needs of aiortc is resolved once, when the viewer connects.
    """

    __slots__ = (
        "_octets",
        "_packets",
        "byte1",
        "catch_up",
        "dtls",
        "nominated_pairs",
        "pair",
        "protect",
        "remote_addr",
        "socket_backlog",
        "socket_sendto",
        "srtp_buffer",
        "srtp_length",
        "srtp_session",
        "srtp_view",
        "ssrc",
        "ssrc_bytes",
        "target",
        "transport_sendto",
    )

    def __init__(self, dtls: RTCDtlsTransport, payload_type: int, ssrc: int) -> None:
        # No reference back to the sender, which holds this output: the pair would be a
        # cycle keeping a closed connection's transports alive until a full collection.
        self.dtls = dtls
        self.ssrc = ssrc
        # the RTP header's second byte (marker bit and payload type) for marker 0 and 1
        self.byte1 = (payload_type, 0x80 | payload_type)
        self.ssrc_bytes = struct.pack("!I", ssrc)
        srtp = internals.srtp_sender(dtls)
        self.protect: Callable[[bytes], bytes] = srtp.protect  # also keeps the session alive
        self.srtp_session: Any = srtp.session
        self.srtp_buffer: Any = srtp.buffer
        self.srtp_view = srtp.view
        self.srtp_length: Any = srtp.length
        self.nominated_pairs: dict[int, Any] = internals.nominated_pairs(dtls)
        self.pair: Any = None
        self.transport_sendto: Callable[[bytes, Any], Any] = _drop
        self.socket_sendto: Callable[[Any, Any], Any] = _drop
        self.socket_backlog: Any = ()  # what asyncio still holds for the socket
        self.remote_addr: Any = None
        self._packets = 0  # sent the Python way (the compiled loop counts its own)
        self._octets = 0
        self.catch_up: deque[OutputPacket] | None = None  # the cached GOP still to send to a joining viewer
        # this viewer in the compiled fan-out loop (None without it: TrackForwarder sends with send())
        self.target: Any = fanout.new_target(srtp, self.nominated_pairs, payload_type, ssrc)
        self.refresh()

    @property
    def packets(self) -> int:
        """Packets sent to this viewer (for its sender reports)."""
        target = self.target
        return self._packets + (target.packets if target is not None else 0)

    @property
    def octets(self) -> int:
        """Payload octets sent to this viewer."""
        target = self.target
        return self._octets + (target.octets if target is not None else 0)

    def refresh(self) -> None:
        """Pick up the ICE pair in use (it may change); send on its UDP transport."""
        pair = self.nominated_pairs.get(1)
        self.pair = pair
        target = self.target
        if pair is None:
            self.transport_sendto, self.remote_addr = _drop, None
            self.socket_sendto, self.socket_backlog = _drop, ()
            if target is not None:
                target.route(None)
            return
        transport = pair.protocol.transport
        aiortc_receive.read_datagrams_exactly(transport)  # the viewer's RTCP comes in on it
        self.transport_sendto, self.remote_addr = transport.sendto, pair.remote_addr
        direct = internals.datagram_socket(transport)
        if direct is None:  # not asyncio's selector transport
            self.socket_sendto, self.socket_backlog = transport.sendto, ()
            if target is not None:
                target.route(pair)  # the compiled loop leaves this viewer to send()
        else:
            sock, self.socket_backlog = direct
            self.socket_sendto = sock.sendto
            if target is not None:
                host, port = pair.remote_addr[:2]
                target.route(pair, sock.fileno, self.socket_backlog, sock.family, host, port)

    def send(self, packet: OutputPacket) -> None:
        if self.nominated_pairs.get(1) is not self.pair:
            self.refresh()
        _, marker, rtp = packet
        size = len(rtp)
        if size > _SRTP_MAX_IN:
            self._send_large(marker, rtp)
            return
        view = self.srtp_view
        view[:size] = rtp
        view[1] = self.byte1[marker]
        view[8:12] = self.ssrc_bytes
        length = self.srtp_length
        length[0] = size
        rc = _srtp_protect(self.srtp_session, self.srtp_buffer, length)
        if rc:
            _srtp_raise(rc)
        out = view[: length[0]]
        if self.socket_backlog:  # asyncio already holds packets for this socket: keep the order
            self.transport_sendto(bytes(out), self.remote_addr)
        else:
            try:
                self.socket_sendto(out, self.remote_addr)
            except OSError:  # full socket buffer, or an error: asyncio's handling
                self.transport_sendto(bytes(out), self.remote_addr)
        self._packets += 1
        self._octets += size - 12

    def _send_large(self, marker: int, rtp: bytes) -> None:
        """A packet too large for our buffer: pylibsrtp's own protect."""
        header = bytearray(rtp[:12])
        header[1] = self.byte1[marker]
        header[8:12] = self.ssrc_bytes
        self.transport_sendto(self.protect(bytes(header) + rtp[12:]), self.remote_addr)
        self._packets += 1
        self._octets += len(rtp) - 12


_srtp_protect = internals.srtp_protect
_send_all = fanout.send_all
_send_burst = fanout.send_burst
_srtp_raise = internals.srtp_raise


def _drop(data: bytes, addr: Any) -> None:
    pass


class TrackForwarder:
    """One kind (audio or video) of one stream: numbering, caches, viewers, stats."""

    def __init__(self, kind: str, request_keyframe: Callable[[], None]) -> None:
        self.kind = kind
        self.codec: CodecChoice | None = None
        self.clock_rate = 90000 if kind == "video" else 48000
        self.outputs: list[ViewerOutput] = []
        self.joining: list[ViewerOutput] = []
        self.sinks: list[PacketSink] = []
        self.request_keyframe = request_keyframe
        self._inspect: Callable[[bytes], tuple[bool, int | None]] | None = None
        self._ring: list[OutputPacket | None] = [None] * RING_SIZE
        # a video frame's packets until its last (compiled loop only: it sends them in one call per run)
        self.holds_frames = kind == "video" and _send_burst is not None
        self._held: list[OutputPacket] = []
        self._held_ts = -1  # the held frame's (input) RTP timestamp
        self._held_probes: list[tuple[int, int, int]] = []  # bench/latency.py's marks for them
        self._hold_timer: asyncio.TimerHandle | None = None
        self.gop: list[OutputPacket] | None = None  # from the last keyframe on, for viewers who join
        self._gop_ts = -1
        # input -> output numbering
        self.input_ssrc: int | None = None  # the current publisher's SSRC
        self._last_in_seq = 0
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_out_seq = random.randint(0, 0xFFFF)
        self._last_out_ts = random.randint(0, 0xFFFFFFFF)
        self._last_arrival = 0.0
        self._started = False
        self.sender_report: tuple[int, int, float] | None = None  # (ntp, output rtp, monotonic)
        # statistics
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_lost = 0
        self.packets_forwarded = 0
        self.retransmitted = 0
        self.frames = 0
        self.keyframes = 0
        self.keyframe_at: float | None = None
        self.bframes_detected = False

    # -- configuration -------------------------------------------------------

    def set_codec(self, codec: CodecChoice) -> None:
        self.codec = codec
        self.clock_rate = codec.clock_rate
        self._inspect = INSPECTORS.get(codec.name)
        for sink in self.sinks:
            sink.on_codec(self.kind, codec)

    def add_sink(self, sink: PacketSink) -> None:
        self.sinks.append(sink)
        if self.codec is not None:
            sink.on_codec(self.kind, self.codec)

    def new_source(self) -> None:
        """A new publisher takes over: its first packet rebases the numbering, even with the old SSRC.

        An encoder restarted by its user (OBS's Stop and Start) may pick the
        same SSRC and begin new sequence numbers and timestamps; viewers must
        see one continuous track either way.
        """
        self.input_ssrc = None

    def _rebase(self, packet: RtpPacket, now: float) -> None:
        """A new publisher SSRC: continue the output numbering where it stopped."""
        resumed = self._started
        if resumed:
            ts_gap = max(1, int((now - self._last_arrival) * self.clock_rate))
            next_out_seq = (self._last_out_seq + 1) & 0xFFFF
            next_out_ts = (self._last_out_ts + ts_gap) & 0xFFFFFFFF
        else:
            next_out_seq = self._last_out_seq
            next_out_ts = self._last_out_ts
            self._started = True
        self._seq_offset = (next_out_seq - packet.sequence_number) & 0xFFFF
        self._ts_offset = (next_out_ts - packet.timestamp) & 0xFFFFFFFF
        self.input_ssrc = packet.ssrc
        self._last_in_seq = (packet.sequence_number - 1) & 0xFFFF
        self._last_arrival = now
        self.sender_report = None
        self.gop = None
        self._gop_ts = -1
        if resumed and self.kind == "video":
            self.request_keyframe()  # viewers' decoders go on from the new encoder's next keyframe

    # -- the hot path --------------------------------------------------------

    def on_packet(self, packet: RtpPacket) -> None:
        t_in = _perf_ns() if probe is not None else 0
        now = time.monotonic()
        if packet.ssrc != self.input_ssrc:
            self._rebase(packet, now)
        seq = packet.sequence_number
        delta = (seq - self._last_in_seq) & 0xFFFF
        in_order = 0 < delta < 0x8000
        if in_order:
            self.packets_lost += delta - 1
            self._last_in_seq = seq
        elif delta:
            self.packets_lost -= 1  # a late or retransmitted packet filled a gap
        payload = packet.payload
        if not payload:
            if in_order:  # padding only: hide it from viewers by closing the gap
                self._seq_offset = (self._seq_offset - 1) & 0xFFFF
            return
        self.packets_in += 1
        self.bytes_in += len(payload)
        out_seq = (seq + self._seq_offset) & 0xFFFF
        out_ts = (packet.timestamp + self._ts_offset) & 0xFFFFFFFF
        if in_order:
            self._last_out_seq = out_seq
            self._last_out_ts = out_ts
            self._last_arrival = now
        marker = packet.marker
        csrc = packet.csrc
        rtp = b"".join(
            (
                _BYTE0[len(csrc)],
                b"\x00",  # marker and payload type: each viewer's own
                _SEQ_TS.pack(out_seq, out_ts),
                b"\x00\x00\x00\x00",  # SSRC: each viewer's own
                b"".join(struct.pack("!I", c) for c in csrc) + payload if csrc else payload,
            )
        )
        out: OutputPacket = (out_seq, marker, rtp)
        self._ring[out_seq & RING_MASK] = out

        if self._inspect is not None:
            keyframe, slice_type = self._inspect(payload)
            if slice_type == 1:
                self.bframes_detected = True
            if keyframe and packet.timestamp != self._gop_ts:
                self.gop = [out]
                self._gop_ts = packet.timestamp
                self.keyframes += 1
                self.keyframe_at = now
            elif self.gop is not None:
                if len(self.gop) < GOP_LIMIT:
                    self.gop.append(out)
                else:
                    self.gop = None
        if marker or self.kind == "audio":
            self.frames += 1

        # a frame is held for the viewers' one call per frame; with nobody watching (nor a frame held)
        # there is nothing to batch, and holding would cost a timer a frame
        if self.holds_frames and in_order and (self.outputs or self.joining or self._held):
            if probe is not None:
                self._held_probes.append((packet.ssrc, seq, t_in))
            self._hold(out, packet.timestamp, marker)
        else:  # audio, a late packet filling a gap, nobody watching, or no compiled loop: at once
            self._send(out)
            if probe is not None:
                probe(self.kind, packet.ssrc, seq, t_in, len(self.outputs))

        if self.sinks:
            packet.sequence_number = out_seq
            packet.timestamp = out_ts
            for sink in self.sinks:
                try:
                    sink.on_packet(self.kind, packet, now)
                except Exception:
                    logger.exception("packet sink %r failed", sink)

    def _send(self, out: OutputPacket) -> None:
        """One packet to every viewer now (and to the joining ones' queues)."""
        outputs = self.outputs
        if _send_all is not None:
            if outputs:
                unsent = _send_all(outputs, out[2], out[1])
                if unsent:
                    self._send_unsent(out, unsent)
        else:
            for output in outputs:
                output.send(out)
        self.packets_forwarded += len(outputs)
        for output in self.joining:
            output.catch_up.append(out)  # type: ignore[union-attr]

    def _hold(self, out: OutputPacket, timestamp: int, marker: int) -> None:
        """Keep a video packet until its frame is complete: its marker, the next frame's first packet,
        :data:`FRAME_HOLD_PACKETS` packets or :data:`FRAME_HOLD_MAX` seconds, whichever comes first."""
        if self._held and timestamp != self._held_ts:
            self._flush_frame()  # the frame before ended without a marker
        held = self._held
        held.append(out)
        self._held_ts = timestamp
        if marker or len(held) >= FRAME_HOLD_PACKETS:
            self._flush_frame()
        elif self._hold_timer is None:
            try:
                self._hold_timer = asyncio.get_running_loop().call_later(FRAME_HOLD_MAX, self._flush_frame)
            except RuntimeError:  # no event loop (a caller outside one): nothing would flush it later
                self._flush_frame()

    def _flush_frame(self) -> None:
        """The held packets to every viewer, a batch per viewer (:func:`streaming.fanout.send_burst`)."""
        timer = self._hold_timer
        if timer is not None:
            timer.cancel()
            self._hold_timer = None
        packets = self._held
        if not packets:
            return
        self._held = []
        outputs = self.outputs
        unsent = _send_burst(outputs, packets) if outputs and _send_burst is not None else False
        if unsent is False:  # one by one (a packet larger than the compiled loop takes)
            for out in packets:
                self._send(out)
        else:
            if unsent:
                self._send_burst_unsent(packets, unsent)
            self.packets_forwarded += len(outputs) * len(packets)
            for output in self.joining:
                output.catch_up.extend(packets)  # type: ignore[union-attr]
        if self._held_probes:
            probes, self._held_probes = self._held_probes, []
            if probe is not None:
                for ssrc, seq, t_in in probes:
                    probe(self.kind, ssrc, seq, t_in, len(outputs))

    def _send_burst_unsent(self, packets: list[OutputPacket], unsent: list[tuple[int, int, bytes | None]]) -> None:
        """What the compiled loop left of a frame: sent the Python way, or refused datagrams through asyncio."""
        outputs = self.outputs
        for index, first, datagram in unsent:
            output = outputs[index]
            if datagram is None:  # the Python way, from this packet on
                for out in packets[first:]:
                    output.send(out)
            else:  # the socket refused it: asyncio's transport sends or reports it
                output.transport_sendto(datagram, output.remote_addr)

    def _send_unsent(self, out: OutputPacket, unsent: list[tuple[int, bytes | None]]) -> None:
        """What the compiled loop left: sent the Python way, or refused datagrams through asyncio."""
        outputs = self.outputs
        for index, datagram in unsent:
            output = outputs[index]
            if datagram is None:
                output.send(out)
            else:
                output.transport_sendto(datagram, output.remote_addr)

    def retransmit(self, output: ViewerOutput, sequence_numbers: list[int]) -> None:
        ring = self._ring
        for seq in sequence_numbers:
            cached = ring[seq & RING_MASK]
            if cached is not None and cached[0] == seq:
                output.send(cached)
                self.retransmitted += 1

    def on_sender_report(self, packet: RtcpSrPacket) -> None:
        if packet.ssrc != self.input_ssrc:
            return
        info = packet.sender_info
        out_rtp = (info.rtp_timestamp + self._ts_offset) & 0xFFFFFFFF
        self.sender_report = (info.ntp_timestamp, out_rtp, time.monotonic())
        for sink in self.sinks:
            hook = getattr(sink, "on_rtcp_sr", None)
            if hook is not None:
                try:
                    hook(self.kind, info.ntp_timestamp, out_rtp)
                except Exception:
                    logger.exception("packet sink %r failed on a sender report", sink)

    def sender_info_now(self) -> tuple[int, int]:
        """(NTP, RTP) of "now" in the output numbering, for a viewer's sender report."""
        now = time.monotonic()
        if self.sender_report is not None:
            ntp, rtp, at = self.sender_report
        else:
            ntp, rtp, at = clock.current_ntp_time(), self._last_out_ts, self._last_arrival
            if not self._started:
                return ntp, rtp
            elapsed = now - at
            return ntp, (rtp + int(elapsed * self.clock_rate)) & 0xFFFFFFFF
        elapsed = now - at
        return (
            (ntp + int(elapsed * _NTP_PER_SECOND)) & 0xFFFFFFFFFFFFFFFF,
            (rtp + int(elapsed * self.clock_rate)) & 0xFFFFFFFF,
        )

    # -- viewers -------------------------------------------------------------

    def attach(self, output: ViewerOutput) -> None:
        """Start sending to a viewer: from the cached GOP if there is one, then live."""
        if self.kind == "video":
            self.request_keyframe()
        cached = self.gop
        if cached and self._held:  # a held frame reaches the viewer when it is sent, not twice
            held = {id(out) for out in self._held}
            cached = [out for out in cached if id(out) not in held]
        if cached:
            output.catch_up = deque(cached)
            self.joining.append(output)
            asyncio.get_running_loop().call_soon(self._catch_up, output)
        else:
            self.outputs.append(output)

    def _catch_up(self, output: ViewerOutput) -> None:
        if output not in self.joining or output.catch_up is None:
            return
        pending = output.catch_up
        for _ in range(min(CATCH_UP_BATCH, len(pending))):
            output.send(pending.popleft())
            self.packets_forwarded += 1
        if pending:
            asyncio.get_running_loop().call_later(CATCH_UP_PAUSE, self._catch_up, output)
        else:
            output.catch_up = None
            self.joining.remove(output)
            self.outputs.append(output)

    def detach(self, output: ViewerOutput) -> None:
        if output in self.outputs:
            self.outputs.remove(output)
        if output in self.joining:
            self.joining.remove(output)
        output.catch_up = None
