"""A small sliding-window rate limiter, kept in memory per process."""

from __future__ import annotations

import time
from collections import deque


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Too many attempts; try again in {int(retry_after) + 1} s.")
        self.retry_after = retry_after


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

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
