"""The hot path: one publisher's RTP packets out to every viewer, never decoded.

One :class:`TrackForwarder` per stream and kind (audio, video) keeps the
stream's *output* numbering: sequence numbers and timestamps that stay
continuous when a publisher takes over from another (offsets are rebased on a
new publisher SSRC). Each incoming packet is turned once into an
:data:`OutputPacket` (the whole output RTP packet with payload type and SSRC
left blank) kept in a ring for retransmission; each viewer then copies
that packet into a buffer of its own, writes its payload type and SSRC, has
libsrtp protect it in place with its own session and hands a view of the
result to its UDP socket, with no await, no queue and no per-viewer Python
objects in between. Publisher header extensions are
dropped (their ids are the publisher's; viewers demultiplex by the SSRC in our
answer).

Publisher side, :class:`ForwardingReceiver` takes the place of aiortc's
``RTCRtpReceiver`` on the engine's connections (through
:mod:`streaming.aiortc_internals`, the one place that reaches aiortc's private parts): it keeps aiortc's receiver
reports, REMB (from abs-send-time, never below REMB_FLOOR) and NACK generation towards the publisher,
but starts no decoder thread and hands packets straight to the forwarder
instead of to the jitter buffer.

Viewer side, :class:`ForwardingSender` takes the place of ``RTCRtpSender``: it
runs no encoder and no RTP task; it answers NACKs from the ring, turns PLI/FIR
into a (rate-limited) keyframe request to the publisher, and sends sender
reports whose NTP/RTP pair is the publisher's last report mapped through the
output offsets, so lip sync survives forwarding. REMB from viewers is ignored
on purpose: one weak viewer must not lower the quality every viewer gets.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiortc import clock
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

from . import aiortc_internals as internals
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
REMB_INTERVAL = 0.2  # seconds between REMBs to a publisher, unless the estimate drops >= 3 %
# The server's delay-based estimate reads the fan-out's own event-loop delay as
# congestion and would talk a publisher down as the audience grows. Never ask
# for less than this: real congestion on the publisher's uplink shows as loss in
# our receiver reports, which the publisher's own loss-based control obeys.
REMB_FLOOR = 3_000_000
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
        "byte1",
        "catch_up",
        "dtls",
        "nominated_pairs",
        "octets",
        "packets",
        "pair",
        "protect",
        "remote_addr",
        "sender",
        "socket_backlog",
        "socket_sendto",
        "srtp_buffer",
        "srtp_length",
        "srtp_session",
        "srtp_view",
        "ssrc",
        "ssrc_bytes",
        "transport_sendto",
    )

    def __init__(
        self, sender: ForwardingSender, dtls: RTCDtlsTransport, payload_type: int, ssrc: int
    ) -> None:
        self.sender = sender
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
        self.packets = 0
        self.octets = 0
        self.catch_up: deque[OutputPacket] | None = None  # the cached GOP still to send to a joining viewer
        self.refresh()

    def refresh(self) -> None:
        """Pick up the ICE pair in use (it may change); send on its UDP transport."""
        pair = self.nominated_pairs.get(1)
        self.pair = pair
        if pair is None:
            self.transport_sendto, self.remote_addr = _drop, None
            self.socket_sendto, self.socket_backlog = _drop, ()
            return
        transport = pair.protocol.transport
        self.transport_sendto, self.remote_addr = transport.sendto, pair.remote_addr
        direct = internals.datagram_socket(transport)
        if direct is None:  # not asyncio's selector transport
            self.socket_sendto, self.socket_backlog = transport.sendto, ()
        else:
            self.socket_sendto, self.socket_backlog = direct

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
        self.packets += 1
        self.octets += size - 12

    def _send_large(self, marker: int, rtp: bytes) -> None:
        """A packet too large for our buffer: pylibsrtp's own protect."""
        header = bytearray(rtp[:12])
        header[1] = self.byte1[marker]
        header[8:12] = self.ssrc_bytes
        self.transport_sendto(self.protect(bytes(header) + rtp[12:]), self.remote_addr)
        self.packets += 1
        self.octets += len(rtp) - 12


