"""The exhibitor's leads inbox: page, JSON, status and notes, CSV export.

Staff see their own exhibitor's leads; moderators name one with
``?exhibitor=ID``. The CSV's columns are documented in :mod:`booths.engagement.leads`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import leads
from booths.engagement.models import LEAD_STATUSES
from booths.exhibition.models import Exhibitor
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require
from web.context import principal, services
from web.errors import ApiError, wants_json
from web.forms import read_input
from web.params import optional_query_id, path_int
from web.templating import render

WHICH_EXHIBITOR = message("leads.which_exhibitor", "Name the exhibitor whose leads to show: ?exhibitor=ID.")
STAFF_ONLY = message("leads.staff_only", "The leads inbox is for exhibitor staff.")


def exhibitor_param(request: Request, who: Principal) -> int:
    """Whose inbox: the staff's own exhibitor, or ``?exhibitor=ID`` for a moderator."""
    require(who)
    exhibitor = optional_query_id(request, "exhibitor")
    if exhibitor is not None:
        return exhibitor
    if who.exhibitor_id is not None and not who.is_moderator:
        return who.exhibitor_id
    if who.is_moderator:
        raise ApiError(422, WHICH_EXHIBITOR(), extra={"field": "exhibitor"})
    raise Forbidden(STAFF_ONLY())


async def api_leads(request: Request) -> Response:
    who = principal(request)
    exhibitor_id = exhibitor_param(request, who)
    async with services(request).db.session() as session:
        views = await leads.inbox(session, who, exhibitor_id, status=request.query_params.get("status") or None,
                                  kind=request.query_params.get("kind") or None)
    return JSONResponse({"exhibitor_id": exhibitor_id, "leads": [v.as_json() for v in views],
                         "columns": list(leads.CSV_COLUMNS)})


async def api_leads_csv(request: Request) -> Response:
    who = principal(request)
    exhibitor_id = exhibitor_param(request, who)
    async with services(request).db.session() as session:
        views = await leads.inbox(session, who, exhibitor_id)
    return Response(leads.to_csv(views), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="leads-{exhibitor_id}.csv"'})


async def api_update(request: Request) -> Response:
    who = principal(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        lead = await leads.update(session, who, path_int(request, "lead_id"), data)
        await session.commit()
    if not wants_json(request):
        return RedirectResponse(f"/dashboard/leads?exhibitor={lead.exhibitor_id}#lead-{lead.id}", status_code=303)
    return JSONResponse({"id": lead.id, "status": lead.status, "note": lead.note})


async def inbox_page(request: Request) -> Response:
    who = principal(request)
    exhibitor_id = exhibitor_param(request, who)
    status = request.query_params.get("status") or None
    if status not in (None, *LEAD_STATUSES):
        status = None
    async with services(request).db.session() as session:
        views = await leads.inbox(session, who, exhibitor_id, status=status)
        exhibitor = await session.get(Exhibitor, exhibitor_id)
    return render(request, "engagement/leads.html", {
        "leads": views, "exhibitor": exhibitor, "exhibitor_id": exhibitor_id, "status": status or "",
        "statuses": LEAD_STATUSES, "moderator": who.is_moderator,
    })


routes: list[BaseRoute] = [
    Route("/dashboard/leads", inbox_page, methods=["GET"]),
    Route("/dashboard/leads/{lead_id:int}", api_update, methods=["POST"]),
    Route("/api/leads", api_leads, methods=["GET"]),
    Route("/api/leads.csv", api_leads_csv, methods=["GET"]),
    Route("/api/leads/{lead_id:int}", api_update, methods=["PATCH"]),
]
