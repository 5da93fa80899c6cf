"""Jinja2 pages: one environment, a context every page gets, and :func:`render`.

Every page can use, besides the request's ``lang``, ``principal``,
``csrf_token`` and ``timezone``: ``loc(values)`` (a per-language text in the
visitor's language, see :func:`cloudexpo.i18n.pick`), ``local(moment, fmt)``
(a time in the exhibition's time zone), ``iso(moment)``, ``rich(html)`` (rich
text re-sanitised), and the catalogues ``INDUSTRIES`` and ``REGIONS``. Times
are shown with the ``when`` filter (``{{ start|when(end) }}``, see
:mod:`web.times`): the exhibition's zone, the date whenever it is not today.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from booths.exhibition.catalog import INDUSTRIES, REGIONS
from booths.exhibition.text import sanitize_html
from booths.media.views import for_language
from cloudexpo.i18n import LANGUAGE_NAMES, LANGUAGES, pick
from cloudexpo.messages import Said
from cloudexpo.values import local_text
from streaming.schedule import on_air, shown_state
from web import context, navigation
from web.i18n import gettext_for, translate
from web.times import jinja_when, page_zone, when_text

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@cache
def static_version(path: str) -> str:
    """A short content hash, so static files can be cached for a year."""
    try:
        return hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(path: str) -> str:
    return f"/static/{path}?v={static_version(path)}"


def here(request: Request) -> str:
    """This page's path and query, without ``lang`` (the language switch sets that)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + ("?" + urlencode(query) if query else "")


def _format_datetime(value: dt.datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return local_text(value, tz, fmt)


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value else ""


@lru_cache(maxsize=2048)
def rich(html: str | None) -> Markup:
    """Rich text re-sanitised for a page (pure, so remembered: booth descriptions are read far more than written)."""
    return Markup(sanitize_html(html or ""))


env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html", "xml", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
    # Templates ship with the code: no stat() of every template, import and include on each render.
    # Restart the server after editing one.
    auto_reload=False,
)
env.globals.update(here=here, static=static_url, LANGUAGES=LANGUAGES, LANGUAGE_NAMES=LANGUAGE_NAMES,
                   INDUSTRIES=INDUSTRIES, REGIONS=REGIONS, rich=rich, iso=_iso,
                   for_language=for_language)
# {{ moment|when }}, {{ start|when(end) }}: the one way pages show a time (web/times.py).
env.filters["when"] = jinja2.pass_context(jinja_when)


def base_context(request: Request) -> dict[str, Any]:
    lang = context.language(request)
    translation = gettext_for(lang)
    settings = context.services(request).settings
    who = context.principal(request)
    path = request.url.path
    return {
        "request": request,
        "lang": lang,
        "_": lambda text: translate(text, lang) if isinstance(text, Said) else translation.gettext(text),
        "ngettext": translation.ngettext,
        "principal": who,
        "nav_items": navigation.items(navigation.MAIN, path, translation.gettext),
        "workspace_items": navigation.items(navigation.workspace_for(who), path, translation.gettext),
        "moderation_items": navigation.items(navigation.MODERATION, path, translation.gettext) if who.is_moderator else [],
        "csrf_token": context.csrf_token(request),
        "timezone": settings.timezone,
        "public_url": settings.resolved_public_url,
        "request_id": request.scope.get("state", {}).get("request_id", ""),
        "loc": lambda values: pick(values, lang),
        # a slot is shown live only while on air: never past its end plus the overrun (streaming.schedule.on_air)
        "on_air": lambda slot: on_air(slot, dt.timedelta(minutes=settings.overrun_minutes)),
        "shown_state": lambda slot: shown_state(slot, dt.timedelta(minutes=settings.overrun_minutes)),
        # local(moment) writes it as |when does ("15:30", "Mon, Dec 7 15:30"); a format gives an absolute
        # text instead (e-mails and downloads, read on another day)
        "local": lambda value, fmt=None: (when_text(value, zone=page_zone(settings.timezone), lang=lang) if fmt is None
                                          else _format_datetime(value, settings.timezone, fmt)),
    }


def template_values(ctx: Mapping[str, Any] | DataclassInstance | None) -> dict[str, Any]:
    """A page context (``web.page_contexts``) or a dict as the template's names."""
    if ctx is None:
        return {}
    if is_dataclass(ctx):
        return {f.name: getattr(ctx, f.name) for f in fields(ctx) if f.metadata.get("template", True)}
    return dict(ctx)


def render(
    request: Request,
    template: str,
    ctx: Mapping[str, Any] | DataclassInstance | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **more: Any,
) -> HTMLResponse:
    """The page: ``base_context``, then ``ctx`` (a page context or a dict), then ``more``."""
    values = base_context(request)
    values.update(template_values(ctx))
    values.update(more)
    html = env.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers.setdefault("Cache-Control", "no-cache")
    response.headers["Content-Language"] = values["lang"]
    return response
