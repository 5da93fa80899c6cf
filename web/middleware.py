"""ASGI middleware: request ids and metrics, then who is asking, their language, CSRF.

Kept as plain ASGI callables (no BaseHTTPMiddleware) so that streaming
responses and websockets pass through untouched.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudexpo import accounts, sessions
from cloudexpo.bus import EventBus, Subscription
from cloudexpo.i18n import LANGUAGES, negotiate
from cloudexpo.logs import request_id
from cloudexpo.messages import message
from cloudexpo.permissions import ANONYMOUS, Principal
from cloudexpo.values import INT64_MAX, parse_id
from web.errors import error_body
from web.forms import FORM_LIMIT, size_text

log = logging.getLogger("cloudexpo.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
# Authority comes from a signature or bearer token, never from the cookie.
CSRF_EXEMPT = ("/storage/", "/whip/", "/whep/")
# Served without a session at all: no cookie is read or set, so responses cache well.
SESSIONLESS = ("/storage/", "/static/", "/healthz", "/readyz", "/metrics")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LANG_COOKIE = "cloudexpo_lang"
FORGET_TOPIC = "sessions.forget"  # {"user_id": n}: every node drops that user's cached sessions


class RequestIdMiddleware:
    """An id on every response and log line, an access log, and request metrics."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "cloudexpo_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "cloudexpo_http_request_seconds", "Time to answer an HTTP request", ["route"], registry=registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        rid = incoming if _SAFE_ID.match(incoming) else secrets.token_hex(8)
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                elapsed = time.perf_counter() - start
                route = _route_name(scope)
                self.requests.labels(scope["method"], route, str(status)).inc()
                self.latency.labels(route).observe(elapsed)
                log.info("%s %s %s %.1fms", scope["method"], scope["path"], status, elapsed * 1000)
            request_id.reset(token)


