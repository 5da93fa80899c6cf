"""Forwarded packets to every viewer of a track in one call, in C when it was compiled.

``streaming/_fanout.c`` is built by ``pip install -e .`` (or ``python setup.py
build_ext --inplace``) where a C compiler is present; the build is optional. With
it, :func:`send_all` protects and sends a packet to all of a track's viewers in
one call, with no Python bytecode per viewer: the per-viewer work left is
libsrtp's protect and the ``sendto`` system call. Without it (no compiler, or
``CLOUDEXPO_PURE_FANOUT=1`` to compare), :data:`send_all` is None and the
forwarder sends viewer by viewer in Python (``ViewerOutput.send``); both ways
give the same datagrams.

A viewer's :class:`Target` (the compiled object) holds its SRTP session,
payload type, SSRC and the socket and address of its ICE pair in use
(:meth:`Target.route`, set again whenever the pair changes). ``send_all``
returns None when every viewer got the packet, or a list of
``(index, datagram or None)``: None for a viewer to send to the Python way
(its pair changed, asyncio holds data for its socket, the packet is larger
than the compiled loop's buffer), a protected datagram the socket refused
(full buffer, an error) for asyncio's transport to send or report.

:func:`send_burst` does the same for several packets (a video frame's, which
the forwarder sends together): each viewer's are protected one after another
and runs of equal size go to the kernel in one ``sendmsg`` with UDP
segmentation offload, a system call per run instead of one per packet. It returns None, False (a
packet it does not take: send the burst packet by packet), or a list of
``(index, first, datagram or None)``: None to send ``packets[first:]`` to that
viewer the Python way, a datagram (``packets[first]`` protected) that the socket
refused, for asyncio's transport.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Literal

from . import aiortc_internals as internals

logger = logging.getLogger(__name__)

Target: Any = None
send_all: Callable[[list[Any], bytes, int], list[tuple[int, bytes | None]] | None] | None = None
send_burst: Callable[[list[Any], list[Any]], list[tuple[int, int, bytes | None]] | Literal[False] | None] | None = None

if os.environ.get("CLOUDEXPO_PURE_FANOUT") != "1":
    try:
        from . import _fanout  # type: ignore[attr-defined]
    except ImportError:  # not compiled here: the Python way
        logger.debug("streaming._fanout is not compiled: viewers are sent to one by one in Python")
    else:
        _fanout.set_protect(internals.SRTP_PROTECT_ADDRESS, internals.SRTP_MAX_IN)
        Target = _fanout.Target
        send_all = _fanout.send
        send_burst = getattr(_fanout, "send_burst", None)  # None from a build older than this file: one by one


def new_target(srtp: internals.SrtpSender, nominated_pairs: dict[int, Any], payload_type: int, ssrc: int) -> Any:
    """A viewer's compiled target, or None without the compiled loop."""
    if Target is None:
        return None
    return Target(srtp.address, srtp.protect, nominated_pairs, payload_type, ssrc)
