"""The pulling side of an edge's WHEP session with the broadcast's origin (see :mod:`streaming.edges`).

:func:`negotiate_pull` offers to receive audio and video in every codec the
engine forwards, hands the offer to ``signal`` (the WHEP POST to the origin)
and applies the answer; what the origin chose is what the stream forwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiortc import RTCPeerConnection

from . import aiortc_internals as internals
from .errors import UnusableOffer
from .peers import accept_answer, create_offer, forwarding_codecs
from .sdp import CodecChoice, forwardable_codecs, pick_codec


async def negotiate_pull(
    pc: RTCPeerConnection,
    hosts: Sequence[str],
    signal: Callable[[str], Awaitable[str]],
    current: Mapping[str, CodecChoice | None],
) -> dict[str, CodecChoice | None]:
    """Offer (recvonly transceivers already added), get the origin's answer, return the codec per kind.

    ``current``: the codecs the stream already forwards (a pull taking over keeps them when offered).
    """
    with forwarding_codecs():
        offer = await create_offer(pc, hosts)
        answer = await signal(offer)
        await accept_answer(pc, answer, hosts)
    choices = {
        t.kind: pick_codec(forwardable_codecs(t.kind, internals.transceiver_codecs(t)), current.get(t.kind))
        for t in pc.getTransceivers()
    }
    if choices.get("video") is None:
        raise UnusableOffer("the origin's answer has no video codec this node forwards")
    return choices
