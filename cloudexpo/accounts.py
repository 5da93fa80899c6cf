"""Accounts: users, roles, passwords.

Visitors tour without an account; an account adds bookmarks, cards, chat and
meetings. Roles, from least to most trusted: visitor, exhibitor (staff of one
exhibitor, several staff per exhibitor), moderator, admin.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Integer, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo import sessions
from cloudexpo.db import Base, utcnow
from cloudexpo.messages import message

UNKNOWN_ROLE = message("account.unknown_role", "Unknown role {role}; use one of {roles}.")
EXHIBITOR_ID = message("account.exhibitor_id", "An exhibitor account must belong to an exhibitor; give its id.")

EMAIL_SHAPE = message("account.email_shape", "Enter an e-mail address like name@example.org.")
PASSWORD_SHORT = message("account.password_short", "Use a password of at least {min} characters.")
PASSWORD_LONG = message("account.password_long", "Use a password of at most 1024 characters.")
NAME_LONG = message("account.display_name_long", "Use a display name of at most 120 characters.")
EMAIL_TAKEN = message("account.email_taken", "An account with this e-mail already exists; sign in instead.")
WRONG_PASSWORD = message("account.wrong_password", "The current password is not right.")
SAME_PASSWORD = message("account.same_password", "Choose a new password that differs from the current one.")


class Role(StrEnum):
    VISITOR = "visitor"
    EXHIBITOR = "exhibitor"
    MODERATOR = "moderator"
    ADMIN = "admin"


ROLE_RANK = {Role.VISITOR: 0, Role.EXHIBITOR: 1, Role.MODERATOR: 2, Role.ADMIN: 3}


class AccountError(ValueError):
    """Sign-up or sign-in input that cannot be accepted; the message says what to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.VISITOR.value)
    # The exhibitor this user is staff of (exhibitor role only).
    exhibitor_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    language: Mapped[str | None] = mapped_column(String(10), nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise AccountError(EMAIL_SHAPE(), "email")
    return email


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(PASSWORD_SHORT(min=MIN_PASSWORD), "password")
    if len(password) > 1024:
        raise AccountError(PASSWORD_LONG(), "password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the e-mail is unknown, so that the time a
# sign-in takes does not tell whether an account exists.
_DUMMY_HASH = _hasher.hash("cloudexpo-no-such-user")


async def create_user(
    session: AsyncSession,
    email: str,
    password: str,
    *,
    display_name: str | None = None,
    role: Role | str = Role.VISITOR,
    exhibitor_id: int | None = None,
    language: str | None = None,
) -> User:
    email = normalize_email(email)
    check_password_strength(password)
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(UNKNOWN_ROLE(role=repr(role), roles=", ".join(r.value for r in Role)), "role") from None
    name = (display_name or "").strip() or email.split("@", 1)[0]
    if len(name) > 120:
        raise AccountError(NAME_LONG(), "display_name")
    existing = await session.scalar(select(User.id).where(User.email == email))
    if existing is not None:
        raise AccountError(EMAIL_TAKEN(), "email")
    user = User(
        email=email,
        display_name=name,
        password_hash=hash_password(password),
        role=role.value,
        exhibitor_id=exhibitor_id,
        language=language,
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    try:
        email = normalize_email(email)
    except AccountError:
        verify_password(_DUMMY_HASH, password or "")
        return None
    user = await session.scalar(select(User).where(User.email == email))
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password or "")
        return None
    if not verify_password(user.password_hash, password or ""):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_seen_at = utcnow()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    user = await session.get(User, user_id)
    if user is None or not user.active:
        return None
    return user


async def list_users(session: AsyncSession, role: Role | None = None) -> list[User]:
    query = select(User).order_by(User.id)
    if role is not None:
        query = query.where(User.role == role.value)
    return list((await session.scalars(query)).all())


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(User.id))) or 0)


async def set_role(session: AsyncSession, user: User, role: Role | str, exhibitor_id: int | None = None) -> User:
    try:
        role = Role(role)
    except ValueError:
        raise AccountError(UNKNOWN_ROLE(role=repr(role), roles=", ".join(r.value for r in Role)), "role") from None
    if role is Role.EXHIBITOR and exhibitor_id is None and user.exhibitor_id is None:
        raise AccountError(EXHIBITOR_ID(), "exhibitor_id")
    before = (ROLE_RANK[Role(user.role)], user.exhibitor_id)
    user.role = role.value
    if exhibitor_id is not None:
        user.exhibitor_id = exhibitor_id
    if role is not Role.EXHIBITOR:
        user.exhibitor_id = None
    if ROLE_RANK[role] < before[0] or (before[1] is not None and user.exhibitor_id != before[1]):
        # A role (or an exhibitor's staff rights) taken away: no session keeps what it had.
        await sessions.end_all(session, user.id)
    return user


async def change_password(session: AsyncSession, user: User, current: str, new: str) -> None:
    """Check the current password, set the new one and end every session of the user."""
    if not verify_password(user.password_hash, current or ""):
        raise AccountError(WRONG_PASSWORD(), "current_password")
    check_password_strength(new)
    if new == current:
        raise AccountError(SAME_PASSWORD(), "new_password")
    user.password_hash = hash_password(new)
    await sessions.end_all(session, user.id)


async def set_active(session: AsyncSession, user: User, active: bool) -> User:
    """Deactivate (no sign-in, every session ended) or reactivate an account."""
    user.active = active
    if not active:
        await sessions.end_all(session, user.id)
    return user
