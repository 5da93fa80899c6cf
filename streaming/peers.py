"""Making aiortc peer connections that stay on the configured hosts.

Two hooks into aiortc/aioice (through :mod:`streaming.aiortc_internals`), each scoped
with a :class:`contextvars.ContextVar` so they only apply to the coroutines that
ask for them (and to the tasks those coroutines start, which copy the context):

* **Where ICE gathers.** aioice gathers host candidates on every interface but
  loopback (``aioice.ice.get_host_addresses`` skips 127.0.0.1) and has no
  option to choose them. :func:`ice_hosts` makes ``get_host_addresses`` return
  exactly the configured addresses, so the server binds and advertises only
  ``ice_hosts`` (127.0.0.1 in tests). Outside the scope aioice is unchanged.
* **Which H.264 profiles are accepted.** aiortc negotiates H.264 only in the two
  baseline profiles it can encode. The engine never decodes, so a publisher may
  send main or high profile too: :func:`forwarding_codecs` widens aiortc's codec
  table for the engine's own ``setRemoteDescription`` calls.

Every connection gets an explicit ``RTCConfiguration(iceServers=[...])``:
aiortc given none uses a public STUN server.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.codecs import CODECS
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from . import aiortc_internals
from .sdp import advertise_public_addresses, filter_candidates, is_loopback

_HOSTS: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "cloudexpo_ice_hosts", default=None
)
_WIDE_CODECS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "cloudexpo_wide_codecs", default=False
)
_original_get_host_addresses = aiortc_internals.host_addresses_function()


def local_addresses() -> set[str]:
    """Every address on this machine's interfaces (loopback included)."""
    import psutil

    found = {"127.0.0.1", "::1"}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                found.add(address.address.split("%", 1)[0])
    return found


