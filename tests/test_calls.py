"""Video calls from a booth conversation, with real aiortc peers as the two browsers.

Direct: a visitor on one node rings the booth, its staff member on another
node (sharing Redis) answers; offer and answer cross over ``/ws`` and the
Redis bus, and the two peers' cameras reach each other. Through the server:
each party publishes to its private call stream and plays the other's with
its own token. Everyone else is refused on every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from tests.call_support import DirectPeer, ForwardedPeer, Socket, call_nodes
from tests.test_booths_support import make_expo

PASSWORD = "correct horse battery"
__all__ = ["call_nodes"]  # the fixture: two app nodes as one deployment
RED, BLUE = (230, 30, 30), (30, 60, 230)


@dataclass
class Cast:
    """The booth, its staff member, the visitor, and someone else; each with a signed-in HTTP client."""

    booth_id: int
    exhibitor_id: int
    ids: dict[str, int]
    http: dict[str, httpx.AsyncClient]
    csrf: dict[str, str]

    async def post(self, who: str, url: str, **kw: Any) -> httpx.Response:
        return await self.http[who].post(url, headers={"X-CSRF-Token": self.csrf[who]}, **kw)

    def cookie(self, who: str) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http[who].cookies.items())


@contextlib.asynccontextmanager
async def cast_on(settings: Any, bases: dict[str, str]) -> AsyncIterator[Cast]:
    """The people of a call, each signed in on the node ``bases`` names for them."""
    import_models()
    svc = Services.from_settings(settings)
    try:
        expo = await make_expo(svc)
        number = next(iter(expo.booths))
        booth_id, exhibitor_id = expo.booths[number], expo.exhibitors[number]
        ids = {}
        async with svc.db.session() as db:
            for who, role in (("visitor", "visitor"), ("staff", "exhibitor"), ("colleague", "exhibitor"), ("other", "visitor")):
                user = await accounts.create_user(db, f"{who}-{secrets.token_hex(3)}@example.org", PASSWORD, role=role,
                                                  exhibitor_id=exhibitor_id if role == "exhibitor" else None)
                ids[who] = user.id
            emails = {who: (await db.get(accounts.User, uid)).email for who, uid in ids.items()}  # type: ignore[union-attr]
            await db.commit()
    finally:
        await svc.db.close()
    http, csrf = {}, {}
    async with contextlib.AsyncExitStack() as stack:
        for who in ids:
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=bases[who], timeout=20))
            token = (await client.get("/api/me")).json()["csrf_token"]
            signed = await client.post("/api/session", json={"email": emails[who], "password": PASSWORD},
                                       headers={"X-CSRF-Token": token})
            assert signed.status_code == 200, signed.text
            http[who], csrf[who] = client, (await client.get("/api/me")).json()["csrf_token"]
        yield Cast(booth_id, exhibitor_id, ids, http, csrf)


async def ring(cast: Cast, caller: str) -> int:
    """``caller`` rings the other side of the visitor's conversation with the booth (started here); the call's id."""
    talk = await cast.post("visitor", f"/api/booths/{cast.booth_id}/conversations", json={"text": "Can we talk on video?"})
    assert talk.status_code in (200, 201), talk.text
    conversation_id = talk.json()["conversation"]["id"]
    assert (await cast.post("other", f"/api/conversations/{conversation_id}/calls")).status_code == 404  # not theirs
    started = await cast.post(caller, f"/api/conversations/{conversation_id}/calls")
    assert started.status_code == 201, started.text
    again = await cast.post(caller, f"/api/conversations/{conversation_id}/calls")
    assert again.status_code == 409 and again.json()["code"] == "call.already_open"
    return int(started.json()["call"]["id"])


@contextlib.asynccontextmanager
async def socket(cast: Cast, who: str) -> AsyncIterator[Socket]:
    import websockets

    base = str(cast.http[who].base_url)
    async with websockets.connect(base.replace("http://", "ws://").rstrip("/") + "/ws", origin=base.rstrip("/"),
                                  additional_headers={"Cookie": cast.cookie(who)}, max_size=2**20) as ws:
        page = Socket(ws)
        assert (await page.next("hello"))["user_id"] == cast.ids[who]
        await asyncio.sleep(0.3)  # the node subscribes to the user's topic after saying hello
        yield page


async def test_a_visitor_rings_the_booth_and_the_two_talk_directly_across_nodes(
        call_nodes: tuple[str, str, Any]) -> None:
    url_a, url_b, settings = call_nodes
    bases = {"visitor": url_a, "other": url_a, "staff": url_b, "colleague": url_b}
    async with cast_on(settings, bases) as cast, socket(cast, "visitor") as visitor, \
            socket(cast, "staff") as staff, socket(cast, "colleague") as colleague, socket(cast, "other") as other:
        call_id = await ring(cast, "visitor")
        # every staff member of the booth is rung, on whichever node their page is
        assert (await staff.next("call", event="ringing"))["call"]["id"] == call_id
        assert (await colleague.next("call", event="ringing"))["call"]["callee_id"] is None
        # a page opened mid-ring finds it; nobody else sees the call or may answer it
        ringing = (await cast.http["colleague"].get("/api/calls/ringing")).json()["calls"]
        assert [c["id"] for c in ringing] == [call_id] and ringing[0]["booth_number"]
        assert (await cast.http["other"].get("/api/calls/ringing")).json()["calls"] == []
        assert (await cast.http["other"].get(f"/api/calls/{call_id}")).status_code == 404
        assert (await cast.post("other", f"/api/calls/{call_id}/accept")).status_code == 404
        assert (await cast.post("visitor", f"/api/calls/{call_id}/accept")).status_code == 409  # the caller does not answer
        # before it is answered nobody signals
        await visitor.send({"type": "call_signal", "call": call_id, "kind": "offer", "sdp": "v=0\r\n", "ref": 1})
        assert (await visitor.next("error", ref=1))["status"] == 409

        accepted = await cast.post("staff", f"/api/calls/{call_id}/accept")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["call"]["callee_id"] == cast.ids["staff"] and accepted.json()["ice_servers"] == []
        told = await visitor.next("call", event="accepted")
        assert told["forwarder"]["token"] != accepted.json()["forwarder"]["token"]  # one token per party
        assert (await colleague.next("call", event="accepted"))["call"]["state"] == "active"  # stops ringing
        assert (await cast.post("colleague", f"/api/calls/{call_id}/decline")).status_code == 404  # taken already

        # signalling: only between the two parties; bad messages are answered with what to fix
        await other.send({"type": "call_signal", "call": call_id, "kind": "offer", "sdp": "v=0\r\n", "ref": 2})
        assert (await other.next("error", ref=2))["status"] == 404
        await visitor.send({"type": "call_signal", "call": call_id, "kind": "dance", "ref": 3})
        refused = await visitor.next("error", ref=3)
        assert refused["status"] == 422 and refused["code"] == "call.signal_kind"

        caller, callee = DirectPeer(RED), DirectPeer(BLUE)
        try:
            await visitor.send({"type": "call_signal", "call": call_id, "kind": "offer", "sdp": await caller.offer()})
            offer = await staff.next("call_signal", kind="offer")
            assert offer["from"] == cast.ids["visitor"] and offer["call"] == call_id
            await staff.send({"type": "call_signal", "call": call_id, "kind": "answer", "sdp": await callee.answer(offer["sdp"])})
            answer = await visitor.next("call_signal", kind="answer")
            await caller.accept(answer["sdp"])
            await asyncio.gather(caller.seen.wait(5, BLUE), callee.seen.wait(5, RED))  # frames both ways
            await visitor.send({"type": "call_signal", "call": call_id, "kind": "connected"})
            assert (await staff.next("call_signal", kind="connected"))["from"] == cast.ids["visitor"]
        finally:
            await caller.close()
            await callee.close()

        hung = await cast.post("visitor", f"/api/calls/{call_id}/hangup")
        assert hung.status_code == 200 and hung.json()["call"]["state"] == "ended"
        assert (await staff.next("call", event="ended"))["call"]["ended_at"] is not None
        await staff.send({"type": "call_signal", "call": call_id, "kind": "answer", "sdp": "v=0\r\n", "ref": 4})
        assert (await staff.next("error", ref=4))["status"] == 409

        # the record, for the booth's staff only
        records = await cast.http["colleague"].get(f"/api/booths/{cast.booth_id}/calls")
        assert records.status_code == 200
        (record,) = records.json()["calls"]
        assert record["answered_at"] and record["path"] == "direct" and record["callee_id"] == cast.ids["staff"]
        assert (await cast.http["visitor"].get(f"/api/booths/{cast.booth_id}/calls")).status_code == 404
        figures = (await cast.http["staff"].get(f"/api/analytics/booths/{cast.booth_id}")).json()["totals"]
        assert figures["calls"] == 1 and figures["calls_answered"] == 1 and figures["call_minutes"] == 1


async def test_when_direct_fails_both_go_through_the_server_with_their_own_tokens(
        call_nodes: tuple[str, str, Any]) -> None:
    """Each party on its own node: each node pulls the other party's camera from the node receiving it."""
    url_a, url_b, settings = call_nodes
    bases = {"visitor": url_a, "other": url_a, "staff": url_b, "colleague": url_b}
    async with cast_on(settings, bases) as cast, socket(cast, "visitor") as visitor:
        call_id = await ring(cast, "staff")
        assert (await visitor.next("call", event="ringing"))["call"]["caller_id"] == cast.ids["staff"]
        staff_view = (await cast.http["staff"].get(f"/api/calls/{call_id}")).json()
        # a ringing call sends no media through the server
        ringing = await httpx.AsyncClient().post(f"{url_b}/whip/calls/{call_id}", content="v=0\r\n", headers={
            "Content-Type": "application/sdp", "Authorization": f"Bearer {staff_view['forwarder']['token']}"})
        assert ringing.status_code == 409
        assert (await cast.post("colleague", f"/api/calls/{call_id}/accept")).status_code == 404  # not rung: no such call
        accepted = (await cast.post("visitor", f"/api/calls/{call_id}/accept")).json()
        tokens = {"visitor": accepted["forwarder"]["token"], "staff": staff_view["forwarder"]["token"]}
        async with httpx.AsyncClient(base_url=url_a) as http:
            url = f"/whip/calls/{call_id}"
            assert (await http.post(url, content="v=0\r\n", headers={"Content-Type": "application/sdp"})).status_code == 401
            wrong = await http.post(url, content="v=0\r\n", headers={"Content-Type": "application/sdp",
                                                                      "Authorization": f"Bearer {'0' * 40}"})
            assert wrong.status_code == 403 and "only its two parties" in wrong.json()["detail"]
            elsewhere = await http.post(f"/whep/calls/{call_id + 1}", content="v=0\r\n", headers={
                "Content-Type": "application/sdp", "Authorization": f"Bearer {tokens['visitor']}"})
            assert elsewhere.status_code == 403  # a token is for its own call only

        visitor_side = ForwardedPeer(url_a, call_id, tokens["visitor"], RED)
        staff_side = ForwardedPeer(url_b, call_id, tokens["staff"], BLUE)
        try:
            await visitor_side.publish()
            before = asyncio.ensure_future(visitor_side.play())  # waits for the staff member's camera: 409, retry
            await asyncio.sleep(0.5)
            await staff_side.publish()
            statuses = await before
            assert statuses[0] == 409 and statuses[-1] == 201
            await staff_side.play()
            await asyncio.gather(visitor_side.seen.wait(5, BLUE), staff_side.seen.wait(5, RED))  # frames both ways
            # a party ends their own sessions only
            async with httpx.AsyncClient() as http:
                mine = staff_side.locations[-1]
                assert (await http.delete(mine, headers={"Authorization": f"Bearer {tokens['visitor']}"})).status_code == 404
                assert (await http.delete(mine, headers={"Authorization": f"Bearer {tokens['staff']}"})).status_code == 200
        finally:
            await visitor_side.close()
            await staff_side.close()
        assert (await cast.post("staff", f"/api/calls/{call_id}/hangup")).json()["call"]["state"] == "ended"
        assert (await visitor.next("call", event="ended"))["call"]["path"] == "forwarder"
        async with httpx.AsyncClient() as http:
            after = await http.post(f"{url_a}/whep/calls/{call_id}", content="v=0\r\n", headers={
                "Content-Type": "application/sdp", "Authorization": f"Bearer {tokens['visitor']}"})
            assert after.status_code == 409  # the call is over: its streams are gone
            # never a launch: no slot, nothing in the programme
            programme = await http.get(f"{url_a}/api/slots")
            assert programme.status_code != 200 or not programme.json().get("slots")
