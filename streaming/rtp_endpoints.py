"""The engine's RTP endpoints on aiortc connections: packets in from a publisher, out to a viewer.

Publisher side, :class:`ForwardingReceiver` takes the place of aiortc's
``RTCRtpReceiver`` on the engine's connections: it keeps aiortc's receiver
reports and NACK generation towards the publisher (each packet counted by
leaner equivalents of aiortc's classes, :class:`ReceiveStatistics` and
:class:`NackTracker`), sends a fixed REMB (:data:`REMB_BITRATE`) instead of
running aiortc's delay-based estimator, starts no decoder thread and hands
packets straight to the :class:`~streaming.forwarder.TrackForwarder` instead
of to the jitter buffer.

Viewer side, :class:`ForwardingSender` takes the place of ``RTCRtpSender``: it
runs no encoder and no RTP task; its :class:`~streaming.forwarder.ViewerOutput`
gets the forwarder's packets; it answers NACKs from the forwarder's ring,
turns PLI/FIR into a (rate-limited) keyframe request to the publisher, and
sends sender reports whose NTP/RTP pair is the publisher's last report mapped
through the output offsets, so lip sync survives forwarding. REMB from viewers
is ignored on purpose: one weak viewer must not lower the quality every viewer
gets.

Both replace aiortc's objects in place and use aiortc's private parts, all
through :mod:`streaming.aiortc_internals`.
"""

from __future__ import annotations

import asyncio
import queue
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import NackGenerator, RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTP_HISTORY_SIZE,
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
from . import aiortc_receive
from .forwarder import TrackForwarder, ViewerOutput

# REMB to a publisher: a fixed cap, sent at its first video packet and then every
# REMB_EVERY seconds (as Janus does with a room's bitrate cap), not aiortc's
# delay-based estimate. That estimate read the fan-out's own event-loop delay as
# congestion and would talk a publisher down as the audience grew, so it was
# already never let below 3 Mbit/s; above that it only followed the incoming
# rate, and it cost ~3 % of the receive path's CPU per packet. Real congestion
# on the publisher's uplink shows as loss in our receiver reports, which the
# publisher's own loss-based control obeys. A browser trusts the REMB in its
# first two seconds (libwebrtc's start phase: it starts at this rate instead of
# ramping up from 300 kbit/s), hence the REMB at the first packet; the cap is
# above the browsers' own encoder maximum (2.5 Mbit/s for a camera or a screen)
# so it never lowers what they send, only bounds an application that raised it.
REMB_BITRATE = 6_000_000
REMB_EVERY = 1.0  # seconds


class _CountingQueue(queue.Queue):
    """Stands in for aiortc's decoder queue: anything put in it would be decoded."""

    def __init__(self, counter: list[int]) -> None:
        super().__init__()
        self.counter = counter

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:
            self.counter[0] += 1
        super().put(item, block, timeout)


class ReceiveStatistics(StreamStatistics):
    """aiortc's per-SSRC receive statistics (receiver reports' loss, highest sequence number,
    jitter), counting a packet in fewer steps: the same figures as ``StreamStatistics.add``."""

    def add(self, packet: RtpPacket) -> None:
        seq = packet.sequence_number
        self.packets_received += 1
        max_seq = self.max_seq
        if max_seq is None:
            self.base_seq = seq
        elif not 0 < (seq - max_seq) & 0xFFFF < 0x8000:
            return  # not newer than the highest (aiortc's uint16_gt)
        elif seq < max_seq:
            self.cycles += 1 << 16
        arrival = int(time.time() * self._clockrate)
        self.max_seq = seq
        timestamp = packet.timestamp
        if timestamp != self._last_timestamp and self.packets_received > 1:
            diff = abs((arrival - self._last_arrival) - (timestamp - self._last_timestamp))  # type: ignore[operator]
            self._jitter_q4 += diff - ((self._jitter_q4 + 8) >> 4)
        self._last_arrival = arrival
        self._last_timestamp = timestamp


class NackTracker(NackGenerator):
    """aiortc's NACK generator (which sequence numbers are missing; True when a packet reveals
    new ones), counting a packet in fewer steps: the same answers as ``NackGenerator.add``."""

    def add(self, packet: RtpPacket) -> bool:
        seq = packet.sequence_number
        max_seq = self.max_seq
        if max_seq is None:
            self.max_seq = seq
            return False
        missed = False
        delta = (seq - max_seq) & 0xFFFF
        if 0 < delta < 0x8000:
            if delta > 1:  # a gap; only the last RTP_HISTORY_SIZE are kept, as truncate() would
                missing = self.missing
                for step in range(max(1, delta - RTP_HISTORY_SIZE), delta):
                    missing.add((max_seq + step) & 0xFFFF)
                missed = True
            self.max_seq = seq
        else:
            self.missing.discard(seq)
        if self.missing:
            self.truncate()
        return missed


