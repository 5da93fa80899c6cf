"""One error shape, one table: every refusal becomes HTTP here, at the boundary.

Every refusal is ``{"error": <status code name>, "code": <message code>,
"message": <what to fix, in the request's language>, "detail": <the same in
English>, ...}`` with the right 4xx status: JSON under ``/api/`` and on machine
endpoints, the friendly ``error.html`` page (in the visitor's language)
elsewhere. ``code`` is the :mod:`cloudexpo.messages` code of the text when it
has one (``chat.muted``), else the status's name (``not_found``). Domain code raises its own exceptions
(``booths.errors``, ``streaming``, ``cloudexpo.permissions`` …); route code
raises :class:`ApiError` for what only the route knows (a bad header, a
missing field). :data:`REFUSALS` says, for each domain exception, which
status, code and message it answers with; :data:`EXCEPTION_HANDLERS`
registers the one handler for all of them in the app, so route modules never
catch a domain error to turn it into HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.websockets import WebSocket

from booths.errors import (
    BadUpload,
    BoothsError,
    Conflict,
    Invalid,
    MediaRejected,
    NotFound,
    TooLarge,
    WrongType,
)
from booths.exhibition import directory
from booths.exhibition.models import Zone
from cloudexpo.accounts import AccountError
from cloudexpo.bus import BusError
from cloudexpo.i18n import pick
from cloudexpo.messages import Said, message, said_by
from cloudexpo.permissions import SIGN_IN, Forbidden, NotSignedIn
from cloudexpo.ratelimit import RateLimited
from cloudexpo.settings import Settings
from streaming.audience import AudienceConflict, AudienceError, AudienceNotFound
from streaming.chat import ChatError, ChatMuted, SlowModeSeconds
from streaming.errors import (
    AlreadyPublishing,
    SessionNotFound,
    StreamNotLive,
    UnusableOffer,
    ViewersFull,
)
from streaming.live import MissingToken, WrongToken
from streaming.reactions import ReactionError
from streaming.replays import InvalidCaptions, InvalidTrim, ReplayError, ReplayNotFound
from streaming.schedule import (
    InvalidSlot,
    ScheduleError,
    SlotClosed,
    SlotNotFound,
    SlotOverlap,
    StageNotFound,
)
from web.context import services
from web.i18n import translate
from web.templating import render
from web.times import page_zone, when_text

log = logging.getLogger(__name__)

ERROR_CODES = {
    400: "bad_request",
    401: "not_signed_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid",
    429: "too_many_requests",
    500: "server_error",
    503: "unavailable",
}

MACHINE_PREFIXES = ("/api/", "/whip/", "/whep/", "/storage/", "/metrics", "/readyz", "/healthz", "/ws")


NOTHING_HERE = message("http.not_found", "There is nothing at this address.")
NOT_ALLOWED = message("http.method_not_allowed", "{method} is not allowed here.")
SERVER_ERROR = message("http.server_error", "Something went wrong on our side; it has been logged.")
DATABASE_DOWN = message("http.database_unavailable", "The database is briefly unavailable; try again in a few seconds.")
BUS_DOWN = message("http.bus_unavailable", "Live updates are briefly unavailable; try again in a few seconds.")
NOT_ALLOWED_TO = message("auth.forbidden", "You may not do this.")
WHIP_SLOT_NOT_FOUND = message("whip.slot_not_found", "{reason} Copy the WHIP URL from the go-live page.")
WHIP_UNUSABLE_OFFER = message(
    "whip.unusable_offer", "The offer cannot be used: {reason}. Send H.264 (packetization-mode=1) or VP8 video and Opus audio.")
WHEP_UNUSABLE_OFFER = message(
    "whep.unusable_offer", "The offer cannot be used: {reason}. Offer to receive H.264 or VP8 video and Opus audio (recvonly).")
NO_PUBLISHING_SESSION = message("whip.no_session", "There is no such publishing session (it ended already).")
NO_VIEWING_SESSION = message("whep.no_session", "There is no such viewing session (it ended already).")
NOT_LIVE_YET = message("whep.not_live", "{reason}; try again when the slot is live.")
OVERLAP_BOOTH = message("schedule.overlap_booth", "This overlaps slot {id} “{title}” of booth {booth}, {when}, on the same stage; choose another time or stage.")
OVERLAP = message("schedule.overlap", "This overlaps slot {id} “{title}”, {when}, on the same stage; choose another time or stage.")


class ApiError(HTTPException):
    """An HTTP refusal with a machine-readable code and a human-readable detail (best a :class:`Said`)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        error: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers)
        if detail:
            self.detail = detail  # a Said stays one (HTTPException would keep it as it is too, but says so here)
        self.error = error or ERROR_CODES.get(status_code, "error")
        self.extra = extra or {}


