"""The exhibition for visitors: home, floor map, zones, booths, products, search — pages and JSON.

Booth texts are edited here too (JSON API); the exhibitor's forms live in
``web/routes/applications.py`` (dashboard) and the moderators' in
``web/routes/moderation.py``. Unpublished or hidden booths answer 404 to
visitors and stay visible to their own staff and to moderators.
"""

from __future__ import annotations

import secrets
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.engagement import recommend
from booths.errors import BoothsError
from booths.exhibition import directory, editing, search, showcase
from booths.exhibition.catalog import INDUSTRIES, REGIONS
from booths.exhibition.models import Booth, Exhibitor, Product, Zone
from cloudexpo.db import utcnow
from cloudexpo.i18n import LANGUAGES, pick
from cloudexpo.messages import message
from cloudexpo.permissions import Principal
from streaming.models import Slot
from streaming.replays import list_replays
from web import floorplan
from web.context import booth_page_cache, csrf_token, language, principal, services
from web.errors import ApiError
from web.forms import EDITING_LIMIT, read_input
from web.live_strip import live_strip
from web.page_contexts import BoothPage, ProductPage
from web.params import path_int, query_int
from web.shapes.exhibition import booth_json, hall_json, hit_json, product_json, zone_json
from web.shapes.media import views_json
from web.suggestions import explained
from web.templating import render
from web.visits import count_booth_view

TRUE_OR_FALSE = message("query.true_or_false", "'{name}' must be true or false.")
ONE_OF = message("query.one_of", "'{name}' must be one of: {choices}.")
NO_ZONE = message("query.no_zone", "'zone' names no zone; use a zone's id or slug.")

# --- shared by the area's route modules ---------------------------------------------


def query_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ApiError(422, TRUE_OR_FALSE(name=name), extra={"field": name})


def query_choice(request: Request, name: str, choices: dict[str, Any]) -> str | None:
    raw = request.query_params.get(name) or None
    if raw is not None and raw not in choices:
        raise ApiError(422, ONE_OF(name=name, choices=", ".join(choices)), extra={"field": name})
    return raw


async def query_zone(session: AsyncSession, request: Request) -> Zone | None:
    raw = request.query_params.get("zone") or None
    if raw is None:
        return None
    try:
        return await directory.get_zone(session, raw)
    except BoothsError:
        raise ApiError(422, NO_ZONE(), extra={"field": "zone"}) from None


async def product_counts(session: AsyncSession, booth_ids: list[int]) -> dict[int, int]:
    if not booth_ids:
        return {}
    rows = await session.execute(
        select(Product.booth_id, func.count(Product.id)).where(Product.booth_id.in_(booth_ids)).group_by(Product.booth_id)
    )
    return {booth_id: count for booth_id, count in rows.all()}




# --- pages ---------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    async with svc.db.session() as session:
        halls = await directory.list_halls(session)
        zones = await directory.list_zones(session)
        counts = await directory.visible_counts(session)
        totals = await directory.totals(session)
        _, featured = await directory.list_booths(session, who, directory.BoothQuery(featured=True, limit=8))
        for_you = await recommend.for_you(session, who) if who.signed_in else []
        logos = await showcase.logos(session, svc.store, [b.id for b, _, _ in featured] + [s.booth.id for s in for_you])
    return render(request, "home.html", {
        "halls": halls, "zones": zones, "counts": counts, "totals": totals, "featured": featured, "logos": logos,
        "strip": await live_strip(request), "for_you": explained(for_you, language(request)),
    })


