"""Helpers for the engagement tests: a small exhibition, clients per role, a real SMTP server."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from tests.conftest import free_port
from tests.test_booths_support import Expo, make_expo

__all__ = ["Expo", "Inbox", "make_expo", "role_client", "set_language", "smtp_inbox", "soon", "wait_for"]


async def role_client(role: str, expo: Expo, signed_in: Any, make_client: Any, number: str = "1A-001") -> Any:
    """anonymous | visitor | exhibitor (staff of ``number``) | other (staff of 1A-002) | moderator."""
    if role == "anonymous":
        return await make_client()
    if role == "exhibitor":
        return await signed_in("exhibitor", expo.exhibitors[number])
    if role == "other":
        return await signed_in("exhibitor", expo.exhibitors["1A-002"])
    return await signed_in(role)


async def set_language(services: Any, user_id: int, language: str) -> None:
    """The account's language: what its notifications and e-mails are written in."""
    from cloudexpo.accounts import User

    async with services.db.session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.language = language
        await session.commit()


def soon(hours: float = 24, minutes: float = 0) -> dt.datetime:
    base = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    return base + dt.timedelta(hours=hours, minutes=minutes)


async def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


@dataclass
class Inbox:
    """Mails an aiosmtpd server on 127.0.0.1 received, parsed."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.inbox.messages.append(message)
        return "250 OK"


def smtp_inbox() -> tuple[Inbox, Any]:
    """A real SMTP server on 127.0.0.1 and a free port; returns (inbox, controller) — stop the controller."""
    from aiosmtpd.controller import Controller

    inbox = Inbox(free_port())
    controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=inbox.port)
    controller.start()
    return inbox, controller
