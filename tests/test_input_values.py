"""Untrusted values: every path, query and body value is read one way, and no input is a 500.

Each test here reproduces a finding of the hardening review; the route-table
tests cover the whole class (every route with an id in its path, every route
that takes a JSON body), not only the examples that were found.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.routing import BaseRoute, Mount, Route

from cloudexpo.services import Services
from tests.test_engagement_support import make_expo

OVER_INT32 = "2147483648"  # ids are INTEGER columns: 32-bit on PostgreSQL
OVER_INT64 = "9223372036854775808"  # 2**63
HUGE = "9999999999999999999999999"
UNICODE_DIGITS = ["%C2%B2", "%D9%A1%D9%A2", "%EF%BC%91"]  # ², Arabic-Indic 12, fullwidth 1
ACCEPTABLE = {400, 401, 403, 404, 405, 409, 413, 415, 422}

# Values for the other parameters of a path, so the id under test is what decides the answer.
FILLERS = {"kind": "booth", "lang": "en", "fmt": "png", "stage": "release-a", "session_id": "abc",
           "action": "approve", "slug": "innovation", "key": "o/x", "ref": "1"}


def _routes(routes: list[BaseRoute], prefix: str = "") -> list[Route]:
    out: list[Route] = []
    for route in routes:
        if isinstance(route, Mount):
            out.extend(_routes(list(route.routes or []), prefix + route.path))
        elif isinstance(route, Route):
            out.append(route)
    return out


def _params(route: Route) -> list[str]:
    return re.findall(r"{([a-z_]+)(?::[a-z]+)?}", route.path)


def _url(route: Route, values: dict[str, str]) -> str:
    return re.sub(r"{([a-z_]+)(?::[a-z]+)?}", lambda m: values.get(m.group(1), FILLERS.get(m.group(1), "1")), route.path)


def _id_params(route: Route) -> list[str]:
    return [p for p in _params(route) if p.endswith("_id") or p == "ref"]


async def _send(client: Any, method: str, url: str, **kw: Any) -> Any:
    headers = {"X-CSRF-Token": client.csrf, **kw.pop("headers", {})}
    return await client.http.request(method, url, headers=headers, **kw)


async def _sweep(app: Any, client: Any, make: Any) -> list[str]:
    """Every (route, method) with each bad value; returns what answered 5xx or raised."""
    failures: list[str] = []
    for route in _routes(app.routes):
        for method in sorted((route.methods or {"GET"}) - {"HEAD", "OPTIONS"}):
            for name, value in make(route):
                url = _url(route, {name: value})
                try:
                    response = await _send(client, method, url, json={})
                except Exception as exc:  # the app raised: a 500 for a real client
                    failures.append(f"{method} {url}: {type(exc).__name__}: {exc}"[:200])
                    continue
                if response.status_code not in ACCEPTABLE:
                    failures.append(f"{method} {url}: {response.status_code}")
    return failures


async def test_every_path_id_beyond_64_bits_or_in_unicode_digits_is_404(app: Any, services: Services,
                                                                          signed_in: Any) -> None:
    await make_expo(services)
    admin = await signed_in("admin")

    def bad_ids(route: Route) -> list[tuple[str, str]]:
        return [(name, value) for name in _id_params(route) for value in (OVER_INT32, OVER_INT64, HUGE, *UNICODE_DIGITS)]

    assert await _sweep(app, admin, bad_ids) == []
    # A GET of such an address is "nothing here", never a 400 or a 500.
    for url in (f"/api/booths/{OVER_INT32}", f"/api/booths/{HUGE}", f"/booths/{UNICODE_DIGITS[0]}", f"/api/replays/{OVER_INT64}",
                f"/live/{HUGE}/dvr.m3u8", f"/zones/{UNICODE_DIGITS[1]}", f"/api/zones/{HUGE}",
                f"/programme/{UNICODE_DIGITS[0]}.ics", f"/replays/{UNICODE_DIGITS[2]}"):
        assert (await admin.get(url)).status_code == 404, url


@pytest.mark.parametrize("value", [OVER_INT32, OVER_INT64, HUGE, "1e999", "-1", "%C2%B2", "1.5", "x"])
async def test_query_integers_are_ascii_and_within_64_bits(client: Any, services: Services, signed_in: Any,
                                                           value: str) -> None:
    await make_expo(services)
    admin = await signed_in("admin")
    for url in ("/api/booths?limit={v}", "/api/booths?hall={v}", "/api/search?q=a&offset={v}",
                "/api/meeting-slots?host={v}", "/api/meeting-slots?exhibitor={v}",
                "/api/replays?booth={v}", "/api/analytics/overview?days={v}", "/api/analytics/overview?booth={v}",
                "/qr/booth/1.svg?scale={v}", "/unsubscribe?u={v}&k=card_received&t=x"):
        response = await admin.get(url.format(v=value))
        assert response.status_code in (200, 400, 404), (url, value, response.status_code)
        if response.status_code == 400 and url.startswith("/api/"):
            assert response.json()["detail"] and response.json()["field"], response.text


async def test_deeply_nested_json_is_refused_on_every_json_route(app: Any, services: Services, make_client: Any,
                                                               signed_in: Any) -> None:
    await make_expo(services)
    anonymous = await make_client()
    r = await anonymous.post("/api/session", content=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 413)
    nested = b"[" * 60_000
    for body in (nested, b'{"email":' + b"[" * 40 + b"]" * 40 + b"}"):
        r = await anonymous.post("/api/session", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "deep" in r.json()["detail"], r.text
    admin = await signed_in("admin")
    failures = []
    for route in _routes(app.routes):
        for method in sorted((route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            url = _url(route, {})
            try:
                response = await _send(admin, method, url, content=nested, headers={"Content-Type": "application/json"})
            except Exception as exc:
                failures.append(f"{method} {url}: {type(exc).__name__}")
                continue
            if response.status_code >= 500:
                failures.append(f"{method} {url}: {response.status_code}")
    assert failures == []


BAD_NUMBERS: list[tuple[str, bytes]] = [
    ("infinity", b"1e999"), ("beyond int32", OVER_INT32.encode()), ("Infinity", b"Infinity"), ("NaN", b"NaN"), ("beyond int64", OVER_INT64.encode()),
    ("huge", HUGE.encode()), ("float id", b"1e25"), ("unicode digits text", '"²"'.encode()),
    ("big text", f'"{HUGE}"'.encode()),
]
ID_FIELDS = ["booth_id", "slot_id", "exhibitor_id", "hall_id", "zone_id", "user_id", "product_id", "target_id",
             "slot", "u", "minutes", "value", "position", "map_x", "map_y", "seconds", "application_id", "id"]


@pytest.mark.parametrize("label,number", BAD_NUMBERS, ids=[b[0] for b in BAD_NUMBERS])
async def test_bad_numbers_in_json_bodies_are_4xx_on_every_route(app: Any, services: Services, signed_in: Any,
                                                                 label: str, number: bytes) -> None:
    expo = await make_expo(services)
    admin = await signed_in("admin")
    ids = {"booth_id": str(expo.booths["1A-001"]), "product_id": str(expo.products["1A-001"]),
           "exhibitor_id": str(expo.exhibitors["1A-001"]), "zone_id": str(expo.zones["innovation"])}
    body = b"{" + b",".join(f'"{f}":'.encode() + number for f in ID_FIELDS) + b',"kind":"booth","metric":"visit"}'
    failures = []
    for route in _routes(app.routes):
        for method in sorted((route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            url = _url(route, ids)
            try:
                response = await _send(admin, method, url, content=body, headers={"Content-Type": "application/json"})
            except Exception as exc:
                failures.append(f"{method} {url}: {type(exc).__name__}: {exc}"[:160])
                continue
            if response.status_code >= 500:
                failures.append(f"{method} {url}: {response.status_code}")
    assert failures == []


@pytest.mark.parametrize("body", [b'{"booth_id":1e999,"metric":"visit"}', b'{"booth_id":NaN,"metric":"visit"}',
                                  f'{{"booth_id":{HUGE},"metric":"visit"}}'.encode()])
async def test_non_finite_or_huge_numbers_are_a_400_that_says_why(client: Any, body: bytes) -> None:
    r = await client.post("/api/analytics/events", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert "number" in r.json()["detail"]
    r = await client.post("/unsubscribe", content=body.replace(b"booth_id", b"u"),
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400


async def test_non_ascii_tokens_are_refused_not_500(client: Any, services: Services, signed_in: Any) -> None:
    r = await client.get("/unsubscribe?u=1&k=card_received&t=%C3%A9")
    assert r.status_code == 400
    r = await client.post("/unsubscribe", json={"u": 1, "k": "card_received", "t": "é"})
    assert r.status_code == 400
    r = await client.delete("/api/cards/1?token=%C3%A9")
    assert r.status_code in (403, 404)
    r = await client.delete(f"/api/cards/1?token={'%F0%9F%98%80' * 40}")
    assert r.status_code in (403, 404)


LONE = '"a\\ud800b"'


@pytest.mark.parametrize("url,template", [
    ("/api/session", '{"email":"x@example.org","password":%s}'),
    ("/api/users", '{"email":"y@example.org","password":%s,"display_name":%s}'),

    ("/api/uploads", '{"booth_id":1,"filename":%s,"size":10,"content_type":"image/png"}'),
    ("/api/booths/1/cards", '{"consent":true,"name":%s,"email":"v@example.org"}'),
])
async def test_a_lone_surrogate_in_text_is_a_400(client: Any, services: Services, signed_in: Any, url: str,
                                                 template: str) -> None:
    await make_expo(services)
    visitor = await signed_in("visitor")
    body = (template % ((LONE,) * template.count("%s"))).encode()
    r = await visitor.post(url, content=body, headers={"Content-Type": "application/json"})
    if url == "/api/users":  # and the profile of a signed-in visitor
        r2 = await visitor.put("/api/profile", content=body, headers={"Content-Type": "application/json"})
        assert r2.status_code == 400, r2.text
    assert r.status_code == 400, r.text
    assert "surrogate" in r.json()["detail"] or "Unicode" in r.json()["detail"]


async def test_lead_note_with_a_lone_surrogate_is_refused(services: Services, signed_in: Any) -> None:
    await make_expo(services)
    exhibitor = await signed_in("exhibitor", 1)
    r = await exhibitor.patch("/api/leads/1", content=b'{"note":"\\udfff"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400


@pytest.mark.parametrize("size", [65 * 1024, 2 * 1024 * 1024])
async def test_json_bodies_over_64_kib_are_413(client: Any, size: int) -> None:
    body = b'{"email":"' + b"a" * size + b'"}'
    r = await client.post("/api/session", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "KiB" in r.json()["detail"]


# --- times and stored values ------------------------------------------------------------------

FAR = "9999-12-31T22:00:00+00:00"


@pytest.mark.parametrize("body,field", [
    ({"starts_at": FAR, "minutes": 30, "mode": "online"}, "starts_at"),
    ({"starts_at": "0001-01-01T00:30", "minutes": 30, "mode": "online"}, "starts_at"),
    ({"starts_at": "2031-05-01T10:00", "minutes": 10 ** 30, "mode": "online"}, None),
    ({"starts_at": "2031-05-01T10:00", "minutes": "x", "mode": "online"}, "minutes"),
    ({"starts_at": "2031-05-01T10:00", "minutes": 30, "mode": "online", "timezone": "A" * 300}, "timezone"),
    ({"starts_at": "2031-05-01T10:00", "minutes": 30, "mode": "online", "timezone": "../../etc/passwd"}, "timezone"),
    ({"starts_at": "2" * 5000, "minutes": 30, "mode": "online"}, "starts_at"),
])
async def test_meeting_times_out_of_range_are_refused(services: Services, signed_in: Any, body: dict[str, Any],
                                                      field: str | None) -> None:
    expo = await make_expo(services)
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    r = await staff.post("/api/meeting-slots", json=body)
    assert r.status_code in (400, 422), r.text
    if field:
        assert r.json().get("field") == field, r.text


async def test_expert_slot_far_in_the_future_is_refused(services: Services, signed_in: Any, make_user: Any,
                                                        make_client: Any) -> None:
    moderator = await signed_in("moderator")
    email, password, uid = await make_user("visitor")
    r = await moderator.put(f"/api/experts/{uid}", json={"is_expert": True, "institution": "NIM", "field": "计量",
                                                         "languages": ["zh"]})
    assert r.status_code == 200, r.text
    expert = await make_client()
    await expert.sign_in(email, password)
    r = await expert.post("/api/meeting-slots", json={"starts_at": FAR, "minutes": 30, "mode": "online"})
    assert r.status_code in (400, 422) and "year" in r.json()["detail"], r.text


async def test_pages_survive_a_stored_far_future_slot(services: Services, signed_in: Any, make_user: Any,
                                                      make_client: Any) -> None:
    """Data stored before the checks (or by another tool) never breaks a page for everyone."""
    import datetime as dt

    from booths.engagement.models import MeetingSlot

    expo = await make_expo(services)
    booth = expo.booths["1A-001"]
    moderator = await signed_in("moderator")
    _, _, staff_id = await make_user("exhibitor", expo.exhibitors["1A-001"])
    _, _, expert_id = await make_user("visitor")
    r = await moderator.put(f"/api/experts/{expert_id}", json={"is_expert": True, "institution": "NIM",
                                                               "field": "计量", "languages": ["zh"]})
    assert r.status_code == 200, r.text
    far = dt.datetime(9999, 12, 31, 22, 0, tzinfo=dt.UTC)
    async with services.db.session() as session:
        session.add(MeetingSlot(host_id=staff_id, exhibitor_id=expo.exhibitors["1A-001"], starts_at=far,
                                ends_at=far + dt.timedelta(minutes=30), mode="online", location=""))
        session.add(MeetingSlot(host_id=expert_id, starts_at=far, ends_at=far + dt.timedelta(minutes=30),
                                mode="online", location=""))
        await session.commit()
    from booths.engagement.notify import format_time
    from tests.live_support import make_slot

    launch, _ = await make_slot(services, booth_id=None, exhibitor_id=None,
                                starts_at=far, ends_at=far + dt.timedelta(minutes=30))  # past the year 9999 in Shanghai
    visitor = await signed_in("visitor")
    for url in (f"/booths/{booth}/contact", f"/experts/{expert_id}", "/experts", "/meetings",
                f"/api/meeting-slots?host={expert_id}", f"/api/meeting-slots?exhibitor={expo.exhibitors['1A-001']}",
                f"/live/{launch}?lang=zh-Hans", "/api/live/now", "/programme", "/api/programme",
                "/programme.ics", "/replays", "/"):
        r = await visitor.get(url)
        assert r.status_code == 200, (url, r.status_code)
    assert format_time(far, "zh-Hans", "Asia/Shanghai").endswith("（UTC）")  # a notice about it, in UTC


@pytest.mark.parametrize("body", [{"minutes": "x"}, {"minutes": 10 ** 30}, {"minutes": 10 ** 12},
                                  {"starts_at": "0001-01-01T00:00:00+00:00"}, {"starts_at": FAR},
                                  {"starts_at": "2031-01-01T10:00", "ends_at": "x" * 300}])
async def test_moving_a_slot_with_bad_times_is_422(services: Services, signed_in: Any, body: dict[str, Any]) -> None:
    from tests.live_support import make_slot

    slot_id, _ = await make_slot(services)
    moderator = await signed_in("moderator")
    r = await moderator.patch(f"/api/slots/{slot_id}", json=body)
    assert r.status_code in (400, 409, 422), r.text


@pytest.mark.parametrize("body", [{"minutes": 10 ** 30}, {"starts_at": "0001-01-01T00:00"}, {"starts_at": FAR}])
async def test_requesting_a_launch_with_bad_times_is_4xx(services: Services, signed_in: Any,
                                                          body: dict[str, Any]) -> None:
    expo = await make_expo(services)
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    full = {"booth_id": expo.booths["1A-001"], "stage": "release-a", "title": "Launch",
            "starts_at": "2031-01-01T10:00", "minutes": 30, **body}
    r = await staff.post("/api/slot-requests", json=full)
    assert 400 <= r.status_code < 500, r.text


@pytest.mark.parametrize("folder", [".meta", ".uploads", ".tmp"])
async def test_storage_folders_of_the_store_itself_are_404(client: Any, folder: str) -> None:
    for url in (f"/storage/o/{folder}/x", f"/storage/o/{folder}/x?exp=1&sig=abc"):
        r = await client.get(url)
        assert r.status_code in (403, 404), (url, r.status_code)


async def test_a_nul_in_any_query_is_a_400_on_every_route(app: Any, services: Services, signed_in: Any) -> None:
    """PostgreSQL refuses NUL in text: no route may hand one to the database (or 500 trying)."""
    await make_expo(services)
    moderator = await signed_in("moderator")
    answers: dict[str, int] = {}
    for route in _routes(app.routes):
        if "GET" in (route.methods or set()):
            url = _url(route, {})
            r = await _send(moderator, "GET", f"{url}?zone=%00&q=a%00b&field=%00")
            answers[url] = r.status_code
            if r.status_code == 400:
                assert "NUL" in r.json()["detail"], (url, r.text)
    assert answers and set(answers.values()) == {400}, {u: s for u, s in answers.items() if s != 400}


@pytest.mark.parametrize("path", ["/booths/%00", "/api/booths/1A-001%00", "/zones/a%00b", "/storage/o/%00"])
async def test_a_nul_in_the_path_is_a_404(client: Any, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404, r.text


async def test_a_nul_in_json_or_form_text_is_a_400(client: Any, services: Services, signed_in: Any) -> None:
    await make_expo(services)
    visitor = await signed_in("visitor")
    r = await visitor.put("/api/profile", content=b'{"display_name":"a\\u0000b"}',
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "NUL" in r.json()["detail"], r.text
    r = await visitor.post("/api/booths/1/cards", content=b'{"consent":true,"name":"x","email":"v\\u0000@example.org"}',
                           headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "NUL" in r.json()["detail"], r.text
    r = await client.post("/api/session", data={"email": "x\x00@example.org", "password": "whatever-1"},
                          headers={"X-CSRF-Token": client.csrf})
    assert r.status_code == 400 and "NUL" in r.json()["detail"], r.text
