"""Every private part of aiortc, aioice, pylibsrtp and asyncio that Cloud Expo reaches, in one place.

The forwarder (:mod:`streaming.forwarder`) sends each packet with libsrtp and
the ICE pair's socket directly, and replaces aiortc's RTP receiver and sender
on the engine's connections; the engine (:mod:`streaming.engine`) narrows a
transceiver's codecs; :mod:`streaming.peers` widens aiortc's codec table and
chooses where aioice gathers. None of that is public API, so the versions are
pinned in ``pyproject.toml`` and in :data:`PINNED`, and :func:`check` (run
when a :class:`~streaming.engine.MediaEngine` is created, and by
``tests/test_streaming_internals.py``) fails with a message saying what
changed and where to look.

The hot path pays nothing for this module: each accessor is called once per
connection (or once at import) and hands back the object the forwarder keeps.

Besides the attributes read here, :class:`~streaming.rtp_endpoints.ForwardingReceiver`
and :class:`~streaming.rtp_endpoints.ForwardingSender` override and call aiortc's
private methods listed in :data:`RECEIVER_METHODS`, :data:`SENDER_METHODS` and
:data:`DTLS_METHODS`; :func:`check` makes sure they are still there.

To upgrade one of the three: install the new version, run
``tests/test_streaming_internals.py``, read each name it reports (and those
listed below) in the new source, adapt, then change :data:`PINNED` and
``pyproject.toml`` together.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import struct
import threading
import time
import weakref
from asyncio import selector_events
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

import aioice.ice
import pylibsrtp
from aiortc import rtcpeerconnection as _aiortc_pc
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import (
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
)
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket, is_rtcp
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

#: The versions whose internals this module was written against (keep in step with pyproject.toml).
PINNED = {"aiortc": "1.16.0", "aioice": "0.13.0", "pylibsrtp": "1.0.0"}

#: ``RTCRtpReceiver``'s private state read or written here (name-mangled ``_RTCRtpReceiver__<name>``).
RECEIVER_STATE = (
    "codecs",
    "rtx_ssrc",
    "remote_streams",
    "nack_generator",
    "remote_bitrate_estimator",
    "rtcp_ssrc",
    "started",
    "rtcp_task",
    "decoder_queue",
    "decoder_thread",
)
#: ``RTCRtpReceiver`` methods the forwarder overrides or calls.
RECEIVER_METHODS = ("_handle_rtp_packet", "_handle_rtcp_packet", "_run_rtcp", "_send_rtcp", "_send_rtcp_nack", "_send_rtcp_pli")
#: ``RTCRtpSender`` methods the forwarder overrides (and its ``_ssrc``).
SENDER_METHODS = ("_handle_rtcp_packet", "_run_rtcp")
#: ``RTCDtlsTransport`` methods the forwarder calls.
DTLS_METHODS = ("_register_rtp_receiver", "_register_rtp_sender", "_unregister_rtp_sender", "_unregister_rtp_receiver", "_send_rtp")

MAX_PACKET = 1500  # bytes in a libsrtp buffer of ours (pylibsrtp's own size)
SRTP_MAX_IN = MAX_PACKET - pylibsrtp.SRTP_MAX_TRAILER_LEN  # the largest packet that fits before protection

#: ``srtp_protect(session, buffer, length pointer) -> error code``: libsrtp itself, through pylibsrtp's cffi binding.
srtp_protect: Callable[[Any, Any, Any], int] = _srtp_lib.srtp_protect
#: ``srtp_unprotect(session, buffer, length pointer) -> error code``: the same for incoming packets.
srtp_unprotect: Callable[[Any, Any, Any], int] = _srtp_lib.srtp_unprotect
#: Raises pylibsrtp's error for a libsrtp error code.
srtp_raise: Callable[[int], None] = pylibsrtp._srtp_assert
#: Where :data:`srtp_protect` is in memory, for the compiled fan-out loop (``streaming/_fanout.c``).
SRTP_PROTECT_ADDRESS = int(_srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(_srtp_lib, "srtp_protect")))

#: asyncio's datagram transport (the event loop's, for aioice's sockets): :func:`read_datagrams_exactly` replaces its read.
_SelectorDatagramTransport: Any = selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]

T = TypeVar("T")


class AiortcChanged(RuntimeError):
    """An installed WebRTC library is not the one whose internals Cloud Expo uses."""


# -- the check ---------------------------------------------------------------------------------


def installed_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in PINNED}


def problems(versions: dict[str, str] | None = None) -> list[str]:
    """What differs from what this module expects; empty when all is as pinned."""
    found = []
    versions = installed_versions() if versions is None else versions
    for name, pinned in PINNED.items():
        if versions.get(name) != pinned:
            found.append(
                f"{name} {versions.get(name)} is installed, but Cloud Expo uses private parts of {name} {pinned}"
            )
    found += _missing_attributes()
    return found


def _missing_attributes() -> list[str]:
    """Look for every private name on a real (never connected) connection, in a thread of its own.

    aiortc's objects want an event loop when they are made; the thread's own
    loop leaves the caller's (running or not) alone.
    """
    found: list[str] = []
    failure: list[BaseException] = []

    def probe() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            found.extend(_probe_connection())
        except BaseException as exc:
            failure.append(exc)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    thread = threading.Thread(target=probe, name="aiortc-internals-check")
    thread.start()
    thread.join()
    if failure:
        raise AiortcChanged(f"aiortc's objects could not be made to check its internals: {failure[0]!r}") from failure[0]
    return found


def _probe_connection() -> list[str]:
    from aiortc import RTCConfiguration, RTCPeerConnection

    missing = []
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # never connected: nothing to close
    transceiver = pc.addTransceiver("video")
    receiver, dtls = transceiver.receiver, transceiver.receiver.transport
    for name in RECEIVER_STATE:
        if not hasattr(receiver, f"_RTCRtpReceiver__{name}"):
            missing.append(f"aiortc's RTCRtpReceiver has no private '__{name}' any more")
    for cls, names in ((RTCRtpReceiver, RECEIVER_METHODS), (RTCRtpSender, SENDER_METHODS), (RTCDtlsTransport, DTLS_METHODS)):
        missing += [f"aiortc's {cls.__name__} has no method '{n}' any more" for n in names if not callable(getattr(cls, n, None))]
    checks = [
        (transceiver.sender, "_ssrc", "aiortc's RTCRtpSender has no '_ssrc' any more"),
        (receiver, "_enabled", "aiortc's RTCRtpReceiver has no '_enabled' any more"),
        (transceiver, "_codecs", "aiortc's RTCRtpTransceiver has no '_codecs' any more"),
        (transceiver, "_preferred_codecs", "aiortc's RTCRtpTransceiver has no '_preferred_codecs' any more"),
        (dtls, "_tx_srtp", "aiortc's RTCDtlsTransport has no '_tx_srtp' (its SRTP session) any more"),
        (dtls, "_rx_srtp", "aiortc's RTCDtlsTransport has no '_rx_srtp' (its SRTP session) any more"),
        (dtls, "_rtp_router", "aiortc's RTCDtlsTransport has no '_rtp_router' any more"),
        (dtls, "_rtp_header_extensions_map", "aiortc's RTCDtlsTransport has no '_rtp_header_extensions_map' any more"),
        (dtls, "_RTCDtlsTransport__rx_bytes", "aiortc's RTCDtlsTransport has no private '__rx_bytes' any more"),
        (dtls, "_RTCDtlsTransport__rx_packets", "aiortc's RTCDtlsTransport has no private '__rx_packets' any more"),
        (dtls.transport, "_connection", "aiortc's RTCIceTransport has no '_connection' (aioice) any more"),
        (_aiortc_pc, "CODECS", "aiortc.rtcpeerconnection has no 'CODECS' table any more"),
        (aioice.ice, "get_host_addresses", "aioice.ice has no 'get_host_addresses' any more"),
        (pylibsrtp, "_srtp_assert", "pylibsrtp has no '_srtp_assert' any more"),
    ]
    missing += [message for obj, name, message in checks if not hasattr(obj, name)]
    connection = getattr(dtls.transport, "_connection", None)
    if connection is not None and not isinstance(getattr(connection, "_nominated", None), dict):
        missing.append("aioice's Connection has no '_nominated' pairs dict any more")
    if connection is not None and not callable(getattr(connection, "data_received", None)):
        missing.append("aioice's Connection has no 'data_received' (where its protocols hand datagrams) any more")
    if connection is not None and not isinstance(getattr(connection, "_protocols", None), list):
        missing.append("aioice's Connection has no '_protocols' list any more")
    if not all(hasattr(aioice.ice.StunProtocol, n) for n in ("datagram_received", "__init__")):
        missing.append("aioice's StunProtocol has no 'datagram_received' any more")
    if not all(callable(getattr(_SelectorDatagramTransport, n, None)) for n in ("_read_ready", "_fatal_error", "is_reading")):
        missing.append("asyncio's _SelectorDatagramTransport has no '_read_ready' (its read of a datagram) any more")
    session = pylibsrtp.Session()
    if not hasattr(session, "_srtp"):
        missing.append("pylibsrtp's Session has no '_srtp' (libsrtp's session) any more")
    return missing


@functools.cache
def check() -> None:
    """Raise :class:`AiortcChanged` unless the installed libraries are the pinned ones with every internal used.

    Runs once per process (the first :class:`~streaming.engine.MediaEngine`).
    """
    found = problems()
    if found:
        raise AiortcChanged(
            "The WebRTC libraries changed: "
            + "; ".join(found)
            + ". Cloud Expo's forwarder depends on these private parts: see streaming/aiortc_internals.py "
            "(the list of what is used and how to upgrade), then update PINNED there and the pins in pyproject.toml."
        )


# -- once per connection -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiverState:
    """An ``RTCRtpReceiver``'s private tables, resolved once (they live as long as the receiver)."""

    codecs: dict[int, RTCRtpCodecParameters]
    rtx_ssrc: dict[int, int]  # RTX SSRC -> media SSRC
    remote_streams: dict[int, StreamStatistics]
    nack_generator: Any  # None for audio
    bitrate_estimator: Any  # None for audio


