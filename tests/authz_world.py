"""A small, real exhibition for the authorization matrix: six principals and one of every object.

``World.values`` fills the matrix's URL templates (``{booth}``, ``{slot}`` …);
``World.fresh(name)`` makes a new object for requests that change or delete
it, so every principal meets the object in the same state.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx

from booths.exhibition.models import Application, Zone
from booths.media.models import Asset
from booths.media.processing import create_asset_from_bytes
from cloudexpo.services import Services
from streaming.models import ChatMessage, StageKind
from streaming.qa_models import Poll, PollState, Question
from streaming.schedule import SlotInput, create_slot, ensure_stage
from tests.conftest import PASSWORD
from tests.test_booths_support import make_expo
from tests.test_media_support import pdf_bytes, png_bytes
from web.shapes.media import asset_json

PRINCIPALS = ("anonymous", "visitor", "other", "owner", "moderator", "admin")
ROLES = {"visitor": "visitor", "other": "exhibitor", "owner": "exhibitor", "moderator": "moderator", "admin": "admin"}
VTT = b"WEBVTT\n\n00:00.500 --> 00:03.000\nHello\n"
CARD = {"name": "Li Ming", "organisation": "Sichuan Institute of Metrology", "email": "li.ming@example.org",
        "consent": True}


async def _put(client: Any, url: str, data: bytes, headers: dict[str, str]) -> int:
    """PUT to a presigned URL: the app's own storage in-process, S3 over real HTTP."""
    if url.startswith("http://testserver"):
        return int((await client.http.put(url, content=data, headers=headers)).status_code)
    async with httpx.AsyncClient(timeout=30) as outside:
        return int((await outside.put(url, content=data, headers=headers)).status_code)


