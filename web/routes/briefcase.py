"""The visitor's briefcase: collect documents and products on booth pages, take them away.

``engagement/briefcase_button.html`` is the toggle other pages include (needs
``bc_kind``, ``bc_id`` and ``bc_title``); a visitor who is not signed in gets
a link to sign in that leads back to the page. The briefcase page lists what
was collected, removes items, downloads everything as one ZIP (streamed: the
documents' files from object storage and an ``index.html`` listing the
products with their booths) or mails the visitor links to it all (signed
document links that expire, never attachments).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from booths.engagement import briefcase
from booths.engagement.briefcase import Entry
from booths.errors import Invalid
from cloudexpo.mail import Mail, MailError
from cloudexpo.messages import message
from cloudexpo.permissions import Principal, require
from cloudexpo.storage import ObjectStore
from cloudexpo.values import parse_id
from web.context import counter, language, notifier, principal, services
from web.errors import ApiError, wants_json
from web.forms import back, read_input
from web.params import path_int
from web.templating import base_context, env, render
from web.zipstream import ZipStream

log = logging.getLogger(__name__)

ITEM_ID = message("briefcase.id", "'id' is the number of the document or product to put in the briefcase.")
MAIL_FAILED = message("briefcase.mail_failed", "The e-mail could not be sent just now; try again in a few minutes.")

LINK_DAYS = 7  # document links in the e-mail: the longest a presigned S3 URL may live


def _target(data: dict[str, Any]) -> tuple[str, int]:
    kind = briefcase.check_kind(str(data.get("kind") or ""))
    target = parse_id(data.get("id"))
    if target is None:
        raise Invalid(ITEM_ID(), "id")
    return kind, target


async def _add(request: Request, who: Principal, kind: str, target: int) -> int:
    async with services(request).db.session() as session:
        added, booth = await briefcase.add(session, who, kind, target)
        await session.commit()
        total = await briefcase.count(session, who.user_id)
    if added:
        counter(request).add(booth.id, "briefcase")  # the exhibitor sees how often its things were taken
    return total


async def _remove(request: Request, who: Principal, kind: str, target: int) -> int:
    async with services(request).db.session() as session:
        await briefcase.remove(session, who, kind, target)
        await session.commit()
        return await briefcase.count(session, who.user_id)


# --- the page and its forms ------------------------------------------------------------------------


async def briefcase_page(request: Request) -> Response:
    who = require(principal(request))
    async with services(request).db.session() as session:
        entries = await briefcase.contents(session, who)
    settings = services(request).settings
    documents = [e for e in entries if e.kind == "document"]
    products = [e for e in entries if e.kind == "product"]
    size = sum(e.size for e in documents if e.available)
    return render(request, "engagement/briefcase.html", {
        "documents": documents, "products": products, "count": len(entries),
        "size": size, "max_bytes": settings.briefcase_max_bytes, "too_big": size > settings.briefcase_max_bytes,
        "mailed": request.query_params.get("mailed") == "1", "link_days": LINK_DAYS,
    })


async def add_form(request: Request) -> Response:
    """POST kind and id (the toggle without JavaScript); back to the page it came from."""
    who = require(principal(request))
    kind, target = _target(await read_input(request))
    total = await _add(request, who, kind, target)
    if not wants_json(request):
        return RedirectResponse(back(request, "/me/briefcase"), status_code=303)
    return JSONResponse({"kind": kind, "id": target, "in_briefcase": True, "count": total}, status_code=201)


async def remove_form(request: Request) -> Response:
    who = require(principal(request))
    kind, target = _target(await read_input(request))
    total = await _remove(request, who, kind, target)
    if not wants_json(request):
        return RedirectResponse(back(request, "/me/briefcase"), status_code=303)
    return JSONResponse({"kind": kind, "id": target, "in_briefcase": False, "count": total})


# --- JSON --------------------------------------------------------------------------------------------


async def api_briefcase(request: Request) -> Response:
    """What the signed-in visitor holds (ids by kind, for the toggles and the navigation's count)."""
    who = require(principal(request))
    async with services(request).db.session() as session:
        held = await briefcase.marked(session, who.user_id)
    return JSONResponse({
        "count": sum(len(ids) for ids in held.values()),
        "items": {kind: sorted(ids) for kind, ids in held.items()},
    })


async def api_add(request: Request) -> Response:
    who = require(principal(request))
    kind, target = _target(await read_input(request))
    total = await _add(request, who, kind, target)
    return JSONResponse({"kind": kind, "id": target, "in_briefcase": True, "count": total}, status_code=201)


async def api_remove(request: Request) -> Response:
    who = require(principal(request))
    kind = briefcase.check_kind(request.path_params["kind"])
    target = path_int(request, "target_id")
    total = await _remove(request, who, kind, target)
    return JSONResponse({"kind": kind, "id": target, "in_briefcase": False, "count": total})


# --- taking it away ----------------------------------------------------------------------------------


def _index_html(request: Request, entries: list[Entry], plan: list[briefcase.ZipFile], missing: set[str]) -> str:
    values = base_context(request)
    values.update(
        products=[e for e in entries if e.kind == "product" and e.available],
        files=[f for f in plan if f.key not in missing],
        missing=[f for f in plan if f.key in missing],
        made=dt.datetime.now(dt.UTC),
    )
    return env.get_template("engagement/briefcase_index.html").render(values)


async def _zip_body(store: ObjectStore, index: str, plan: list[briefcase.ZipFile], missing: set[str]) -> AsyncIterator[bytes]:
    out = ZipStream()
    async for data in out.text("index.html", index):
        yield data
    for item in plan:
        if item.key in missing:
            continue
        async for data in out.file(item.path, store.iter_chunks(item.key)):
            yield data
    yield out.close()


async def briefcase_zip(request: Request) -> Response:
    """Everything as one ZIP, streamed; refused (413) with the figures when the documents are too big."""
    who = require(principal(request))
    svc = services(request)
    lang = language(request)
    async with svc.db.session() as session:
        entries = await briefcase.contents(session, who)
    plan = briefcase.zip_plan(entries, language=lang, max_bytes=svc.settings.briefcase_max_bytes)
    # A file gone from storage is listed in the index as missing rather than breaking the ZIP half-way.
    missing = {item.key for item in plan if await svc.store.head(item.key) is None}
    index = _index_html(request, entries, plan, missing)
    name = f"cloudexpo-briefcase-{dt.datetime.now(dt.UTC):%Y%m%d}.zip"
    return StreamingResponse(
        _zip_body(svc.store, index, plan, missing), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _absolute(public_url: str, url: str) -> str:
    return public_url + url if url.startswith("/") else url


def briefcase_mail(request: Request, who: Principal, entries: list[Entry], store: ObjectStore) -> Mail:
    """The e-mail: each document as a signed link valid for :data:`LINK_DAYS` days, each product's page."""
    values = base_context(request)
    public_url = services(request).settings.resolved_public_url
    expires = LINK_DAYS * 24 * 3600
    lang = values["lang"]
    links: list[dict[str, Any]] = []
    for entry in entries:
        if not entry.available or entry.booth is None:
            continue
        title = values["loc"](entry.name).text or (entry.asset.filename if entry.asset else "")
        if entry.asset is not None:
            url = store.get_url(entry.asset.key, expires, filename=briefcase.safe_name(entry.asset.filename),
                                content_type=entry.asset.content_type)
        else:
            url = f"/products/{entry.target_id}"
        links.append({
            "kind": entry.kind, "title": title, "url": _absolute(public_url, url),
            "booth": f"{entry.booth.number} {values['loc'](entry.booth.name).text}",
            "booth_url": f"{public_url}/booths/{entry.booth.number}",
        })
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires)
    values.update(links=links, until=until, public_url=public_url, briefcase_url=f"{public_url}/me/briefcase")
    html = env.get_template("engagement/briefcase_mail.html").render(values)
    _ = values["_"]
    lines = [_("Your briefcase from Cloud Expo"), ""]
    for link in links:
        lines += [f"- {link['title']} ({link['booth']})", f"  {link['url']}"]
    lines += ["", _("The document links work until %(until)s.") % {"until": values["local"](until)},
              f"{_('Your briefcase')}: {public_url}/me/briefcase"]
    return Mail(to=who.email, to_name=who.display_name, subject=_("Your briefcase from Cloud Expo"),
                text="\n".join(lines) + "\n", html=html, headers={"Content-Language": lang})


async def mail_briefcase(request: Request) -> Response:
    """Send the briefcase to the visitor's own address (never to another one)."""
    who = require(principal(request))
    svc = services(request)
    async with svc.db.session() as session:
        entries = await briefcase.contents(session, who)
    if not any(e.available for e in entries):
        raise Invalid(briefcase.EMPTY(), "briefcase")
    try:
        await notifier(request).mailer.send(briefcase_mail(request, who, entries, svc.store))
    except MailError:
        log.exception("the briefcase mail to user %s failed", who.user_id)
        raise ApiError(503, MAIL_FAILED()) from None
    if not wants_json(request):
        return RedirectResponse("/me/briefcase?mailed=1", status_code=303)
    return JSONResponse({"sent": True, "to": who.email}, status_code=202)


routes: list[BaseRoute] = [
    Route("/me/briefcase", briefcase_page, methods=["GET"], name="briefcase"),
    Route("/me/briefcase", add_form, methods=["POST"], name="briefcase_add_form"),
    Route("/me/briefcase/remove", remove_form, methods=["POST"], name="briefcase_remove_form"),
    Route("/me/briefcase.zip", briefcase_zip, methods=["GET"], name="briefcase_zip"),
    Route("/me/briefcase/mail", mail_briefcase, methods=["POST"], name="briefcase_mail"),
    Route("/api/briefcase", api_briefcase, methods=["GET"], name="api_briefcase"),
    Route("/api/briefcase", api_add, methods=["POST"], name="api_briefcase_add"),
    Route("/api/briefcase/{kind}/{target_id:int}", api_remove, methods=["DELETE"], name="api_briefcase_remove"),
]