def receiver_state(receiver: RTCRtpReceiver) -> ReceiverState:
    return ReceiverState(
        receiver._RTCRtpReceiver__codecs,  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__rtx_ssrc,  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__remote_streams,  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__nack_generator,  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__remote_bitrate_estimator,  # type: ignore[attr-defined]
    )


def receiver_started(receiver: RTCRtpReceiver) -> bool:
    return bool(receiver._RTCRtpReceiver__started)  # type: ignore[attr-defined]


def start_receiver(receiver: RTCRtpReceiver, parameters: RTCRtpReceiveParameters, rtcp_task: asyncio.Future[None] | None) -> None:
    """What ``RTCRtpReceiver.receive`` does besides starting the decoder: the codecs, RTX, the transport, RTCP.

    aiortc's ``stop()`` reads the started flag and the RTCP task set here.
    """
    state = receiver_state(receiver)
    for codec in parameters.codecs:
        state.codecs[codec.payloadType] = codec  # type: ignore[index]
    for encoding in parameters.encodings:
        if encoding.rtx:
            state.rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
    receiver.transport._register_rtp_receiver(receiver, parameters)
    receiver._RTCRtpReceiver__rtcp_task = rtcp_task  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__started = True  # type: ignore[attr-defined]


def mark_receiver_started(receiver: RTCRtpReceiver, parameters: RTCRtpReceiveParameters) -> None:
    """Register a receiver with its transport and nothing else (benchmark viewers that only count)."""
    receiver.transport._register_rtp_receiver(receiver, parameters)
    receiver._RTCRtpReceiver__started = True  # type: ignore[attr-defined]


