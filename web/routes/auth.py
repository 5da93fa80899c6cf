"""Sign up, sign in, sign out, and who am I — as pages and as JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cloudexpo import accounts, sessions
from cloudexpo.accounts import AccountError
from cloudexpo.i18n import LANGUAGES
from cloudexpo.messages import message
from cloudexpo.permissions import Principal
from cloudexpo.ratelimit import RateLimiter, SharedRateLimiter
from web.context import client_ip, csrf_token, language, principal, services
from web.errors import ApiError, said_of, wants_json
from web.forms import read_input
from web.middleware import LANG_COOKIE
from web.sessions import start_session
from web.shapes.accounts import user_json
from web.templating import render

BAD_CREDENTIALS = message("auth.bad_credentials", "The e-mail or password is not right.")
UNKNOWN_LANGUAGE = message("auth.unknown_language", "Cloud Expo speaks {languages}; {lang} is not one of them.")


def _limiter(request: Request) -> RateLimiter | SharedRateLimiter:
    return request.app.state.signin_limiter


def safe_next(value: str | None) -> str:
    """Only same-site relative paths, so sign-in cannot redirect elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def signin_page(request: Request) -> Response:
    return render(request, "signin.html", {"next": safe_next(request.query_params.get("next")), "error": None, "email": ""})


async def signin(request: Request) -> Response:
    data = await read_input(request)
    email = str(data.get("email", "")).strip().lower()
    await _limiter(request).check(f"signin:{client_ip(request)}")
    await _limiter(request).check(f"signin:{email}")
    async with services(request).db.session() as db:
        user = await accounts.authenticate(db, email, str(data.get("password", "")))
        await db.commit()
    if user is None:
        detail = BAD_CREDENTIALS()
        if wants_json(request):
            raise ApiError(401, detail, error="bad_credentials")
        return render(request, "signin.html", {"next": safe_next(str(data.get("next", ""))), "error": detail, "email": email}, status_code=401)
    await start_session(request, user.id)
    if wants_json(request):
        return JSONResponse(user_json(Principal.from_user(user)))
    return RedirectResponse(safe_next(str(data.get("next", ""))), status_code=303)


async def signup_page(request: Request) -> Response:
    return render(request, "signup.html", {"next": safe_next(request.query_params.get("next")), "error": None, "field": None, "values": {}})


async def signup(request: Request) -> Response:
    data = await read_input(request)
    await _limiter(request).check(f"signup:{client_ip(request)}")
    try:
        async with services(request).db.session() as db:
            user = await accounts.create_user(
                db,
                str(data.get("email", "")),
                str(data.get("password", "")),
                display_name=str(data.get("display_name", "")),
                language=language(request),
            )
            await db.commit()
    except AccountError as exc:
        if wants_json(request):
            raise
        values = {"email": data.get("email", ""), "display_name": data.get("display_name", "")}
        return render(request, "signup.html", {"next": safe_next(str(data.get("next", ""))), "error": said_of(exc), "field": exc.field, "values": values}, status_code=422)
    await start_session(request, user.id)
    if wants_json(request):
        return JSONResponse(user_json(Principal.from_user(user)), status_code=201)
    return RedirectResponse(safe_next(str(data.get("next", ""))), status_code=303)


async def signout(request: Request) -> Response:
    """End this session on the server: a copy of the cookie stops working too."""
    async with services(request).db.session() as db:
        uid = await sessions.end(db, request.session.get("sid"))
        await db.commit()
    request.app.state.principal_cache.forget(uid)
    request.session.clear()
    if wants_json(request):
        return JSONResponse({"signed_in": False})
    return RedirectResponse("/", status_code=303)


async def me(request: Request) -> Response:
    """The signed-in user (or an anonymous one) and the session's CSRF token for API calls."""
    return JSONResponse({**user_json(principal(request)), "csrf_token": csrf_token(request)})


async def switch_language(request: Request) -> Response:
    """Remember the visitor's language in a cookie and go back where they were."""
    lang = request.path_params["lang"]
    if lang not in LANGUAGES:
        raise ApiError(404, UNKNOWN_LANGUAGE(languages=", ".join(LANGUAGES), lang=repr(lang)))
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax",
                        secure=services(request).settings.cookies_secure)
    return response


routes: list[BaseRoute] = [
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signup", signup_page, methods=["GET"]),
    Route("/signup", signup, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/api/session", signin, methods=["POST"]),
    Route("/api/session", signout, methods=["DELETE"]),
    Route("/api/users", signup, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/lang/{lang}", switch_language, methods=["GET"]),
]