_srtp_protect = internals.srtp_protect
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
        self.gop: list[OutputPacket] | None = None  # from the last keyframe on, for viewers who join
        self._gop_ts = -1
        # input -> output numbering
        self._in_ssrc: int | None = None
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

    def _rebase(self, packet: RtpPacket, now: float) -> None:
        """A new publisher SSRC: continue the output numbering where it stopped."""
        if self._started:
            ts_gap = max(1, int((now - self._last_arrival) * self.clock_rate))
            next_out_seq = (self._last_out_seq + 1) & 0xFFFF
            next_out_ts = (self._last_out_ts + ts_gap) & 0xFFFFFFFF
        else:
            next_out_seq = self._last_out_seq
            next_out_ts = self._last_out_ts
            self._started = True
        self._seq_offset = (next_out_seq - packet.sequence_number) & 0xFFFF
        self._ts_offset = (next_out_ts - packet.timestamp) & 0xFFFFFFFF
        self._in_ssrc = packet.ssrc
        self._last_in_seq = (packet.sequence_number - 1) & 0xFFFF
        self._last_arrival = now
        self.sender_report = None
        self.gop = None
        self._gop_ts = -1

    # -- the hot path --------------------------------------------------------

    def on_packet(self, packet: RtpPacket) -> None:
        t_in = _perf_ns() if probe is not None else 0
        now = time.monotonic()
        if packet.ssrc != self._in_ssrc:
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

        for output in self.outputs:
            output.send(out)
        if probe is not None:
            probe(self.kind, packet.ssrc, seq, t_in, len(self.outputs))
        self.packets_forwarded += len(self.outputs)
        for output in self.joining:
            output.catch_up.append(out)  # type: ignore[union-attr]

        if self.sinks:
            packet.sequence_number = out_seq
            packet.timestamp = out_ts
            for sink in self.sinks:
                try:
                    sink.on_packet(self.kind, packet, now)
                except Exception:
                    logger.exception("packet sink %r failed", sink)

    def retransmit(self, output: ViewerOutput, sequence_numbers: list[int]) -> None:
        ring = self._ring
        for seq in sequence_numbers:
            cached = ring[seq & RING_MASK]
            if cached is not None and cached[0] == seq:
                output.send(cached)
                self.retransmitted += 1

    def on_sender_report(self, packet: RtcpSrPacket) -> None:
        if packet.ssrc != self._in_ssrc:
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
        if self.gop:
            output.catch_up = deque(self.gop)
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


class _CountingQueue(queue.Queue):
    """Stands in for aiortc's decoder queue: anything put in it would be decoded."""

    def __init__(self, counter: list[int]) -> None:
        super().__init__()
        self.counter = counter

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            self.counter[0] += 1
        super().put(item, block, timeout)


class ForwardingReceiver(RTCRtpReceiver):
    """An ``RTCRtpReceiver`` that forwards instead of decoding (see module doc).

    Installed on a transceiver after ``setRemoteDescription`` with
    :meth:`install`; aiortc's private receiver state is resolved once there
    (:mod:`streaming.aiortc_internals`).
    """

    _fwd_track: TrackForwarder
    _fwd_is_current: Callable[[], bool]
    _fwd_remb: tuple[float, int]  # (monotonic time, bitrate) of the last REMB sent
    _fwd_state: internals.ReceiverState

    @classmethod
    def install(
        cls,
        receiver: RTCRtpReceiver,
        track: TrackForwarder,
        is_current: Callable[[], bool],
        decoded_counter: list[int],
    ) -> ForwardingReceiver:
        forwarding = internals.become(receiver, cls)
        forwarding._fwd_track = track
        forwarding._fwd_is_current = is_current
        forwarding._fwd_remb = (-1e9, 0)
        forwarding._fwd_state = internals.receiver_state(receiver)
        internals.replace_decoder_queue(receiver, _CountingQueue(decoded_counter))
        return forwarding

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        # RTCRtpReceiver.receive() minus the decoder thread
        if internals.receiver_started(self):
            return
        internals.start_receiver(self, parameters, asyncio.ensure_future(self._run_rtcp()))

    @property
    def decoder_running(self) -> bool:
        return internals.decoder_running(self)

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket) and self._fwd_is_current():
            self._fwd_track.on_sender_report(packet)
        if isinstance(packet, RtcpByePacket):
            return  # the base class would stop a decoder we never started
        await super()._handle_rtcp_packet(packet)

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if not self._enabled or not self._fwd_is_current():
            return
        state = self._fwd_state
        estimator = state.bitrate_estimator
        if estimator is not None and packet.extensions.abs_send_time is not None:
            remb = estimator.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            # aiortc would send one REMB per packet while its detector says "overusing"
            # (hundreds a second, as the fan-out delays arrival times); send like
            # libwebrtc: a drop of 3 % at once, otherwise at most every REMB_INTERVAL
            if remb is not None:
                rtcp_ssrc = internals.rtcp_ssrc(self)
                bitrate = max(remb[0], REMB_FLOOR)
                if rtcp_ssrc is not None and self._remb_due(bitrate):
                    await self._send_rtcp(
                        RtcpPsfbPacket(
                            fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, remb[1])
                        )
                    )
        codecs = state.codecs
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        streams = state.remote_streams
        stats = streams.get(packet.ssrc)
        if stats is None:
            stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if is_rtx(codec):
            original_ssrc = state.rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original_ssrc is None or len(packet.payload) < 2 or apt not in codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
        nack = state.nack_generator
        if nack is not None and nack.add(packet):
            await self._send_rtcp_nack(packet.ssrc, sorted(nack.missing))
        self._fwd_track.on_packet(packet)

    def _remb_due(self, bitrate: int) -> bool:
        now = time.monotonic()
        last_at, last_bitrate = self._fwd_remb
        if now - last_at < REMB_INTERVAL and bitrate >= last_bitrate * 0.97:
            return False
        self._fwd_remb = (now, bitrate)
        return True

    async def request_keyframe(self) -> None:
        ssrc = self._fwd_track._in_ssrc
        if ssrc is not None:
            await self._send_rtcp_pli(ssrc)


