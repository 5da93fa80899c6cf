"""Rate limits: in memory on one node, shared through Redis by every node of a deployment."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from cloudexpo.app import build_runtime
from cloudexpo.ratelimit import RateLimited, RateLimiter, SharedRateLimiter, make_limiter
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from tests.conftest import REDIS_URL, require_service
from web.app import build_app


@pytest.fixture
async def redis() -> Any:
    require_service(REDIS_URL, "CLOUDEXPO_TEST_REDIS_URL")
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def refused(limiter: Any, key: str) -> float | None:
    """None when the hit is allowed, else the seconds to wait."""
    try:
        await limiter.check(key)
    except RateLimited as exc:
        return exc.retry_after
    return None


async def test_shared_limit_counts_hits_of_every_limiter_on_the_same_deployment(redis: Any) -> None:
    namespace = secrets.token_hex(6)
    node_a = SharedRateLimiter(redis, namespace, limit=3, window=60)
    node_b = SharedRateLimiter(redis, namespace, limit=3, window=60)
    assert [await refused(node, "signin:ann@example.org") for node in (node_a, node_b, node_a)] == [None, None, None]
    wait = await refused(node_b, "signin:ann@example.org")
    assert wait is not None and 58 < wait <= 60
    # Refused attempts are not counted: the wait does not grow with them.
    assert await refused(node_a, "signin:ann@example.org") == pytest.approx(wait, abs=1)
    assert await refused(node_a, "signin:bob@example.org") is None  # another key
    assert await refused(SharedRateLimiter(redis, secrets.token_hex(6), 3, 60), "signin:ann@example.org") is None
    # Keys are stored as digests: no e-mail address in Redis.
    keys = [k.decode() async for k in redis.scan_iter(match=f"cloudexpo:rate:{namespace}:*")]
    assert len(keys) == 2 and not any("@" in k for k in keys)


async def test_the_window_slides(redis: Any) -> None:
    limiter = SharedRateLimiter(redis, secrets.token_hex(6), limit=2, window=0.3)
    first, second, third = [await refused(limiter, "k") for _ in range(3)]
    assert first is None and second is None and third is not None and third <= 0.3
    await asyncio.sleep(0.35)
    assert await refused(limiter, "k") is None


async def test_without_redis_a_node_limits_on_its_own() -> None:
    class Down:
        def pipeline(self, transaction: bool = True) -> Any:
            raise ConnectionError("Connection refused")

    limiter = SharedRateLimiter(Down(), "x", limit=2, window=60)
    assert [await refused(limiter, "k") is None for _ in range(3)] == [True, True, False]


def test_one_node_keeps_its_limits_in_memory() -> None:
    class Bus:
        kind = "in-process"

    assert isinstance(make_limiter(Bus(), "secret", 3, 60), RateLimiter)


@pytest.mark.parametrize("backend", ["services"], indirect=True)  # several nodes share Redis
async def test_sign_in_attempts_are_limited_across_app_nodes(settings: Settings, services: Services, make_user: Any) -> None:
    email, _, _ = await make_user()
    node_settings = settings.replace(signin_rate=3)
    nodes = [build_runtime(node_settings) for _ in range(2)]
    apps = [build_app(node) for node in nodes]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") for app in apps]
    for node in nodes:
        await node.start()
    try:
        statuses = []
        for n in range(5):  # the proxy sends each attempt to the other node
            http = clients[n % 2]
            token = (await http.get("/api/me")).json()["csrf_token"]
            response = await http.post("/api/session", json={"email": email, "password": "wrong-password"},
                                       headers={"X-CSRF-Token": token})
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429]
    finally:
        for http in clients:
            await http.aclose()
        for node in nodes:
            await node.close()
