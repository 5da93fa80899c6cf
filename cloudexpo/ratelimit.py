"""Sliding-window rate limits: in memory for one process, or in Redis for every node of a deployment.

Sign-in, sign-up and chat call ``await limiter.check(key)``, which raises
:class:`RateLimited` (with the seconds to wait) when ``key`` is over its limit.
:func:`make_limiter` picks the kind: with the Redis bus the count is shared, so
alternating between app nodes behind the proxy gains an attacker nothing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import deque
from typing import Any

from cloudexpo.bus import deployment_digest
from cloudexpo.messages import message

log = logging.getLogger(__name__)


TRY_AGAIN = message("rate.try_again", "Too many attempts; try again in {seconds} s.")


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(TRY_AGAIN(seconds=int(retry_after) + 1))
        self.retry_after = retry_after


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    async def check(self, key: str) -> None:
        """Count one hit; raise :class:`RateLimited` when over the limit."""
        self.hit(key)

    def hit(self, key: str, now: float | None = None) -> None:
        """Count one hit; raise :class:`RateLimited` when over the limit."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            raise RateLimited(hits[0] + self.window - now)
        hits.append(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:  # still full: forget the oldest
            for key in list(self._hits)[: self.max_keys // 10]:
                del self._hits[key]


class SharedRateLimiter:
    """The limit of :class:`RateLimiter`, counted in Redis for every node: a sorted set of hit times per key.

    One MULTI/EXEC per hit drops the hits older than the window, adds this one
    and counts; a hit over the limit is taken back (refused attempts do not
    prolong the wait). Keys are namespaced by deployment (a digest of the
    secret key every node shares) and stored as digests (they may hold
    e-mail addresses). While Redis does not answer, this node
    counts on its own rather than refusing everyone.
    """

    def __init__(self, client: Any, namespace: str, limit: int, window: float) -> None:
        self.client = client  # redis.asyncio.Redis, or a callable returning it (the bus connects at start-up)
        self.prefix = f"cloudexpo:rate:{namespace}:"
        self.limit = limit
        self.window = window
        self.fallback = RateLimiter(limit, window)

    async def check(self, key: str) -> None:
        client = self.client() if callable(self.client) else self.client
        name = self.prefix + hashlib.sha256(key.encode()).hexdigest()[:32]  # keys may hold e-mail addresses
        now = time.time()
        member = f"{now:.6f}:{secrets.token_hex(4)}"
        try:
            pipe = client.pipeline(transaction=True)
            pipe.zremrangebyscore(name, 0, now - self.window)
            pipe.zadd(name, {member: now})
            pipe.zcard(name)
            pipe.zrange(name, 0, 0, withscores=True)
            pipe.pexpire(name, int(self.window * 1000) + 1000)
            _, _, count, oldest, _ = await pipe.execute()
            if count > self.limit:
                await client.zrem(name, member)
        except Exception as exc:  # Redis down: limit this node alone until it answers again
            log.warning("rate limit: Redis does not answer (%s); counting on this node only", exc)
            self.fallback.hit(key)
            return
        if count > self.limit:
            first = float(oldest[0][1]) if oldest else now
            raise RateLimited(max(0.0, first + self.window - now))


def make_limiter(bus: Any, secret_key: str, limit: int, window: float) -> RateLimiter | SharedRateLimiter:
    """Shared through Redis when the bus is Redis (several nodes), else in this process's memory."""
    if getattr(bus, "kind", "") != "redis":
        return RateLimiter(limit, window)
    return SharedRateLimiter(lambda: bus.client, deployment_digest(secret_key, "rate"), limit, window)
