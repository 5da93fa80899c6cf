"""Chat: plain text only, length and rate limits, moderators delete and mute, offsets stored,
and /ws carrying state and chat across two app nodes that share Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudexpo.services import Services
from streaming.chat import ChatError, clean_text
from streaming.models import ChatMessage
from tests.conftest import REDIS_URL
from tests.live_support import make_slot, two_app_nodes


def test_clean_text_keeps_text_and_drops_controls() -> None:
    assert clean_text("  hello\u202e   world \u0000 ") == "hello world"
    assert clean_text("<b>bold</b>") == "<b>bold</b>"  # stored as text; never rendered as HTML
    with pytest.raises(ChatError):
        clean_text("   ")


async def test_chat_is_sanitised_limited_and_stores_offsets(signed_in: Any, client: Any, services: Services) -> None:
    live_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=90)
    slot_id, _ = await make_slot(services, state="live", live_at=live_at)
    alice = await signed_in("visitor")
    assert (await client.post(f"/api/slots/{slot_id}/chat", json={"text": "hi"})).status_code == 401
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    posted = await alice.post(f"/api/slots/{slot_id}/chat", json={"text": evil})
    assert posted.status_code == 201, posted.text
    assert posted.json()["text"] == evil
    assert 85_000 <= posted.json()["offset_ms"] <= 120_000
    page = await client.get(f"/live/{slot_id}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    fast = await alice.post(f"/api/slots/{slot_id}/chat", json={"text": "again"})
    assert fast.status_code == 429 and "Retry-After" in fast.headers
    bob = await signed_in("visitor")
    too_long = await bob.post(f"/api/slots/{slot_id}/chat", json={"text": "长" * 501})
    assert too_long.status_code == 422 and "500" in too_long.json()["detail"]
    empty = await bob.post(f"/api/slots/{slot_id}/chat", json={"text": "   "})
    assert empty.status_code == 422
    async with services.db.session() as db:
        stored = await db.get(ChatMessage, posted.json()["id"])
        assert stored is not None and stored.offset_ms == posted.json()["offset_ms"] and stored.created_at.tzinfo is not None


async def test_moderators_delete_and_mute(signed_in: Any, client: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, state="live", live_at=dt.datetime.now(dt.UTC))
    troll = await signed_in("visitor")
    me = (await troll.refresh_csrf())["id"]
    message = (await troll.post(f"/api/slots/{slot_id}/chat", json={"text": "spam spam"})).json()
    moderator = await signed_in("moderator")
    assert (await troll.delete(f"/api/chat/{message['id']}")).status_code == 403
    deleted = await moderator.delete(f"/api/chat/{message['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    history = (await client.get(f"/api/slots/{slot_id}/chat")).json()["messages"]
    assert all(m["id"] != message["id"] for m in history)
    assert (await moderator.post(f"/api/slots/{slot_id}/mutes", json={"user_id": me})).status_code == 201
    await asyncio.sleep(2.1)  # past the rate limit: the refusal is the mute
    muted = await troll.post(f"/api/slots/{slot_id}/chat", json={"text": "let me speak"})
    assert muted.status_code == 403 and muted.json()["error"] == "muted"
    # the history tells the asker whether they are muted (a page reconnecting reads it again); others are not
    assert (await troll.get(f"/api/slots/{slot_id}/chat")).json()["muted"] is True
    assert (await moderator.get(f"/api/slots/{slot_id}/chat")).json()["muted"] is False
    assert (await client.get(f"/api/slots/{slot_id}/chat")).json()["muted"] is False
    assert (await moderator.delete(f"/api/slots/{slot_id}/mutes/{me}")).status_code == 200
    assert (await troll.get(f"/api/slots/{slot_id}/chat")).json()["muted"] is False
    assert (await troll.post(f"/api/slots/{slot_id}/chat", json={"text": "thanks"})).status_code == 201


# --- /ws across two nodes --------------------------------------------------------------


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    with two_app_nodes(tmp_path) as nodes:
        yield nodes


async def _sign_in(http: httpx.AsyncClient, email: str) -> str:
    csrf = (await http.get("/api/me")).json()["csrf_token"]
    response = await http.post("/api/session", json={"email": email, "password": "correct horse battery"}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    return str((await http.get("/api/me")).json()["csrf_token"])


async def test_ws_carries_state_and_chat_across_nodes(two_nodes: tuple[str, str, Any]) -> None:
    import websockets

    from cloudexpo import accounts
    from cloudexpo.app import import_models
    from cloudexpo.services import Services as Svc

    url_a, url_b, settings = two_nodes
    import_models()
    svc = Svc.from_settings(settings)
    try:
        async with svc.db.session() as db:
            await accounts.create_user(db, "mod@example.org", "correct horse battery", role="moderator")
            await accounts.create_user(db, "vis@example.org", "correct horse battery")
            await db.commit()
        slot_id, _ = await make_slot(svc, start_in=dt.timedelta(minutes=5), state="green_room")
    finally:
        await svc.db.close()
    ws_b = url_b.replace("http://", "ws://") + f"/ws?slots={slot_id}"
    async with websockets.connect(ws_b, origin=url_b) as ws, httpx.AsyncClient(base_url=url_a) as a:
        async def next_of(kind: str) -> dict[str, Any]:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                for message in frame if isinstance(frame, list) else [frame]:  # a burst comes as one array
                    if message["type"] == kind:
                        return dict(message)

        assert (await next_of("snapshot"))["state"] == "green_room"
        csrf = await _sign_in(a, "vis@example.org")
        posted = await a.post(f"/api/slots/{slot_id}/chat", json={"text": "hello from node A"}, headers={"X-CSRF-Token": csrf})
        assert posted.status_code == 201, posted.text
        chat = await next_of("chat")
        assert chat["message"]["text"] == "hello from node A" and chat["slot"] == slot_id
        async with httpx.AsyncClient(base_url=url_a) as mod:
            mod_csrf = await _sign_in(mod, "mod@example.org")
            assert (await mod.post(f"/api/slots/{slot_id}/on-air", headers={"X-CSRF-Token": mod_csrf})).status_code == 200
            assert (await next_of("state"))["state"] == "live"
            deleted = await mod.delete(f"/api/chat/{posted.json()['id']}", headers={"X-CSRF-Token": mod_csrf})
            assert deleted.status_code == 200
            assert (await next_of("chat_deleted"))["id"] == posted.json()["id"]
    # a page on another site cannot open the websocket with a visitor's cookies
    with pytest.raises(Exception, match=r"403|rejected|HTTP"):
        async with websockets.connect(ws_b, origin="https://evil.example"):
            pass


async def test_ws_brings_a_users_own_notifications_from_any_node(two_nodes: tuple[str, str, Any]) -> None:
    """The bell is live: a notification published on one node reaches the user's socket on another."""
    import websockets

    from cloudexpo import accounts
    from cloudexpo.app import import_models
    from cloudexpo.bus import RedisBus
    from cloudexpo.services import Services as Svc

    _url_a, url_b, settings = two_nodes
    import_models()
    svc = Svc.from_settings(settings)
    try:
        async with svc.db.session() as db:
            user = await accounts.create_user(db, "bell@example.org", "correct horse battery")
            other = await accounts.create_user(db, "other@example.org", "correct horse battery")
            await db.commit()
    finally:
        await svc.db.close()
    async with httpx.AsyncClient(base_url=url_b) as b:
        await _sign_in(b, "bell@example.org")
        cookie = "; ".join(f"{k}={v}" for k, v in b.cookies.items())
    bus = RedisBus(REDIS_URL, settings.resolved_secret_key())  # the deployment's channels
    await bus.start()
    try:
        ws_url = url_b.replace("http://", "ws://") + "/ws"
        async with websockets.connect(ws_url, origin=url_b, additional_headers={"Cookie": cookie}) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello" and hello["user_id"] == user.id
            await asyncio.sleep(0.3)  # the node subscribes after saying hello
            await bus.publish(f"user.{other.id}", {"type": "notification", "kind": "card_received", "unread": 9})
            await bus.publish(f"user.{user.id}", {"type": "notification", "kind": "card_received", "unread": 2})
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert message == {"type": "notification", "kind": "card_received", "unread": 2}  # never another user's
    finally:
        await bus.close()
