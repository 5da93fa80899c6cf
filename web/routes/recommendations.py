"""Recommendations as JSON: booths like a booth (anyone who may see it) and "for you" (the signed-in visitor)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import recommend
from booths.exhibition import directory, showcase
from cloudexpo.permissions import require
from web.context import language, principal, services
from web.params import path_int, query_int
from web.suggestions import suggestion_json


async def api_similar(request: Request) -> Response:
    svc = services(request)
    limit = query_int(request, "limit", default=4, low=1, high=12)
    async with svc.db.session() as session:
        bundle = await directory.get_booth(session, principal(request), path_int(request, "booth_id"),
                                           with_products=False)
        found = await recommend.similar_booths(session, bundle.booth, bundle.exhibitor, bundle.zone, limit=limit)
        logos = await showcase.logos(session, svc.store, [s.booth.id for s in found])
    lang = language(request)
    return JSONResponse({"items": [suggestion_json(s, lang, logos.get(s.booth.id)) for s in found]})


async def api_for_you(request: Request) -> Response:
    svc = services(request)
    who = require(principal(request))
    limit = query_int(request, "limit", default=6, low=1, high=24)
    async with svc.db.session() as session:
        found = await recommend.for_you(session, who, limit=limit)
        logos = await showcase.logos(session, svc.store, [s.booth.id for s in found])
    lang = language(request)
    return JSONResponse({"items": [suggestion_json(s, lang, logos.get(s.booth.id)) for s in found]})


routes: list[BaseRoute] = [
    Route("/api/booths/{booth_id:int}/similar", api_similar, methods=["GET"]),
    Route("/api/recommendations", api_for_you, methods=["GET"]),
]