def unregister_receiver(receiver: RTCRtpReceiver) -> None:
    receiver.transport._unregister_rtp_receiver(receiver)


def rtcp_ssrc(receiver: RTCRtpReceiver) -> int | None:
    """The SSRC our RTCP to the publisher goes out with (set by the transport after registration)."""
    return receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]


def replace_decoder_queue(receiver: RTCRtpReceiver, replacement: Any) -> None:
    receiver._RTCRtpReceiver__decoder_queue = replacement  # type: ignore[attr-defined]


def drop_receive_state(receiver: RTCRtpReceiver) -> None:
    """Free aiortc's REMB estimator and NACK generator of a video receiver: a viewer's send-only
    transceiver never receives, and the forwarder's publisher receiver has leaner ones of its own.

    The estimator holds a rate counter of 1,001 objects (~100 KB) per
    connection; aiortc's receiver treats ``None`` as it does for audio.
    """
    receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__nack_generator = None  # type: ignore[attr-defined]


def decoder_running(receiver: RTCRtpReceiver) -> bool:
    return receiver._RTCRtpReceiver__decoder_thread is not None  # type: ignore[attr-defined]


def become(obj: Any, cls: type[T]) -> T:
    """Turn aiortc's own receiver or sender into our subclass of its class, in place.

    aiortc creates the receivers and senders inside ``setRemoteDescription``;
    swapping the class keeps every reference aiortc holds to the object.
    """
    if not issubclass(cls, type(obj)):
        raise TypeError(f"{cls.__name__} does not extend {type(obj).__name__}")
    obj.__class__ = cls
    return obj


