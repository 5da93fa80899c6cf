"""The HTTP skeleton: health, readiness, metrics, request ids, errors, sign-in, CSRF, roles."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudexpo.accounts import Role
from cloudexpo.permissions import (
    Forbidden,
    NotSignedIn,
    Principal,
    require,
    require_exhibitor_access,
)
from tests.conftest import PASSWORD, Client


async def test_health_and_readiness(client: Client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "storage": "ok", "bus": "ok"}


async def test_readiness_names_what_is_down(client: Client, services: Any) -> None:
    await services.db.engine.dispose()
    original = services.db.check

    async def broken() -> None:
        raise RuntimeError("database at db.internal does not answer")

    services.db.check = broken
    try:
        response = await client.get("/readyz")
    finally:
        services.db.check = original
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "unavailable"
    assert "database" in body["detail"]
    assert body["checks"]["storage"] == "ok"


async def test_metrics_are_prometheus_text(client: Client) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'cloudexpo_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    figures = dict(line.split(" ", 1) for line in response.text.splitlines() if line and not line.startswith("#"))
    assert float(figures["process_resident_memory_bytes"]) > 10e6 and float(figures["process_open_fds"]) > 3
    assert int(figures["cloudexpo_asyncio_tasks"]) >= 1 and figures["cloudexpo_peer_connections"] == "0"
    # the media path's counters are there before any broadcast (tests/test_cluster.py sees them count)
    for name in ("cloudexpo_media_packets_received_total", 'cloudexpo_media_receive_seconds_total{stage="read"}',
                 'cloudexpo_media_receive_seconds_total{stage="forward"}', "cloudexpo_recorder_cpu_seconds_total"):
        assert float(figures[name]) >= 0, name
    assert float(figures["cloudexpo_event_loop_cpu_seconds_total"]) > 0


async def test_every_response_has_a_request_id(client: Client) -> None:
    first = await client.get("/healthz")
    assert len(first.headers["x-request-id"]) == 16
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert hostile.headers["x-request-id"] != "<script>"


async def test_api_errors_are_json_and_pages_are_friendly_html(client: Client) -> None:
    api = await client.get("/api/does-not-exist")
    assert api.status_code == 404
    assert api.json() == {"error": "not_found", "code": "http.not_found", "message": "此地址没有内容。",
                          "detail": "There is nothing at this address."}
    page = await client.get("/does-not-exist", headers={"Accept": "text/html", "Accept-Language": "en"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "We could not find this page" in page.text
    zh = await client.get("/does-not-exist", headers={"Accept-Language": "zh-CN"})
    assert "找不到此页面" in zh.text
    hant = await client.get("/does-not-exist", headers={"Accept-Language": "zh-TW"})
    assert "找不到此頁面" in hant.text
    wrong_method = await client.http.put("/api/me", headers={"X-CSRF-Token": client.csrf})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


async def test_sign_up_sign_in_and_out_through_the_api(client: Client) -> None:
    created = await client.post("/api/users", json={"email": "Ada@Example.org", "password": PASSWORD, "display_name": "Ada"})
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "ada@example.org"
    assert created.json()["role"] == "visitor"
    me = await client.refresh_csrf()
    assert me["signed_in"] is True
    out = await client.delete("/api/session")
    assert out.status_code == 200
    assert (await client.refresh_csrf())["signed_in"] is False
    bad = await client.post("/api/session", json={"email": "ada@example.org", "password": "wrong password"})
    assert bad.status_code == 401
    assert bad.json()["error"] == "bad_credentials"
    good = await client.post("/api/session", json={"email": "ADA@example.org", "password": PASSWORD})
    assert good.status_code == 200
    assert good.json()["display_name"] == "Ada"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email", "e-mail address"),
        ({"email": "a@example.org", "password": "short"}, "password", "at least 8"),
        ({"email": "a@example.org"}, "password", "at least 8"),
    ],
)
async def test_bad_sign_up_says_what_to_fix_and_stores_nothing(client: Client, services: Any, body: dict[str, str], field: str, words: str) -> None:
    from cloudexpo.accounts import count_users

    response = await client.post("/api/users", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    async with services.db.session() as db:
        assert await count_users(db) == 0


async def test_duplicate_account_is_refused(client: Client, make_user: Any) -> None:
    email, _, _ = await make_user()
    response = await client.post("/api/users", json={"email": email, "password": PASSWORD})
    assert response.status_code == 422
    assert "already exists" in response.json()["detail"]


async def test_malformed_bodies_get_4xx_not_500(client: Client) -> None:
    not_json = await client.post("/api/session", content=b"{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["detail"]
    a_list = await client.post("/api/session", json=[1, 2])
    assert a_list.status_code == 400
    wrong_type = await client.post("/api/session", content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


async def test_csrf_is_required_for_state_changes(client: Client, make_user: Any) -> None:
    email, password, _ = await make_user()
    missing = await client.http.post("/api/session", json={"email": email, "password": password})
    assert missing.status_code == 403
    assert missing.json()["error"] == "csrf"
    assert "X-CSRF-Token" in missing.json()["detail"]
    wrong = await client.http.post("/api/session", json={"email": email, "password": password}, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert "does not match" in wrong.json()["detail"]
    # a form carries the token as a field
    form_ok = await client.http.post("/signin", data={"email": email, "password": password, "csrf_token": client.csrf, "next": "/"})
    assert form_ok.status_code == 303
    assert form_ok.headers["location"] == "/"


async def test_form_sign_in_redirects_only_inside_the_site(client: Client, make_user: Any) -> None:
    email, password, _ = await make_user()
    response = await client.http.post(
        "/signin", data={"email": email, "password": password, "csrf_token": client.csrf, "next": "//evil.example/x"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_sign_in_page_shows_the_error_in_the_visitors_language(client: Client) -> None:
    response = await client.http.post(
        "/signin", data={"email": "x@example.org", "password": "wrong-password", "csrf_token": client.csrf},
        headers={"Accept-Language": "zh-CN"},
    )
    assert response.status_code == 401
    assert "电子邮箱或密码不正确" in response.text


async def test_sign_in_is_rate_limited(app: Any, client: Client, make_user: Any) -> None:
    from cloudexpo.ratelimit import RateLimiter

    app.state.signin_limiter = RateLimiter(3, 60)
    email, _, _ = await make_user()
    statuses = [
        (await client.post("/api/session", json={"email": email, "password": "wrong-password"})).status_code
        for _ in range(5)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]
    limited = await client.post("/api/session", json={"email": email, "password": "wrong-password"})
    assert int(limited.headers["retry-after"]) >= 1
    assert "try again" in limited.json()["detail"]


async def test_session_cookie_is_httponly_and_lax(app: Any, make_user: Any) -> None:
    email, password, _ = await make_user()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        token = (await http.get("/api/me")).json()["csrf_token"]
        response = await http.post("/api/session", json={"email": email, "password": password}, headers={"X-CSRF-Token": token})
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie  # plain http in tests; https public URLs set Secure


async def test_language_switch_sets_a_cookie_and_pages_follow(client: Client) -> None:
    switched = await client.get("/lang/zh-Hant?next=/signin")
    assert switched.status_code == 303
    assert switched.headers["location"] == "/signin"
    page = await client.get("/signin")
    assert page.headers["content-language"] == "zh-Hant"
    assert "登入" in page.text
    assert (await client.get("/lang/fr")).status_code == 404
    english = await client.get("/signin?lang=en")
    assert "Sign in" in english.text


async def test_static_files_are_cached_for_a_year_when_versioned(client: Client) -> None:
    page = await client.get("/")
    import re

    match = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]+)"', page.text)
    assert match
    css = await client.get(match.group(1))
    assert css.status_code == 200
    assert "max-age=31536000" in css.headers["cache-control"]


@pytest.mark.parametrize("role", ["visitor", "exhibitor", "moderator", "admin"])
async def test_me_reports_the_role(signed_in: Any, role: str) -> None:
    client = await signed_in(role, exhibitor_id=7 if role == "exhibitor" else None)
    me = await client.refresh_csrf()
    assert me["role"] == role
    assert me["exhibitor_id"] == (7 if role == "exhibitor" else None)


def test_permission_rules_for_every_kind_of_asker() -> None:
    anonymous = Principal()
    visitor = Principal(user_id=1, role=Role.VISITOR)
    own = Principal(user_id=2, role=Role.EXHIBITOR, exhibitor_id=10)
    other = Principal(user_id=3, role=Role.EXHIBITOR, exhibitor_id=11)
    moderator = Principal(user_id=4, role=Role.MODERATOR)
    with pytest.raises(NotSignedIn):
        require(anonymous)
    with pytest.raises(NotSignedIn):
        require_exhibitor_access(anonymous, 10)
    with pytest.raises(Forbidden):
        require_exhibitor_access(visitor, 10)
    with pytest.raises(Forbidden):
        require_exhibitor_access(other, 10)
    assert require_exhibitor_access(own, 10) is own
    assert require_exhibitor_access(moderator, 10) is moderator
    with pytest.raises(Forbidden, match="moderator"):
        require(own, Role.MODERATOR)
    assert require(moderator, Role.MODERATOR) is moderator


async def test_media_and_health_answers_carry_no_cookie(client: Client) -> None:
    for path in ("/healthz", "/static/css/app.css", "/storage/o/missing?exp=1&sig=x"):
        response = await client.http.get(path)
        assert "set-cookie" not in response.headers, path
        assert "cookie" not in response.headers.get("vary", "").lower(), path
    client.http.cookies.clear()
    page = await client.http.get("/")
    assert "cloudexpo_session=" in page.headers["set-cookie"]  # pages do keep the session


async def test_language_switch_keeps_the_query(client: Client) -> None:
    import html
    import re
    from urllib.parse import parse_qs, urlsplit

    page = await client.get("/signin?next=/booths&lang=en")
    href = html.unescape(re.search(r'href="(/lang/zh-Hant\?[^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    switched = await client.get(href)
    location = urlsplit(switched.headers["location"])
    assert location.path == "/signin"
    assert parse_qs(location.query) == {"next": ["/booths"]}  # the query survives, "lang" does not