def wants_json(request: HTTPConnection) -> bool:
    path = request.url.path
    if path.startswith(MACHINE_PREFIXES):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def request_language(conn: HTTPConnection) -> str:
    """The language the middleware chose for this request (the default language before it ran)."""
    found = conn.scope.get("cloudexpo.language")
    if found:
        return str(found)
    services = getattr(getattr(conn.scope.get("app"), "state", None), "services", None)
    return str(services.settings.default_language) if services is not None else "en"


def error_body(status: int, detail: str, error: str | None = None, *, language: str = "en",
               **extra: Any) -> dict[str, Any]:
    """The one error shape; ``detail`` is a :class:`Said` wherever the text is one of our messages."""
    name = error or ERROR_CODES.get(status, "error")
    code = detail.code if isinstance(detail, Said) else name
    return {"error": name, "code": code, "message": translate(detail, language), "detail": str(detail), **extra}


def error_response(request: Request, status: int, detail: str, *, error: str | None = None,
                   headers: Mapping[str, str] | None = None, extra: dict[str, Any] | None = None,
                   zones: Sequence[Zone] = ()) -> Response:
    """JSON for machines, else the error page (a 404 page offers search, home and ``zones``)."""
    language = request_language(request)
    if wants_json(request):
        body = error_body(status, detail, error, language=language, **(extra or {}))
        return JSONResponse(body, status_code=status, headers=dict(headers or {}))
    response = render(request, "error.html", {"status": status, "detail": translate(detail, language), "zones": zones},
                      status_code=status)
    if headers:
        response.headers.update(headers)
    return response


# --- the table -------------------------------------------------------------------------------