def sender_ssrc(sender: RTCRtpSender) -> int:
    return sender._ssrc


def register_sender(dtls: RTCDtlsTransport, sender: RTCRtpSender, parameters: Any) -> None:
    dtls._register_rtp_sender(sender, parameters)


def unregister_sender(dtls: RTCDtlsTransport, sender: RTCRtpSender) -> None:
    dtls._unregister_rtp_sender(sender)


def lose_outgoing_rtp(dtls: RTCDtlsTransport, lose: Callable[[bytes], bool]) -> None:
    """Drop the RTP (and RTCP) a connection sends where ``lose(datagram before protection)`` is true:
    the network's loss, for tests of NACK and retransmission through real peers."""
    send = dtls._send_rtp

    async def send_or_lose(data: bytes) -> None:
        if not lose(data):
            await send(data)

    dtls._send_rtp = send_or_lose  # type: ignore[method-assign]


async def send_rtcp(dtls: RTCDtlsTransport, data: bytes) -> None:
    """Send an RTCP compound packet (SRTCP-protected by the transport)."""
    await dtls._send_rtp(data)


@dataclass(slots=True)
class SrtpSender:
    """A DTLS transport's outgoing SRTP session, for protecting packets in a buffer of our own.

    ``session`` is libsrtp's own session (``srtp_t``), for :data:`srtp_protect`, and
    ``address`` where it is in memory (for ``streaming/_fanout.c``); ``protect`` is
    pylibsrtp's (slower, any size), which also keeps the session alive.
    """

    protect: Callable[[bytes], bytes]
    session: Any
    address: int
    buffer: Any  # char[MAX_PACKET]
    view: memoryview
    length: Any  # int *


def srtp_sender(dtls: RTCDtlsTransport) -> SrtpSender:
    """Resolve once per viewer connection (after DTLS is up)."""
    return srtp_sender_of(dtls._tx_srtp)


def srtp_sender_of(session: pylibsrtp.Session) -> SrtpSender:
    """An outgoing pylibsrtp session's libsrtp parts (:func:`srtp_sender` takes a connection's)."""
    buffer = _srtp_ffi.new("char[]", MAX_PACKET)
    srtp = session._srtp[0]
    return SrtpSender(
        session.protect,
        srtp,
        int(_srtp_ffi.cast("uintptr_t", srtp)),
        buffer,
        memoryview(_srtp_ffi.buffer(buffer)),
        _srtp_ffi.new("int *"),
    )


