"""QR codes for booths, products and launches (SVG, PNG) and the printable A4 booth poster."""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from booths.engagement import qr
from booths.engagement.bookmarks import NO_LAUNCH, read_slots
from booths.errors import NotFound
from booths.exhibition.directory import get_booth, get_product
from cloudexpo.i18n import LANGUAGES
from cloudexpo.messages import message
from web.context import principal, services
from web.page_contexts import BoothPoster
from web.params import path_int, query_int
from web.templating import render

KINDS = message("qr.kinds", "QR codes are made for {kinds}.")
SHAPE = message("qr.shape", "QR codes are /qr/{{{kinds}}}/ID.{{svg|png}}.")


async def _url(request: Request, kind: str, ref: int) -> str:
    """The target URL, once the asker may see the thing (404 otherwise)."""
    who = principal(request)
    public = services(request).settings.resolved_public_url
    async with services(request).db.session() as session:
        if kind == "booth":
            bundle = await get_booth(session, who, str(ref), with_products=False)
            return qr.target_url(public, kind, bundle.booth.number)
        if kind == "product":
            await get_product(session, who, ref)
            return qr.target_url(public, kind, ref)
        if kind == "launch":
            slot = (await read_slots(session, [ref])).get(ref)
            if slot is None or not slot["approved"]:
                raise NotFound(NO_LAUNCH(id=ref))
            return qr.target_url(public, kind, ref)
    raise NotFound(KINDS(kinds=", ".join(qr.KINDS)))


async def code(request: Request) -> Response:
    kind = request.path_params["kind"]
    fmt = request.path_params["fmt"]
    if kind not in qr.KINDS or fmt not in qr.FORMATS:
        raise NotFound(SHAPE(kinds="|".join(qr.KINDS)))
    scale = query_int(request, "scale", 8, 1, 40)
    url = await _url(request, kind, path_int(request, "ref"))
    body = qr.render(url, fmt, scale)
    headers = {"Cache-Control": "public, max-age=3600"}
    if request.query_params.get("download") == "1":
        headers["Content-Disposition"] = f'attachment; filename="qr-{kind}-{request.path_params["ref"]}.{fmt}"'
    return Response(body, media_type=qr.FORMATS[fmt], headers=headers)


async def poster(request: Request) -> Response:
    """An A4 page to print: the booth's QR code, number, and name in three languages."""
    who = principal(request)
    async with services(request).db.session() as session:
        bundle = await get_booth(session, who, str(path_int(request, "booth_id")), with_products=False)
    url = qr.target_url(services(request).settings.resolved_public_url, "booth", bundle.booth.number)
    names = [(lang, bundle.booth.name.get(lang, "")) for lang in LANGUAGES if bundle.booth.name.get(lang)]
    zone_names = [bundle.zone.name.get(lang, "") for lang in LANGUAGES if bundle.zone.name.get(lang)]
    return render(request, "engagement/poster.html", BoothPoster(
        booth=bundle.booth, names=names, zone_names=zone_names, qr_svg=Markup(qr.inline_svg(url, 10)), url=url,
    ))


routes: list[BaseRoute] = [
    Route("/qr/{kind}/{ref:int}.{fmt}", code, methods=["GET"]),
    Route("/booths/{booth_id:int}/poster", poster, methods=["GET"]),
]
