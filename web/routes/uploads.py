"""Upload tickets and quotas: the browser sends media straight to storage.

``POST /api/uploads`` gives a ticket (one presigned PUT, or a multipart upload
whose part URLs ``POST /api/uploads/{id}/parts`` hands out in batches);
``GET /api/uploads/{id}`` says which parts storage holds, so a reloaded page
resumes; ``POST /api/uploads/{id}/complete`` joins and checks;
``DELETE /api/uploads/{id}`` cancels. ``GET /api/exhibitors/{id}/quota`` shows
what is left before an upload starts. Only the exhibitor's staff and
moderators may use any of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from booths.errors import MediaRejected
from booths.exhibition.models import Booth, Product
from booths.media import uploads
from booths.media.assets import used_bytes
from booths.media.models import Asset, Upload
from cloudexpo.messages import message
from cloudexpo.permissions import Principal, require, require_exhibitor_access
from cloudexpo.values import ID_MAX, INT64_MAX
from web.context import booths_runtime, principal, services
from web.errors import ApiError, said_of
from web.forms import read_input
from web.params import body_int, path_int
from web.shapes.media import asset_json
from web.shapes.uploads import quota_json, ticket_json, upload_status_json

NO_SUCH_BOOTH = message("media.no_such_booth", "There is no such booth.")
OTHER_PRODUCT = message("media.other_product", "That product is not one of this booth's.")
PART_NUMBERS = message("media.part_numbers", 'Send {{"part_numbers": [1, 2, …]}}.')


def int_field(data: dict[str, Any], name: str, *, required: bool = True, high: int = ID_MAX) -> int | None:
    return body_int(data, name, required=required, high=high)


async def load_upload(session: AsyncSession, request: Request, who: Principal) -> tuple[Asset, Upload]:
    require(who)
    asset, upload = await uploads.get_upload(session, path_int(request, "upload_id"))
    require_exhibitor_access(who, asset.exhibitor_id)
    return asset, upload


async def create(request: Request) -> Response:
    who = require(principal(request))
    svc = services(request)
    data = await read_input(request)
    booth_id = int_field(data, "booth_id")
    product_id = int_field(data, "product_id", required=False)
    size = int_field(data, "size", high=INT64_MAX)
    async with svc.db.session() as session:
        booth = await session.get(Booth, booth_id)
        if booth is None:
            raise ApiError(404, NO_SUCH_BOOTH(), extra={"field": "booth_id"})
        require_exhibitor_access(who, booth.exhibitor_id)
        if product_id is not None:
            product = await session.get(Product, product_id)
            if product is None or product.booth_id != booth.id:
                raise ApiError(422, OTHER_PRODUCT(), extra={"field": "product_id"})
        asset, upload = await uploads.create_ticket(
            session,
            svc.store,
            exhibitor_id=booth.exhibitor_id,
            booth_id=booth.id,
            product_id=product_id,
            kind=str(data.get("kind", "")),
            filename=str(data.get("filename", "")),
            size=size if size is not None else 0,
            content_type=str(data.get("content_type", "") or ""),
            limits=uploads.Limits.from_settings(svc.settings),
            user_id=who.user_id,
        )
        await session.commit()
        return JSONResponse(ticket_json(svc.store, asset, upload), status_code=201)


async def status(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as session:
        asset, upload = await load_upload(session, request, principal(request))
        view = upload_status_json(svc.store, asset, upload, await uploads.upload_progress(svc.store, asset, upload))
        view["asset"] = asset_json(svc.store, asset)
        return JSONResponse(view)


async def parts(request: Request) -> Response:
    svc = services(request)
    data = await read_input(request)
    numbers = data.get("part_numbers")
    if not isinstance(numbers, list):
        raise ApiError(422, PART_NUMBERS(), extra={"field": "part_numbers"})
    async with svc.db.session() as session:
        asset, upload = await load_upload(session, request, principal(request))
        urls = uploads.part_urls(svc.store, asset, upload, numbers)
        return JSONResponse({"id": upload.id, "parts": urls, "expires_in": uploads.URL_EXPIRES})


async def complete(request: Request) -> Response:
    svc = services(request)
    data = await read_input(request)
    async with svc.db.session() as session:
        asset, upload = await load_upload(session, request, principal(request))
        try:
            await uploads.complete_upload(session, svc.store, asset, upload, data.get("parts"), uploads.Limits.from_settings(svc.settings))
        except MediaRejected as exc:
            # As web.errors.REFUSALS answers it, plus the asset (now marked rejected) that only this route holds.
            await session.commit()  # the rejection stays: the page shows its problem
            raise ApiError(422, said_of(exc), error="rejected", extra={"asset": asset_json(svc.store, asset)}) from None
        await session.commit()
        view = asset_json(svc.store, asset)
    booths_runtime(request).media.submit(asset.id)  # thumbnails and checks in the background
    return JSONResponse(view)


async def cancel(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as session:
        asset, upload = await load_upload(session, request, principal(request))
        await uploads.abort_upload(session, svc.store, asset, upload)
        await session.commit()
    return Response(status_code=204)


async def quota(request: Request) -> Response:
    who = require(principal(request))
    exhibitor_id = path_int(request, "exhibitor_id")
    require_exhibitor_access(who, exhibitor_id)
    svc = services(request)
    async with svc.db.session() as session:
        return JSONResponse(quota_json(exhibitor_id, await used_bytes(session, exhibitor_id), uploads.Limits.from_settings(svc.settings)))


routes: list[BaseRoute] = [
    Route("/api/uploads", create, methods=["POST"], name="upload_create"),
    Route("/api/uploads/{upload_id:int}", status, methods=["GET"], name="upload_status"),
    Route("/api/uploads/{upload_id:int}", cancel, methods=["DELETE"], name="upload_cancel"),
    Route("/api/uploads/{upload_id:int}/parts", parts, methods=["POST"], name="upload_parts"),
    Route("/api/uploads/{upload_id:int}/complete", complete, methods=["POST"], name="upload_complete"),
    Route("/api/exhibitors/{exhibitor_id:int}/quota", quota, methods=["GET"], name="exhibitor_quota"),
]