def receive_rtp_directly(dtls: RTCDtlsTransport) -> None:
    """Take a connection's SRTP media off its socket straight to its receivers (once per connection).

    aiortc hands every datagram to a queue that its DTLS task reads, one task
    wake-up and several coroutines per packet; here an RTP packet is
    unprotected, parsed and routed as it comes off the socket, and a receiver
    with a ``handle_rtp_now(packet, arrival_time_ms)`` method (the forwarder's)
    gets it without an await. Everything else (STUN, DTLS, RTCP, media before
    the SRTP keys exist) still goes aiortc's way. The transport's byte and
    packet counts (getStats) stay right.
    """
    connection = dtls.transport._connection
    if getattr(connection, "_direct_rtp", False):
        return
    connection._direct_rtp = True  # type: ignore[attr-defined]
    queued = connection.data_received  # aiortc's way: the queue its DTLS task reads
    router = dtls._rtp_router
    protocols: list[Any] = connection._protocols
    skipping = [0]  # how many of the connection's protocols skip STUN parsing for media
    reader = [_NO_READER]  # the RtpReader of the connection's incoming SRTP session

    def data_received(data: bytes, component: int) -> None:
        if skipping[0] != len(protocols):
            skipping[0] = len(protocols)
            for protocol in protocols:
                _skip_stun_parsing(protocol)
                read_datagrams_exactly(protocol.transport)
        srtp = dtls._rx_srtp
        if srtp is None or not 127 < data[0] < 192 or is_rtcp(data):
            queued(data, component)
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        arrival_time_ms = int((_time() + _NTP_EPOCH_OFFSET) * 1000)  # aiortc's clock.current_ms(), without datetime
        if reader[0].session is not srtp:
            reader[0] = RtpReader(srtp)
        packet = reader[0].read(data, dtls._rtp_header_extensions_map)
        if packet is None:
            return  # aiortc drops these too
        receiver = router.route_rtp(packet)
        if receiver is None:
            return
        handle = getattr(receiver, "handle_rtp_now", None)
        if handle is not None:
            handle(packet, arrival_time_ms)
        else:
            _keep(asyncio.ensure_future(receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)))

    connection.data_received = data_received  # type: ignore[method-assign]


class ReceivedRtpPacket(RtpPacket):
    """aiortc's ``RtpPacket`` as :class:`RtpReader` makes it: the same fields, but its header
    extensions are parsed (with the connection's map, as aiortc would) only when read.

    aiortc parses every packet's extensions into a new ``HeaderExtensions``; nothing
    Cloud Expo does per packet reads them.
    """

    def __init__(
        self,
        marker: int,
        payload_type: int,
        sequence_number: int,
        timestamp: int,
        ssrc: int,
        csrc: list[int],
        payload: bytes,
        padding_size: int,
        raw_extensions: tuple[int, bytes, HeaderExtensionsMap] | None,
    ) -> None:
        self.version = 2
        self.marker = marker
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.csrc = csrc
        self.payload = payload
        self.padding_size = padding_size
        self._raw_extensions = raw_extensions
        self._extensions: HeaderExtensions | None = None

    @property
    def extensions(self) -> HeaderExtensions:
        parsed = self._extensions
        if parsed is None:
            raw = self._raw_extensions
            parsed = self._extensions = HeaderExtensions() if raw is None else raw[2].get(raw[0], raw[1])
        return parsed

    @extensions.setter
    def extensions(self, value: HeaderExtensions) -> None:
        self._extensions = value


_RTP_HEADER = struct.Struct("!BBHLL")
_EXTENSION_HEADER = struct.Struct("!HH")
RTP_HEADER_SIZE = _RTP_HEADER.size


class RtpReader:
    """An incoming SRTP session's packets unprotected by libsrtp in a buffer of its own and parsed
    lean (:class:`ReceivedRtpPacket`): what ``RtpPacket.parse(session.unprotect(data), map)`` gives,
    without pylibsrtp's per-call allocations and copies or the header extensions' parse.

    :meth:`read` returns None where those would raise (libsrtp refuses the packet: a replay, a
    wrong tag; or it is not valid RTP), as aiortc drops such packets.
    """

    __slots__ = ("_buffer", "_length", "_srtp", "_view", "session")

    def __init__(self, session: pylibsrtp.Session | None) -> None:
        self.session = session  # also keeps libsrtp's session alive
        self._srtp = session._srtp[0] if session is not None else None
        self._buffer = _srtp_ffi.new("char[]", MAX_PACKET)
        self._view = memoryview(_srtp_ffi.buffer(self._buffer))
        self._length = _srtp_ffi.new("int *")

    def read(self, data: bytes, extensions_map: HeaderExtensionsMap) -> ReceivedRtpPacket | None:
        size = len(data)
        if size > MAX_PACKET or self._srtp is None:
            return None
        view = self._view
        view[:size] = data
        length = self._length
        length[0] = size
        if srtp_unprotect(self._srtp, self._buffer, length):
            return None
        return parse_rtp(view, length[0], extensions_map)


