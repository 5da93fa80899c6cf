"""Booth media as JSON and the exhibitor's media page.

Visitors see only ready, visible media of visible booths. The exhibitor's
staff and moderators see every asset with its state, set titles and order,
and delete; only moderators hide and unhide.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.exhibition.models import Booth
from booths.media import assets, uploads
from booths.media.models import KINDS, Asset
from booths.media.views import AssetView
from cloudexpo.i18n import LANGUAGES, pick
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require, require_exhibitor_access
from web.context import language, principal, services
from web.errors import ApiError
from web.forms import read_input
from web.params import path_int
from web.shapes.media import asset_json
from web.shapes.uploads import quota_json
from web.templating import render

NO_SUCH_BOOTH = message("media.no_such_booth", "There is no such booth.")
NO_SUCH_MEDIA = message("media.no_such_media", "There is no such media file.")
TITLE_SHAPE = message("media.title_shape", 'title must be {{"zh-Hans": "…", "zh-Hant": "…", "en": "…"}}.')
TITLE_LANGUAGE = message("media.title_language", "title languages are {languages}; not {lang}.")
TITLE_TEXT = message("media.title_text", "each title must be text.")
TITLE_LONG = message("media.title_long", "a title may be at most {limit} characters.")
HIDE_MODERATORS = message("media.hide_moderators", "Only a moderator can hide or show media.")
HIDDEN_BOOL = message("media.hidden_bool", "hidden must be true or false.")
POSITION = message("media.position", "position must be a whole number from 0.")
ORDER_SHAPE = message("media.order_shape", 'Send {{"ids": [3, 1, 2]}}: the booth\'s media ids in their new order.')
LANGUAGE_CHOICE = message("media.language_choice", "language is one of {languages}, or null for a banner shown in every language; not {lang}.")
LANGUAGE_BANNERS = message("media.language_banners", "Only a banner (its words are in one language) is made for one language; this is a {kind}.")
ORDER_IDS = message("media.order_ids", "Every id must be one of this booth's media, once.")

MAX_TITLE = 200


async def _booth(session: AsyncSession, booth_id: int) -> Booth:
    booth = await session.get(Booth, booth_id)
    if booth is None:
        raise ApiError(404, NO_SUCH_BOOTH())
    return booth


async def _asset(session: AsyncSession, request: Request) -> Asset:
    asset = await session.get(Asset, path_int(request, "asset_id"))
    if asset is None:
        raise ApiError(404, NO_SUCH_MEDIA())
    return asset


async def _visible_to(session: AsyncSession, who: Principal, asset: Asset) -> bool:
    if who.can_manage_exhibitor(asset.exhibitor_id):
        return True
    if not asset.visible or asset.booth_id is None:
        return False
    booth = await session.get(Booth, asset.booth_id)
    return booth is not None and booth.visible


async def booth_assets(request: Request) -> Response:
    who = principal(request)
    svc = services(request)
    async with svc.db.session() as session:
        booth = await _booth(session, path_int(request, "booth_id"))
        manager = who.can_manage_exhibitor(booth.exhibitor_id)
        if not manager and not booth.visible:
            raise ApiError(404, NO_SUCH_BOOTH())
        items = await assets.list_assets(session, booth_id=booth.id, include_hidden=manager)
        body: dict[str, Any] = {"booth_id": booth.id, "assets": [asset_json(svc.store, a) for a in items]}
        if manager:
            body["quota"] = quota_json(booth.exhibitor_id, await assets.used_bytes(session, booth.exhibitor_id), uploads.Limits.from_settings(svc.settings))
        return JSONResponse(body)


async def get_asset(request: Request) -> Response:
    who = principal(request)
    svc = services(request)
    async with svc.db.session() as session:
        asset = await _asset(session, request)
        if not await _visible_to(session, who, asset):
            raise ApiError(404, NO_SUCH_MEDIA())
        return JSONResponse(asset_json(svc.store, asset))


def _title(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ApiError(422, TITLE_SHAPE(), extra={"field": "title"})
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            raise ApiError(422, TITLE_LANGUAGE(languages=", ".join(LANGUAGES), lang=repr(lang)), extra={"field": "title"})
        if text is None:
            continue
        if not isinstance(text, str):
            raise ApiError(422, TITLE_TEXT(), extra={"field": "title"})
        text = " ".join(text.split())
        if len(text) > MAX_TITLE:
            raise ApiError(422, TITLE_LONG(limit=MAX_TITLE), extra={"field": "title"})
        if text:
            out[lang] = text
    return out


def _with_language(asset: Asset, value: Any) -> dict[str, Any]:
    """The asset's meta with the page language it is made for (a banner with words on it), or for every one."""
    if value in (None, ""):
        return {k: v for k, v in (asset.meta or {}).items() if k != "language"}
    if value not in LANGUAGES:
        raise ApiError(422, LANGUAGE_CHOICE(languages=", ".join(LANGUAGES), lang=repr(value)), extra={"field": "language"})
    if asset.kind != "banner":
        raise ApiError(422, LANGUAGE_BANNERS(kind=asset.kind), extra={"field": "language"})
    return {**(asset.meta or {}), "language": value}


