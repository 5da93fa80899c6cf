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
import threading
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
SelectorDatagramTransport: Any = selector_events._SelectorDatagramTransport  # type: ignore[attr-defined]

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
    if not all(callable(getattr(SelectorDatagramTransport, n, None)) for n in ("_read_ready", "_fatal_error", "is_reading")):
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


def srtp_address(session: pylibsrtp.Session) -> int:
    """Where libsrtp's own session (``srtp_t``) of a pylibsrtp session is in memory, for the compiled parts
    (``streaming/_fanout.c``, ``streaming/_receive.c``), which call libsrtp with it."""
    return int(_srtp_ffi.cast("uintptr_t", session._srtp[0]))


def srtp_sender_of(session: pylibsrtp.Session) -> SrtpSender:
    """An outgoing pylibsrtp session's libsrtp parts (:func:`srtp_sender` takes a connection's)."""
    buffer = _srtp_ffi.new("char[]", MAX_PACKET)
    srtp = session._srtp[0]
    return SrtpSender(
        session.protect,
        srtp,
        srtp_address(session),
        buffer,
        memoryview(_srtp_ffi.buffer(buffer)),
        _srtp_ffi.new("int *"),
    )


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
