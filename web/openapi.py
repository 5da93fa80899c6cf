"""The OpenAPI 3.1 document at ``/api/openapi.json``: one base merged with per-area fragments.

Each area adds its paths and schemas by defining ``OPENAPI = {"paths": {...},
"components": {"schemas": {...}}}`` in its route module (``web/routes/<area>.py``);
:func:`document` finds every such fragment and merges it with the exhibition's
own (below). Schemas use JSON Schema 2020-12, as OpenAPI 3.1 does, so tests
validate real responses against them with ``jsonschema``.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import web.routes


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "401": json_body(ref("Error"), "Not signed in"),
    "403": json_body(ref("Error"), "Not allowed"),
    "404": json_body(ref("Error"), "Not found (or not visible to you)"),
    "409": json_body(ref("Error"), "Not now: the state forbids it, or (`overlap`) another slot is in the way: `clash` names it"),
    "422": json_body(ref("Error"), "Invalid input; `field` names it"),
}


def param(name: str, where: str = "query", schema: dict[str, Any] | None = None, description: str = "", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema or {"type": "string"},
            "description": description}


def op(summary: str, response: dict[str, Any] | None, *, status: str = "200", params: list[dict[str, Any]] | None = None,
       body: dict[str, Any] | None = None, errors: tuple[str, ...] = ("404",), tags: tuple[str, ...] = ("exhibition",)) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary, "tags": list(tags), "responses": {}}
    if response is None:
        out["responses"][status] = {"description": "Done"}
    else:
        out["responses"][status] = json_body(response)
    for code in errors:
        out["responses"][code] = ERRORS[code]
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return out


LOCALIZED = {
    "type": "object",
    "description": "Text per language; missing languages fall back to another (zh-Hans ↔ zh-Hant, then en).",
    "properties": {"zh-Hans": {"type": "string"}, "zh-Hant": {"type": "string"}, "en": {"type": "string"}},
    "additionalProperties": False,
}
MAP_POINT = {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}, "required": ["x", "y"]}
MAP_RECT = {"type": "object", "properties": {k: {"type": "integer"} for k in "xywh"}, "required": list("xywh")}
BOOL_FILTER = {"type": "string", "enum": ["true", "false", "1", "0"]}
ID = {"type": "integer"}
NULLABLE_STR = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "detail"], "properties": {
        "error": {"type": "string"}, "detail": {"type": "string"}, "field": {"type": "string"}}},
    "Localized": LOCALIZED,
    "ZoneRef": {"type": "object", "required": ["id", "slug", "name"], "properties": {
        "id": ID, "slug": {"type": "string"}, "name": ref("Localized")}},
    "Zone": {"type": "object", "required": ["id", "hall_id", "slug", "code", "kind", "name", "map", "url"], "properties": {
        "id": ID, "hall_id": ID, "slug": {"type": "string"}, "code": {"type": "string"},
        "kind": {"type": "string", "enum": ["preface", "theme"]}, "name": ref("Localized"), "description": ref("Localized"),
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}, "url": {"type": "string"}, "map": MAP_RECT,
        "booth_count": {"type": "integer", "minimum": 0}}},
    "Hall": {"type": "object", "required": ["id", "code", "name", "map"], "properties": {
        "id": ID, "code": {"type": "string"}, "name": ref("Localized"), "description": ref("Localized"), "map": MAP_RECT,
        "zones": {"type": "array", "items": ref("Zone")}}},
    "Exhibitor": {"type": "object", "required": ["id", "name", "region", "industry"], "properties": {
        "id": ID, "name": ref("Localized"), "region": {"type": "string"}, "industry": {"type": "string"},
        "website": {"type": "string"}}},
    "Specification": {"type": "object", "required": ["label", "value"], "properties": {
        "label": ref("Localized"), "value": {"type": "string"}}},
    "Product": {"type": "object", "required": ["id", "booth_id", "name", "description", "specifications", "url"], "properties": {
        "id": ID, "booth_id": ID, "booth_number": {"type": "string"}, "name": ref("Localized"),
        "description": {**LOCALIZED, "description": "Sanitised HTML per language"},
        "specifications": {"type": "array", "items": ref("Specification")}, "position": {"type": "integer"},
        "url": {"type": "string"}, "media": {"type": "array", "items": {"type": "object"}}}},
    "Booth": {"type": "object", "required": ["id", "number", "url", "zone", "exhibitor", "name", "tagline", "description",
                                             "has_video", "map"], "properties": {
        "id": ID, "number": {"type": "string", "pattern": "^[0-9][A-Z]-[0-9]{3}$"}, "url": {"type": "string"},
        "zone": ref("ZoneRef"), "exhibitor": ref("Exhibitor"), "name": ref("Localized"), "tagline": ref("Localized"),
        "description": {**LOCALIZED, "description": "Sanitised HTML per language"},
        "featured": {"type": "boolean"}, "has_video": {"type": "boolean"}, "map": MAP_POINT,
        "logo": NULLABLE_STR, "updated_at": {"type": "string", "format": "date-time"},
        "product_count": {"type": "integer"},
        "published": {"type": "boolean", "description": "Only for the booth's staff and moderators"},
        "hidden": {"type": "boolean"}, "hidden_reason": {"type": "string"}}},
    "BoothDetail": {"allOf": [ref("Booth"), {"type": "object", "required": ["products", "media", "staff"], "properties": {
        "products": {"type": "array", "items": ref("Product")},
        "media": {"type": "object", "description": "Asset views by kind (logo, banner, image, video, document)",
                  "additionalProperties": {"type": "array", "items": {"type": "object"}}},
        "staff": {"type": "array", "items": {"type": "object", "properties": {"display_name": {"type": "string"}}}}}}]},
    "BoothList": {"type": "object", "required": ["total", "booths"], "properties": {
        "total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "booths": {"type": "array", "items": ref("Booth")}}},
    "BoothEdit": {"type": "object", "properties": {
        "name": ref("Localized"), "tagline": ref("Localized"),
        "description": {**LOCALIZED, "description": "HTML; kept: p, br, strong, em, ul, ol, li, h3, h4, a[href]"},
        "published": {"type": "boolean"}}},
    "ProductEdit": {"type": "object", "required": ["name"], "properties": {
        "name": ref("Localized"), "description": ref("Localized"),
        "specifications": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"oneOf": [{"type": "string"}, ref("Localized")]}, "value": {"type": "string"}}}}}},
    "SearchHit": {"type": "object", "required": ["kind", "url", "booth", "exhibitor", "zone", "highlights"], "properties": {
        "kind": {"type": "string", "enum": ["booth", "product"]}, "url": {"type": "string"},
        "booth": {"type": "object", "required": ["id", "number", "name", "url"], "properties": {
            "id": ID, "number": {"type": "string"}, "name": ref("Localized"), "tagline": ref("Localized"),
            "url": {"type": "string"}, "has_video": {"type": "boolean"}}},
        "exhibitor": ref("Exhibitor"), "zone": ref("ZoneRef"),
        "product": {"oneOf": [ref("Product"), {"type": "null"}]},
        "highlights": {"type": "object", "description": "Escaped HTML with matches in <mark>, in the asker's language when it matches",
                       "additionalProperties": {"type": "string"}}}},
    "SearchResults": {"type": "object", "required": ["query", "terms", "total", "results"], "properties": {
        "query": {"type": "string"}, "terms": {"type": "array", "items": {"type": "string"}},
        "total": {"type": "integer"}, "total_capped": {"type": "boolean"},
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "results": {"type": "array", "items": ref("SearchHit")}}},
    "ApplicationInput": {"type": "object",
                         "required": ["organisation", "region", "industry", "zone", "contact_name", "contact_phone", "contact_email"],
                         "properties": {
        "organisation": {"type": "string", "maxLength": 200}, "organisation_en": {"type": "string", "maxLength": 200},
        "region": {"type": "string"}, "industry": {"type": "string"}, "zone": {"type": ["string", "integer"]},
        "description": {"type": "string", "maxLength": 4000}, "contact_name": {"type": "string"},
        "contact_phone": {"type": "string"}, "contact_email": {"type": "string", "format": "email"}}},
    "Application": {"type": "object", "required": ["id", "organisation", "region", "industry", "zone_id", "state", "reason"],
                    "properties": {
        "id": ID, "user_id": ID, "organisation": {"type": "string"}, "organisation_en": {"type": "string"},
        "region": {"type": "string"}, "industry": {"type": "string"}, "zone_id": ID, "zone": NULLABLE_STR,
        "description": {"type": "string"}, "contact_name": {"type": "string"}, "contact_phone": {"type": "string"},
        "contact_email": {"type": "string"}, "state": {"type": "string", "enum": ["pending", "approved", "rejected"]},
        "reason": {"type": "string"}, "decided_at": NULLABLE_STR, "exhibitor_id": {"type": ["integer", "null"]},
        "booth_id": {"type": ["integer", "null"]}, "created_at": {"type": "string"}}},
    "User": {"type": "object", "required": ["id", "email", "role"], "properties": {
        "id": ID, "email": {"type": "string"}, "display_name": {"type": "string"},
        "role": {"type": "string", "enum": ["visitor", "exhibitor", "moderator", "admin"]},
        "exhibitor_id": {"type": ["integer", "null"]}, "active": {"type": "boolean"}}},
}

FILTERS = [
    param("zone", description="Zone id or slug"), param("industry"), param("region"),
    param("has_products", schema=BOOL_FILTER), param("has_video", schema=BOOL_FILTER),
]
PAGING = [param("limit", schema={"type": "integer", "minimum": 1}), param("offset", schema={"type": "integer", "minimum": 0})]
BOOTH_ID = param("booth_id", "path", {"type": "integer"})
PRODUCT_ID = param("product_id", "path", {"type": "integer"})
APPLICATION_ID = param("application_id", "path", {"type": "integer"})

EXHIBITION: dict[str, Any] = {
    "paths": {
        "/api/halls": {"get": op("Halls with their zones", {"type": "object", "required": ["halls"], "properties": {
            "halls": {"type": "array", "items": ref("Hall")}}}, errors=())},
        "/api/zones": {"get": op("Zones", {"type": "object", "required": ["zones"], "properties": {
            "zones": {"type": "array", "items": ref("Zone")}}}, params=[param("hall", schema={"type": "integer"})], errors=())},
        "/api/zones/{ref}": {
            "get": op("One zone by id or slug", ref("Zone"), params=[param("ref", "path")]),
            "patch": op("Change a zone and its place on the map (moderators; ref is the zone's id)", ref("Zone"),
                        params=[param("ref", "path")], body={"type": "object"}, errors=("401", "403", "404", "422")),
        },
        "/api/halls/{hall_id}": {"patch": op("Change a hall (moderators)", ref("Hall"),
                                             params=[param("hall_id", "path", {"type": "integer"})],
                                             body={"type": "object"}, errors=("401", "403", "404", "422"))},
        "/api/booths": {"get": op("Booths you may see, filtered", ref("BoothList"),
                                  params=[*FILTERS, param("hall", schema={"type": "integer"}),
                                          param("featured", schema=BOOL_FILTER), *PAGING], errors=("422",))},
        "/api/booths/{ref}": {
            "get": op("One booth by id or number (1A-012), with products, media and staff",
                      ref("BoothDetail"), params=[param("ref", "path")]),
            "patch": op("Change the booth's texts or publish it (its staff, moderators; ref is the booth's id)", ref("Booth"),
                        params=[param("ref", "path")], body=ref("BoothEdit"), errors=("401", "403", "404", "422")),
        },
        "/api/booths/{booth_id}/visibility": {"post": op("Hide or show a booth (moderators)", ref("Booth"), params=[BOOTH_ID],
                                                         body={"type": "object", "properties": {
                                                             "hidden": {"type": "boolean"}, "reason": {"type": "string"}}},
                                                         errors=("401", "403", "404", "422"))},
        "/api/booths/{booth_id}/products": {
            "get": op("The booth's products", {"type": "object", "required": ["products"], "properties": {
                "products": {"type": "array", "items": ref("Product")}}}, params=[BOOTH_ID]),
            "post": op("Add a product (its staff, moderators)", ref("Product"), status="201", params=[BOOTH_ID],
                       body=ref("ProductEdit"), errors=("401", "403", "404", "422")),
        },
        "/api/products/{product_id}": {
            "get": op("One product", ref("Product"), params=[PRODUCT_ID]),
            "patch": op("Change a product", ref("Product"), params=[PRODUCT_ID], body=ref("ProductEdit"),
                        errors=("401", "403", "404", "422")),
            "delete": op("Remove a product", None, status="204", params=[PRODUCT_ID], errors=("401", "403", "404")),
        },
        "/api/search": {"get": op("Search booths, exhibitors and products in every language", ref("SearchResults"),
                                  params=[param("q", description="Words; Simplified finds Traditional and back"), *FILTERS, *PAGING],
                                  errors=("422",))},
        "/api/catalog": {"get": op("Industries, regions and languages", {"type": "object", "required": ["industries", "regions"], "properties": {
            "industries": {"type": "object", "additionalProperties": ref("Localized")},
            "regions": {"type": "object", "additionalProperties": ref("Localized")},
            "languages": {"type": "array", "items": {"type": "string"}}}}, errors=())},
        "/api/applications": {
            "get": op("Your applications (moderators: everyone's)", {"type": "object", "required": ["applications"], "properties": {
                "applications": {"type": "array", "items": ref("Application")}}},
                params=[param("state", schema={"type": "string", "enum": ["pending", "approved", "rejected"]}),
                        param("mine", schema=BOOL_FILTER)], errors=("401",), tags=("applications",)),
            "post": op("Apply for a booth", ref("Application"), status="201", body=ref("ApplicationInput"),
                       errors=("401", "403", "422"), tags=("applications",)),
        },
        "/api/applications/{application_id}": {"get": op("One application (its applicant, moderators)", ref("Application"),
                                                         params=[APPLICATION_ID], errors=("401", "404"), tags=("applications",))},
        "/api/applications/{application_id}/approve": {"post": op(
            "Approve: creates the exhibitor and its booth, the applicant becomes its staff", ref("Application"),
            params=[APPLICATION_ID], errors=("401", "403", "404"), tags=("applications",))},
        "/api/applications/{application_id}/reject": {"post": op(
            "Reject with a reason the applicant sees", ref("Application"), params=[APPLICATION_ID],
            body={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1}}},
            errors=("401", "403", "404", "422"), tags=("applications",))},
        "/api/users": {"get": op("Accounts (moderators)", {"type": "object", "required": ["users"], "properties": {
            "users": {"type": "array", "items": ref("User")}}}, errors=("401", "403"), tags=("moderation",))},
        "/api/users/{user_id}/role": {"post": op("Change an account's role (moderators; admins for staff roles)", ref("User"),
                                                 params=[param("user_id", "path", {"type": "integer"})],
                                                 body={"type": "object", "required": ["role"], "properties": {
                                                     "role": {"type": "string"}, "exhibitor_id": {"type": ["integer", "null"]}}},
                                                 errors=("401", "403", "404", "422"), tags=("moderation",))},
        "/api/users/{user_id}/active": {"post": op(
            "Deactivate (no sign-in, every session ended) or reactivate an account (admins)", ref("User"),
            params=[param("user_id", "path", {"type": "integer"})],
            body={"type": "object", "required": ["active"], "properties": {"active": {"type": "boolean"}}},
            errors=("401", "403", "404", "422"), tags=("accounts",))},
        "/api/me/password": {"post": op(
            "Change one's password: every other session ends, this one gets a new session", None,
            body={"type": "object", "required": ["current_password", "new_password"], "properties": {
                "current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 8}}},
            errors=("401", "403", "422"), tags=("accounts",))},
        "/api/me/sessions": {"delete": op(
            "Sign out everywhere: every session of the account ends, this one included",
            {"type": "object", "required": ["signed_in", "sessions_ended"], "properties": {
                "signed_in": {"type": "boolean"}, "sessions_ended": {"type": "integer"}}},
            errors=("401", "403"), tags=("accounts",))},
    },
    "components": {"schemas": SCHEMAS},
}

BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Cloud Expo API",
        "version": "1",
        "description": "JSON under /api/. State-changing requests carry the session's CSRF token in X-CSRF-Token "
                       "(GET /api/me returns it). Errors are {error, detail, field?}.",
    },
    "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
    "paths": {},
    "components": {"schemas": {}},
}


def merge(into: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """Paths merge per method, schemas per name; a later fragment may not replace an earlier one's entry."""
    for path, methods in fragment.get("paths", {}).items():
        target = into["paths"].setdefault(path, {})
        for method, operation in methods.items():
            if method in target:
                raise ValueError(f"OpenAPI: {method.upper()} {path} is described twice")
            target[method] = operation
    for kind, items in fragment.get("components", {}).items():
        target = into["components"].setdefault(kind, {})
        for name, item in items.items():
            if name in target and target[name] != item:
                raise ValueError(f"OpenAPI: components.{kind}.{name} is described twice, differently")
            target[name] = item
    for tag in fragment.get("tags", []):
        into.setdefault("tags", []).append(tag)
    return into


def fragments() -> list[dict[str, Any]]:
    """The exhibition's fragment, then every ``OPENAPI`` of a ``web.routes`` module."""
    found = [EXHIBITION]
    for info in sorted(pkgutil.iter_modules(web.routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"web.routes.{info.name}")
        fragment = getattr(module, "OPENAPI", None)
        if isinstance(fragment, dict):
            found.append(fragment)
    return found


@cache
def document() -> dict[str, Any]:
    import copy

    doc = copy.deepcopy(BASE)
    for fragment in fragments():
        merge(doc, copy.deepcopy(fragment))
    return doc


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document(), headers={"Cache-Control": "public, max-age=300"})


routes: list[BaseRoute] = [Route("/api/openapi.json", openapi_json, methods=["GET"], name="openapi")]
