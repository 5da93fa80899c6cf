"""HLS viewers, counted with the WebRTC ones: the watch pages that say they play the delayed stream.

HLS viewers fetch the live playlist and its segments from object storage or a
CDN, never from a Cloud Expo node, so no node sees them the way it sees a WHEP
session. As PeerTube does for the HLS viewers it serves through a CDN (its
player reports that it is watching), the watch page says so, over the ``/ws``
socket it keeps open anyway: ``{"type": "watching", "slot": 12, "via": "hls"}``
when the delayed stream starts, ``"via": null`` when it stops; a socket that
closes (a tab closed, a node gone) stops counting at once.

:class:`HlsAudience` counts, per slot, the sockets of this node playing its HLS.
The live service adds them to the WebRTC viewers it counts and, with several
nodes, writes them into the slot's per-node count in Redis
(:meth:`streaming.origins.OriginRegistry.count_viewers`), so every page shows
one number for the whole deployment.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any


class HlsAudience:
    """Sockets of this node playing each slot's live HLS (one slot per socket)."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._shared: set[int] = set()  # slots of no stream here whose HLS viewers here are in Redis

    def join(self, slot_id: int) -> None:
        self._counts[slot_id] = self._counts.get(slot_id, 0) + 1

    def leave(self, slot_id: int) -> None:
        left = self._counts.get(slot_id, 0) - 1
        if left > 0:
            self._counts[slot_id] = left
        else:
            self._counts.pop(slot_id, None)

    def count(self, slot_id: int) -> int:
        return self._counts.get(slot_id, 0)

    def slots(self) -> set[int]:
        return set(self._counts)

    async def share(self, registry: Any, counted: Set[int]) -> None:
        """With several nodes, each tick: the HLS viewers here of slots this node holds no stream of
        (``counted`` are those it does; their tick writes this node's whole count) go into the slot's
        count over the nodes (:class:`streaming.origins.OriginRegistry`), whose origin tells every page;
        a slot's last one leaving takes this node's share out."""
        for slot_id in (self.slots() | self._shared) - counted:
            here = self.count(slot_id)
            await registry.count_viewers(slot_id, here)
            if here:
                self._shared.add(slot_id)
            else:
                self._shared.discard(slot_id)
        self._shared -= counted
