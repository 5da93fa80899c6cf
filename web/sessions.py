"""Starting a signed-in session: after sign-up, sign-in and a password change."""

from __future__ import annotations

import secrets

from starlette.requests import Request

from cloudexpo import sessions
from web.context import services


async def start_session(request: Request, user_id: int) -> None:
    """A new server-side session for the user, its id in the cookie, and a new CSRF token."""
    async with services(request).db.session() as db:
        sid = await sessions.start(db, user_id, request.headers.get("user-agent", ""))
        await db.commit()
    request.session.clear()  # a new session on sign-in: no fixation
    request.session["sid"] = sid
    request.session["csrf"] = secrets.token_urlsafe(32)
    request.app.state.principal_cache.forget(user_id)