Detail = Callable[[Any, Request], str]
Extra = Callable[[Any, Request], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Refusal:
    """How one kind of domain exception answers over HTTP.

    ``detail`` (default: the exception's message) says what to fix; ``error``
    (default: the status's code in :data:`ERROR_CODES`) is the short code;
    ``extra`` adds keys to the JSON body and ``headers`` to the answer.
    """

    status: int
    error: str | None = None
    detail: Detail | None = None
    extra: Extra | None = None
    headers: Callable[[Any, Request], dict[str, str]] | None = None


def _field(exc: Any, request: Request) -> dict[str, Any] | None:
    """``field`` names the input at fault; the figures of a limit (``extra``) come along."""
    out: dict[str, Any] = dict(getattr(exc, "extra", None) or {})
    if getattr(exc, "field", None):
        out.setdefault("field", exc.field)
    return out or None


def _field_named(name: str) -> Extra:
    return lambda exc, request: {"field": name}


def _clash(exc: SlotOverlap, request: Request) -> dict[str, Any]:
    """The slot in the way: which one, its booth (by number) and its times, so a page can name it."""
    c = exc.clash
    return {"clash": {"id": c.id, "title": c.title, "booth": exc.booth, "stage_id": c.stage_id,
                      "starts_at": c.starts_at.isoformat(), "ends_at": c.ends_at.isoformat()}}


def _exhibition_timezone(conn: HTTPConnection) -> str:
    """The app's exhibition time zone; the settings' default for an app without services (tests of the table)."""
    found = getattr(getattr(conn.scope.get("app"), "state", None), "services", None)
    return str(found.settings.timezone if found is not None else Settings().timezone)


def _clash_detail(exc: SlotOverlap, request: Request) -> str:
    """The clash named: slot, title, booth and its times in the exhibition's zone, written for the asker's language."""
    c = exc.clash
    lang = request_language(request)
    zone = page_zone(_exhibition_timezone(request))
    when = f"{when_text(c.starts_at, c.ends_at, zone=zone, lang=lang)} {zone.key}"
    title = pick(c.title, lang).text
    if exc.booth:
        return OVERLAP_BOOTH(id=c.id, title=title, booth=exc.booth, when=when)
    return OVERLAP(id=c.id, title=title, when=when)


def _ingest(request: Request) -> bool:
    """A publisher's WHIP request (rather than a viewer's WHEP one)."""
    return request.url.path.startswith("/whip/")


def said_of(exc: BaseException) -> str:
    """The exception's message, keeping its code when it was raised with one."""
    return said_by(exc) or str(exc)


def _slot_not_found(exc: SlotNotFound, request: Request) -> str:
    if _ingest(request) and request.method == "POST":
        return WHIP_SLOT_NOT_FOUND(reason=said_of(exc))
    return said_of(exc)


def _unusable_offer(exc: UnusableOffer, request: Request) -> str:
    return (WHIP_UNUSABLE_OFFER if _ingest(request) else WHEP_UNUSABLE_OFFER)(reason=str(exc))


def _session_not_found(exc: SessionNotFound, request: Request) -> str:
    return NO_PUBLISHING_SESSION() if _ingest(request) else NO_VIEWING_SESSION()


def _bearer_challenge(exc: Exception, request: Request) -> dict[str, str]:
    realm = "whip" if _ingest(request) else "whep"
    return {"WWW-Authenticate": f'Bearer realm="{realm}"'}


def _retry_after(exc: RateLimited, request: Request) -> dict[str, str]:
    return {"Retry-After": str(int(exc.retry_after) + 1)}


REFUSALS: dict[type[Exception], Refusal] = {
    # accounts and permissions (cloudexpo)
    NotSignedIn: Refusal(401, detail=lambda exc, request: said_of(exc) or SIGN_IN()),
    Forbidden: Refusal(403, detail=lambda exc, request: said_of(exc) or NOT_ALLOWED_TO()),
    AccountError: Refusal(422, extra=_field),
    RateLimited: Refusal(429, headers=_retry_after, extra=lambda exc, request: {"retry_after": int(exc.retry_after) + 1}),
    BusError: Refusal(503, error="unavailable", headers=lambda exc, request: {"Retry-After": "5"},
                      detail=lambda exc, request: BUS_DOWN()),
    # the exhibition, its media and engagement (booths)
    BoothsError: Refusal(400, extra=_field),
    NotFound: Refusal(404, extra=_field),
    Invalid: Refusal(422, extra=_field),
    Conflict: Refusal(409, extra=_field),
    MediaRejected: Refusal(422, error="rejected", extra=_field),
    TooLarge: Refusal(413, extra=_field),
    WrongType: Refusal(415, extra=_field),
    BadUpload: Refusal(400, extra=_field),
    # the schedule and chat (streaming)
    ScheduleError: Refusal(400),
    StageNotFound: Refusal(404),
    SlotNotFound: Refusal(404, detail=_slot_not_found),
    InvalidSlot: Refusal(422, extra=_field),
    SlotOverlap: Refusal(409, error="overlap", detail=_clash_detail, extra=_clash),
    SlotClosed: Refusal(409),
    ChatError: Refusal(422, extra=_field_named("text")),
    ChatMuted: Refusal(403, error="muted"),
    SlowModeSeconds: Refusal(422, extra=_field_named("seconds")),
    ReactionError: Refusal(422, extra=_field_named("kind")),
    AudienceError: Refusal(422, extra=_field),
    AudienceNotFound: Refusal(404),
    AudienceConflict: Refusal(409),
    # replays (streaming)
    ReplayError: Refusal(409),
    ReplayNotFound: Refusal(404),
    InvalidTrim: Refusal(422, extra=_field_named("trim")),
    InvalidCaptions: Refusal(422, extra=_field_named("captions")),
    # WHIP and WHEP (streaming)
    MissingToken: Refusal(401, headers=_bearer_challenge),
    WrongToken: Refusal(403),
    UnusableOffer: Refusal(400, error="unusable_offer", detail=_unusable_offer),
    StreamNotLive: Refusal(409, detail=lambda exc, request: NOT_LIVE_YET(reason=said_of(exc))),
    AlreadyPublishing: Refusal(409),
    SessionNotFound: Refusal(404, detail=_session_not_found),
    # web/routes/whip.py adds the Link to the live HLS playlist
    ViewersFull: Refusal(503, error="viewers_full", headers=lambda exc, request: {"Retry-After": str(exc.retry_after)}),
}


def refusal_for(exc: BaseException) -> Refusal | None:
    """The table's entry for the exception's own class or its nearest base."""
    for cls in type(exc).__mro__:
        if (found := REFUSALS.get(cls)) is not None:
            return found
    return None


def status_of(exc: BaseException) -> int:
    """The HTTP status the table gives this domain exception (pages that re-show a form use it)."""
    found = refusal_for(exc)
    return found.status if found is not None else 500


# --- handlers ------------------------------------------------------------------------------


async def _zones_to_offer(request: Request, status: int) -> list[Zone]:
    """The exhibition's zones, as ways on from a "not found" page (none when the database cannot say)."""
    if status != 404 or wants_json(request):
        return []
    try:
        async with services(request).db.session() as session:
            return await directory.list_zones(session)
    except Exception:  # the page must render even when the database is what failed
        log.warning("no zones for the not-found page", exc_info=True)
        return []



async def refuse(conn: HTTPConnection, exc: Exception) -> Response | None:
    """The handler of every exception in :data:`REFUSALS`."""
    found = refusal_for(exc)
    assert found is not None
    if isinstance(conn, WebSocket):
        await conn.close(code=1008, reason=str(exc)[:120])
        return None
    assert isinstance(conn, Request)
    if isinstance(exc, NotSignedIn) and not wants_json(conn) and conn.method == "GET":
        return RedirectResponse(f"/signin?next={conn.url.path}", status_code=303)
    detail = found.detail(exc, conn) if found.detail else said_of(exc)
    return error_response(
        conn,
        found.status,
        detail,
        error=found.error,
        headers=found.headers(exc, conn) if found.headers else None,
        extra=found.extra(exc, conn) if found.extra else None,
        zones=await _zones_to_offer(conn, found.status),
    )


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    error = getattr(exc, "error", None)
    extra = getattr(exc, "extra", None)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = NOTHING_HERE()
    if exc.status_code == 405 and detail == "Method Not Allowed":
        detail = NOT_ALLOWED(method=request.method)
    return error_response(request, exc.status_code, detail, error=error, headers=exc.headers, extra=extra,
                          zones=await _zones_to_offer(request, exc.status_code))


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, SERVER_ERROR())


def _unavailable_state(exc: DBAPIError) -> bool:
    """SQLSTATE class 08 (connection exception) or 57P (shutting down, starting up, cannot connect now)."""
    for error in (exc.orig, getattr(exc.orig, "__cause__", None)):
        state = str(getattr(error, "sqlstate", "") or "")
        if state.startswith(("08", "57P")):
            return True
    return False


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """A lost or refused database connection (a restart, a failover) is a 503 to retry, not a bug.

    Other database errors stay 500s with their traceback."""
    if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not _unavailable_state(exc):
        raise exc
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(request, 503, DATABASE_DOWN(),
                          error="unavailable", headers={"Retry-After": "5"})


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: http_exception,
    **dict.fromkeys(REFUSALS, refuse),
    DBAPIError: database_unavailable,
    ConnectionError: database_unavailable,
    Exception: server_error,
}
