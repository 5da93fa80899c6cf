"""The parts of a multi-node deployment one at a time: the edge token, the origin registry
in a real Redis, the CLOUDEXPO_NODE_URL setting, and the origin's WHEP refusing bad edge
tokens. The nodes together: tests/test_cluster.py."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloudexpo.services import Services
from cloudexpo.settings import SettingsError, load_settings
from streaming import edge_token
from streaming.origins import COUNT_FRESH, STATUS_FRESH, OriginRegistry, namespace
from tests.conftest import REDIS_URL, require_service
from tests.live_support import make_slot

SECRET = "shared-" + "x" * 40
NOW = 1_800_000_000.0

# --- the edge token -----------------------------------------------------------------------


def test_an_edge_token_opens_its_slot_for_a_minute_and_nothing_else() -> None:
    token = edge_token.mint(SECRET, 12, now=NOW)
    assert edge_token.looks_like(token) and token.startswith("edge.12.")
    assert edge_token.is_valid(SECRET, 12, token, now=NOW + 59)
    assert not edge_token.is_valid(SECRET, 12, token, now=NOW + edge_token.LIFETIME + 1)  # expired
    assert not edge_token.is_valid(SECRET, 13, token, now=NOW)  # another slot
    assert not edge_token.is_valid("another deployment's secret", 12, token, now=NOW)
    forged = token.replace("edge.12.", "edge.13.")
    assert not edge_token.is_valid(SECRET, 13, forged, now=NOW)  # the signature covers the slot
    far = edge_token.mint(SECRET, 12, now=NOW + 3600)
    assert not edge_token.is_valid(SECRET, 12, far, now=NOW)  # minted by a clock an hour ahead
    for garbage in ("edge.", "edge.12", "edge.x.1.sig", "edge.12.1.2.3", "", "Bearer"):
        assert not edge_token.is_valid(SECRET, 12, garbage, now=NOW)


def test_a_publishing_token_is_not_taken_for_an_edge_token() -> None:
    assert not edge_token.looks_like("s3cr3t-slot-token")


# --- the setting --------------------------------------------------------------------------------


def test_node_url_is_checked_and_needs_redis() -> None:
    ok = load_settings({"CLOUDEXPO_NODE_URL": "http://10.0.0.5:8000/", "CLOUDEXPO_REDIS_URL": "redis://10.0.0.2:6379/0"})
    assert ok.node_url == "http://10.0.0.5:8000"
    for wrong, says in (
        ("10.0.0.5:8000", "not an http(s) URL"),
        ("http://10.0.0.5:8000/cloudexpo", "no path"),
        ("http://user:pw@10.0.0.5:8000", "no path, query or credentials"),
        ("http://10.0.0.5:99999", "no valid port"),
    ):
        with pytest.raises(SettingsError) as raised:
            load_settings({"CLOUDEXPO_NODE_URL": wrong, "CLOUDEXPO_REDIS_URL": "redis://127.0.0.1:6379/0"})
        assert says in str(raised.value) and "CLOUDEXPO_NODE_URL" in str(raised.value)
    with pytest.raises(SettingsError) as alone:
        load_settings({"CLOUDEXPO_NODE_URL": "http://10.0.0.5:8000"})
    assert "CLOUDEXPO_REDIS_URL" in str(alone.value) and "CLOUDEXPO_NODE_URL" in str(alone.value)


# --- the origin registry, in Redis -----------------------------------------------------------------


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    require_service(REDIS_URL, "CLOUDEXPO_TEST_REDIS_URL")
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_the_origin_claim_lives_by_its_heartbeat_and_moves_with_the_publisher(redis: Any) -> None:
    secret = "registry-" + secrets.token_hex(8)  # a deployment of its own on the shared Redis
    a = OriginRegistry(redis, "http://10.0.0.1:8000", secret)
    c = OriginRegistry(lambda: redis, "http://10.0.0.3:8000", secret)
    other_deployment = OriginRegistry(redis, "http://10.9.9.9:8000", "another secret")
    try:
        assert await a.origin(5) is None
        await a.claim(5)
        assert await c.origin(5) == "http://10.0.0.1:8000"
        assert await other_deployment.origin(5) is None  # keys are per deployment
        ttl = await redis.pttl(f"{a.prefix}:origin:5")
        assert 0 < ttl <= 10_000
        await redis.pexpire(f"{a.prefix}:origin:5", 300)
        await a.refresh([5])  # the heartbeat
        assert await redis.pttl(f"{a.prefix}:origin:5") > 1000
        await c.claim(5)  # the publisher reconnected to C
        await a.refresh([5])  # A's heartbeat leaves C's claim alone
        await a.release(5)  # and so does the end of A's stream
        assert await a.origin(5) == "http://10.0.0.3:8000"
        await c.release(5)
        assert await a.origin(5) is None
        assert namespace(secret) not in secret and len(namespace(secret)) == 16
    finally:
        await redis.delete(f"{a.prefix}:origin:5", f"{a.prefix}:viewers:5")


async def test_viewer_counts_add_up_over_the_nodes_and_stale_ones_drop_out(redis: Any) -> None:
    secret = "counts-" + secrets.token_hex(8)
    a = OriginRegistry(redis, "http://10.0.0.1:8000", secret)
    b = OriginRegistry(redis, "http://10.0.0.2:8000", secret)
    try:
        assert await a.count_viewers(9, 3, clock=lambda: NOW) == 3
        assert await b.count_viewers(9, 4, clock=lambda: NOW + 1) == 7
        # B stops writing (it died): its count drops out once it is stale
        assert await a.count_viewers(9, 3, clock=lambda: NOW + COUNT_FRESH + 2) == 3
        assert await b.count_viewers(9, 0, clock=lambda: NOW + 2) == 3  # no viewer left on B
        await a.forget_count(9)
        assert await b.count_viewers(9, 0, clock=lambda: NOW + 2) == 0
    finally:
        await redis.delete(f"{a.prefix}:viewers:9")


async def test_every_node_learns_the_origins_word_on_their_broadcasts(redis: Any) -> None:
    secret = "live-" + secrets.token_hex(8)
    origin = OriginRegistry(redis, "http://10.0.0.1:8000", secret)
    other = OriginRegistry(redis, "http://10.0.0.2:8000", secret)
    try:
        await origin.share_status(4, "connected", 120, clock=lambda: NOW)
        await origin.share_status(6, "interrupted", 3, clock=lambda: NOW - 2 * STATUS_FRESH)  # its origin went quiet
        assert await other.live_slots(clock=lambda: NOW + 1) == {4: ("connected", 120)}
        await origin.release(4)
        assert await other.live_slots(clock=lambda: NOW + 1) == {}
        await other.live_slots(clock=lambda: NOW + 120)  # long dead claims are swept
        assert await redis.hlen(f"{origin.prefix}:live") == 0
    finally:
        await redis.delete(f"{origin.prefix}:live")


# --- the origin's WHEP and edge tokens -------------------------------------------------------------


async def test_whep_refuses_an_edge_token_that_is_not_valid_for_the_slot(client: Any, services: Services) -> None:
    slot_id, _token = await make_slot(services)
    offer = "v=0\r\n"
    for token in (
        edge_token.mint("another deployment", slot_id),
        edge_token.mint(services.secret_key, slot_id + 1),
        edge_token.mint(services.secret_key, slot_id, now=NOW),  # long expired
    ):
        response = await client.http.post(f"/whep/{slot_id}", content=offer, headers={
            "Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
        assert response.status_code == 403, response.text
        assert "edge token" in response.json()["detail"]
