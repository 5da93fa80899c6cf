"""Who is at which booth right now: staff say so with a heartbeat from their open page.

Each open page of a staff member who marked themselves "at the booth" holds
an entry (booth, user, page) until ``ttl`` seconds after its last heartbeat;
a page that closes removes its entry at once, one that vanishes (a node
gone, a lost network) expires. With the Redis bus the entries live in Redis
(a sorted set per booth scored by expiry, under a prefix of the deployment:
a digest of the secret key every node shares), so every node sees the staff
of every node; otherwise in this process's memory.
"""

from __future__ import annotations

import time
from typing import Any

from cloudexpo.bus import deployment_digest

KEY = "cloudexpo:presence:"
TTL = 45.0  # seconds after the last heartbeat; pages beat every 20 s


class PresenceBoard:
    def __init__(self, bus: Any, secret_key: str, ttl: float = TTL) -> None:
        self.bus = bus
        self.ttl = ttl
        self.prefix = KEY + deployment_digest(secret_key, "presence") + ":"
        self._local: dict[int, dict[str, float]] = {}

    def _redis(self) -> Any:
        return self.bus.client if getattr(self.bus, "kind", "") == "redis" else None

    async def here(self, booth_id: int, user_id: int, page: str, now: float | None = None,
                   ttl: float | None = None) -> None:
        """A heartbeat: this user's page at this booth stays present for ``ttl`` (default :attr:`ttl`) more seconds."""
        now = time.time() if now is None else now
        until = now + (self.ttl if ttl is None else ttl)
        member = f"{user_id}:{page}"
        redis = self._redis()
        if redis is None:
            self._local.setdefault(booth_id, {})[member] = until
            return
        pipe = redis.pipeline(transaction=True)
        pipe.zadd(self.prefix + str(booth_id), {member: until})
        pipe.expire(self.prefix + str(booth_id), int(self.ttl) + 60)
        await pipe.execute()

    async def gone(self, booth_id: int, user_id: int, page: str) -> None:
        member = f"{user_id}:{page}"
        redis = self._redis()
        if redis is None:
            self._local.get(booth_id, {}).pop(member, None)
            return
        await redis.zrem(self.prefix + str(booth_id), member)

    async def staff(self, booth_id: int, now: float | None = None) -> list[int]:
        """The users present at the booth, in the order they arrived (each once, whatever their pages)."""
        now = time.time() if now is None else now
        redis = self._redis()
        if redis is None:
            entries = self._local.get(booth_id, {})
            for member in [m for m, until in entries.items() if until <= now]:
                del entries[member]
            members = list(entries)
        else:
            pipe = redis.pipeline(transaction=True)
            pipe.zremrangebyscore(self.prefix + str(booth_id), "-inf", now)
            pipe.zrange(self.prefix + str(booth_id), 0, -1)
            _, raw = await pipe.execute()
            members = [m.decode() if isinstance(m, bytes) else str(m) for m in raw]
        users: list[int] = []
        for member in members:
            user_id = int(member.split(":", 1)[0])
            if user_id not in users:
                users.append(user_id)
        return users


def initials(name: str) -> str:
    """What an avatar shows: a Chinese name's surname, else the first letters of two words."""
    name = name.strip()
    if not name:
        return "?"
    if not name.isascii() and " " not in name:
        return name[0]
    words = name.split()
    return "".join(w[0] for w in words[:2]).upper()
