"""Booth presence over ``/ws``: staff heartbeats ("at the booth") and booth pages that watch who is there.

Client messages (handled for :mod:`web.routes.ws`)::

    {"type": "presence", "booth": 7, "here": true}   # staff of booth 7, every 20 s while at the booth
    {"type": "presence", "booth": 7, "here": false}  # left the booth
    {"type": "watch_booth", "booth": 7}              # a booth page: who is there, now and on each change

A change of who is at a booth is published on the bus topic ``booth.{id}``
as ``{"type": "presence", "booth_id", "staff": [...]}``, so pages on every
node follow it. When the socket closes, its user leaves the booths it was at
after a few seconds' grace (the tab's next page picks the heartbeat up).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

from sqlalchemy import select

from booths.engagement.models import Profile
from booths.exhibition.directory import can_see
from booths.exhibition.models import Booth
from cloudexpo.accounts import User
from cloudexpo.bus import Subscription
from cloudexpo.messages import message
from cloudexpo.services import Services
from cloudexpo.values import parse_id
from web.context import booths_runtime
from web.shapes.conversations import staff_json

BOOTH_ID = message("ws.booth_id", "'booth' is the number of a booth.")
NO_BOOTH = message("ws.no_booth", "There is no booth {booth}.")
STAFF_ONLY = message("ws.presence_staff_only", "Only the booth's own staff can be at the booth.")
SIGN_IN = message("ws.presence_sign_in", "Sign in as the booth's staff to be at the booth.")
MAX_WATCHED = 5
GRACE = 5.0  # seconds a closed page's user stays at the booth, so that moving between pages is not leaving
_SETTLING: set[asyncio.Task[None]] = set()


async def presence_of(svc: Services, board: Any, booth_id: int) -> list[dict[str, Any]]:
    """The staff at the booth now, as visitors see them."""
    ids = await board.staff(booth_id)
    if not ids:
        return []
    async with svc.db.session() as session:
        rows = (await session.execute(
            select(User, Profile).outerjoin(Profile, Profile.user_id == User.id).where(User.id.in_(ids))
        )).all()
    found = {u.id: staff_json(u, p) for u, p in rows}
    return [found[i] for i in ids if i in found]


def topic(booth_id: int) -> str:
    return f"booth.{booth_id}"


class BoothPresence:
    """One socket's part: the booths its user is at, the booths its page watches."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.board = booths_runtime(conn.ws).presence
        self.page = secrets.token_hex(6)
        self.at: set[int] = set()
        self.watching: dict[int, tuple[Subscription, asyncio.Task[None]]] = {}

    async def _booth(self, raw: Any, ref: Any) -> Booth | None:
        booth_id = parse_id(raw)
        if booth_id is None:
            await self.conn.refuse(422, BOOTH_ID(), ref)
            return None
        async with self.conn.svc.db.session() as db:
            booth = await db.get(Booth, booth_id)
        if booth is None or not can_see(self.conn.principal, booth):
            await self.conn.refuse(404, NO_BOOTH(booth=booth_id), ref)
            return None
        return booth

    async def _changed(self, booth_id: int, before: list[int]) -> None:
        after = await self.board.staff(booth_id)
        if after != before:
            staff = await presence_of(self.conn.svc, self.board, booth_id)
            await self.conn.svc.bus.publish(topic(booth_id), {"type": "presence", "booth_id": booth_id, "staff": staff})

    async def beat(self, msg: dict[str, Any]) -> None:
        who = self.conn.principal
        ref = msg.get("ref")
        if not who.signed_in:
            await self.conn.refuse(401, SIGN_IN(), ref)
            return
        booth = await self._booth(msg.get("booth"), ref)
        if booth is None:
            return
        if not who.is_staff_of(booth.exhibitor_id):
            await self.conn.refuse(403, STAFF_ONLY(), ref)
            return
        before = await self.board.staff(booth.id)
        if msg.get("here", True) is False:
            self.at.discard(booth.id)
            await self.board.gone(booth.id, who.user_id, self.page)
        else:
            self.at.add(booth.id)
            await self.board.here(booth.id, who.user_id, self.page)
        await self._changed(booth.id, before)
        await self.conn.send({"type": "presence_ok", "booth_id": booth.id, "here": booth.id in self.at, "ref": ref})

    async def _settle(self, booth_id: int, before: list[int]) -> None:
        await asyncio.sleep(GRACE + 0.5)
        with contextlib.suppress(Exception):  # the bus is down: pages learn at their next look
            await self._changed(booth_id, before)

    async def watch(self, msg: dict[str, Any]) -> None:
        booth = await self._booth(msg.get("booth"), msg.get("ref"))
        if booth is None or booth.id in self.watching or len(self.watching) >= MAX_WATCHED:
            return
        sub = await self.conn.svc.bus.subscribe(topic(booth.id), maxsize=20)
        self.watching[booth.id] = (sub, self.conn.follow(sub))
        staff = await presence_of(self.conn.svc, self.board, booth.id)
        await self.conn.send({"type": "presence", "booth_id": booth.id, "staff": staff})

    async def close(self) -> None:
        """The page went away: its user stays at the booth for :data:`GRACE` seconds more (the next page of the
        same tab picks the heartbeat up), then leaves, and the booth's pages are told."""
        who = self.conn.principal
        for booth_id in list(self.at):
            before = await self.board.staff(booth_id)
            await self.board.here(booth_id, who.user_id, self.page, ttl=GRACE)
            task = asyncio.create_task(self._settle(booth_id, before))
            _SETTLING.add(task)
            task.add_done_callback(_SETTLING.discard)
        self.at.clear()
        for sub, task in self.watching.values():
            task.cancel()
            await sub.close()
        self.watching.clear()
