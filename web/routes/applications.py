"""Applying for a booth and the exhibitor's dashboard: status, booth texts, products, publishing.

Pages post ordinary forms (with the CSRF field) and redirect; the same
actions exist as JSON under ``/api/applications``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from booths.errors import BoothsError, NotFound
from booths.exhibition import applications, directory, editing
from booths.exhibition.models import Application, Booth, Zone
from cloudexpo.accounts import Role
from cloudexpo.messages import message
from cloudexpo.permissions import STAFF_ONLY, Forbidden, require
from web.context import principal, services
from web.errors import said_of, status_of
from web.forms import localized_from_form, read_input
from web.params import path_int
from web.reviews import decide_application
from web.tasks import tasks_for
from web.templating import render

NO_BOOTH = message("editing.no_booth", "There is no booth {id}.")
NOT_THIS_BOOTHS = message("editing.product_elsewhere", "There is no product {id} in this booth.")
NO_SUCH_PRODUCT = message("editing.no_such_product", "There is no such product in this booth.")


def application_json(a: Application, zone: Zone | None = None) -> dict[str, Any]:
    return {
        "id": a.id, "user_id": a.user_id, "organisation": a.organisation, "organisation_en": a.organisation_en,
        "region": a.region, "industry": a.industry, "zone_id": a.zone_id, "zone": zone.slug if zone else None,
        "description": a.description, "contact_name": a.contact_name, "contact_phone": a.contact_phone,
        "contact_email": a.contact_email, "state": a.state, "reason": a.reason,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        "exhibitor_id": a.exhibitor_id, "booth_id": a.booth_id, "created_at": a.created_at.isoformat(),
    }


# --- the dashboard pages ---------------------------------------------------------------------


async def dashboard(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    async with svc.db.session() as session:
        own = await applications.list_own(session, who)
        booth = await directory.booth_of_exhibitor(session, who.exhibitor_id) if who.role is Role.EXHIBITOR else None
        bundle = await directory.get_booth(session, who, booth.id) if booth else None
        zones = {z.id: z for z in await directory.list_zones(session)}
        tasks = await tasks_for(session, who, svc.settings.timezone)
    return render(request, "dashboard/index.html", {
        "applications": own, "bundle": bundle, "zones": zones, "tasks": tasks, "saved": request.query_params.get("saved"),
    })


async def apply_page(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        zones = await directory.list_zones(session)
    return render(request, "dashboard/apply.html", {"zones": zones, "values": {}, "error": None, "field": None, "who_role": who.role.value})


async def apply_submit(request: Request) -> Response:
    who = require(principal(request))
    data = await read_input(request)
    async with services(request).db.session() as session:
        try:
            await applications.apply(session, who, data)
            await session.commit()
        except BoothsError as exc:
            zones = await directory.list_zones(session)
            return render(request, "dashboard/apply.html", {
                "zones": zones, "values": data, "error": said_of(exc), "field": exc.field, "who_role": who.role.value,
            }, status_code=status_of(exc))
    return RedirectResponse("/dashboard?saved=application", status_code=303)


async def _own_booth(request: Request) -> tuple[Any, Booth]:
    who = require(principal(request), Role.EXHIBITOR)
    async with services(request).db.session() as session:
        booth_id = path_int(request, "booth_id")
        booth = await session.get(Booth, booth_id)
        if booth is None:
            raise NotFound(NO_BOOTH(id=booth_id))
        if not who.can_manage_exhibitor(booth.exhibitor_id):
            raise Forbidden(STAFF_ONLY())
    return who, booth


async def booth_edit_page(request: Request) -> Response:
    who, _ = await _own_booth(request)
    async with services(request).db.session() as session:
        bundle = await directory.get_booth(session, who, path_int(request, "booth_id"))
    return render(request, "dashboard/booth_edit.html", {"bundle": bundle, "error": None, "field": None, "values": None})


async def booth_edit_submit(request: Request) -> Response:
    who, _ = await _own_booth(request)
    data = await read_input(request)
    changes = {field: localized_from_form(data, field) for field in ("name", "tagline", "description", "hours")}
    async with services(request).db.session() as session:
        bundle = await directory.get_booth(session, who, path_int(request, "booth_id"))
        try:
            await editing.update_booth(session, who, bundle.booth, changes)
            await session.commit()
        except BoothsError as exc:
            await session.rollback()
            bundle = await directory.get_booth(session, who, path_int(request, "booth_id"))
            return render(request, "dashboard/booth_edit.html", {
                "bundle": bundle, "error": said_of(exc), "field": exc.field, "values": changes,
            }, status_code=status_of(exc))
    return RedirectResponse("/dashboard?saved=booth", status_code=303)


async def booth_publish(request: Request) -> Response:
    who, _ = await _own_booth(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        bundle = await directory.get_booth(session, who, path_int(request, "booth_id"), with_products=False)
        await editing.set_published(session, who, bundle.booth, data.get("published") == "true")
        await session.commit()
    return RedirectResponse("/dashboard?saved=published", status_code=303)


def _specs_from_form(data: dict[str, Any]) -> list[dict[str, Any]]:
    specs = []
    for i in range(8):
        label, value = str(data.get(f"spec_label_{i}", "")).strip(), str(data.get(f"spec_value_{i}", "")).strip()
        if label or value:
            specs.append({"label": label, "value": value})
    return specs


async def product_new_page(request: Request) -> Response:
    _who, booth = await _own_booth(request)
    return render(request, "dashboard/product_edit.html", {"booth": booth, "product": None, "error": None, "field": None, "values": None})


async def product_form_submit(request: Request) -> Response:
    who, booth = await _own_booth(request)
    data = await read_input(request)
    changes = {
        "name": localized_from_form(data, "name"),
        "description": localized_from_form(data, "description"),
        "specifications": _specs_from_form(data),
    }
    product_id = request.path_params.get("product_id")
    async with services(request).db.session() as session:
        product = None
        try:
            if product_id is None:
                await editing.create_product(session, who, booth, changes)
            else:
                product, bundle = await directory.get_product(session, who, int(product_id))
                if bundle.booth.id != booth.id:
                    raise NotFound(NOT_THIS_BOOTHS(id=product_id))
                if data.get("delete") == "1":
                    await editing.delete_product(session, who, booth, product)
                else:
                    await editing.update_product(session, who, booth, product, changes)
            await session.commit()
        except BoothsError as exc:
            if isinstance(exc, NotFound):
                raise
            await session.rollback()
            return render(request, "dashboard/product_edit.html", {
                "booth": booth, "product": product, "error": said_of(exc), "field": exc.field, "values": changes,
            }, status_code=status_of(exc))
    return RedirectResponse("/dashboard?saved=product", status_code=303)


async def product_edit_page(request: Request) -> Response:
    who, booth = await _own_booth(request)
    async with services(request).db.session() as session:
        product, bundle = await directory.get_product(session, who, path_int(request, "product_id"))
        if bundle.booth.id != booth.id:
            raise NotFound(NO_SUCH_PRODUCT())
    return render(request, "dashboard/product_edit.html", {"booth": booth, "product": product, "error": None, "field": None, "values": None})


# --- JSON ---------------------------------------------------------------------------------------


async def api_create(request: Request) -> Response:
    who = principal(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        application = await applications.apply(session, who, data)
        await session.commit()
        zone = await session.get(Zone, application.zone_id)
        return JSONResponse(application_json(application, zone), status_code=201)


async def api_list(request: Request) -> Response:
    """Your own applications; moderators see everyone's (``?state=pending``)."""
    who = require(principal(request))
    state = request.query_params.get("state") or None
    async with services(request).db.session() as session:
        if who.is_moderator and request.query_params.get("mine") != "1":
            items = await applications.list_all(session, who, state)
        else:
            items = [a for a in await applications.list_own(session, who) if state is None or a.state == state]
        zones = {z.id: z for z in await directory.list_zones(session)}
    return JSONResponse({"applications": [application_json(a, zones.get(a.zone_id)) for a in items]})


