"""The one table of refusals (``web.errors.REFUSALS``): each domain error answers with its status, code and shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from booths.errors import BoothsError, Conflict, Invalid, MediaRejected, NotFound, TooLarge
from cloudexpo.accounts import AccountError
from cloudexpo.permissions import Forbidden, NotSignedIn
from cloudexpo.ratelimit import RateLimited
from streaming.chat import ChatError, ChatMuted, SlowMode
from streaming.errors import SessionNotFound, StreamNotLive, UnusableOffer
from streaming.live import MissingToken, WrongToken
from streaming.reactions import ReactionError
from streaming.replays import InvalidTrim, ReplayNotFound
from streaming.schedule import InvalidSlot, SlotNotFound, SlotOverlap
from web.errors import EXCEPTION_HANDLERS, REFUSALS, status_of

CLASH = SimpleNamespace(id=7, title={"en": "Opening"}, stage_id=2, starts_at=dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC),
                        ends_at=dt.datetime(2027, 3, 1, 10, tzinfo=dt.UTC))

# (exception, path, status, error code, a piece of the detail, keys the body has besides error and detail)
CASES: list[tuple[Callable[[], Exception], str, int, str, str, dict[str, Any]]] = [
    (lambda: NotSignedIn(""), "/api/x", 401, "not_signed_in", "Sign in", {}),
    (lambda: Forbidden("Only moderators."), "/api/x", 403, "forbidden", "Only moderators", {}),
    (lambda: AccountError("Taken.", "email"), "/api/x", 422, "invalid", "Taken", {"field": "email"}),
    (lambda: RateLimited(4.2), "/api/x", 429, "too_many_requests", "", {"retry_after": 5}),
    (lambda: SlowMode(12.5, 30), "/api/x", 429, "too_many_requests", "every 30 s. Wait 13 s", {"retry_after": 13}),
    (lambda: ReactionError("React with like."), "/api/x", 422, "invalid", "like", {"field": "kind"}),
    (lambda: BoothsError("No."), "/api/x", 400, "bad_request", "No.", {}),
    (lambda: NotFound("There is no booth 9."), "/api/x", 404, "not_found", "no booth 9", {}),
    (lambda: Invalid("Too long.", "name"), "/api/x", 422, "invalid", "Too long", {"field": "name"}),
    (lambda: Conflict("Decided."), "/api/x", 409, "conflict", "Decided", {}),
    (lambda: MediaRejected("Not a JPEG.", "file"), "/api/x", 422, "rejected", "JPEG", {"field": "file"}),
    (lambda: TooLarge("Over quota.", {"quota": 10}), "/api/x", 413, "too_large", "quota", {"field": "size", "quota": 10}),
    (lambda: SlotNotFound("There is no slot 3."), "/api/x", 404, "not_found", "no slot 3", {}),
    (lambda: SlotNotFound("There is no slot 3."), "/whip/3", 404, "not_found", "Copy the WHIP URL", {}),
    (lambda: InvalidSlot("Ends before it starts.", "ends_at"), "/api/x", 422, "invalid", "Ends", {"field": "ends_at"}),
    (lambda: SlotOverlap(CLASH), "/api/x", 409, "overlap", "slot 7", {"clash": {
        "id": 7, "title": {"en": "Opening"}, "booth": None, "stage_id": 2, "starts_at": "2027-03-01T09:00:00+00:00", "ends_at": "2027-03-01T10:00:00+00:00"}}),
    (lambda: ChatMuted("You are muted."), "/api/x", 403, "muted", "muted", {}),
    (lambda: ChatError("Too long."), "/api/x", 422, "invalid", "Too long", {"field": "text"}),
    (lambda: ReplayNotFound("No replay."), "/api/x", 404, "not_found", "No replay", {}),
    (lambda: InvalidTrim("Trim inside."), "/api/x", 422, "invalid", "Trim", {"field": "trim"}),
    (lambda: MissingToken("Send the token."), "/whep/3", 401, "not_signed_in", "token", {}),
    (lambda: WrongToken("Not the token."), "/whip/3", 403, "forbidden", "token", {}),
    (lambda: UnusableOffer("no video"), "/whip/3", 400, "unusable_offer", "packetization-mode=1", {}),
    (lambda: UnusableOffer("no video"), "/whep/3", 400, "unusable_offer", "recvonly", {}),
    (lambda: StreamNotLive("slot 3 is not live"), "/whep/3", 409, "conflict", "try again when the slot is live", {}),
    (lambda: SessionNotFound("x"), "/whip/3/abc", 404, "not_found", "publishing session", {}),
    (lambda: SessionNotFound("x"), "/whep/3/abc", 404, "not_found", "viewing session", {}),
]


def app_raising(make: Callable[[], Exception]) -> Starlette:
    async def endpoint(request: Request) -> Response:
        raise make()

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST", "DELETE"])],
                     exception_handlers=EXCEPTION_HANDLERS)


@pytest.mark.parametrize(("make", "path", "status", "code", "detail", "extra"), CASES)
async def test_each_domain_error_answers_from_the_table(
    make: Callable[[], Exception], path: str, status: int, code: str, detail: str, extra: dict[str, Any]
) -> None:
    transport = httpx.ASGITransport(app=app_raising(make))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post(path)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code
    assert detail in body["detail"]
    assert {k: v for k, v in body.items() if k not in ("error", "code", "message", "detail")} == extra
    assert body["code"] and body["message"]  # a stable code, and the text for a person (English here)
    assert status_of(make()) == status


async def test_the_table_adds_the_headers_a_client_needs() -> None:
    for make, path, header, value in [
        (lambda: RateLimited(4.2), "/api/x", "retry-after", "5"),
        (lambda: MissingToken("Send it."), "/whip/3", "www-authenticate", 'Bearer realm="whip"'),
        (lambda: MissingToken("Send it."), "/whep/3", "www-authenticate", 'Bearer realm="whep"'),
    ]:
        transport = httpx.ASGITransport(app=app_raising(make))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answer = await http.post(path)
        assert answer.headers[header] == value


def test_every_domain_base_class_is_in_the_table() -> None:
    """A new domain exception derives from one of these and so has an answer; none falls through to 500."""
    from streaming.errors import StreamingError
    from streaming.replays import ReplayError
    from streaming.schedule import ScheduleError

    for base in (BoothsError, ScheduleError, ChatError, ReplayError, NotSignedIn, Forbidden, AccountError):
        assert base in REFUSALS, base
    assert all(issubclass(cls, Exception) for cls in REFUSALS)
    assert status_of(StreamingError("x")) == 500  # the engine's base itself is a bug, not a refusal