class ForwardingSender(RTCRtpSender):
    """An ``RTCRtpSender`` fed by a :class:`TrackForwarder` (see module doc)."""

    _fwd_track: TrackForwarder
    _fwd_output: ViewerOutput | None
    _fwd_rtcp_task: asyncio.Task[None] | None
    _fwd_cname: str | None
    _fwd_loss: tuple[int, int]  # (packets lost, fraction lost/256) from the viewer's reports
    _fwd_ssrc: int  # our SSRC towards the viewer

    @classmethod
    def install(cls, sender: RTCRtpSender, track: TrackForwarder) -> ForwardingSender:
        forwarding = internals.become(sender, cls)
        forwarding._fwd_track = track
        forwarding._fwd_output = None
        forwarding._fwd_rtcp_task = None
        forwarding._fwd_cname = None
        forwarding._fwd_loss = (0, 0)
        forwarding._fwd_ssrc = internals.sender_ssrc(sender)
        return forwarding

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self._fwd_output is not None:
            return
        self._fwd_cname = parameters.rtcp.cname
        internals.register_sender(self.transport, self, parameters)
        codec = next(c for c in parameters.codecs if not is_rtx(c))
        # aiortc types payloadType Optional; negotiated codecs always carry one
        self._fwd_output = ViewerOutput(self, self.transport, codec.payloadType, self._fwd_ssrc)  # type: ignore[arg-type]
        self._fwd_track.attach(self._fwd_output)
        self._fwd_rtcp_task = asyncio.ensure_future(self._run_rtcp())

    async def stop(self) -> None:
        output = self._fwd_output
        if output is None:
            return
        self._fwd_track.detach(output)
        internals.unregister_sender(self.transport, self)
        if self._fwd_rtcp_task is not None:
            self._fwd_rtcp_task.cancel()
            self._fwd_rtcp_task = None
            await self._send_rtcp([RtcpByePacket(sources=[self._fwd_ssrc])])

    @property
    def output(self) -> ViewerOutput | None:
        return self._fwd_output

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        output = self._fwd_output
        if output is None:
            return
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self._fwd_track.retransmit(output, packet.lost)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self._fwd_track.request_keyframe()
        elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == self._fwd_ssrc:
                    self._fwd_loss = (report.packets_lost, report.fraction_lost)
        # REMB (RTCP_PSFB_APP) is ignored: see the module doc.

    async def _run_rtcp(self) -> None:
        try:
            while True:
                await asyncio.sleep(0.5 + random.random())
                output = self._fwd_output
                if output is None or output.packets == 0:
                    continue
                ntp, rtp = self._fwd_track.sender_info_now()
                packets: list[AnyRtcpPacket] = [
                    RtcpSrPacket(
                        ssrc=self._fwd_ssrc,
                        sender_info=RtcpSenderInfo(
                            ntp_timestamp=ntp,
                            rtp_timestamp=rtp,
                            packet_count=output.packets & 0xFFFFFFFF,
                            octet_count=output.octets & 0xFFFFFFFF,
                        ),
                    )
                ]
                if self._fwd_cname:
                    packets.append(
                        RtcpSdesPacket(
                            chunks=[
                                RtcpSourceInfo(
                                    ssrc=self._fwd_ssrc, items=[(1, self._fwd_cname.encode())]
                                )
                            ]
                        )
                    )
                await self._send_rtcp(packets)
        except asyncio.CancelledError:
            pass

    async def _send_rtcp(self, packets: list[AnyRtcpPacket]) -> None:
        try:
            await internals.send_rtcp(self.transport, b"".join(bytes(p) for p in packets))
        except ConnectionError:
            pass