async def floor_map(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    async with svc.db.session() as session:
        halls = await directory.list_halls(session)
        zones = await directory.list_zones(session)
        _, booths = await directory.list_booths(session, who, directory.BoothQuery(limit=2000))
    by_zone: dict[int, list[tuple[Booth, Exhibitor, Zone]]] = {z.id: [] for z in zones}
    for row in booths:
        by_zone.setdefault(row[2].id, []).append(row)
    lang = language(request)
    plans = floorplan.plan(halls, zones, by_zone, lambda item: pick(item.name, lang).text)
    return render(request, "exhibition/map.html", {"halls": halls, "zones": zones, "by_zone": by_zone, "plans": plans})


async def zone_page(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    async with svc.db.session() as session:
        zone = await directory.get_zone(session, request.path_params["slug"])
        hall = await directory.get_hall(session, zone.hall_id)
        industry = query_choice(request, "industry", INDUSTRIES)
        region = query_choice(request, "region", REGIONS)
        has_video = query_bool(request, "has_video")
        total, booths = await directory.list_booths(
            session, who, directory.BoothQuery(zone_id=zone.id, industry=industry, region=region, has_video=has_video, limit=500)
        )
        logos = await showcase.logos(session, svc.store, [b.id for b, _, _ in booths])
        zones = await directory.list_zones(session)
    return render(request, "exhibition/zone.html", {
        "zone": zone, "hall": hall, "booths": booths, "total": total, "logos": logos, "zones": zones,
        "filters": {"industry": industry or "", "region": region or "", "has_video": has_video},
    })


async def booth_page(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    ref = request.path_params["ref"].upper()
    booth_pages = booth_page_cache(request)
    data = booth_pages.get(ref)
    if data is None or who.is_moderator or who.can_manage_exhibitor(data.booth.exhibitor_id):
        read = await showcase.booth_page(svc.db, svc.store, who, ref)
        bundle = read.bundle
        manages = who.is_moderator or who.can_manage_exhibitor(bundle.booth.exhibitor_id)
        # Managers read the slots themselves (their own writes may come from another process).
        if manages or bundle.booth.id in await booth_pages.booths_with_slots(svc.db):
            async with svc.db.session() as session:
                launches, replays = await booth_launches(session, who, bundle.booth.id)
        else:
            launches, replays = [], []
        async with svc.db.session() as session:
            similar = await recommend.similar_booths(session, bundle.booth, bundle.exhibitor, bundle.zone)
            similar_logos = await showcase.logos(session, svc.store, [s.booth.id for s in similar])
        data = BoothPage(
            booth=bundle.booth, exhibitor=bundle.exhibitor, zone=bundle.zone, hall=bundle.hall,
            products=bundle.products, media=read.media, product_thumbs=read.thumbs, staff=read.staff,
            launches=launches, replays=replays, similar=similar, similar_logos=similar_logos,
        )
        if not manages:
            booth_pages.put(ref, data)
    booth = data.booth
    manager = who.can_manage_exhibitor(booth.exhibitor_id)
    preview = request.query_params.get("preview") == "1"
    if not preview:
        count_booth_view(request, booth.id)
    # Anonymous visitors without a query (but ?lang) all get the same page, but for the CSRF token:
    # kept with the cached data (so dropped with it), the session's token put in on the way out.
    whole_page = bool(data.html) or booth_pages.get(ref) is data
    whole_page = whole_page and not who.signed_in and not manager and set(request.query_params) <= {"lang"}
    lang = language(request)
    if whole_page and lang in data.html:
        return HTMLResponse(
            data.html[lang].replace(_CSRF_HOLE, csrf_token(request)),
            headers={"Cache-Control": "no-cache", "Content-Language": lang},
        )
    shown_as_manager, shown_as_preview = manager and not preview, preview and manager
    similar_text = explained(data.similar, lang)
    if not whole_page:
        return render(request, "exhibition/booth.html", data, manager=shown_as_manager, preview=shown_as_preview,
                      similar_text=similar_text)
    response = render(request, "exhibition/booth.html", data, manager=shown_as_manager, preview=shown_as_preview,
                      similar_text=similar_text, csrf_token=_CSRF_HOLE)
    data.html[lang] = bytes(response.body).decode()
    return HTMLResponse(
        data.html[lang].replace(_CSRF_HOLE, csrf_token(request)),
        headers={"Cache-Control": "no-cache", "Content-Language": lang},
    )


_CSRF_HOLE = "csrf-hole-" + secrets.token_hex(12)


async def booth_launches(session: AsyncSession, who: Principal, booth_id: int) -> tuple[list[Any], list[Any]]:
    """The booth's coming and live launches from the release zone, and its replays."""

    now = utcnow()
    coming = await session.scalars(
        select(Slot)
        .where(Slot.booth_id == booth_id, Slot.approved.is_(True), Slot.ends_at > now,
               Slot.state.in_(("scheduled", "green_room", "live")))
        .order_by(Slot.starts_at)
        .limit(5)
    )
    return list(coming.all()), await list_replays(session, booth_id=booth_id, principal=who, limit=10)


async def product_page(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    async with svc.db.session() as session:
        product, bundle = await directory.get_product(session, who, path_int(request, "product_id"))
        pictures = [v for v in await showcase.product_media(session, svc.store, product.id) if v["kind"] == "image"]
    return render(request, "exhibition/product.html", ProductPage(
        product=product, booth=bundle.booth, exhibitor=bundle.exhibitor, zone=bundle.zone, pictures=pictures,
        manager=who.can_manage_exhibitor(bundle.booth.exhibitor_id),
    ))


async def _search(request: Request) -> tuple[search.Results, dict[str, Any]]:
    db = services(request).db
    q = (request.query_params.get("q") or "").strip()[:200]
    zone = None
    if request.query_params.get("zone"):
        async with db.session() as session:
            zone = await query_zone(session, request)
    filters = search.Filters(
        zone_id=zone.id if zone else None,
        industry=query_choice(request, "industry", INDUSTRIES),
        region=query_choice(request, "region", REGIONS),
        has_products=query_bool(request, "has_products"),
        has_video=query_bool(request, "has_video"),
    )
    limit = query_int(request, "limit", search.PAGE, 1, 100)
    offset = query_int(request, "offset", 0, 0, 10_000)
    results = await search.search(db, q, filters, language=language(request), limit=limit, offset=offset)
    form = {"q": q, "zone": zone.slug if zone else "", "industry": filters.industry or "", "region": filters.region or "",
            "has_products": filters.has_products, "has_video": filters.has_video, "limit": limit, "offset": offset}
    return results, form


async def search_page(request: Request) -> Response:
    results, form = await _search(request)
    async with services(request).db.session() as session:
        zones = await directory.list_zones(session)
    hits = [(h, {k: Markup(v) for k, v in h.highlights.items()}) for h in results.hits]
    return render(request, "exhibition/search.html", {"results": results, "hits": hits, "form": form, "zones": zones})


# --- JSON ------------------------------------------------------------------------------------


async def api_halls(request: Request) -> Response:
    async with services(request).db.session() as session:
        halls = await directory.list_halls(session)
        zones = await directory.list_zones(session)
        counts = await directory.visible_counts(session)
    return JSONResponse({"halls": [
        {**hall_json(h), "zones": [zone_json(z, counts.get(z.id, 0)) for z in zones if z.hall_id == h.id]} for h in halls
    ]})


async def api_zones(request: Request) -> Response:
    async with services(request).db.session() as session:
        hall = query_int(request, "hall", 0, 0, 1_000_000) or None
        zones = await directory.list_zones(session, hall)
        counts = await directory.visible_counts(session)
    return JSONResponse({"zones": [zone_json(z, counts.get(z.id, 0)) for z in zones]})


async def api_zone(request: Request) -> Response:
    async with services(request).db.session() as session:
        zone = await directory.get_zone(session, request.path_params["ref"])
        counts = await directory.visible_counts(session)
    return JSONResponse(zone_json(zone, counts.get(zone.id, 0)))


async def api_booths(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    async with svc.db.session() as session:
        zone = await query_zone(session, request)
        q = directory.BoothQuery(
            zone_id=zone.id if zone else None,
            hall_id=query_int(request, "hall", 0, 0, 1_000_000) or None,
            industry=query_choice(request, "industry", INDUSTRIES),
            region=query_choice(request, "region", REGIONS),
            has_products=query_bool(request, "has_products"),
            has_video=query_bool(request, "has_video"),
            featured=query_bool(request, "featured"),
            limit=query_int(request, "limit", 50, 1, 500),
            offset=query_int(request, "offset", 0, 0, 1_000_000),
        )
        total, rows = await directory.list_booths(session, who, q)
        ids = [b.id for b, _, _ in rows]
        counts = await product_counts(session, ids)
        logos = await showcase.logos(session, svc.store, ids)
    return JSONResponse({
        "total": total, "limit": q.limit, "offset": q.offset,
        "booths": [booth_json(b, e, z, product_count=counts.get(b.id, 0), logo=logos.get(b.id),
                              manager=who.can_manage_exhibitor(b.exhibitor_id)) for b, e, z in rows],
    })


async def api_booth(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    async with svc.db.session() as session:
        bundle = await directory.get_booth(session, who, request.path_params["ref"])
        media = await showcase.booth_media(session, svc.store, bundle.booth.id)
        staff = await directory.staff_of(session, bundle.exhibitor.id)
    b = bundle.booth
    manager = who.can_manage_exhibitor(b.exhibitor_id)
    logo = media["logo"][0]["url"] if media["logo"] else None
    out = booth_json(b, bundle.exhibitor, bundle.zone, product_count=len(bundle.products), logo=logo, manager=manager)
    out["products"] = [product_json(p) for p in bundle.products]
    out["media"] = {kind: views_json(views) for kind, views in media.items()}
    out["staff"] = [{"display_name": u.display_name} for u in staff]
    return JSONResponse(out)


async def api_update_booth(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    data = await read_input(request, EDITING_LIMIT)
    async with svc.db.session() as session:
        bundle = await directory.get_booth(session, who, path_int(request, "booth_id"), with_products=False)
        await editing.update_booth(session, who, bundle.booth, data)
        if "published" in data:
            await editing.set_published(session, who, bundle.booth, editing._flag(data["published"], "published"))
        await session.commit()
        out = booth_json(bundle.booth, bundle.exhibitor, bundle.zone, manager=True)
    return JSONResponse(out)


async def api_products(request: Request) -> Response:
    who = principal(request)
    async with services(request).db.session() as session:
        bundle = await directory.get_booth(session, who, path_int(request, "booth_id"))
    return JSONResponse({"products": [product_json(p, bundle.booth) for p in bundle.products]})


async def api_create_product(request: Request) -> Response:
    who = principal(request)
    data = await read_input(request, EDITING_LIMIT)
    async with services(request).db.session() as session:
        bundle = await directory.get_booth(session, who, path_int(request, "booth_id"), with_products=False)
        product = await editing.create_product(session, who, bundle.booth, data)
        await session.commit()
        return JSONResponse(product_json(product, bundle.booth), status_code=201)


async def api_product(request: Request) -> Response:
    svc = services(request)
    who = principal(request)
    async with svc.db.session() as session:
        product, bundle = await directory.get_product(session, who, path_int(request, "product_id"))
        media = await showcase.product_media(session, svc.store, product.id)
    return JSONResponse({**product_json(product, bundle.booth), "media": views_json(media)})


async def api_update_product(request: Request) -> Response:
    who = principal(request)
    data = await read_input(request, EDITING_LIMIT)
    async with services(request).db.session() as session:
        product, bundle = await directory.get_product(session, who, path_int(request, "product_id"))
        await editing.update_product(session, who, bundle.booth, product, data)
        await session.commit()
        return JSONResponse(product_json(product, bundle.booth))


async def api_delete_product(request: Request) -> Response:
    who = principal(request)
    async with services(request).db.session() as session:
        product, bundle = await directory.get_product(session, who, path_int(request, "product_id"))
        await editing.delete_product(session, who, bundle.booth, product)
        await session.commit()
    return Response(status_code=204)


async def api_search(request: Request) -> Response:
    results, form = await _search(request)
    return JSONResponse({
        "query": results.query, "terms": results.terms, "total": results.total, "total_capped": results.total_capped,
        "limit": form["limit"], "offset": form["offset"], "results": [hit_json(h) for h in results.hits],
    })


async def api_catalog(request: Request) -> Response:
    return JSONResponse({"industries": INDUSTRIES, "regions": REGIONS, "languages": list(LANGUAGES)})


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET", "HEAD"], name="home"),
    Route("/map", floor_map, methods=["GET"], name="map"),
    Route("/zones/{slug}", zone_page, methods=["GET"], name="zone"),
    Route("/booths/{ref}", booth_page, methods=["GET"], name="booth"),
    Route("/products/{product_id:int}", product_page, methods=["GET"], name="product"),
    Route("/search", search_page, methods=["GET"], name="search"),
    Route("/api/halls", api_halls, methods=["GET"]),
    Route("/api/zones", api_zones, methods=["GET"]),
    Route("/api/zones/{ref}", api_zone, methods=["GET"]),
    Route("/api/booths", api_booths, methods=["GET"]),
    Route("/api/booths/{booth_id:int}", api_update_booth, methods=["PATCH"]),
    Route("/api/booths/{booth_id:int}/products", api_products, methods=["GET"]),
    Route("/api/booths/{booth_id:int}/products", api_create_product, methods=["POST"]),
    Route("/api/booths/{ref}", api_booth, methods=["GET"]),
    Route("/api/products/{product_id:int}", api_product, methods=["GET"]),
    Route("/api/products/{product_id:int}", api_update_product, methods=["PATCH"]),
    Route("/api/products/{product_id:int}", api_delete_product, methods=["DELETE"]),
    Route("/api/search", api_search, methods=["GET"]),
    Route("/api/catalog", api_catalog, methods=["GET"]),
]
