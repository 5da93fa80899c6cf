"""Security headers on every response: a page, an API answer, a storage object, the go-live page.

The browser side (no CSP violation on any page the browser tests open) is
checked by ``tests/browser_support.chromium``, which fails a test whose pages
report one.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloudexpo.app import Runtime, create_app
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from tests.live_support import make_slot

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_page_headers(response: httpx.Response) -> dict[str, list[str]]:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (name, response.headers.get(name))
    csp = directives(response.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"], csp["script-src"]  # no inline script, no eval
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "'self'" in csp["connect-src"] and "blob:" in csp["media-src"]
    policy = response.headers["permissions-policy"]
    assert "camera=()" in policy and "microphone=()" in policy
    return csp


async def test_a_page_and_an_api_answer_carry_the_headers(client: Any, services: Services) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    csp = assert_page_headers(page)
    if services.settings.storage_url:  # S3: presigned media come straight from the endpoint
        endpoint = services.store.get_url("x").split("/")[2]
        assert any(endpoint in source for source in csp["media-src"]), csp["media-src"]
        assert any(endpoint in source for source in csp["connect-src"]), csp["connect-src"]
    assert_page_headers(await client.get("/api/me"))
    refused = await client.http.post("/api/session", json={})  # refused by the CSRF check, early
    assert refused.status_code == 403
    assert_page_headers(refused)
    assert "strict-transport-security" not in page.headers  # plain http here


async def test_the_500_page_carries_the_headers(runtime: Runtime) -> None:
    """A bug no handler takes is answered by Starlette's outermost layer: headers and request id are still there."""
    from web.app import build_app

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug in a route")

    app = build_app(runtime, extra_routes=[Route("/broken", broken)])
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            page = await http.get("/broken", headers={"Accept": "text/html"})
            api = await http.get("/broken", headers={"Accept": "application/json"})
    finally:
        await runtime.close()
    assert page.status_code == 500 and "text/html" in page.headers["content-type"]
    assert api.status_code == 500 and api.json()["error"] == "server_error"
    for response in (page, api):
        assert_page_headers(response)
        assert re.fullmatch(r"[0-9a-f]{16}", response.headers["x-request-id"])


async def test_storage_objects_are_never_sniffed_and_run_nothing(client: Any, services: Services) -> None:
    await services.store.put_bytes("booths/1/evil.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml")
    url = services.store.get_url("booths/1/evil.svg")
    response = await client.fetch_media(url)
    assert response.status_code == 200
    if url.startswith("/") or url.startswith("http://testserver"):  # served by the app (local store)
        assert response.headers["x-content-type-options"] == "nosniff"
        csp = directives(response.headers["content-security-policy"])
        assert "sandbox" in csp and csp["default-src"] == ["'none'"]


async def test_camera_and_microphone_only_on_the_go_live_page(signed_in: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, start_in=dt.timedelta(minutes=30))
    staff = await signed_in("exhibitor", 70)
    golive = await staff.get(f"/dashboard/live/{slot_id}")
    assert golive.status_code == 200
    policy = golive.headers["permissions-policy"]
    assert "camera=(self)" in policy and "microphone=(self)" in policy and "display-capture=(self)" in policy
    assert "geolocation=()" in policy
    for other in ("/", f"/live/{slot_id}", "/dashboard/live"):
        response = await staff.get(other)
        assert response.status_code == 200, other
        assert "camera=()" in response.headers["permissions-policy"], other


async def test_hsts_when_the_public_url_is_https(settings: Settings) -> None:
    svc = Services.from_settings(settings.replace(public_url="https://expo.example.org"))
    try:
        app = create_app(svc.settings, services=svc)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://expo.example.org") as http:
            response = await http.get("/healthz")
    finally:
        await svc.db.close()
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_templates_hold_no_inline_script_or_event_handler() -> None:
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
    handler = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
    found = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        found += [f"{path.name}: {m.group()}" for m in inline_script.finditer(text)]
        found += [f"{path.name}: {m.group()[:60]}" for m in handler.finditer(text)]
    assert not found, found
