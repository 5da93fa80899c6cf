"""Accounts over HTTP: a user changes their password or signs out everywhere; admins deactivate.

Both end every server-side session of the user (``cloudexpo.sessions``), so
a cookie copied from any browser stops working; a password change then
signs this browser in again with a new session.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cloudexpo import accounts, sessions
from cloudexpo.accounts import AccountError, Role
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require
from web.context import principal, services
from web.errors import ApiError, said_of, wants_json
from web.forms import read_input
from web.params import path_int
from web.sessions import start_session
from web.shapes.accounts import user_json
from web.templating import render

SIGN_IN_AGAIN = message("account.inactive", "Sign in again: this account is no longer active.")
ACTIVE_BOOL = message("account.active_bool", "'active' must be true or false.")
NOT_YOURSELF = message("account.not_yourself", "You cannot deactivate your own account; ask another admin.")
NO_USER = message("account.no_user", "There is no user {id}.")


async def _page(request: Request, who: Principal, *, error: str | None = None, field: str | None = None,
                status_code: int = 200) -> Response:
    assert who.user_id is not None
    async with services(request).db.session() as db:
        live = await sessions.count(db, who.user_id)
    return render(request, "account.html", {"sessions": live, "error": error, "field": field,
                                           "saved": request.query_params.get("saved")}, status_code=status_code)


async def account_page(request: Request) -> Response:
    return await _page(request, require(principal(request)))


async def change_password(request: Request) -> Response:
    """Needs the current password; ends every session, then signs this browser in anew."""
    who = require(principal(request))
    assert who.user_id is not None
    data = await read_input(request)
    await request.app.state.signin_limiter.check(f"password:{who.user_id}")
    try:
        async with services(request).db.session() as db:
            user = await accounts.get_user(db, who.user_id)
            if user is None:
                raise ApiError(401, SIGN_IN_AGAIN())
            await accounts.change_password(db, user, str(data.get("current_password", "")), str(data.get("new_password", "")))
            await db.commit()
    except AccountError as exc:
        if wants_json(request):
            field = "new_password" if exc.field == "password" else exc.field
            raise ApiError(422, said_of(exc), extra={"field": field}) from None
        return await _page(request, who, error=said_of(exc), field=exc.field, status_code=422)
    request.app.state.principal_cache.forget(who.user_id)
    await start_session(request, who.user_id)
    if wants_json(request):
        return JSONResponse({**user_json(who), "sessions_ended": True})
    return RedirectResponse("/account?saved=password", status_code=303)


async def sign_out_everywhere(request: Request) -> Response:
    """End every session of the user, this one included."""
    who = require(principal(request))
    assert who.user_id is not None
    async with services(request).db.session() as db:
        ended = await sessions.end_all(db, who.user_id)
        await db.commit()
    request.app.state.principal_cache.forget(who.user_id)
    request.session.clear()
    if wants_json(request):
        return JSONResponse({"signed_in": False, "sessions_ended": ended})
    return RedirectResponse("/", status_code=303)


def _wanted_active(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "1", "on", 1):
        return True
    if value in ("false", "0", "off", 0):
        return False
    raise ApiError(422, ACTIVE_BOOL(), extra={"field": "active"})


async def _set_active(request: Request) -> accounts.User:
    """Admins deactivate an account (no sign-in, every session ended) or reactivate it."""
    who = require(principal(request), Role.ADMIN)
    user_id = path_int(request, "user_id")
    active = _wanted_active((await read_input(request)).get("active"))
    if user_id == who.user_id:
        raise Forbidden(NOT_YOURSELF())
    async with services(request).db.session() as db:
        user = await db.get(accounts.User, user_id)
        if user is None:
            raise ApiError(404, NO_USER(id=user_id))
        await accounts.set_active(db, user, active)
        await db.commit()
    request.app.state.principal_cache.forget(user_id)
    return user


async def user_active_submit(request: Request) -> Response:
    await _set_active(request)
    return RedirectResponse("/moderate/users?saved=1", status_code=303)


async def api_user_active(request: Request) -> Response:
    user = await _set_active(request)
    return JSONResponse({"id": user.id, "email": user.email, "display_name": user.display_name, "role": user.role,
                         "exhibitor_id": user.exhibitor_id, "active": user.active})


routes: list[BaseRoute] = [
    Route("/moderate/users/{user_id:int}/active", user_active_submit, methods=["POST"]),
    Route("/api/users/{user_id:int}/active", api_user_active, methods=["POST"]),
    Route("/account", account_page, methods=["GET"]),
    Route("/account/password", change_password, methods=["POST"]),
    Route("/account/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
    Route("/api/me/password", change_password, methods=["POST"]),
    Route("/api/me/sessions", sign_out_everywhere, methods=["DELETE"]),
]