_NO_READER = RtpReader(None)


def parse_rtp(view: memoryview, size: int, extensions_map: HeaderExtensionsMap) -> ReceivedRtpPacket | None:
    """The RTP packet in ``view[:size]``, checked as ``RtpPacket.parse`` checks it (None where it raises)."""
    if size < RTP_HEADER_SIZE:
        return None
    first, second, sequence_number, timestamp, ssrc = _RTP_HEADER.unpack_from(view)
    if first >> 6 != 2:
        return None
    count = first & 0x0F
    pos = RTP_HEADER_SIZE + 4 * count
    if size < pos:
        return None
    csrc = list(struct.unpack_from(f"!{count}L", view, RTP_HEADER_SIZE)) if count else []
    raw_extensions = None
    if first & 0x10:
        if size < pos + 4:
            return None
        profile, words = _EXTENSION_HEADER.unpack_from(view, pos)
        pos += 4
        if size < pos + 4 * words:
            return None
        raw_extensions = (profile, bytes(view[pos : pos + 4 * words]), extensions_map)
        pos += 4 * words
    padding = 0
    if first & 0x20:
        padding = view[size - 1]
        if not padding or padding > size - pos:
            return None
    return ReceivedRtpPacket(
        second >> 7, second & 0x7F, sequence_number, timestamp, ssrc, csrc,
        bytes(view[pos : size - padding]), padding, raw_extensions,
    )


def stop_receiving_directly(dtls: RTCDtlsTransport) -> None:
    """Undo :func:`receive_rtp_directly` and :func:`_skip_stun_parsing` before the connection closes: their
    closures refer back to the ICE connection and the DTLS transport (cycles only a full collection frees)."""
    connection = dtls.transport._connection
    vars(connection).pop("data_received", None)
    vars(connection).pop("_direct_rtp", None)
    for protocol in connection._protocols:
        vars(protocol).pop("datagram_received", None)


_NTP_EPOCH_OFFSET = 2208988800.0  # seconds from 1900 (NTP's epoch, aiortc's millisecond clock) to 1970
_time = time.time


#: The largest UDP datagram there is (65,507 bytes of IPv4 payload), so an exact read never cuts one short.
DATAGRAM_MAX = 65536
#: Datagrams read off one socket in one turn of the event loop at most (then other work gets its turn).
READ_BATCH = 64
_read_buffers = threading.local()  # one receive buffer per event loop thread


def read_datagrams_exactly(transport: Any) -> bool:
    """Make an asyncio datagram transport read each datagram into a buffer of its thread and hand on an
    exact-size copy; False (and nothing changed) if it is another kind of transport, or already does.

    asyncio's own read asks the socket for up to 256 KiB (``recvfrom(max_size)``)
    and shrinks the block to the datagram's size: glibc made that block a
    mapping of its own each time (mmap, mremap, munmap: the server keeps glibc's
    mmap threshold at 128 KiB, see :mod:`cloudexpo.heap`), or, with the
    threshold raised, carved 256 KiB from its heap. A publisher sends hundreds
    of packets a second and each viewer its RTCP; a copy of the datagram's
    size costs a memcpy.

    Each wake-up reads every datagram waiting (up to :data:`READ_BATCH`): one
    event-loop turn for the packets an encoder sent together instead of one each.
    """
    if not isinstance(transport, _SelectorDatagramTransport) or "_read_ready" in vars(transport):
        return False
    buffer = getattr(_read_buffers, "buffer", None)
    if buffer is None:
        buffer = _read_buffers.buffer = bytearray(DATAGRAM_MAX)
    view = memoryview(buffer)
    sock = transport._sock
    weak = weakref.ref(transport)  # the transport holds this reader: no cycle

    def read_ready() -> None:  # asyncio's _SelectorDatagramTransport._read_ready, reading into our buffer
        transport = weak()
        if transport is None or transport._conn_lost:
            return
        for _ in range(READ_BATCH):  # every datagram waiting, in one turn of the loop
            try:
                size, addr = sock.recvfrom_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                transport._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                transport._fatal_error(exc, "Fatal read error on datagram transport")
                return
            transport._protocol.datagram_received(bytes(view[:size]), addr)
            if transport._conn_lost:  # closed by what it read
                return

    transport._read_ready = read_ready  # what resume_reading() registers
    if transport.is_reading():  # the loop holds asyncio's own method since the transport was made
        transport._loop._add_reader(transport._sock_fd, read_ready)
    return True


