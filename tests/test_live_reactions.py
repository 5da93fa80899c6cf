"""Reactions counted per interval (not a message per tap), pinned messages and slow mode:
who may do what, the refusals, what is stored, and /ws across two app nodes sharing Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from booths.engagement import analytics
from cloudexpo.ratelimit import RateLimiter
from cloudexpo.services import Services
from streaming import audience
from streaming.chat import topic
from streaming.reaction_models import ReactionCount
from tests.live_support import account_over_http, make_slot, two_app_nodes

OWN, OTHER = 70, 71


async def _follow(services: Services, slot_id: int) -> Any:
    """A subscription to the slot's topic that is known to be live (Redis confirms a subscription a moment later)."""
    sub = await services.bus.subscribe(topic(slot_id))
    await services.bus.publish(topic(slot_id), {"type": "probe"})
    while (await sub.get(timeout=10)).data["type"] != "probe":
        pass
    return sub


async def _next(sub: Any, kind: str) -> dict[str, Any]:
    """The next event of ``kind`` (the test Redis is shared: other runs may publish on a topic of the same name)."""
    while True:
        event = (await sub.get(timeout=10)).data
        if event["type"] == kind:
            return dict(event)


async def _reactions_until(sub: Any, wanted: dict[str, int]) -> list[dict[str, Any]]:
    """The ``reactions`` events on a bus subscription until their counts add up to ``wanted``."""
    seen: list[dict[str, Any]] = []
    total: Counter[str] = Counter()
    while total != Counter(wanted):
        event = (await sub.get(timeout=10)).data
        if event["type"] == "reactions":
            seen.append(event)
            total.update(event["counts"])
    return seen


