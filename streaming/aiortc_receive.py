"""A connection's incoming media through aiortc's, aioice's and asyncio's private parts: RTP read off the
socket, unprotected, parsed and handed to its receiver without aiortc's queue and tasks.

The receive half of :mod:`streaming.aiortc_internals` (which says why these parts are reached and how the
pinned versions are checked). Where ``streaming/_receive.c`` is compiled, every datagram waiting on a
socket is read in one ``recvmmsg``, unprotected by libsrtp and parsed there (:func:`read_rtp_in_batches`);
otherwise, and before the SRTP keys exist, each is read exactly (:func:`read_datagrams_exactly`),
unprotected into a buffer of ours and parsed lean in Python (:class:`RtpReader`).
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket, is_rtcp
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

from .aiortc_internals import MAX_PACKET, SelectorDatagramTransport, srtp_address, srtp_unprotect
from .media_meter import receive as meter

#: Where :data:`srtp_unprotect` is in memory, for the compiled receive path (``streaming/_receive.c``).
SRTP_UNPROTECT_ADDRESS = int(_srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(_srtp_lib, "srtp_unprotect")))

_receive: Any = None  # streaming/_receive.c, where it was compiled (and CLOUDEXPO_PURE_FANOUT is not 1)
if os.environ.get("CLOUDEXPO_PURE_FANOUT") != "1":
    try:
        from . import _receive  # type: ignore[attr-defined,no-redef]
    except ImportError:  # not compiled here: each datagram read and unprotected the Python way (RtpReader)
        _receive = None
    else:
        _receive.set_unprotect(SRTP_UNPROTECT_ADDRESS)


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
                read_rtp_in_batches(protocol.transport, dtls)
        srtp = dtls._rx_srtp
        if srtp is None or not 127 < data[0] < 192 or is_rtcp(data):
            queued(data, component)
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
        started = _clock()
        arrival_time_ms = arrival_ms()
        if reader[0].session is not srtp:
            reader[0] = RtpReader(srtp)
        packet = reader[0].read(data, dtls._rtp_header_extensions_map)
        read_at = _clock()
        if packet is not None:  # aiortc drops the others too
            deliver_rtp(router, packet, arrival_time_ms)
        meter.read_ns += read_at - started
        meter.forward_ns += _clock() - read_at
        meter.packets += 1

    connection.data_received = data_received  # type: ignore[method-assign]


def deliver_rtp(router: Any, packet: RtpPacket, arrival_time_ms: int) -> None:
    """An unprotected RTP packet to the connection's receiver of its stream: at once where it has a
    ``handle_rtp_now`` (the forwarder's), else aiortc's way."""
    receiver = router.route_rtp(packet)
    if receiver is None:
        return
    handle = getattr(receiver, "handle_rtp_now", None)
    if handle is not None:
        handle(packet, arrival_time_ms)
    else:
        _keep(asyncio.ensure_future(receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)))


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
_clock = time.perf_counter_ns  # the meter's clock (vDSO: no system call)


def arrival_ms() -> int:
    """aiortc's ``clock.current_ms()`` (milliseconds since 1900), without its datetime."""
    return int((_time() + _NTP_EPOCH_OFFSET) * 1000)


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
    if not isinstance(transport, SelectorDatagramTransport) or "_read_ready" in vars(transport):
        return False
    _install_reader(transport, _exact_reader(transport))
    return True


def _exact_reader(transport: Any) -> Callable[[], None]:
    """:func:`read_datagrams_exactly`'s read of ``transport`` (an asyncio datagram transport)."""
    buffer = getattr(_read_buffers, "buffer", None)
    if buffer is None:
        buffer = _read_buffers.buffer = bytearray(DATAGRAM_MAX)
    view = memoryview(buffer)
    sock = transport._sock
    weak = weakref.ref(transport)  # the transport holds this reader: no cycle

    def read_ready() -> None:  # asyncio's SelectorDatagramTransport._read_ready, reading into our buffer
        transport = weak()
        if transport is None or transport._conn_lost:
            return
        for _ in range(READ_BATCH):  # every datagram waiting, in one turn of the loop
            try:
                size, addr = sock.recvfrom_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                _read_failed(transport, exc)
                return
            transport._protocol.datagram_received(bytes(view[:size]), addr)
            if transport._conn_lost:  # closed by what it read
                return

    return read_ready


def _read_failed(transport: Any, exc: BaseException) -> None:
    """What asyncio does when a datagram transport's read fails: an OSError goes to the protocol, anything
    else closes the transport."""
    if isinstance(exc, OSError):
        transport._protocol.error_received(exc)
    else:
        transport._fatal_error(exc, "Fatal read error on datagram transport")


def _install_reader(transport: Any, read_ready: Callable[[], None]) -> None:
    transport._read_ready = read_ready  # what resume_reading() registers
    if transport.is_reading():  # the loop holds asyncio's own method since the transport was made
        transport._loop._add_reader(transport._sock_fd, read_ready)


def _gone() -> None:
    """A dead weak reference's answer: no session yet."""
    return None


def read_rtp_in_batches(transport: Any, dtls: RTCDtlsTransport) -> bool:
    """Have ``dtls``'s connection's socket ``transport`` read by ``streaming/_receive.c`` once its SRTP keys
    exist: every datagram waiting in one ``recvmmsg``, RTP unprotected and parsed there and handed to its
    receiver (:func:`deliver_rtp`), anything else (STUN, DTLS, RTCP) to the transport's protocol as asyncio
    would. Before the keys, and where the module was not compiled, :func:`read_datagrams_exactly`'s read.
    False (and nothing changed) if ``transport`` is another kind, or is read our way already.
    """
    if not isinstance(transport, SelectorDatagramTransport) or "_read_ready" in vars(transport):
        return False
    read_exactly = _exact_reader(transport)
    if _receive is None:
        _install_reader(transport, read_exactly)
        return True
    weak_transport = weakref.ref(transport)  # the transport holds this reader: no cycle
    weak_dtls = weakref.ref(dtls)  # the DTLS transport holds the connection, which holds the transport
    fd = transport._sock_fd
    read = _receive.read
    packet_class = ReceivedRtpPacket
    # the keys' libsrtp session, resolved when they change; held weakly: the transport outlives the keys
    keys: list[Any] = [_gone, 0]  # [weak reference to the pylibsrtp session, its srtp_t address]

    def read_ready() -> None:
        transport = weak_transport()
        if transport is None or transport._conn_lost:
            return
        dtls: Any = weak_dtls()
        rx_srtp = None if dtls is None else dtls._rx_srtp
        if rx_srtp is None:  # no keys yet (or the connection is gone): the exact read
            read_exactly()
            return
        if keys[0]() is not rx_srtp:
            keys[0] = weakref.ref(rx_srtp)
            keys[1] = srtp_address(rx_srtp)
        session = keys[1]
        started = _clock()
        try:
            items, rtp_count, rtp_bytes = read(fd, session, packet_class, dtls._rtp_header_extensions_map, READ_BATCH)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            _read_failed(transport, exc)
            return
        read_at = _clock()
        if rtp_count:
            dtls._RTCDtlsTransport__rx_bytes += rtp_bytes
            dtls._RTCDtlsTransport__rx_packets += rtp_count
        arrival_time_ms = arrival_ms()
        router = dtls._rtp_router
        for item in items:
            if item.__class__ is packet_class:
                deliver_rtp(router, item, arrival_time_ms)
            else:  # (datagram, address): STUN, DTLS or RTCP
                transport._protocol.datagram_received(*item)
                if transport._conn_lost:  # closed by what it read
                    break
        if rtp_count:
            meter.read_ns += read_at - started
            meter.forward_ns += _clock() - read_at
            meter.packets += rtp_count

    _install_reader(transport, read_ready)
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
