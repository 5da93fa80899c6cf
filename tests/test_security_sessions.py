"""Server-side sessions: a cookie copied before sign-out, a password change, a deactivation,
a role taken away or "sign out everywhere" stops working at once (401), on both databases.

Each test first uses the copied cookie, so the principal is in the node's cache: the
revocation must not live on there either.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from sqlalchemy import select

from cloudexpo.services import Services
from cloudexpo.sessions import SignInSession
from tests.conftest import PASSWORD, Client
from tests.test_live_chat import two_nodes  # noqa: F401  (a fixture: two nodes sharing Redis)

NEEDS_SIGN_IN = "/api/me/cards"


async def copy_of(make_client: Any, client: Client) -> Client:
    """Another browser holding the same cookies (as an attacker who copied them would)."""
    other: Client = await make_client()
    other.http.cookies.clear()
    other.http.cookies.update(client.http.cookies)
    await other.refresh_csrf()
    return other


async def signed_in_as(make_client: Any, email: str, password: str = PASSWORD) -> Client:
    client: Client = await make_client()
    await client.sign_in(email, password)
    return client


async def works(client: Client) -> bool:
    response = await client.get(NEEDS_SIGN_IN)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def cookie_payload(client: Client) -> dict[str, Any]:
    raw = client.http.cookies["cloudexpo_session"].split(".")[0]
    return dict(json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4))))


async def test_the_cookie_carries_an_opaque_id_kept_hashed(make_client: Any, make_user: Any, services: Services) -> None:
    email, _, user_id = await make_user()
    client = await signed_in_as(make_client, email)
    payload = cookie_payload(client)
    assert "uid" not in payload and isinstance(payload["sid"], str) and len(payload["sid"]) >= 40
    async with services.db.session() as db:
        rows = (await db.scalars(select(SignInSession).where(SignInSession.user_id == user_id))).all()
    assert [r.id for r in rows] == [hashlib.sha256(payload["sid"].encode()).hexdigest()]


async def test_a_copied_cookie_stops_working_at_sign_out(make_client: Any, make_user: Any) -> None:
    email, _, _ = await make_user()
    browser = await signed_in_as(make_client, email)
    copy = await copy_of(make_client, browser)
    assert await works(copy)
    assert (await browser.delete("/api/session")).status_code == 200
    assert not await works(copy)
    assert (await copy.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "x" * 12})).status_code == 401
    assert not await works(browser)
    # the form sign-out does the same
    again = await signed_in_as(make_client, email)
    copy = await copy_of(make_client, again)
    assert await works(copy)
    assert (await again.post("/signout", data={"csrf_token": again.csrf})).status_code == 303
    assert not await works(copy)


async def test_a_password_change_ends_every_other_session(make_client: Any, make_user: Any) -> None:
    email, _, _ = await make_user()
    browser = await signed_in_as(make_client, email)
    copy = await copy_of(make_client, browser)
    phone = await signed_in_as(make_client, email)
    assert await works(copy) and await works(phone)
    wrong = await browser.post("/api/me/password", json={"current_password": "not it at all", "new_password": "new horse battery"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "current_password"
    short = await browser.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and short.json()["field"] == "new_password"
    assert await works(copy)  # refusals change nothing
    changed = await browser.post("/api/me/password", json={"current_password": PASSWORD, "new_password": "new horse battery"})
    assert changed.status_code == 200, changed.text
    assert not await works(copy) and not await works(phone)
    await browser.refresh_csrf()
    assert await works(browser)  # this browser got a new session
    refused = await browser.http.post("/api/session", json={"email": email, "password": PASSWORD},
                                      headers={"X-CSRF-Token": browser.csrf})
    assert refused.status_code == 401
    await signed_in_as(make_client, email, "new horse battery")


async def test_sign_out_everywhere(make_client: Any, make_user: Any) -> None:
    email, _, _ = await make_user()
    browser = await signed_in_as(make_client, email)
    copy = await copy_of(make_client, browser)
    phone = await signed_in_as(make_client, email)
    bystander = await signed_in_as(make_client, (await make_user())[0])
    assert await works(copy) and await works(phone)
    ended = await browser.delete("/api/me/sessions")
    assert ended.status_code == 200 and ended.json() == {"signed_in": False, "sessions_ended": 2}
    for client in (browser, copy, phone):
        assert not await works(client)
    assert await works(bystander)  # other users keep theirs


async def test_deactivation_ends_every_session_and_sign_in(make_client: Any, make_user: Any, signed_in: Any) -> None:
    email, _, user_id = await make_user("exhibitor", 70)
    browser = await signed_in_as(make_client, email)
    copy = await copy_of(make_client, browser)
    assert await works(copy)
    moderator = await signed_in("moderator")
    admin = await signed_in("admin")
    assert (await moderator.post(f"/api/users/{user_id}/active", json={"active": False})).status_code == 403
    assert (await browser.post(f"/api/users/{user_id}/active", json={"active": False})).status_code == 403
    off = await admin.post(f"/api/users/{user_id}/active", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert not await works(browser) and not await works(copy)
    again = await make_client()
    refused = await again.post("/api/session", json={"email": email, "password": PASSWORD})
    assert refused.status_code == 401
    admin_id = (await admin.refresh_csrf())["id"]
    assert (await admin.post(f"/api/users/{admin_id}/active", json={"active": False})).status_code == 403
    assert (await admin.post(f"/api/users/{user_id}/active", json={"active": "maybe"})).status_code == 422
    assert (await admin.post(f"/api/users/{user_id}/active", json={"active": True})).status_code == 200
    await signed_in_as(make_client, email)
    # the admin page's form
    page = await admin.get("/moderate/users?lang=en")
    assert f'action="/moderate/users/{user_id}/active"' in page.text and "Deactivate" in page.text
    form = await admin.post(f"/moderate/users/{user_id}/active", data={"active": "false", "csrf_token": admin.csrf})
    assert form.status_code == 303
    assert "Deactivated" in (await admin.get("/moderate/users?lang=en")).text


async def test_a_role_taken_away_ends_every_session(make_client: Any, make_user: Any, signed_in: Any) -> None:
    email, _, user_id = await make_user("moderator")
    browser = await signed_in_as(make_client, email)
    copy = await copy_of(make_client, browser)
    assert (await copy.get("/api/users")).status_code == 200  # a moderator's list, cached now
    admin = await signed_in("admin")
    changed = await admin.post(f"/api/users/{user_id}/role", json={"role": "visitor"})
    assert changed.status_code == 200, changed.text
    assert not await works(copy) and not await works(browser)
    assert (await copy.get("/api/users")).status_code == 401
    # a role given does not sign anybody out
    email, _, user_id = await make_user()
    browser = await signed_in_as(make_client, email)
    assert (await admin.post(f"/api/users/{user_id}/role", json={"role": "moderator"})).status_code == 200
    assert (await browser.get("/api/users")).status_code == 200


async def test_the_account_page_in_three_languages(make_client: Any, make_user: Any) -> None:
    email, _, _ = await make_user()
    browser = await signed_in_as(make_client, email)
    for lang, words in (("zh-Hans", "修改密码"), ("zh-Hant", "修改密碼"), ("en", "Change your password")):
        page = await browser.get(f"/account?lang={lang}")
        assert page.status_code == 200 and words in page.text, lang
    assert "1 browser or device" in (await browser.get("/account?lang=en")).text
    wrong = await browser.post("/account/password?lang=zh-Hans", data={"csrf_token": browser.csrf, "current_password": "nope nope nope",
                                                                      "new_password": "new horse battery"})
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    copy = await copy_of(make_client, browser)
    done = await browser.post("/account/password", data={"csrf_token": browser.csrf, "current_password": PASSWORD,
                                                          "new_password": "new horse battery"})
    assert done.status_code == 303 and done.headers["location"] == "/account?saved=password"
    assert not await works(copy)
    await browser.refresh_csrf()
    everywhere = await browser.post("/account/sign-out-everywhere", data={"csrf_token": browser.csrf})
    assert everywhere.status_code == 303
    assert not await works(browser)
    anonymous = await make_client()
    assert (await anonymous.get("/account")).status_code == 303  # to the sign-in page


async def test_a_session_ended_on_one_node_ends_on_the_other_at_once(two_nodes: tuple[str, str, Any]) -> None:  # noqa: F811
    """Node B caches who a session is for; signing out on node A reaches it over the bus,
    well before the cache entry would expire by itself."""
    import time

    import httpx

    from cloudexpo import accounts
    from cloudexpo.app import open_services

    url_a, url_b, settings = two_nodes
    svc = open_services(settings)
    try:
        async with svc.db.session() as db:
            await accounts.create_user(db, "both@example.org", PASSWORD)
            await db.commit()
    finally:
        await svc.db.close()
    async with httpx.AsyncClient(base_url=url_a) as a, httpx.AsyncClient(base_url=url_b) as b:
        csrf = (await a.get("/api/me")).json()["csrf_token"]
        signin = await a.post("/api/session", json={"email": "both@example.org", "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
        assert signin.status_code == 200
        b.cookies.update(a.cookies)  # the same cookie, on the other node
        assert (await b.get(NEEDS_SIGN_IN)).status_code == 200  # node B now has it cached
        cached_at = time.monotonic()
        csrf = (await a.get("/api/me")).json()["csrf_token"]
        assert (await a.delete("/api/session", headers={"X-CSRF-Token": csrf})).status_code == 200
        status = 200
        while status == 200 and time.monotonic() - cached_at < 1.5:
            status = (await b.get(NEEDS_SIGN_IN)).status_code
        assert status == 401, "node B still trusted a session ended on node A"