def _route_name(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


_NUL_IN_QUERY = re.compile(rb"%00|\x00")
NUL_IN_PATH = message("http.nul_in_path", "There is no page at this address (it holds a NUL character).")
NUL_IN_QUERY = message("http.nul_in_query", "The query holds a NUL character (%00); send text without it.")
FORM_TOO_LARGE = message("http.form_too_large", "Send a form of at most {limit}; upload files through an upload ticket instead.")
CSRF_MISSING = message("csrf.missing", "Missing CSRF token: send the page's token in the X-CSRF-Token header or the csrf_token form field, and reload the page if it is old.")
CSRF_WRONG = message("csrf.wrong", "The CSRF token does not match this session; reload the page and try again.")


WEBSOCKET_SEND = "cloudexpo.websocket_send"


class WebsocketSend:
    """Keeps the server's own ``send`` of a websocket in its scope (:data:`WEBSOCKET_SEND`).

    Outermost, so ``/ws`` can send frames without the wrappers the middlewares
    below put around ``send`` — wrappers that act only on an HTTP response's
    start, yet cost every one of the thousands of frames a chat burst makes.
    The handshake (accept, close) still goes through them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[WEBSOCKET_SEND] = send
        await self.app(scope, receive, send)


class NulGuard:
    """Refuses a NUL character anywhere in the address before any route sees it.

    No database stores one in text (PostgreSQL refuses it outright) and no
    page or name of Cloud Expo holds one, so a NUL in the path is a 404 and in
    the query a 400 saying what to send instead, never a 500 from deep inside.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            if "\x00" in scope["path"]:
                await self._refuse(scope, send, 404, NUL_IN_PATH())
                return
            if _NUL_IN_QUERY.search(scope.get("query_string", b"")):
                await self._refuse(scope, send, 400, NUL_IN_QUERY())
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        await JSONResponse(error_body(status, detail), status_code=status)(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class PrincipalCache:
    """Who a sign-in session belongs to, kept a moment so pages do not hit the database each time.

    Keyed by the session id. :meth:`forget` drops every entry of a user at
    once on this node and, once :meth:`listen` runs, tells the other nodes over
    the bus (topic :data:`FORGET_TOPIC`), so a session ended on one node ends
    on all of them; the short ``ttl`` bounds what a lost bus message could
    leave behind.
    """

    def __init__(self, ttl: float = 2.0, max_size: int = 10_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._items: dict[str, tuple[float, Principal]] = {}
        self._bus: EventBus | None = None
        self._listening: tuple[Subscription, asyncio.Task[None]] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def get(self, session_id: str) -> Principal | None:
        item = self._items.get(session_id)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, session_id: str, principal: Principal) -> None:
        if len(self._items) >= self.max_size:
            self._items.clear()
        self._items[session_id] = (time.monotonic() + self.ttl, principal)

    def forget(self, user_id: int | None) -> None:
        """Forget every session of the user (signed out, role or password changed, deactivated), on every node."""
        if user_id is None:
            return
        self._forget_here(user_id)
        if self._bus is not None:
            task = asyncio.get_running_loop().create_task(self._bus.publish(FORGET_TOPIC, {"user_id": user_id}))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _forget_here(self, user_id: int) -> None:
        for key in [k for k, (_, p) in self._items.items() if p.user_id == user_id]:
            self._items.pop(key, None)

    async def listen(self, bus: EventBus) -> None:
        """Follow the other nodes' :meth:`forget` (and send ours) until :meth:`close`."""
        sub = await bus.subscribe(FORGET_TOPIC, maxsize=10_000)
        self._bus = bus

        async def follow() -> None:
            async for event in sub:
                user_id = event.data.get("user_id")
                if isinstance(user_id, int):
                    self._forget_here(user_id)

        self._listening = (sub, asyncio.create_task(follow()))

    async def close(self) -> None:
        self._bus = None
        if self._listening is not None:
            sub, task = self._listening
            task.cancel()
            await sub.close()
            self._listening = None
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)


class ContextMiddleware:
    """Puts the principal, the language and the CSRF token into the scope; checks CSRF.

    Runs inside Starlette's SessionMiddleware. A state-changing request must
    carry the session's CSRF token in ``X-CSRF-Token`` or, for forms, the
    ``csrf_token`` field; signed-URL and bearer-token endpoints are exempt.
    """

    def __init__(self, app: ASGIApp, services_getter: Callable[[], Any], cache: PrincipalCache) -> None:
        self.app = app
        self.services = services_getter
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(SESSIONLESS):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        session: MutableMapping[str, Any] = scope.get("session", {})
        scope["cloudexpo.principal"] = await self._principal(session)
        scope["cloudexpo.language"] = self._language(conn, session)
        csrf = session.get("csrf")
        if not csrf:
            csrf = session["csrf"] = secrets.token_urlsafe(32)
        scope["cloudexpo.csrf"] = csrf
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS and not scope["path"].startswith(CSRF_EXEMPT):
            receive, refusal = await self._check_csrf(scope, receive, csrf)
            if refusal is not None:
                status, problem = refusal
                body = error_body(status, problem, "csrf" if status == 403 else None, language=scope["cloudexpo.language"])
                await JSONResponse(body, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _principal(self, session: MutableMapping[str, Any]) -> Principal:
        session.pop("uid", None)  # a cookie from before server-side sessions signs nobody in
        sid = session.get("sid")
        if not isinstance(sid, str):
            return ANONYMOUS
        cached = self.cache.get(sid)
        if cached is not None:
            return cached
        async with self.services().db.session() as db:
            uid = await sessions.lookup(db, sid)
            user = await accounts.get_user(db, uid) if uid is not None else None
        if user is None:
            session.pop("sid", None)  # ended, expired or deactivated: anonymous from now on
            return ANONYMOUS
        principal = Principal.from_user(user)
        self.cache.put(sid, principal)
        return principal

    def _language(self, conn: HTTPConnection, session: MutableMapping[str, Any]) -> str:
        wanted = conn.query_params.get("lang")
        if wanted in LANGUAGES:
            return wanted
        cookie = conn.cookies.get(LANG_COOKIE)
        if cookie in LANGUAGES:
            return cookie
        return negotiate(conn.headers.get("accept-language"), self.services().settings.default_language)

    async def _check_csrf(self, scope: Scope, receive: Receive, expected: str) -> tuple[Receive, tuple[int, str] | None]:
        """``(receive, None)`` when the token is right, else ``(receive, (status, why))``.

        A form's token is in its body, which is read here (and handed on to
        the route): at most the forms' limit, refused from a declared
        ``Content-Length`` before a byte is read, and while reading a body
        sent without one (chunked).
        """
        headers = Headers(scope=scope)
        given = headers.get("x-csrf-token")
        if given is None:
            content_type = headers.get("content-type", "")
            if content_type.startswith(FORM_TYPES):
                declared = parse_id(headers.get("content-length", ""), INT64_MAX)
                if declared is not None and declared > FORM_LIMIT:
                    return receive, (413, FORM_TOO_LARGE(limit=size_text(FORM_LIMIT)))
                body, receive = await _buffer_body(receive, FORM_LIMIT)
                if body is None:
                    return receive, (413, FORM_TOO_LARGE(limit=size_text(FORM_LIMIT)))
                given = await _form_token(scope, body, content_type)
        if not given:
            return receive, (403, CSRF_MISSING())
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return receive, (403, CSRF_WRONG())
        return receive, None


async def _buffer_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, receive
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _form_token(scope: Scope, body: bytes, content_type: str) -> str | None:
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get("csrf_token")
        return values[0] if values else None
    from starlette.requests import Request

    async def once() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(dict(scope), receive=once).form()
    except Exception:
        return None
    value = form.get("csrf_token")
    return value if isinstance(value, str) else None



class SessionlessAware:
    """Starlette's SessionMiddleware, skipped for paths that must not carry cookies."""

    def __init__(self, app: ASGIApp, **session_options: Any) -> None:
        from starlette.middleware.sessions import SessionMiddleware

        self.app = app
        self.with_session = SessionMiddleware(app, **session_options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"].startswith(SESSIONLESS):
            await self.app(scope, receive, send)
            return
        await self.with_session(scope, receive, send)
