"""Where each live broadcast is received, and how many watch it, across the nodes (Redis).

The node holding a slot's publisher is the slot's *origin*. It registers
itself under its ``CLOUDEXPO_NODE_URL`` in a Redis key that lives
:data:`ORIGIN_TTL` seconds and that the origin refreshes every second
(:meth:`OriginRegistry.refresh`, the heartbeat): a node that dies stops
refreshing and its claim is gone seconds later. A publisher reconnecting
to another node claims the slot there at once (the new claim overwrites the
old); the old origin's heartbeat then finds the key is not its own and leaves
it alone.

Viewer counts: every node writes how many of the slot's viewers it serves in
one Redis hash per slot (a field per node, with the time it was written);
the slot's count is the sum of the fresh fields.

Keys carry a namespace derived from the deployment's shared secret, so two
deployments sharing one Redis never see each other's broadcasts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from cloudexpo.bus import deployment_digest

ORIGIN_TTL = 10.0  # seconds a claim outlives its last heartbeat (a publisher moving elsewhere overwrites it at once)
COUNT_FRESH = 5.0  # seconds a node's viewer count stays in the sum without being written again
STATUS_FRESH = 15.0  # seconds an origin's word on its broadcast counts without being said again

# Refresh or delete a key only while it still holds this node's URL (a compare-and-set).
_REFRESH_IF_MINE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_DELETE_IF_MINE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def namespace(secret_key: str) -> str:
    """The deployment's key prefix: a digest of the secret every node shares, never the secret."""
    return deployment_digest(secret_key, "cluster", 16)


class OriginRegistry:
    """Origin claims and per-node viewer counts in Redis.

    :param client: the Redis connection (``redis.asyncio.Redis``), or a
        callable returning it (the bus connects at start-up).
    :param node_url: this node's ``CLOUDEXPO_NODE_URL``.
    :param secret_key: the shared secret, for :func:`namespace`.
    """

    def __init__(self, client: Any, node_url: str, secret_key: str) -> None:
        self._client = client
        self.node_url = node_url
        self.prefix = f"cloudexpo:cluster:{namespace(secret_key)}"

    @property
    def redis(self) -> Any:
        return self._client() if callable(self._client) else self._client

    def _origin_key(self, slot_id: int) -> str:
        return f"{self.prefix}:origin:{slot_id}"

    def _count_key(self, slot_id: int) -> str:
        return f"{self.prefix}:viewers:{slot_id}"

    @property
    def _live_key(self) -> str:
        return f"{self.prefix}:live"

    async def claim(self, slot_id: int) -> None:
        """This node now holds the slot's publisher: edges are to pull from here."""
        await self.redis.set(self._origin_key(slot_id), self.node_url, px=int(ORIGIN_TTL * 1000))

    async def refresh(self, slot_ids: Iterable[int]) -> None:
        """The heartbeat: keep this node's claims alive (claims taken over elsewhere are left alone)."""
        ttl = str(int(ORIGIN_TTL * 1000))
        for slot_id in slot_ids:
            await self.redis.eval(_REFRESH_IF_MINE, 1, self._origin_key(slot_id), self.node_url, ttl)

    async def release(self, slot_id: int) -> None:
        """The broadcast ended here: drop the claim if it is still this node's."""
        await self.redis.eval(_DELETE_IF_MINE, 1, self._origin_key(slot_id), self.node_url)
        await self.redis.hdel(self._count_key(slot_id), self.node_url)
        await self.redis.hdel(self._live_key, str(slot_id))

    async def origin(self, slot_id: int) -> str | None:
        """The URL of the node holding the slot's publisher, or ``None``."""
        value = await self.redis.get(self._origin_key(slot_id))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def count_viewers(self, slot_id: int, here: int, *, clock: Callable[[], float] = time.time) -> int:
        """Write this node's viewer count for the slot and return the sum over every node."""
        key = self._count_key(slot_id)
        now = clock()
        redis = self.redis
        if here:
            await redis.hset(key, self.node_url, f"{here}:{now:.3f}")
            await redis.expire(key, int(COUNT_FRESH * 4))
        else:
            await redis.hdel(key, self.node_url)
        total = 0
        for raw in (await redis.hgetall(key)).values():
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            count, _, written = text.partition(":")
            try:
                if now - float(written) <= COUNT_FRESH:
                    total += int(count)
            except ValueError:
                continue
        return total

    async def share_status(self, slot_id: int, publisher: str, viewers: int, *, clock: Callable[[], float] = time.time) -> None:
        """The origin's word on its broadcast, for every node's pages: the publisher's status and the viewers."""
        await self.redis.hset(self._live_key, str(slot_id), f"{publisher}:{viewers}:{clock():.3f}")

    async def live_slots(self, *, clock: Callable[[], float] = time.time) -> dict[int, tuple[str, int]]:
        """Every broadcast an origin spoke of lately: slot -> (publisher status, viewers)."""
        now = clock()
        out: dict[int, tuple[str, int]] = {}
        stale = []
        for key, raw in (await self.redis.hgetall(self._live_key)).items():
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            name = key.decode() if isinstance(key, bytes) else str(key)
            status, _, rest = text.partition(":")
            viewers, _, written = rest.partition(":")
            try:
                fresh = now - float(written) <= STATUS_FRESH
                if fresh and name.isdigit():
                    out[int(name)] = (status, int(viewers))
                elif now - float(written) > 60:  # an origin that died without releasing its claim
                    stale.append(name)
            except ValueError:
                stale.append(name)
        if stale:
            await self.redis.hdel(self._live_key, *stale)
        return out

    async def forget_count(self, slot_id: int) -> None:
        """This node serves none of the slot's viewers any more."""
        await self.redis.hdel(self._count_key(slot_id), self.node_url)