class ForwardingReceiver(RTCRtpReceiver):
    """An ``RTCRtpReceiver`` that forwards instead of decoding (see module doc).

    Installed on a transceiver after ``setRemoteDescription`` with
    :meth:`install`; aiortc's private receiver state is resolved once there
    (:mod:`streaming.aiortc_internals`).
    """

    _fwd_track: TrackForwarder
    _fwd_is_current: Callable[[], bool]
    _fwd_remb_at: int | None  # when the next REMB is due (aiortc's ms clock); None: never (audio)
    _fwd_nack: NackTracker | None  # None for audio
    _fwd_state: internals.ReceiverState
    _fwd_sending: set[asyncio.Future[None]]  # RTCP on its way (REMB, NACK)
    _fwd_rtx: dict[int, tuple[Any, bool]]  # payload type -> (its codec, whether it is RTX), as met

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
        video = track.kind == "video"
        forwarding._fwd_remb_at = 0 if video else None
        forwarding._fwd_nack = NackTracker() if video else None
        internals.drop_receive_state(receiver)  # aiortc's estimator and NACK generator: ours replace them
        forwarding._fwd_state = internals.receiver_state(receiver)
        forwarding._fwd_sending = set()
        forwarding._fwd_rtx = {}
        internals.replace_decoder_queue(receiver, _CountingQueue(decoded_counter))
        aiortc_receive.receive_rtp_directly(receiver.transport)
        return forwarding

    def retire(self) -> None:
        """Before its connection closes: let go of the publisher (``is_current`` refers to it, and the
        publisher to its connection and this receiver: a reference cycle that kept every replaced or lost
        publisher's connection until a rare full collection) and of the socket's direct path."""
        self._fwd_is_current = _retired
        aiortc_receive.stop_receiving_directly(self.transport)

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
        self.handle_rtp_now(packet, arrival_time_ms)

    def handle_rtp_now(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """A packet from the publisher, as it comes off the socket (:func:`aiortc_receive.receive_rtp_directly`).

        The RTCP it makes us send (REMB, NACK) goes out in a task of its own.
        """
        if not self._enabled or not self._fwd_is_current():
            return
        state = self._fwd_state
        codecs = state.codecs
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        streams = state.remote_streams
        stats = streams.get(packet.ssrc)
        if stats is None:
            stats = streams[packet.ssrc] = ReceiveStatistics(codec.clockRate)
        stats.add(packet)
        known = self._fwd_rtx.get(packet.payload_type)
        if known is None or known[0] is not codec:  # aiortc's is_rtx splits the MIME type: once per codec
            known = self._fwd_rtx[packet.payload_type] = (codec, is_rtx(codec))
        if known[1]:
            original_ssrc = state.rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original_ssrc is None or len(packet.payload) < 2 or apt not in codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
        nack = self._fwd_nack
        if nack is not None and nack.add(packet):
            self._rtcp_soon(self._send_rtcp_nack(packet.ssrc, sorted(nack.missing)))
        remb_at = self._fwd_remb_at
        if remb_at is not None and arrival_time_ms >= remb_at:
            self._send_remb(packet.ssrc, arrival_time_ms)
        self._fwd_track.on_packet(packet)

    def _send_remb(self, media_ssrc: int, now_ms: int) -> None:
        rtcp_ssrc = internals.rtcp_ssrc(self)
        if rtcp_ssrc is None:
            return
        self._fwd_remb_at = now_ms + int(REMB_EVERY * 1000)
        self._rtcp_soon(self._send_rtcp(
            RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(REMB_BITRATE, [media_ssrc]))
        ))

    def _rtcp_soon(self, sending: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(sending)
        self._fwd_sending.add(task)
        task.add_done_callback(self._fwd_sending.discard)

    async def request_keyframe(self) -> None:
        ssrc = self._fwd_track.input_ssrc
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
    _fwd_rtcp_at: float  # monotonic time of the viewer's last RTCP packet (0: none yet)

    @classmethod
    def install(cls, sender: RTCRtpSender, track: TrackForwarder) -> ForwardingSender:
        forwarding = internals.become(sender, cls)
        forwarding._fwd_track = track
        forwarding._fwd_output = None
        forwarding._fwd_rtcp_task = None
        forwarding._fwd_cname = None
        forwarding._fwd_loss = (0, 0)
        forwarding._fwd_ssrc = internals.sender_ssrc(sender)
        forwarding._fwd_rtcp_at = 0.0
        return forwarding

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self._fwd_output is not None:
            return
        self._fwd_cname = parameters.rtcp.cname
        internals.register_sender(self.transport, self, parameters)
        codec = next(c for c in parameters.codecs if not is_rtx(c))
        # aiortc types payloadType Optional; negotiated codecs always carry one
        self._fwd_output = ViewerOutput(self.transport, codec.payloadType, self._fwd_ssrc)  # type: ignore[arg-type]
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

    @property
    def last_report_at(self) -> float:
        """When the other side last sent RTCP (receiver reports come every second or so): a peer
        that went away stops long before ICE consent notices (30 s)."""
        return self._fwd_rtcp_at

    @property
    def reported_loss(self) -> float:
        """The share of packets the viewer lost lately, from its last receiver report (0 to 1)."""
        return self._fwd_loss[1] / 256

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        self._fwd_rtcp_at = time.monotonic()
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


def _retired() -> bool:
    return False
