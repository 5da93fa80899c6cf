"""The notification bell (JSON for the page's script), the notifications page, and unsubscribing.

An open page learns of a new notification through ``/api/notifications``
(polled by ``static/js/engagement.js``) and, where the page follows the
websocket, from the bus topic ``user.{id}`` the notifier publishes on.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import notify
from cloudexpo.i18n import pick
from cloudexpo.messages import message
from cloudexpo.permissions import require
from cloudexpo.values import parse_id
from web.context import language, principal, services
from web.errors import ApiError, wants_json
from web.forms import read_input
from web.shapes.notifications import notification_json
from web.templating import render

IDS_LIST = message("notifications.ids_list", "'ids' is a list of notification numbers; leave it out to mark all read.")
LINK_INCOMPLETE = message("unsubscribe.incomplete", "This unsubscribe link is incomplete; use the whole link from the e-mail.")
LINK_INVALID = message("unsubscribe.invalid", "This unsubscribe link is not valid; use the whole link from the e-mail.")


async def api_list(request: Request) -> Response:
    who = principal(request)
    if not who.signed_in:
        return JSONResponse({"signed_in": False, "unread": 0, "items": []})
    lang = language(request)
    tz = services(request).settings.timezone
    async with services(request).db.session() as session:
        items = await notify.recent(session, who.user_id, 20)  # type: ignore[arg-type]
        unread = await notify.unread_count(session, who.user_id)  # type: ignore[arg-type]
    return JSONResponse({"signed_in": True, "unread": unread,
                         "items": [notification_json(n, lang, tz) for n in items]})


async def api_read(request: Request) -> Response:
    who = require(principal(request))
    data = await read_input(request) if request.headers.get("content-type") else {}
    ids = data.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        raise ApiError(422, IDS_LIST(),
                       extra={"field": "ids"})
    async with services(request).db.session() as session:
        changed = await notify.mark_read(session, who.user_id, ids)  # type: ignore[arg-type]
        await session.commit()
        unread = await notify.unread_count(session, who.user_id)  # type: ignore[arg-type]
    if not wants_json(request):
        return RedirectResponse("/notifications", status_code=303)
    return JSONResponse({"marked": changed, "unread": unread})


async def page(request: Request) -> Response:
    who = require(principal(request))
    lang = language(request)
    tz = services(request).settings.timezone
    async with services(request).db.session() as session:
        items = await notify.recent(session, who.user_id, 100)  # type: ignore[arg-type]
        opted = await notify.opted_out(session, who.user_id)  # type: ignore[arg-type]
    kinds = [(k, pick(notify.KIND_NAMES[k], lang).text, k in opted) for k in notify.KINDS]
    return render(request, "engagement/notifications.html", {
        "items": [notification_json(n, lang, tz) for n in items], "kinds": kinds,
    })


def _unsubscribe_args(source: Any) -> tuple[int, str, str]:
    user_id = parse_id(source.get("u", ""))
    if user_id is None:
        raise ApiError(400, LINK_INCOMPLETE())
    return user_id, str(source.get("k", "")), str(source.get("t", ""))


async def unsubscribe_page(request: Request) -> Response:
    user_id, kind, token = _unsubscribe_args(request.query_params)
    if not notify.check_unsubscribe(services(request).secret_key, user_id, kind, token):
        raise ApiError(400, LINK_INVALID())
    lang = language(request)
    return render(request, "engagement/unsubscribe.html", {
        "u": user_id, "k": kind, "t": token, "kind_name": pick(notify.KIND_NAMES[kind], lang).text, "done": False,
    })


async def unsubscribe(request: Request) -> Response:
    """Stop e-mails of one kind; the signed link is the authority (no sign-in needed)."""
    data = await read_input(request)
    user_id, kind, token = _unsubscribe_args(data)
    if not notify.check_unsubscribe(services(request).secret_key, user_id, kind, token):
        raise ApiError(400, LINK_INVALID())
    async with services(request).db.session() as session:
        await notify.unsubscribe(session, user_id, kind)
        await session.commit()
    if wants_json(request):
        return JSONResponse({"unsubscribed": kind})
    lang = language(request)
    return render(request, "engagement/unsubscribe.html", {
        "u": user_id, "k": kind, "t": token, "kind_name": pick(notify.KIND_NAMES[kind], lang).text, "done": True,
    })


async def preferences(request: Request) -> Response:
    """From the notifications page: e-mail kinds switched on and off (signed in)."""
    who = require(principal(request))
    data = await read_input(request)
    wanted = {k for k in notify.KINDS if data.get(f"mail_{k}")}
    async with services(request).db.session() as session:
        from sqlalchemy import delete

        from booths.engagement.models import MailOptOut

        await session.execute(delete(MailOptOut).where(MailOptOut.user_id == who.user_id))
        for kind in notify.KINDS:
            if kind not in wanted:
                session.add(MailOptOut(user_id=who.user_id, kind=kind))
        await session.commit()
    if wants_json(request):
        return JSONResponse({"mail": sorted(wanted)})
    return RedirectResponse("/notifications?saved=1", status_code=303)


routes: list[BaseRoute] = [
    Route("/notifications", page, methods=["GET"]),
    Route("/notifications/read", api_read, methods=["POST"]),
    Route("/notifications/preferences", preferences, methods=["POST"]),
    Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
    Route("/unsubscribe", unsubscribe, methods=["POST"]),
    Route("/api/notifications", api_list, methods=["GET"]),
    Route("/api/notifications/read", api_read, methods=["POST"]),
]
