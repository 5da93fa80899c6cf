"""Moderators keep the exhibition: review applications, hide booths, place halls and zones, manage roles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from booths.errors import BoothsError, NotFound
from booths.exhibition import applications, directory, editing
from booths.exhibition.models import Booth, Exhibitor, Hall, Zone
from cloudexpo import accounts
from cloudexpo.accounts import Role
from cloudexpo.messages import message
from web.context import moderator, services
from web.errors import said_of, status_of
from web.forms import localized_from_form, read_input
from web.params import body_int, path_int
from web.reviews import decide_application
from web.shapes.exhibition import booth_json, hall_json, zone_json
from web.templating import render

DECIDE_ONLY = message("moderation.decide_only", "Approve or reject an application; nothing else.")
NO_SUCH_BOOTH = message("moderation.no_such_booth", "There is no such booth.")
NO_EXHIBITOR = message("moderation.no_exhibitor", "'exhibitor_id' names no exhibitor.")
NO_SUCH_HALL = message("moderation.no_such_hall", "There is no such hall.")


def user_json(u: accounts.User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "display_name": u.display_name, "role": u.role,
            "exhibitor_id": u.exhibitor_id, "active": u.active}


# --- pages ------------------------------------------------------------------------------------------


async def applications_page(request: Request) -> Response:
    who = moderator(request)
    state = request.query_params.get("state") or "pending"
    async with services(request).db.session() as session:
        items = await applications.list_all(session, who, None if state == "all" else state)
        zones = {z.id: z for z in await directory.list_zones(session)}
        users = {u.id: u for u in (await session.scalars(
            select(accounts.User).where(accounts.User.id.in_({a.user_id for a in items}))
        )).all()} if items else {}
    return render(request, "moderation/applications.html", {
        "items": items, "zones": zones, "users": users, "state": state, "done": request.query_params.get("done"),
        "error": request.query_params.get("error"),
    })


async def decide(request: Request) -> Response:
    who = moderator(request)
    data = await read_input(request)
    application_id = path_int(request, "application_id")
    action = request.path_params["action"]
    if action not in ("approve", "reject"):
        raise NotFound(DECIDE_ONLY())
    async with services(request).db.session() as session:
        try:
            await decide_application(request, session, who, application_id, action, data.get("reason"))
        except BoothsError as exc:
            if isinstance(exc, NotFound):
                raise
            await session.rollback()
            zones = {z.id: z for z in await directory.list_zones(session)}
            items = await applications.list_all(session, who, "pending")
            users = {u.id: u for u in (await session.scalars(select(accounts.User))).all()}
            return render(request, "moderation/applications.html", {
                "items": items, "zones": zones, "users": users, "state": "pending", "done": None,
                "error": said_of(exc), "error_for": application_id,
            }, status_code=status_of(exc))
    return RedirectResponse(f"/moderate/applications?done={action}", status_code=303)


async def booths_page(request: Request) -> Response:
    who = moderator(request)
    hidden = request.query_params.get("hidden") == "1"
    async with services(request).db.session() as session:
        query = directory.BoothQuery(limit=1000)
        _, rows = await directory.list_booths(session, who, query)
    if hidden:
        rows = [r for r in rows if r[0].hidden or not r[0].published]
    return render(request, "moderation/booths.html", {"rows": rows, "only_hidden": hidden})


async def booth_visibility(request: Request) -> Response:
    who = moderator(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        booth = await session.get(Booth, path_int(request, "booth_id"))
        if booth is None:
            raise NotFound(NO_SUCH_BOOTH())
        await editing.set_hidden(session, who, booth, data.get("hidden") in (True, "true", "1"), data.get("reason") or "")
        await session.commit()
        if request.url.path.startswith("/api/"):
            exhibitor = await session.get(Exhibitor, booth.exhibitor_id)
            zone = await session.get(Zone, booth.zone_id)
            assert exhibitor is not None and zone is not None
            return JSONResponse(booth_json(booth, exhibitor, zone, manager=True))
    return RedirectResponse("/moderate/booths", status_code=303)


async def map_page(request: Request) -> Response:
    moderator(request)
    async with services(request).db.session() as session:
        halls = await directory.list_halls(session)
        zones = await directory.list_zones(session)
    return render(request, "moderation/map.html", {"halls": halls, "zones": zones, "saved": request.query_params.get("saved")})


def _place_fields(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: data[k] for k in ("map_x", "map_y", "map_w", "map_h", "color") if k in data}
    if any(f"name_{s}" in data for s in ("zh_hans", "zh_hant", "en")):
        out["name"] = localized_from_form(data, "name")
    return out


async def zone_submit(request: Request) -> Response:
    who = moderator(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        zone = await directory.get_zone(session, path_int(request, "zone_id"))
        await editing.update_zone(session, who, zone, _place_fields(data))
        await session.commit()
    return RedirectResponse("/moderate/map?saved=zone", status_code=303)


async def hall_submit(request: Request) -> Response:
    who = moderator(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        hall = await directory.get_hall(session, path_int(request, "hall_id"))
        await editing.update_hall(session, who, hall, _place_fields(data))
        await session.commit()
    return RedirectResponse("/moderate/map?saved=hall", status_code=303)


async def users_page(request: Request) -> Response:
    moderator(request)
    async with services(request).db.session() as session:
        users = await accounts.list_users(session)
        exhibitors = {e.id: e for e in (await session.scalars(select(Exhibitor))).all()}
    return render(request, "moderation/users.html", {"users": users, "exhibitors": exhibitors, "roles": [r.value for r in Role],
                                                    "saved": request.query_params.get("saved")})


async def _set_role(request: Request) -> accounts.User:
    who = moderator(request)
    data = await read_input(request)
    exhibitor_id = body_int(data, "exhibitor_id", required=False)
    async with services(request).db.session() as session:
        if exhibitor_id is not None and await session.get(Exhibitor, exhibitor_id) is None:
            from booths.errors import Invalid

            raise Invalid(NO_EXHIBITOR(), "exhibitor_id")
        user = await editing.set_user_role(session, who, path_int(request, "user_id"), str(data.get("role") or ""), exhibitor_id)
        await session.commit()
    request.app.state.principal_cache.forget(user.id)
    return user


async def user_role_submit(request: Request) -> Response:
    await _set_role(request)
    return RedirectResponse("/moderate/users?saved=1", status_code=303)


# --- JSON ------------------------------------------------------------------------------------------------


async def api_users(request: Request) -> Response:
    moderator(request)
    async with services(request).db.session() as session:
        users = await accounts.list_users(session)
    return JSONResponse({"users": [user_json(u) for u in users]})


async def api_user_role(request: Request) -> Response:
    return JSONResponse(user_json(await _set_role(request)))


async def api_zone_update(request: Request) -> Response:
    who = moderator(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        zone = await directory.get_zone(session, path_int(request, "zone_id"))
        await editing.update_zone(session, who, zone, data)
        await session.commit()
        return JSONResponse(zone_json(zone))


async def api_hall_update(request: Request) -> Response:
    who = moderator(request)
    data = await read_input(request)
    async with services(request).db.session() as session:
        hall = await session.get(Hall, path_int(request, "hall_id"))
        if hall is None:
            raise NotFound(NO_SUCH_HALL())
        await editing.update_hall(session, who, hall, data)
        await session.commit()
        return JSONResponse(hall_json(hall))


async def moderate_index(request: Request) -> Response:
    moderator(request)
    return RedirectResponse("/moderate/applications", status_code=303)


routes: list[BaseRoute] = [
    Route("/moderate", moderate_index, methods=["GET"]),
    Route("/moderate/applications", applications_page, methods=["GET"]),
    Route("/moderate/applications/{application_id:int}/{action:str}", decide, methods=["POST"]),
    Route("/moderate/booths", booths_page, methods=["GET"]),
    Route("/moderate/booths/{booth_id:int}/visibility", booth_visibility, methods=["POST"]),
    Route("/moderate/map", map_page, methods=["GET"]),
    Route("/moderate/zones/{zone_id:int}", zone_submit, methods=["POST"]),
    Route("/moderate/halls/{hall_id:int}", hall_submit, methods=["POST"]),
    Route("/moderate/users", users_page, methods=["GET"]),
    Route("/moderate/users/{user_id:int}/role", user_role_submit, methods=["POST"]),
    Route("/api/booths/{booth_id:int}/visibility", booth_visibility, methods=["POST"]),
    Route("/api/zones/{zone_id:int}", api_zone_update, methods=["PATCH"]),
    Route("/api/halls/{hall_id:int}", api_hall_update, methods=["PATCH"]),
    Route("/api/users", api_users, methods=["GET"]),
    Route("/api/users/{user_id:int}/role", api_user_role, methods=["POST"]),
]