def split_hosts(hosts: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """``CLOUDEXPO_ICE_HOSTS`` as (addresses to gather on, public addresses to advertise).

    An address on this machine is gathered on; any other is taken as the
    public address of a 1:1 NAT in front of it (see
    :func:`streaming.sdp.advertise_public_addresses`).
    """
    if not hosts:
        return [], []
    local = local_addresses()
    return [h for h in hosts if h in local], [h for h in hosts if h not in local]


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    hosts = _HOSTS.get()
    if hosts is None:
        return _original_get_host_addresses(use_ipv4, use_ipv6)
    return [h for h in hosts if (":" in h and use_ipv6) or (":" not in h and use_ipv4)]


class _CodecTable(dict[str, list[RTCRtpCodecParameters]]):
    """aiortc's ``CODECS`` plus main/high H.264 inside :func:`forwarding_codecs`."""

    extra: dict[str, list[RTCRtpCodecParameters]]

    def __getitem__(self, kind: str) -> list[RTCRtpCodecParameters]:
        base = super().__getitem__(kind)
        if _WIDE_CODECS.get():
            return base + self.extra.get(kind, [])
        return base


def _extra_h264() -> list[RTCRtpCodecParameters]:
    template = next(c for c in CODECS["video"] if c.mimeType.lower() == "video/h264")
    used = {c.payloadType for c in CODECS["video"]}
    free = (pt for pt in range(96, 128) if pt not in used)
    out = []
    for plid in ("4d001f", "640c1f", "64001f"):  # main, constrained high, high
        codec = copy.deepcopy(template)
        codec.payloadType = next(free)
        codec.parameters = {**template.parameters, "profile-level-id": plid}
        rtx = RTCRtpCodecParameters(
            mimeType="video/rtx",
            clockRate=90000,
            payloadType=next(free),
            parameters={"apt": codec.payloadType},
        )
        out += [codec, rtx]
    return out


def _install() -> None:
    if aiortc_internals.host_addresses_function() is not _get_host_addresses:
        aiortc_internals.replace_host_addresses(_get_host_addresses)
    if not isinstance(aiortc_internals.codec_table(), _CodecTable):
        table = _CodecTable(CODECS)
        table.extra = {"video": _extra_h264()}
        aiortc_internals.replace_codec_table(table)


_install()


@contextlib.contextmanager
def ice_hosts(hosts: Sequence[str] | None) -> Iterator[None]:
    """Within this block, ICE gathering binds and advertises only ``hosts``.

    ``None`` or an empty list leaves aioice's own choice (every non-loopback
    interface).
    """
    gather, _public = split_hosts(hosts)
    token = _HOSTS.set(tuple(gather) if gather else None)
    try:
        yield
    finally:
        _HOSTS.reset(token)


@contextlib.contextmanager
def forwarding_codecs() -> Iterator[None]:
    """Within this block, aiortc also negotiates H.264 main and high profiles."""
    token = _WIDE_CODECS.set(True)
    try:
        yield
    finally:
        _WIDE_CODECS.reset(token)


def as_rtc_ice_servers(servers: Iterable[Any]) -> list[RTCIceServer]:
    """Accept ``cloudexpo.settings.IceServer``, ``RTCIceServer`` or dicts."""
    out = []
    for s in servers:
        if isinstance(s, RTCIceServer):
            out.append(s)
        elif isinstance(s, dict):
            out.append(RTCIceServer(**s))
        else:
            out.append(RTCIceServer(urls=s.urls, username=s.username, credential=s.credential))
    return out


def new_peer_connection(ice_servers: Iterable[Any] = ()) -> RTCPeerConnection:
    """An ``RTCPeerConnection`` with an explicit ICE server list (empty unless given)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=as_rtc_ice_servers(ice_servers)))


def remote_candidate_filter(hosts: Sequence[str] | None) -> Callable[[str], bool]:
    """Which remote candidates to keep, given where we gather.

    Gathering only on loopback addresses, a remote candidate anywhere else is
    unreachable, and an mDNS ``.local`` name would make aioice send multicast
    queries: keep loopback candidates only. Otherwise keep everything.
    """
    if hosts and all(is_loopback(h) for h in hosts):
        return is_loopback
    return lambda host: True


def release(pc: RTCPeerConnection) -> None:
    """Let a closed connection go at once: drop every event handler on it and its transports.

    aiortc's connection listens to its own transports with bound methods, and
    our handlers close over the connection: reference cycles, which only a
    full garbage collection frees. A server making and closing connections all
    day would hold hundreds of dead ones (their transports, SRTP sessions and
    rate counters) between two full collections; without the handlers, a
    connection is freed as soon as nothing refers to it.
    """
    emitters: list[Any] = [pc]
    for transceiver in pc.getTransceivers():
        for end in (transceiver.sender, transceiver.receiver):
            dtls = end.transport
            if dtls is not None:
                emitters += [dtls, dtls.transport]
    if pc.sctp is not None:
        emitters += [pc.sctp, pc.sctp.transport, pc.sctp.transport.transport]
    for emitter in emitters:
        emitter.remove_all_listeners()


async def answer_offer(
    pc: RTCPeerConnection,
    offer_sdp: str,
    hosts: Sequence[str] | None,
    prepare: Callable[[RTCPeerConnection], None] | None = None,
) -> str:
    """Apply a remote offer and return our complete (non-trickle) answer.

    ``prepare`` runs between ``setRemoteDescription`` and ``createAnswer``:
    the place to choose codecs and directions of the transceivers.
    """
    offer_sdp = filter_candidates(offer_sdp, remote_candidate_filter(hosts))
    with ice_hosts(hosts), forwarding_codecs():
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if prepare is not None:
            prepare(pc)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
    return advertise_public_addresses(pc.localDescription.sdp, split_hosts(hosts)[1])


async def create_offer(pc: RTCPeerConnection, hosts: Sequence[str] | None, *, relay: bool = False) -> str:
    """Create and apply a complete offer on the client side (tests, benchmarks).

    ``relay``: the offer of a broadcast we send on to another server
    (:mod:`streaming.egress`): the forwarded H.264 profiles are offered and
    public addresses advertised, as in the engine's answers.
    """
    with ice_hosts(hosts), (forwarding_codecs() if relay else contextlib.nullcontext()):
        await pc.setLocalDescription(await pc.createOffer())
    sdp: str = pc.localDescription.sdp
    return advertise_public_addresses(sdp, split_hosts(hosts)[1]) if relay else sdp


async def accept_answer(
    pc: RTCPeerConnection, answer_sdp: str, hosts: Sequence[str] | None, *, relay: bool = False
) -> None:
    """Apply the server's answer, dropping candidates we must not reach (``relay``: see :func:`create_offer`)."""
    answer_sdp = filter_candidates(answer_sdp, remote_candidate_filter(hosts))
    with ice_hosts(hosts), (forwarding_codecs() if relay else contextlib.nullcontext()):
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
