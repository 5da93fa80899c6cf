"""The authorization findings of the hardening review, each as it was reported.

1. An exhibitor requested a launch for another exhibitor's booth (201).
2. An unapproved slot answered 404 itself but its chat was open (GET 200, POST 201),
   over JSON and over /ws.
3. ``DELETE /whip/{slot}/{session}`` and the green-room WHEP preview took the
   session cookie as authority with no CSRF token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.models import SlotState
from tests.conftest import PASSWORD, LiveServer
from tests.live_support import make_slot, slot_row
from tests.test_booths_support import make_expo

OBS_OFFER = (Path(__file__).parent / "fixtures" / "sdp" / "obs-30-whip-offer.sdp").read_text()
SDP = {"Content-Type": "application/sdp"}


async def test_an_exhibitor_requests_launches_only_for_their_own_booth(signed_in: Any, services: Services) -> None:
    await make_slot(services, start_in=dt.timedelta(days=3000))  # the release stage
    expo = await make_expo(services)
    mine, theirs = expo.booths["1A-001"], expo.booths["1A-002"]
    exhibitor = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    payload = {"stage": "release-a", "title": "Not ours", "starts_at": "2031-02-01T10:00+08:00", "minutes": 30}
    other = await exhibitor.post("/api/slot-requests", json={**payload, "booth_id": theirs})
    assert other.status_code == 403, other.text
    assert "your own booth" in other.json()["detail"]
    # naming the other exhibitor does not help: the booth decides
    claimed = await exhibitor.post("/api/slot-requests", json={**payload, "booth_id": theirs, "exhibitor_id": expo.exhibitors["1A-002"]})
    assert claimed.status_code == 403
    missing = await exhibitor.post("/api/slot-requests", json={**payload, "booth_id": 987654})
    assert missing.status_code == 422 and missing.json()["field"] == "booth"  # the schedule API names the booth "booth" (number, name or id)
    own = await exhibitor.post("/api/slot-requests", json={**payload, "booth_id": mine})
    assert own.status_code == 201, own.text
    assert own.json()["exhibitor_id"] == expo.exhibitors["1A-001"] and own.json()["booth_id"] == mine
    # a moderator may ask for any booth; the slot belongs to the booth's exhibitor
    moderator = await signed_in("moderator")
    by_moderator = await moderator.post("/api/slot-requests", json={**payload, "booth_id": theirs, "starts_at": "2031-02-02T10:00+08:00"})
    assert by_moderator.status_code == 201, by_moderator.text
    assert by_moderator.json()["exhibitor_id"] == expo.exhibitors["1A-002"]


async def test_an_unapproved_slots_sub_resources_answer_404(make_client: Any, signed_in: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, start_in=dt.timedelta(minutes=-1), approved=False, requested_by=1)
    anonymous = await make_client()
    visitor = await signed_in("visitor")
    stranger = await signed_in("exhibitor", 71)
    owner = await signed_in("exhibitor", 70)
    moderator = await signed_in("moderator")
    for who in (anonymous, visitor, stranger):
        assert (await who.get(f"/api/slots/{slot_id}")).status_code == 404
        history = await who.get(f"/api/slots/{slot_id}/chat")
        assert history.status_code == 404, history.text
        assert (await who.get(f"/live/{slot_id}")).status_code == 404
        watch = await who.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers=SDP)
        assert watch.status_code == 404, watch.text
    for who in (visitor, stranger):
        posted = await who.post(f"/api/slots/{slot_id}/chat", json={"text": "can anyone see this?"})
        assert posted.status_code == 404, posted.text
        for sub in ("token", "stats"):
            response = await who.get(f"/api/slots/{slot_id}/{sub}", headers={"Accept": "application/json"})
            assert response.status_code == 404, f"{sub}: {response.text}"
        assert (await who.get(f"/dashboard/live/{slot_id}")).status_code in (403, 404)
    # the booth's staff and moderators still see their request and its chat
    for who in (owner, moderator):
        assert (await who.get(f"/api/slots/{slot_id}")).status_code == 200
        assert (await who.get(f"/api/slots/{slot_id}/chat")).status_code == 200
        assert (await who.post(f"/api/slots/{slot_id}/chat", json={"text": "internal note"})).status_code == 201
    assert (await stranger.get(f"/dashboard/live/{slot_id}")).status_code == 404
    # once approved, everybody reads the chat
    assert (await moderator.post(f"/api/slots/{slot_id}/approve")).status_code == 200
    assert (await anonymous.get(f"/api/slots/{slot_id}/chat")).status_code == 200
    assert (await visitor.post(f"/api/slots/{slot_id}/chat", json={"text": "hello"})).status_code == 201


async def test_an_unapproved_slots_chat_is_closed_over_the_websocket(live_server: LiveServer) -> None:
    import websockets

    import_models()
    svc = Services.from_settings(live_server.settings)
    try:
        async with svc.db.session() as db:
            await accounts.create_user(db, "vis@example.org", PASSWORD)
            await db.commit()
        hidden, _ = await make_slot(svc, approved=False, requested_by=1)
        shown, _ = await make_slot(svc, stage="release-b")
    finally:
        await svc.db.close()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        csrf = (await http.get("/api/me")).json()["csrf_token"]
        signin = await http.post("/api/session", json={"email": "vis@example.org", "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
        assert signin.status_code == 200
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    url = live_server.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, origin=live_server.url, additional_headers={"Cookie": cookie}) as ws:
        async def answer(message: dict[str, Any]) -> dict[str, Any]:
            await ws.send(json.dumps(message))
            while True:
                got = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if got["type"] in ("error", "snapshot", "chat_ok"):
                    return dict(got)

        assert (await answer({"type": "subscribe", "slots": [hidden]}))["type"] == "error"
        refused = await answer({"type": "chat", "slot": hidden, "text": "psst", "ref": 1})
        assert refused["type"] == "error" and f"no slot {hidden}" in refused["detail"]
        assert (await answer({"type": "chat", "slot": shown, "text": "hello", "ref": 2}))["type"] == "chat_ok"


async def test_ending_a_broadcast_with_the_cookie_needs_the_csrf_token(signed_in: Any, services: Services) -> None:
    slot_id, token = await make_slot(services)
    owner = await signed_in("exhibitor", 70)
    published = await owner.http.post(f"/whip/{slot_id}", content=OBS_OFFER, headers={**SDP, "Authorization": f"Bearer {token}"})
    assert published.status_code == 201, published.text
    location = published.headers["location"]
    # the owner's cookie alone, as a cross-site form or fetch would send it
    bare = await owner.http.delete(location)
    assert bare.status_code == 403, bare.text
    assert "X-CSRF-Token" in bare.json()["detail"]
    assert (await slot_row(services, slot_id)).state == SlotState.LIVE.value
    # the same cookie from a Cloud Expo page (with the page's token) ends the session: the broadcast is interrupted
    stopped = await owner.delete(location)
    assert stopped.status_code == 200, stopped.text
    row = await slot_row(services, slot_id)
    assert row.state == SlotState.LIVE.value and row.publish_session is None
    # End with the cookie alone is refused too; from the page it ends the broadcast
    bare_end = await owner.http.post(f"/api/slots/{slot_id}/end")
    assert bare_end.status_code == 403, bare_end.text
    assert (await slot_row(services, slot_id)).state == SlotState.LIVE.value
    ended = await owner.post(f"/api/slots/{slot_id}/end")
    assert ended.status_code == 200, ended.text
    assert (await slot_row(services, slot_id)).state == SlotState.ENDED.value


async def test_the_green_room_preview_with_the_cookie_needs_the_csrf_token(signed_in: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, start_in=dt.timedelta(minutes=5), state=SlotState.GREEN_ROOM.value)
    owner = await signed_in("exhibitor", 70)
    bare = await owner.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers=SDP)
    assert bare.status_code == 403 and "X-CSRF-Token" in bare.json()["detail"]
    from_page = await owner.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers={**SDP, "X-CSRF-Token": owner.csrf})
    assert from_page.status_code == 409, from_page.text  # allowed to preview; nobody publishes in this test
    forged = await owner.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers={**SDP, "X-CSRF-Token": "not-this-session"})
    assert forged.status_code == 403