def _skip_stun_parsing(protocol: Any) -> None:
    """aioice parses every datagram as STUN and takes the failure as "media"; RTP and RTCP
    (first byte 128-191) never are STUN (its first two bits are 0), so they skip that."""
    if not isinstance(protocol, aioice.ice.StunProtocol) or "datagram_received" in vars(protocol):
        return
    parse_as_stun = protocol.datagram_received
    receiver = protocol.receiver
    component = protocol.local_candidate.component

    def datagram_received(data: Any, addr: Any) -> None:
        if 127 < data[0] < 192:
            receiver.data_received(data, component)
        else:
            parse_as_stun(data, addr)

    protocol.datagram_received = datagram_received  # type: ignore[method-assign]


_pending: set[asyncio.Future[Any]] = set()


def _keep(task: asyncio.Future[Any]) -> None:
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def nominated_pairs(dtls: RTCDtlsTransport) -> dict[int, Any]:
    """aioice's nominated candidate pair per ICE component (the live dict: it changes when the pair does)."""
    return dtls.transport._connection._nominated


def datagram_socket(transport: Any) -> tuple[socket.socket, Any] | None:
    """``(socket, asyncio's send buffer)`` of an asyncio datagram transport, or None if it is another kind.

    Sending on the socket skips asyncio's per-call checks; while asyncio holds
    queued data (the buffer is non-empty) the caller must go through the
    transport to keep the order.
    """
    sock = getattr(transport, "_sock", None)
    queued = getattr(transport, "_buffer", None)
    if sock is None or queued is None:
        return None
    return sock, queued


def configuration(pc: Any) -> Any:
    """The ``RTCConfiguration`` a peer connection was made with."""
    return pc._RTCPeerConnection__configuration


def transceiver_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs a transceiver negotiated (after ``setRemoteDescription``)."""
    return transceiver._codecs


def prefer_codecs(transceiver: RTCRtpTransceiver, codecs: list[RTCRtpCodecParameters]) -> None:
    """Offer exactly ``codecs`` (taken from aiortc's codec table) on this transceiver.

    ``setCodecPreferences`` checks against the codecs aiortc encodes, which lack the
    H.264 main and high profiles a forwarded broadcast may carry; ``createOffer``
    filters the table by these preferences (mime type and parameters).
    """
    transceiver._preferred_codecs = [
        RTCRtpCodecCapability(mimeType=c.mimeType, clockRate=c.clockRate, channels=c.channels, parameters=dict(c.parameters))
        for c in codecs
    ]


def set_transceiver_codecs(transceiver: RTCRtpTransceiver, codecs: list[RTCRtpCodecParameters]) -> None:
    """Narrow what the answer offers and what the receiver accepts (before ``createAnswer``)."""
    transceiver._codecs = codecs


# -- once per process ------------------------------------------------------------------------------


def host_addresses_function() -> Callable[[bool, bool], list[str]]:
    """``aioice.ice.get_host_addresses``: which local addresses aioice gathers candidates on."""
    return aioice.ice.get_host_addresses


def replace_host_addresses(replacement: Callable[[bool, bool], list[str]]) -> None:
    """Make aioice gather on the addresses ``replacement(use_ipv4, use_ipv6)`` returns."""
    aioice.ice.get_host_addresses = replacement  # type: ignore[assignment]


def codec_table() -> dict[str, list[RTCRtpCodecParameters]]:
    """The table of codecs aiortc negotiates (``aiortc.rtcpeerconnection.CODECS``)."""
    return _aiortc_pc.CODECS


def replace_codec_table(table: dict[str, list[RTCRtpCodecParameters]]) -> None:
    _aiortc_pc.CODECS = table