async def test_reactions_are_counted_per_interval_and_refused_when_they_should_be(
    signed_in: Any, client: Any, services: Services, runtime: Any,
) -> None:
    slot_id, _ = await make_slot(services, state="live", live_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60))
    later, _ = await make_slot(services, start_in=dt.timedelta(hours=2), stage="release-b")
    hidden, _ = await make_slot(services, stage="release-c", approved=False, exhibitor_id=OTHER)
    visitor = await signed_in("visitor")
    async with await _follow(services, slot_id) as sub:
        for kind in ("like", "like", "heart", "like"):
            tapped = await visitor.post(f"/api/slots/{slot_id}/reactions", json={"kind": kind})
            assert tapped.status_code == 202, tapped.text
        events = await _reactions_until(sub, {"like": 3, "heart": 1})
    assert len(events) <= 2  # one event per interval (the taps may straddle two), never one per tap
    assert all(e["interval_ms"] == 500 and e["at"] % 500 == 0 and e["sent"] >= e["at"] for e in events)
    await runtime.streaming.reactions.settled()  # stored just after it was sent
    async with services.db.session() as db:
        rows = (await db.scalars(select(ReactionCount).where(ReactionCount.slot_id == slot_id))).all()
    assert sum(r.total for r in rows) == 4 and all(55_000 <= (r.offset_ms or 0) <= 120_000 for r in rows)
    async with services.db.session() as db:  # the exhibitor's analytics: reactions at the booth's launches
        zone = services.settings.timezone
        today = dt.datetime.now(ZoneInfo(zone)).date()
        series = await analytics.booth_series(db, [7], days=2, last=today, timezone=zone)
        other = await analytics.booth_series(db, [8], days=2, last=today, timezone=zone)
        launches = await audience.per_launch(db, 7)
    assert series.totals()["reactions"] == 4 and other.totals()["reactions"] == 0
    assert {row["slot"].id: row["reactions"] for row in launches}[slot_id] == 4

    assert (await client.post(f"/api/slots/{slot_id}/reactions", json={"kind": "like"})).status_code == 401
    unknown = await visitor.post(f"/api/slots/{slot_id}/reactions", json={"kind": "dance"}, headers={"Accept-Language": "zh-Hans"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "kind" and "like" in unknown.json()["detail"]
    assert (await visitor.post(f"/api/slots/{later}/reactions", json={"kind": "like"})).status_code == 409
    assert (await visitor.post(f"/api/slots/{hidden}/reactions", json={"kind": "like"})).status_code == 404
    runtime.streaming.reactions.limiter = RateLimiter(1, 60)  # a tight limit, so that the test does not race a clock
    assert (await visitor.post(f"/api/slots/{slot_id}/reactions", json={"kind": "wow"})).status_code == 202
    limited = await visitor.post(f"/api/slots/{slot_id}/reactions", json={"kind": "wow"})
    assert limited.status_code == 429 and "Retry-After" in limited.headers


async def test_presenters_and_moderators_pin_moderators_set_slow_mode(
    signed_in: Any, client: Any, services: Services,
) -> None:
    slot_id, _ = await make_slot(services, state="live", live_at=dt.datetime.now(dt.UTC), exhibitor_id=OWN)
    visitor, presenter, other = await signed_in("visitor"), await signed_in("exhibitor", OWN), await signed_in("exhibitor", OTHER)
    moderator = await signed_in("moderator")
    said = (await visitor.post(f"/api/slots/{slot_id}/chat", json={"text": "Is the battery swappable?"})).json()
    pin = {"message_id": said["id"]}
    assert (await client.post(f"/api/slots/{slot_id}/pin", json=pin)).status_code == 401
    assert (await visitor.post(f"/api/slots/{slot_id}/pin", json=pin)).status_code == 403
    assert (await other.post(f"/api/slots/{slot_id}/pin", json=pin)).status_code == 403
    assert (await presenter.post(f"/api/slots/{slot_id}/pin", json={})).status_code == 422
    assert (await presenter.post(f"/api/slots/{slot_id}/pin", json={"message_id": 999999})).status_code == 422
    async with await _follow(services, slot_id) as sub:
        pinned = await presenter.post(f"/api/slots/{slot_id}/pin", json=pin)
        assert pinned.status_code == 201 and pinned.json()["text"] == "Is the battery swappable?"
        assert (await _next(sub, "pinned"))["pin"]["author"] == said["author"]
        assert "Is the battery swappable?" in (await client.get(f"/live/{slot_id}")).text
        notice = await moderator.post(f"/api/slots/{slot_id}/pin", json={"text": "Q&A starts at 15:30"})
        assert notice.status_code == 201
        assert (await _next(sub, "pinned"))["pin"]["text"] == "Q&A starts at 15:30"
        assert (await visitor.delete(f"/api/slots/{slot_id}/pin")).status_code == 403
        assert (await presenter.delete(f"/api/slots/{slot_id}/pin")).status_code == 200
        assert await _next(sub, "pinned") == {"type": "pinned", "slot": slot_id, "pin": None}

        for who in (client, visitor, presenter):
            assert (await who.put(f"/api/slots/{slot_id}/slow-mode", json={"seconds": 30})).status_code in (401, 403)
        wrong = await moderator.put(f"/api/slots/{slot_id}/slow-mode", json={"seconds": -5})
        assert wrong.status_code == 422 and wrong.json()["field"] == "seconds" and "600" in wrong.json()["detail"]
        slow = await moderator.put(f"/api/slots/{slot_id}/slow-mode", json={"seconds": 30})
        assert slow.status_code == 200 and slow.json()["seconds"] == 30
        assert await _next(sub, "slow_mode") == {"type": "slow_mode", "slot": slot_id, "seconds": 30}
    held = await visitor.post(f"/api/slots/{slot_id}/chat", json={"text": "and the range?"}, headers={"Accept-Language": "en"})
    assert held.status_code == 429 and held.json()["code"] == "chat.slow_mode_wait"
    assert "every 30 s" in held.json()["message"] and 25 <= int(held.headers["Retry-After"]) <= 31
    in_chinese = await visitor.post(f"/api/slots/{slot_id}/chat", json={"text": "续航呢？"}, headers={"Accept-Language": "zh-Hans"})
    assert in_chinese.status_code == 429 and "慢速" in in_chinese.json()["message"]
    assert (await presenter.post(f"/api/slots/{slot_id}/chat", json={"text": "Yes, in five minutes."})).status_code == 201
    page = await visitor.get(f"/live/{slot_id}")
    assert 'data-role="slow-note"' in page.text and '"slow_seconds": 30' in page.text


# --- /ws across two nodes --------------------------------------------------------------


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    with two_app_nodes(tmp_path) as nodes:
        yield nodes


async def test_reactions_from_two_nodes_add_up_on_every_page(two_nodes: tuple[str, str, Any]) -> None:
    import websockets

    from cloudexpo.app import import_models
    from cloudexpo.services import Services as Svc

    url_a, url_b, settings = two_nodes
    import_models()
    svc = Svc.from_settings(settings)
    try:
        slot_id, _ = await make_slot(svc, state="live", live_at=dt.datetime.now(dt.UTC), exhibitor_id=OWN)
    finally:
        await svc.db.close()
    presenter = await account_over_http(settings, url_a, "presenter@example.org", role="exhibitor", exhibitor_id=OWN)

    def ws_url(base: str) -> str:
        return base.replace("http://", "ws://") + f"/ws?slots={slot_id}"

    async with websockets.connect(ws_url(url_a), origin=url_a) as a, websockets.connect(ws_url(url_b), origin=url_b) as b:
        async def messages(ws: Any) -> Any:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                for message in frame if isinstance(frame, list) else [frame]:
                    yield message

        async def until(ws: Any, kind: str) -> dict[str, Any]:
            async for message in messages(ws):
                if message["type"] == kind:
                    return dict(message)
            raise AssertionError("closed")

        async def reactions_until(ws: Any, wanted: dict[str, int]) -> set[str]:
            total: Counter[str] = Counter()
            senders = set()
            async for message in messages(ws):
                if message["type"] == "reactions":
                    total.update(message["counts"])
                    senders.add(json.dumps(message["counts"], sort_keys=True))
                if total == Counter(wanted):
                    return senders
            raise AssertionError("closed")

        await until(a, "snapshot")
        await until(b, "snapshot")
        await a.send(json.dumps({"type": "react", "slot": slot_id, "kind": "like"}))
        await a.send(json.dumps({"type": "react", "slot": slot_id, "kind": "like"}))
        await b.send(json.dumps({"type": "react", "slot": slot_id, "kind": "clap"}))
        wanted = {"like": 2, "clap": 1}
        assert len(await reactions_until(a, wanted)) >= 2  # node A's counts and node B's, added up by the page
        await reactions_until(b, wanted)
        await b.send(json.dumps({"type": "react", "slot": slot_id + 1000, "kind": "like", "ref": 1}))
        refused = await until(b, "error")
        assert refused["status"] == 400 and refused["ref"] == 1 and refused["code"] == "ws.follow_to_react"
        await b.send(json.dumps({"type": "react", "slot": slot_id, "kind": "<img>", "ref": 2}))
        refused = await until(b, "error")
        assert refused["status"] == 422 and refused["ref"] == 2 and refused["code"] == "reactions.unknown_kind"
        # a pin made on node A reaches the page on node B
        assert (await presenter.post(f"/api/slots/{slot_id}/pin", json={"text": "Demo at booth A12 after the launch"})).status_code == 201
        assert (await until(b, "pinned"))["pin"]["text"] == "Demo at booth A12 after the launch"
    await presenter.http.aclose()
    async with httpx.AsyncClient(base_url=url_b) as anyone:
        assert (await anyone.get(f"/live/{slot_id}")).status_code == 200
