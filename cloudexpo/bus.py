"""The event bus: publish and subscribe by topic.

Live status, viewer counts, chat and notifications travel over it, so that a
visitor connected to one app node sees what happens on another. Two
implementations with one contract:

- :class:`InProcessBus` (default): one process, no setup.
- :class:`RedisBus`: Redis pub/sub (``CLOUDEXPO_REDIS_URL``), across nodes.
  Its channels carry the deployment's namespace (:func:`channel_prefix`, a
  digest of the secret key every node shares), so two exhibitions on one
  Redis (a rehearsal beside the real one, say) never hear each other.

Messages are JSON-serialisable dicts. A subscriber that falls behind loses
its oldest messages rather than slowing the publisher (``dropped`` counts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "cloudexpo:"


def deployment_digest(secret_key: str, purpose: str, length: int = 12) -> str:
    """A deployment's name in shared Redis for one ``purpose`` (bus, presence, rate, cluster): a digest of the
    secret every node shares, never the secret, so deployments that share a Redis stay apart."""
    return hashlib.sha256(f"cloudexpo-{purpose}:{secret_key}".encode()).hexdigest()[:length]


def channel_prefix(secret_key: str) -> str:
    """What a deployment's Redis channels start with: :data:`CHANNEL_PREFIX` and its digest."""
    return f"{CHANNEL_PREFIX}{deployment_digest(secret_key, 'bus')}:"


class BusError(RuntimeError):
    """The bus does not answer."""


@dataclass(frozen=True)
class Event:
    topic: str
    data: dict[str, Any]

    @cached_property
    def text(self) -> str:
        """The event's data as compact JSON, encoded once however many subscribers send it on."""
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))


class Subscription:
    """Events of some topics, in order, as an async iterator."""

    def __init__(self, bus: _LocalFanout, topics: tuple[str, ...], maxsize: int) -> None:
        self._bus = bus
        self.topics = topics
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._closed = False

    def _deliver(self, event: Event) -> None:
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    @property
    def queued(self) -> int:
        """How many events wait to be taken."""
        return self._queue.qsize()

    def waiting(self) -> list[Event]:
        """The events already queued, taken without waiting (empty when none is)."""
        queue = self._queue
        taken = []
        while not queue.empty():
            taken.append(queue.get_nowait())
        return taken

    async def get(self, timeout: float | None = None) -> Event:
        if timeout is None:
            return await self._queue.get()
        return await asyncio.wait_for(self._queue.get(), timeout)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while not self._closed:
            yield await self._queue.get()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._bus._unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class EventBus(Protocol):
    kind: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def check(self) -> None: ...
    async def publish(self, topic: str, data: dict[str, Any]) -> None: ...
    async def subscribe(self, *topics: str, maxsize: int = 1000) -> Subscription: ...


class _LocalFanout:
    """Delivers events to this process's subscriptions."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}

    def _dispatch(self, event: Event) -> None:
        for sub in tuple(self._subs.get(event.topic, ())):
            sub._deliver(event)

    async def subscribe(self, *topics: str, maxsize: int = 1000) -> Subscription:
        if not topics:
            raise ValueError("subscribe to at least one topic")
        sub = Subscription(self, tuple(topics), maxsize)
        new_topics = [t for t in topics if not self._subs.get(t)]
        for topic in topics:
            self._subs.setdefault(topic, set()).add(sub)
        if new_topics:
            await self._on_first_subscriber(new_topics)
        return sub

    async def _unsubscribe(self, sub: Subscription) -> None:
        gone = []
        for topic in sub.topics:
            subs = self._subs.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[topic]
                    gone.append(topic)
        if gone:
            await self._on_last_subscriber(gone)

    async def _on_first_subscriber(self, topics: list[str]) -> None:
        pass

    async def _on_last_subscriber(self, topics: list[str]) -> None:
        pass

    def subscriber_count(self, topic: str) -> int:
        return len(self._subs.get(topic, ()))


class InProcessBus(_LocalFanout):
    kind = "in-process"

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._subs.clear()

    async def check(self) -> None:
        pass

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        # Round-trip through JSON so that both buses hand subscribers the same shapes.
        self._dispatch(Event(topic, json.loads(json.dumps(data))))


class RedisBus(_LocalFanout):
    """Redis pub/sub: one connection listens for every topic this node follows.

    :param secret_key: the deployment's shared secret: the channels' namespace (:func:`channel_prefix`).
    """

    kind = "redis"

    def __init__(self, url: str, secret_key: str) -> None:
        super().__init__()
        self.url = url
        self.prefix = channel_prefix(secret_key)
        self._redis: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self.url, socket_connect_timeout=5, health_check_interval=30)
        await self.check()
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        # A placeholder channel keeps the pubsub connection open before any topic.
        await self._pubsub.subscribe(self.prefix + "_")
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
        self._subs.clear()

    @property
    def client(self) -> Any:
        """The Redis connection pool (after :meth:`start`), for other shared state such as rate limits."""
        if self._redis is None:
            raise BusError("the Redis bus is not started")
        return self._redis

    async def check(self) -> None:
        try:
            await self._redis.ping()
        except Exception as exc:
            raise BusError(f"Redis at {self.url} does not answer: {exc}") from exc

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        payload = json.dumps({"t": topic, "d": data}, separators=(",", ":"))
        try:
            await self._redis.publish(self.prefix + topic, payload)
        except Exception as exc:
            raise BusError(f"cannot publish to Redis: {exc}") from exc

    async def _on_first_subscriber(self, topics: list[str]) -> None:
        async with self._lock:
            await self._pubsub.subscribe(*(self.prefix + t for t in topics))

    async def _on_last_subscriber(self, topics: list[str]) -> None:
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(*(self.prefix + t for t in topics))

    async def _read(self) -> None:
        backoff = 0.5
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis bus: %s; reconnecting in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                body = json.loads(message["data"])
                self._dispatch(Event(body["t"], body["d"]))
            except (ValueError, KeyError, TypeError):
                log.warning("redis bus: ignored a malformed message on %s", message.get("channel"))


def make_bus(redis_url: str | None, secret_key: str) -> EventBus:
    return RedisBus(redis_url, secret_key) if redis_url else InProcessBus()