async def api_get(request: Request) -> Response:
    who = principal(request)
    async with services(request).db.session() as session:
        application = await applications.get(session, who, path_int(request, "application_id"))
        zone = await session.get(Zone, application.zone_id)
        return JSONResponse(application_json(application, zone))


async def api_approve(request: Request) -> Response:
    who = principal(request)
    async with services(request).db.session() as session:
        application = await decide_application(request, session, who, path_int(request, "application_id"), "approve")
        zone = await session.get(Zone, application.zone_id)
    return JSONResponse(application_json(application, zone))


async def api_reject(request: Request) -> Response:
    who = principal(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        application = await decide_application(request, session, who, path_int(request, "application_id"), "reject", data.get("reason"))
        zone = await session.get(Zone, application.zone_id)
        return JSONResponse(application_json(application, zone))


routes: list[BaseRoute] = [
    Route("/dashboard", dashboard, methods=["GET"], name="dashboard"),
    Route("/dashboard/apply", apply_page, methods=["GET"]),
    Route("/dashboard/apply", apply_submit, methods=["POST"]),
    Route("/dashboard/booths/{booth_id:int}", booth_edit_page, methods=["GET"]),
    Route("/dashboard/booths/{booth_id:int}", booth_edit_submit, methods=["POST"]),
    Route("/dashboard/booths/{booth_id:int}/publish", booth_publish, methods=["POST"]),
    Route("/dashboard/booths/{booth_id:int}/products/new", product_new_page, methods=["GET"]),
    Route("/dashboard/booths/{booth_id:int}/products/new", product_form_submit, methods=["POST"]),
    Route("/dashboard/booths/{booth_id:int}/products/{product_id:int}", product_edit_page, methods=["GET"]),
    Route("/dashboard/booths/{booth_id:int}/products/{product_id:int}", product_form_submit, methods=["POST"]),
    Route("/api/applications", api_create, methods=["POST"]),
    Route("/api/applications", api_list, methods=["GET"]),
    Route("/api/applications/{application_id:int}", api_get, methods=["GET"]),
    Route("/api/applications/{application_id:int}/approve", api_approve, methods=["POST"]),
    Route("/api/applications/{application_id:int}/reject", api_reject, methods=["POST"]),
]