async def update_asset(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    data = await read_input(request)
    async with svc.db.session() as session:
        asset = await _asset(session, request)
        require_exhibitor_access(who, asset.exhibitor_id)
        if "hidden" in data:
            if not who.is_moderator:
                raise Forbidden(HIDE_MODERATORS())
            if not isinstance(data["hidden"], bool):
                raise ApiError(422, HIDDEN_BOOL(), extra={"field": "hidden"})
            await assets.set_hidden(session, asset, data["hidden"])
        if "title" in data:
            asset.title = _title(data["title"])
        if "language" in data:
            asset.meta = _with_language(asset, data["language"])
        if "position" in data:
            position = data["position"]
            if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 100_000:
                raise ApiError(422, POSITION(), extra={"field": "position"})
            asset.position = position
        await session.commit()
        return JSONResponse(asset_json(svc.store, asset))


async def delete_asset(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    async with svc.db.session() as session:
        asset = await _asset(session, request)
        require_exhibitor_access(who, asset.exhibitor_id)
        await assets.delete_asset(session, svc.store, asset)
        await session.commit()
    return Response(status_code=204)


async def reorder(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    data = await read_input(request)
    ids = data.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ApiError(422, ORDER_SHAPE(), extra={"field": "ids"})
    async with svc.db.session() as session:
        booth = await _booth(session, path_int(request, "booth_id"))
        require_exhibitor_access(who, booth.exhibitor_id)
        items = {a.id: a for a in await assets.list_assets(session, booth_id=booth.id, include_hidden=True)}
        if len(set(ids)) != len(ids) or any(i not in items for i in ids):
            raise ApiError(422, ORDER_IDS(), extra={"field": "ids"})
        rest = [a for a in items.values() if a.id not in ids]
        await assets.reorder(session, [items[i] for i in ids] + sorted(rest, key=lambda a: (a.position, a.id)))
        await session.commit()
        ordered = await assets.list_assets(session, booth_id=booth.id, include_hidden=True)
        return JSONResponse({"booth_id": booth.id, "assets": [asset_json(svc.store, a) for a in ordered]})


async def media_page(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    async with svc.db.session() as session:
        booth = await _booth(session, path_int(request, "booth_id"))
        require_exhibitor_access(who, booth.exhibitor_id)
        quota = quota_json(booth.exhibitor_id, await assets.used_bytes(session, booth.exhibitor_id), uploads.Limits.from_settings(svc.settings))
    lang = language(request)
    name = pick(booth.name, lang).text or booth.number
    return render(
        request,
        "dashboard/media.html",
        {
            "booth": booth,
            "booth_name": name,
            "quota": quota,
            "kinds": KINDS,
            "single_limit": uploads.SINGLE_PUT_LIMIT,
            "is_moderator": who.is_moderator,
        },
    )


async def document_page(request: Request) -> Response:
    """A booth's document (PDF) read in the page with pdf.js, with a link to download it."""
    who = principal(request)
    svc = services(request)
    async with svc.db.session() as session:
        asset = await _asset(session, request)
        if asset.kind != "document" or not await _visible_to(session, who, asset):
            raise ApiError(404, "There is no such document.")
        booth = await session.get(Booth, asset.booth_id) if asset.booth_id is not None else None
    view = AssetView(svc.store, asset)
    if view["url"] is None:
        raise ApiError(404, "This document is still being checked; try again in a minute.")
    lang = language(request)
    title = pick(asset.title or {}, lang).text or asset.filename
    return render(request, "exhibition/document.html", {
        "document": view, "title": title, "booth": booth,
    })


routes: list[BaseRoute] = [
    Route("/api/booths/{booth_id:int}/assets", booth_assets, methods=["GET"], name="booth_assets"),
    Route("/api/booths/{booth_id:int}/assets/order", reorder, methods=["POST"], name="booth_assets_order"),
    Route("/api/assets/{asset_id:int}", get_asset, methods=["GET"], name="asset"),
    Route("/api/assets/{asset_id:int}", update_asset, methods=["PATCH"], name="asset_update"),
    Route("/api/assets/{asset_id:int}", delete_asset, methods=["DELETE"], name="asset_delete"),
    Route("/dashboard/booths/{booth_id:int}/media", media_page, methods=["GET"], name="dashboard_media"),
    Route("/documents/{asset_id:int}", document_page, methods=["GET"], name="document"),
]
