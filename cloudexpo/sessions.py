"""Sign-in sessions kept on the server, so that ending one really ends it.

The session cookie (signed by Starlette) carries an opaque session id; the
database keeps only its SHA-256, the user and when it expires. Signing out
deletes the row, so a copy of the cookie taken before stops working at once;
a password change, a deactivation, a role taken away and "sign out
everywhere" delete every row of the user (:func:`end_all`).

Who a session belongs to is looked up on each request (``web`` caches the
answer for a couple of seconds per node, see ``web.middleware.PrincipalCache``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import ForeignKey, Integer, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base, utcnow

LIFETIME = dt.timedelta(days=14)
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class SignInSession(Base):
    __tablename__ = "sessions"

    # SHA-256 (hex) of the id in the cookie: the table alone signs nobody in.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    user_agent: Mapped[str] = mapped_column(String(200), default="")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _plausible(token: object) -> bool:
    return isinstance(token, str) and 20 <= len(token) <= 100 and set(token) <= _TOKEN_CHARS


async def start(db: AsyncSession, user_id: int, user_agent: str = "") -> str:
    """A new session for the user; returns the id to put in the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    # the user's expired sessions go as a new one starts, so the table stays as small as the live ones
    await db.execute(delete(SignInSession).where(SignInSession.user_id == user_id, SignInSession.expires_at <= now))
    db.add(SignInSession(id=_digest(token), user_id=user_id, created_at=now, expires_at=now + LIFETIME,
                         user_agent=user_agent[:200]))
    await db.flush()
    return token


async def lookup(db: AsyncSession, token: object) -> int | None:
    """The user id of a live session, or None (unknown, ended or expired)."""
    if not _plausible(token):
        return None
    assert isinstance(token, str)
    row = await db.get(SignInSession, _digest(token))
    if row is None or row.expires_at <= utcnow():
        return None
    return row.user_id


async def end(db: AsyncSession, token: object) -> int | None:
    """End one session (signing out); returns its user id, if it was live."""
    if not _plausible(token):
        return None
    assert isinstance(token, str)
    row = await db.get(SignInSession, _digest(token))
    if row is None:
        return None
    await db.delete(row)
    await db.flush()
    return row.user_id


async def end_all(db: AsyncSession, user_id: int) -> int:
    """End every session of the user, on every device; returns how many there were."""
    result = await db.execute(delete(SignInSession).where(SignInSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def count(db: AsyncSession, user_id: int) -> int:
    """The user's live sessions."""
    query = select(func.count()).select_from(SignInSession).where(
        SignInSession.user_id == user_id, SignInSession.expires_at > utcnow()
    )
    return int(await db.scalar(query) or 0)


async def purge_expired(db: AsyncSession) -> int:
    result = await db.execute(delete(SignInSession).where(SignInSession.expires_at <= utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
