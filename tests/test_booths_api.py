"""Exhibition pages and JSON: what each asker sees and may do, bad input, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from cloudexpo.services import Services
from tests.test_booths_support import make_expo

PAGES = ["/", "/map", "/zones/innovation", "/booths/1A-001", "/search?q=%E6%B1%BD%E8%BD%A6"]


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
async def test_visitor_pages(client: Any, services: Services, lang: str) -> None:
    expo = await make_expo(services)
    for url in [*PAGES, f"/products/{expo.products['1A-001']}"]:
        sep = "&" if "?" in url else "?"
        response = await client.get(f"{url}{sep}lang={lang}")
        assert response.status_code == 200, (url, response.text[:300])
        assert response.headers["content-language"] == lang
    booth = await client.get(f"/booths/1A-002?lang={lang}")
    # 1A-002 is written only in Traditional Chinese: other languages see it marked
    assert ("fallback-lang" in booth.text) == (lang != "zh-Hant")
    home = await client.get(f"/?lang={lang}")
    assert "/booths/1A-001" in home.text and "/booths/1A-003" not in home.text


async def test_map_is_keyboard_and_list_friendly(client: Any, services: Services) -> None:
    await make_expo(services)
    page = (await client.get("/map")).text
    assert page.count('class="map-zone" role="link" tabindex="0"') == 5
    assert 'href="/booths/1A-001" class="map-booth" role="link" tabindex="0" aria-label="1A-001' in page
    assert 'id="map-list"' in page
    assert "/booths/1A-003" not in page and "/booths/2B-001" not in page


async def test_booth_by_id_and_number_and_unknown(client: Any, services: Services) -> None:
    expo = await make_expo(services)
    by_id = (await client.get(f"/api/booths/{expo.booths['1A-001']}")).json()
    by_number = (await client.get("/api/booths/1a-001")).json()
    assert by_id["id"] == by_number["id"] and by_id["products"][0]["name"]["en"] == "Battery-electric saloon"
    assert "published" not in by_id  # management fields are for staff and moderators
    missing = await client.get("/api/booths/9Z-999")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert (await client.get("/booths/9Z-999")).status_code == 404


# --- who may do what ------------------------------------------------------------------------

ROLES = ["anonymous", "visitor", "own", "other", "moderator"]


async def _as(role: str, expo: Any, client: Any, signed_in: Any) -> Any:
    if role == "anonymous":
        return client
    if role == "visitor":
        return await signed_in("visitor")
    if role == "own":
        return await signed_in("exhibitor", expo.exhibitors["1A-001"])
    if role == "other":
        return await signed_in("exhibitor", expo.exhibitors["1A-002"])
    return await signed_in("moderator")


@pytest.mark.parametrize("role", ROLES)
async def test_edit_booth_refusals(role: str, client: Any, signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    who = await _as(role, expo, client, signed_in)
    booth_id = expo.booths["1A-001"]
    response = await who.patch(f"/api/booths/{booth_id}", json={"tagline": {"en": "Edited"}})
    expected = {"anonymous": 401, "visitor": 403, "own": 200, "other": 403, "moderator": 200}[role]
    assert response.status_code == expected, response.text
    product = await who.post(f"/api/booths/{booth_id}/products", json={"name": {"en": "New car"}})
    assert product.status_code == {200: 201}.get(expected, expected)
    delete = await who.delete(f"/api/products/{expo.products['1A-001']}")
    assert delete.status_code == {200: 204}.get(expected, expected)
    hide = await who.post(f"/api/booths/{booth_id}/visibility", json={"hidden": True, "reason": "Check"})
    assert hide.status_code == {"anonymous": 401, "moderator": 200}.get(role, 403)


@pytest.mark.parametrize("role", ROLES)
async def test_unpublished_and_hidden_booths(role: str, client: Any, signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    who = await _as(role, expo, client, signed_in)
    # make 1A-001 unpublished through its own staff
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    assert (await staff.patch(f"/api/booths/{expo.booths['1A-001']}", json={"published": False})).status_code == 200
    seen = {"own": 200, "moderator": 200}.get(role, 404)
    assert (await who.get("/booths/1A-001")).status_code == seen
    assert (await who.get("/api/booths/1A-001")).status_code == seen
    assert (await who.get(f"/products/{expo.products['1A-001']}")).status_code == seen
    listed = (await who.get("/api/booths")).json()["booths"]
    assert ("1A-001" in {b["number"] for b in listed}) == (seen == 200)
    # hidden by a moderator: only moderators (and that booth's staff) see it
    assert (await who.get("/booths/2B-001")).status_code == (200 if role == "moderator" else 404)
    if seen == 404:
        edit = await who.patch(f"/api/booths/{expo.booths['1A-001']}", json={"tagline": {"en": "x"}})
        assert edit.status_code == 404


async def test_moderator_pages_refuse_others(client: Any, signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    for role in ROLES:
        who = await _as(role, expo, client, signed_in)
        for url in ("/moderate/applications", "/moderate/booths", "/moderate/map", "/moderate/users"):
            response = await who.get(url, follow_redirects=False)
            expected = {"anonymous": 303, "moderator": 200}.get(role, 403)
            assert response.status_code == expected, (role, url)
        assert (await who.get("/api/users")).status_code == {"anonymous": 401, "moderator": 200}.get(role, 403)
        zone = await who.patch(f"/api/zones/{expo.zones['innovation']}", json={"map_x": 25})
        assert zone.status_code == {"anonymous": 401, "moderator": 200}.get(role, 403)


async def test_dashboard_pages(client: Any, signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    assert (await client.get("/dashboard", follow_redirects=False)).status_code == 303
    own = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    page = await own.get("/dashboard")
    assert page.status_code == 200 and f"/dashboard/booths/{expo.booths['1A-001']}" in page.text
    assert (await own.get(f"/dashboard/booths/{expo.booths['1A-001']}")).status_code == 200
    assert (await own.get(f"/dashboard/booths/{expo.booths['1A-002']}")).status_code == 403
    saved = await own.post(
        f"/dashboard/booths/{expo.booths['1A-001']}",
        data={"csrf_token": own.csrf, "name_zh_hans": "比亚迪", "name_en": "BYD", "tagline_en": "Edited here"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "Edited here" in (await own.get("/booths/1A-001?lang=en")).text
    new = await own.post(
        f"/dashboard/booths/{expo.booths['1A-001']}/products/new",
        data={"csrf_token": own.csrf, "name_en": "", "spec_label_0": "Range", "spec_value_0": "600 km"},
    )
    assert new.status_code == 422 and "name" in new.text
    preview = await own.get("/booths/1A-001?preview=1")
    assert "Preview" in preview.text or "预览" in preview.text


# --- bad input ---------------------------------------------------------------------------------

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def test_html_in_every_text_field_is_neutralised(signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    own = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    booth_id = expo.booths["1A-001"]
    response = await own.patch(f"/api/booths/{booth_id}", json={
        "name": {"en": SCRIPT, "zh-Hans": SCRIPT},
        "tagline": {"en": SCRIPT},
        "description": {"en": f'<p onclick="x()">Hi {SCRIPT}<a href="javascript:alert(1)">j</a><a href="https://example.org">ok</a></p>'},
    })
    assert response.status_code == 200, response.text
    stored = response.json()["description"]["en"]
    assert "<script" not in stored and "onclick" not in stored and "javascript:" not in stored and "onerror" not in stored
    assert 'rel="noopener noreferrer"' in stored
    product = await own.post(f"/api/booths/{booth_id}/products", json={
        "name": {"en": SCRIPT}, "description": {"en": SCRIPT}, "specifications": [{"label": SCRIPT, "value": SCRIPT}],
    })
    assert product.status_code == 201
    for lang in ("en", "zh-Hans"):
        for url in ("/booths/1A-001", f"/products/{product.json()['id']}", "/map", "/zones/innovation", "/",
                    "/search?q=script"):
            sep = "&" if "?" in url else "?"
            html = (await own.get(f"{url}{sep}lang={lang}")).text
            assert "<script>alert" not in html and "<img src=x" not in html, url
    assert "&lt;script&gt;" in (await own.get("/booths/1A-001?lang=en")).text


async def test_missing_and_wrong_fields_are_named(signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    own = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    booth_id = expo.booths["1A-001"]
    cases = [
        (f"/api/booths/{booth_id}/products", {"description": {"en": "x"}}, "name"),
        (f"/api/booths/{booth_id}/products", {"name": {"fr": "voiture"}}, "name"),
        (f"/api/booths/{booth_id}/products", {"name": {"en": "x"}, "specifications": [{"label": "a"}]}, "specifications.0.value"),
        (f"/api/booths/{booth_id}/products", {"name": {"en": "x" * 500}}, "name.en"),
    ]
    for url, body, field in cases:
        response = await own.post(url, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    response = await own.patch(f"/api/booths/{booth_id}", json={"name": {}})
    assert response.status_code == 422 and response.json()["field"] == "name"
    response = await own.patch(f"/api/booths/{booth_id}", json={"name": "just text"})
    assert response.status_code == 422 and response.json()["field"] == "name"


# --- OpenAPI ---------------------------------------------------------------------------------


async def test_openapi_document_and_real_responses(client: Any, signed_in: Any, make_user: Any, services: Services) -> None:
    expo = await make_expo(services)
    doc = (await client.get("/api/openapi.json")).json()
    validate(doc)

    def check(template: str, method: str, status: int, body: Any) -> None:
        schema = doc["paths"][template][method]["responses"][str(status)]["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": doc["components"]}).validate(body)

    moderator = await signed_in("moderator")
    visitor = await signed_in("visitor")
    calls: list[tuple[Any, str, str, str, int, Any]] = [
        (client, "get", "/api/halls", "/api/halls", 200, None),
        (client, "get", "/api/zones", "/api/zones", 200, None),
        (client, "get", "/api/zones/innovation", "/api/zones/{ref}", 200, None),
        (client, "get", "/api/booths?zone=innovation&has_products=true", "/api/booths", 200, None),
        (client, "get", "/api/booths/1A-001", "/api/booths/{ref}", 200, None),
        (client, "get", f"/api/booths/{expo.booths['1A-001']}/products", "/api/booths/{booth_id}/products", 200, None),
        (client, "get", f"/api/products/{expo.products['1A-001']}", "/api/products/{product_id}", 200, None),
        (client, "get", "/api/search?q=%E6%B1%BD%E8%BD%A6", "/api/search", 200, None),
        (client, "get", "/api/catalog", "/api/catalog", 200, None),
        (client, "get", "/api/booths/9Z-999", "/api/booths/{ref}", 404, None),
        (moderator, "patch", f"/api/booths/{expo.booths['1A-001']}", "/api/booths/{ref}", 200, {"tagline": {"en": "x"}}),
        (moderator, "patch", f"/api/booths/{expo.booths['1A-001']}", "/api/booths/{ref}", 422, {"name": {}}),
        (moderator, "post", f"/api/booths/{expo.booths['1A-001']}/products", "/api/booths/{booth_id}/products", 201,
         {"name": {"en": "Car"}, "specifications": [{"label": {"en": "Range"}, "value": "600 km"}]}),
        (moderator, "post", f"/api/booths/{expo.booths['1A-001']}/visibility", "/api/booths/{booth_id}/visibility", 200,
         {"hidden": False}),
        (moderator, "get", "/api/users", "/api/users", 200, None),
        (visitor, "post", "/api/applications", "/api/applications", 201, {
            "organisation": "成都测试有限公司", "region": "sichuan", "industry": "services", "zone": "innovation",
            "contact_name": "张三", "contact_phone": "+86 28 1234 5678", "contact_email": "a@example.org"}),
        (visitor, "get", "/api/applications", "/api/applications", 200, None),
        (client, "post", "/api/applications", "/api/applications", 401, {}),
    ]
    for who, method, url, template, status, body in calls:
        response = await getattr(who, method)(url, **({"json": body} if body is not None else {}))
        assert response.status_code == status, (url, response.text)
        check(template, method, status, response.json())