def _soon(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(days=days)


@dataclass
class World:
    services: Services
    make_client: Any
    make_user: Any
    clients: dict[str, Any] = field(default_factory=dict)
    users: dict[str, tuple[str, int]] = field(default_factory=dict)  # principal -> (email, id)
    exhibitors: dict[str, int] = field(default_factory=dict)  # "owner"/"other" -> exhibitor id
    values: dict[str, Any] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def client_for(self, who: str, *, fresh_user: bool = False) -> Any:
        """``who``'s client; a new account of the same role (and its own session) when ``fresh_user``."""
        if not fresh_user:
            return self.clients[who]
        client = await self.make_client()
        if who != "anonymous":
            email, _, _ = await self.make_user(ROLES[who], self.exhibitors.get(who))
            await client.sign_in(email, PASSWORD)
        return client

    async def copy_of(self, who: str) -> Any:
        """A client carrying ``who``'s cookies: what it changes on its session stays its own."""
        client = await self.make_client()
        client.http.cookies = httpx.Cookies(self.clients[who].http.cookies)
        client.csrf = self.clients[who].csrf
        return client

    async def signed_in_again(self, who: str) -> Any:
        """A second session of ``who``'s own account."""
        client = await self.make_client()
        if who != "anonymous":
            await client.sign_in(self.users[who][0], PASSWORD)
        return client

    # --- objects ---------------------------------------------------------------------------

    async def slot(self, *, approved: bool = True, start_in: dt.timedelta = dt.timedelta(minutes=-1),
                   minutes: int = 60, state: str | None = None) -> int:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        stage_slug = f"release-{next(self.counter)}"
        async with self.services.db.session() as db:
            self.values.setdefault("stage", stage_slug)
            stage = await ensure_stage(db, stage_slug, {"en": stage_slug}, kind=StageKind.RELEASE)
            slot = await create_slot(db, self.services.secret_key, SlotInput(
                stage_id=stage.id, title={"en": "Launch of the saloon", "zh-Hans": "新品发布"},
                starts_at=now + start_in, ends_at=now + start_in + dt.timedelta(minutes=minutes),
                booth_id=self.values["booth"], exhibitor_id=self.exhibitors["owner"], forum=None,
            ), requested_by=None if approved else self.users["owner"][1])
            if state is not None:
                slot.state = state
            await db.commit()
            return slot.id

    async def replay(self) -> int:
        from tests.test_replay_api import make_recording

        slot_id = await self.slot(start_in=dt.timedelta(minutes=-30), minutes=20)
        await make_recording(self.services, slot_id)
        return slot_id

    async def application(self) -> int:
        _, _, user_id = await self.make_user("visitor")  # approval makes the applicant an exhibitor
        async with self.services.db.session() as db:
            row = Application(user_id=user_id, organisation="成都精密仪器", organisation_en="Chengdu Instruments",
                              region="sichuan", industry="heavy-equipment", zone_id=self.values["zone"],
                              description="Precision gauges", contact_name="Zhang", contact_phone="+86 28 8888 6666",
                              contact_email="zhang@example.org")
            db.add(row)
            await db.commit()
            return row.id

    async def asset(self) -> int:
        async with self.services.db.session() as db:
            row = await create_asset_from_bytes(
                db, self.services.store, exhibitor_id=self.exhibitors["owner"], booth_id=self.values["booth"],
                kind="image", data=png_bytes(64, 48), filename="saloon.png",
                title={"en": "Saloon"})
            await db.commit()
            return row.id

    async def document(self) -> int:
        async with self.services.db.session() as db:
            row = await create_asset_from_bytes(
                db, self.services.store, exhibitor_id=self.exhibitors["owner"], booth_id=self.values["booth"],
                kind="document", data=pdf_bytes("Saloon brochure"), filename="saloon.pdf", title={"en": "Brochure"})
            await db.commit()
            return row.id

    async def signed_asset_url(self) -> str:
        async with self.services.db.session() as db:
            row = await db.get(Asset, self.values["asset"])
            assert row is not None
            return str(asset_json(self.services.store, row)["url"]).replace("http://testserver", "")

    async def _ok(self, response: Any, status: int = 201) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    async def _added(self, row: Any) -> int:
        """Store ``row`` as it is (no route's limits in the way); its id."""
        async with self.services.db.session() as db:
            db.add(row)
            await db.commit()
            return int(row.id)

    async def fresh(self, name: str) -> dict[str, Any]:
        """Placeholders for a new object of kind ``name`` (see the matrix's ``fresh`` column)."""
        owner, visitor = self.clients["owner"], self.clients["visitor"]
        if name == "product":
            made = await self._ok(await owner.post(f"/api/booths/{self.values['booth']}/products",
                                                   json={"name": {"en": f"Product {next(self.counter)}"}}))
            return {"product": made["id"]}
        if name == "upload":
            made = await self._ok(await owner.post("/api/uploads", json={
                "booth_id": self.values["booth"], "kind": "image", "filename": "a.png", "size": 1000,
                "content_type": "image/png"}))
            return {"upload": made["id"]}
        if name == "multipart":
            made = await self._ok(await owner.post("/api/uploads", json={
                "booth_id": self.values["booth"], "kind": "video", "filename": "a.mp4", "size": 40 * 1024 * 1024,
                "content_type": "video/mp4"}))
            return {"upload": made["id"]}
        if name == "uploaded":
            data = png_bytes(64, 48)
            made = await self._ok(await owner.post("/api/uploads", json={
                "booth_id": self.values["booth"], "kind": "image", "filename": "b.png", "size": len(data),
                "content_type": "image/png"}))
            sent = await _put(owner, made["url"], data, made["headers"])
            assert sent < 300, sent
            return {"upload": made["id"]}
        if name == "captioned":
            replay = await self.replay()
            done = await owner.put(f"/api/replays/{replay}/captions/en", content=VTT, headers={"Content-Type": "text/vtt"})
            assert done.status_code < 300, done.text
            return {"replay": replay}
        if name == "asset":
            return {"asset": await self.asset()}
        if name == "slot":
            return {"slot": await self.slot(start_in=dt.timedelta(days=2 + next(self.counter)))}
        if name == "live_slot":
            return {"slot": await self.slot()}
        if name == "on_air_slot":  # a broadcast running (on air, its publisher interrupted)
            return {"slot": await self.slot(state="live")}
        if name == "requested_slot":
            return {"slot": await self.slot(approved=False, start_in=dt.timedelta(days=2 + next(self.counter)))}
        if name == "replay":
            return {"replay": await self.replay()}
        if name == "application":
            return {"application": await self.application()}
        if name == "message":  # straight in: the chat's rate limit is not under test
            return {"message": await self._added(ChatMessage(
                slot_id=self.values["slot"], user_id=self.users["visitor"][1], author="Li", text="你好",
                created_at=dt.datetime.now(dt.UTC)))}
        if name == "question":  # straight in: asking's rate limit is not under test
            return {"question": await self._added(Question(
                slot_id=self.values["slot"], user_id=self.users["visitor"][1], author="Li", text="Range in winter?",
                created_at=dt.datetime.now(dt.UTC)))}
        if name in ("poll", "open_poll"):
            now, opened = dt.datetime.now(dt.UTC), name == "open_poll"
            return {"poll": await self._added(Poll(
                slot_id=self.values["slot"], question="Which colour?", options=["Red", "Blue"],
                created_by=self.users["owner"][1], created_at=now, opened_at=now if opened else None,
                state=PollState.OPEN.value if opened else PollState.DRAFT.value))}
        if name in ("meeting_slot", "meeting"):
            starts = _soon(3 + next(self.counter) / 24).isoformat()
            made = await self._ok(await owner.post("/api/meeting-slots", json={
                "starts_at": starts, "minutes": 30, "mode": "online"}))
            if name == "meeting_slot":
                return {"meeting_slot": made["id"]}
            asked = await self._ok(await visitor.post(f"/api/meeting-slots/{made['id']}/requests",
                                                      json={"note": "Battery tests"}))
            return {"meeting": asked["id"]}
        if name in ("call", "conversation_no_call"):  # the visitor's conversation with the booth, no call open in it
            talk = await visitor.post(f"/api/booths/{self.values['booth']}/conversations", json={"text": "Hello"})
            assert talk.status_code in (200, 201), talk.text  # 200: the conversation goes on
            conversation = talk.json()["conversation"]["id"]
            for open_call in (await owner.get(f"/api/booths/{self.values['booth']}/calls")).json()["calls"]:
                if open_call["state"] in ("ringing", "active"):  # the visitor is in every call of their conversation
                    await visitor.post(f"/api/calls/{open_call['id']}/hangup")
            if name == "conversation_no_call":
                return {"conversation": conversation}
            call = await self._ok(await visitor.post(f"/api/conversations/{conversation}/calls"))
            self.values["call"] = call["call"]["id"]
            return {"call": call["call"]["id"], "conversation": conversation}
        if name == "card":
            made = await self._ok(await visitor.post(f"/api/booths/{self.values['booth']}/cards", json=CARD))
            return {"card": made["card"]["id"], "card_token": made["withdraw_url"].split("token=", 1)[1]}
        if name == "conversation_message":  # a new message of the visitor's in their conversation with the owner's
            # booth, which the visitor reported (moderators act on reported conversations only)
            talk = await visitor.post(f"/api/booths/{self.values['booth']}/conversations", json={"text": "Spam spam"})
            assert talk.status_code in (200, 201), talk.text
            await self._ok(await visitor.post(f"/api/conversations/{talk.json()['conversation']['id']}/report",
                                              json={"reason": "spam"}), 200)
            return {"conversation_message": talk.json()["message"]["id"]}
        if name == "conversation":  # one per booth and visitor: the visitor's conversation with the owner's booth
            made = await self._ok(await visitor.post(f"/api/booths/{self.values['booth']}/conversations",
                                                     json={"text": "Battery tests?"}))
            return {"conversation": made["conversation"]["id"]}
        raise AssertionError(f"no fresh {name}")


async def build_world(services: Services, make_client: Any, make_user: Any) -> World:
    world = World(services, make_client, make_user)
    expo = await make_expo(services)
    world.exhibitors = {"owner": expo.exhibitors["1A-001"], "other": expo.exhibitors["1A-002"]}
    for who in PRINCIPALS:
        client = await make_client()
        if who != "anonymous":
            email, _, user_id = await make_user(ROLES[who], world.exhibitors.get(who))
            await client.sign_in(email, PASSWORD)
            world.users[who] = (email, user_id)
        world.clients[who] = client
    async with services.db.session() as db:
        zone = await db.get(Zone, expo.zones["innovation"])
        assert zone is not None
        hall_id, zone_slug = zone.hall_id, zone.slug
    v = world.values
    v.update(booth=expo.booths["1A-001"], booth_number="1A-001", booth_other=expo.booths["1A-002"],
             exhibitor=world.exhibitors["owner"], zone=expo.zones["innovation"], zone_slug=zone_slug, hall=hall_id,
             visitor_id=world.users["visitor"][1], owner_id=world.users["owner"][1])
    v["product"] = (await world.fresh("product"))["product"]
    v["slot"] = await world.slot()
    v["requested_slot"] = await world.slot(approved=False, start_in=dt.timedelta(days=1))
    v["replay"] = await world.replay()
    v["asset"] = await world.asset()
    v["document"] = await world.document()
    v.update(await world.fresh("upload"))
    _, _, v["spare_user"] = await make_user("visitor")
    v.update(await world.fresh("application"))
    v.update(await world.fresh("message"))
    v.update(await world.fresh("meeting_slot"))
    v.update(await world.fresh("meeting"))
    v.update(await world.fresh("card"))
    v.update(await world.fresh("conversation"))
    said = await world._ok(await world.clients["visitor"].post(f"/api/conversations/{v['conversation']}/messages",
                                                               json={"text": "Hello again"}))
    v["conversation_message"] = said["message"]["id"]  # for the refusals (the moderators' own is in a reported one)
    v.update(await world.fresh("question"))
    v.update(await world.fresh("open_poll"))
    v.update({"call": (await world.fresh("call"))["call"]})  # a call ringing the booth, for the refusals
    # The booth's lead, made by the card above, and the visitor's expert profile.
    leads = (await world.clients["owner"].get("/api/leads")).json()
    v["lead"] = leads["leads"][0]["id"]
    v["signed_asset_url"] = await world.signed_asset_url()
    return world
