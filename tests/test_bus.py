"""One contract for both event buses: in-process and Redis pub/sub."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from cloudexpo.bus import BusError, EventBus, InProcessBus, RedisBus
from tests.conftest import REDIS_URL, require_service


@pytest.fixture(params=["in-process", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    if request.param == "redis":
        require_service(REDIS_URL, "CLOUDEXPO_TEST_REDIS_URL")
        impl: EventBus = RedisBus(REDIS_URL, secrets.token_hex(16))
    else:
        impl = InProcessBus()
    await impl.start()
    try:
        yield impl
    finally:
        await impl.close()


def topic() -> str:
    return f"test.{secrets.token_hex(4)}"


async def test_subscribers_get_what_is_published_in_order(bus: EventBus) -> None:
    t = topic()
    async with await bus.subscribe(t) as a, await bus.subscribe(t) as b:
        for i in range(20):
            await bus.publish(t, {"n": i, "text": "新能源 ✓"})
        for sub in (a, b):
            got = [(await sub.get(timeout=5)).data["n"] for _ in range(20)]
            assert got == list(range(20))
        await bus.publish(t, {"n": 99})
        event = await a.get(timeout=5)
        assert event.topic == t and event.data == {"n": 99}


async def test_an_event_is_encoded_once_for_all_its_subscribers_and_a_backlog_is_taken_at_once(bus: EventBus) -> None:
    t = topic()
    async with await bus.subscribe(t) as a, await bus.subscribe(t) as b:
        for i in range(3):
            await bus.publish(t, {"n": i, "text": "新能源 ✓"})
        first_a, first_b = await a.get(timeout=5), await b.get(timeout=5)
        assert first_a.text == '{"n":0,"text":"新能源 ✓"}'  # compact, not ASCII-escaped: what /ws sends
        assert first_a.text is first_b.text  # one encoding, shared by every socket that sends it
        assert [(await b.get(timeout=5)).data["n"] for _ in range(2)] == [1, 2]  # so a has them queued too
        assert [e.data["n"] for e in a.waiting()] == [1, 2]
        assert a.waiting() == []


async def test_topics_are_separate(bus: EventBus) -> None:
    t1, t2 = topic(), topic()
    async with await bus.subscribe(t1) as sub:
        await bus.publish(t2, {"x": 1})
        await bus.publish(t1, {"x": 2})
        event = await sub.get(timeout=5)
        assert event.data == {"x": 2}


async def test_one_subscription_can_follow_several_topics(bus: EventBus) -> None:
    t1, t2 = topic(), topic()
    async with await bus.subscribe(t1, t2) as sub:
        await bus.publish(t1, {"from": 1})
        await bus.publish(t2, {"from": 2})
        got = {(await sub.get(timeout=5)).data["from"] for _ in range(2)}
        assert got == {1, 2}


async def test_closed_subscription_gets_nothing_more(bus: EventBus) -> None:
    t = topic()
    sub = await bus.subscribe(t)
    await sub.close()
    async with await bus.subscribe(t) as other:
        await bus.publish(t, {"x": 1})
        assert (await other.get(timeout=5)).data == {"x": 1}
    with pytest.raises(TimeoutError):
        await sub.get(timeout=0.2)


async def test_a_slow_subscriber_loses_oldest_not_the_publisher(bus: EventBus) -> None:
    t = topic()
    async with await bus.subscribe(t, maxsize=5) as sub:
        for i in range(50):
            await bus.publish(t, {"n": i})
        await asyncio.sleep(0.3)  # let Redis deliver
        got = []
        while True:
            try:
                got.append((await sub.get(timeout=0.3)).data["n"])
            except TimeoutError:
                break
        assert got == list(range(45, 50))
        assert sub.dropped == 45


async def test_messages_cross_nodes_through_redis() -> None:
    """Two buses on one Redis stand for two app nodes."""
    require_service(REDIS_URL, "CLOUDEXPO_TEST_REDIS_URL")
    secret = secrets.token_hex(16)  # one deployment: every node has its secret
    node_a, node_b = RedisBus(REDIS_URL, secret), RedisBus(REDIS_URL, secret)
    await node_a.start()
    await node_b.start()
    try:
        t = topic()
        async with await node_b.subscribe(t) as sub:
            await node_a.publish(t, {"chat": "你好"})
            assert (await sub.get(timeout=5)).data == {"chat": "你好"}
    finally:
        await node_a.close()
        await node_b.close()


async def test_two_deployments_on_one_redis_never_hear_each_other() -> None:
    """A rehearsal exhibition beside the real one on a shared Redis: same topics, other secrets."""
    require_service(REDIS_URL, "CLOUDEXPO_TEST_REDIS_URL")
    rehearsal, real = RedisBus(REDIS_URL, secrets.token_hex(16)), RedisBus(REDIS_URL, secrets.token_hex(16))
    assert rehearsal.prefix != real.prefix
    await rehearsal.start()
    await real.start()
    try:
        t = topic()
        async with await real.subscribe(t) as heard_by_real, await rehearsal.subscribe(t) as heard_by_rehearsal:
            await rehearsal.publish(t, {"chat": "rehearsal"})
            await real.publish(t, {"chat": "real"})
            assert (await heard_by_real.get(timeout=5)).data == {"chat": "real"}
            assert (await heard_by_rehearsal.get(timeout=5)).data == {"chat": "rehearsal"}
            with pytest.raises(TimeoutError):  # each heard its own only
                await heard_by_real.get(timeout=0.5)
            with pytest.raises(TimeoutError):
                await heard_by_rehearsal.get(timeout=0.5)
    finally:
        await rehearsal.close()
        await real.close()


async def test_redis_that_does_not_answer_is_a_clear_error() -> None:
    from tests.conftest import free_port

    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0", "secret")
    with pytest.raises(BusError, match="does not answer"):
        await bus.start()
    await bus.close()
