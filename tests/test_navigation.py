"""Every page is reachable: the navigation tables (web/navigation.py) answer for their roles, mark the current
page, and every page without parameters is either in a table or linked from the page ``REACHED_FROM`` names."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

from cloudexpo.accounts import Role
from tests.conftest import PASSWORD
from tests.test_booths_support import make_expo
from web import navigation
from web.app import WEB_AREAS

NOT_PAGES = ("/api/", "/whip/", "/whep/", "/storage/", "/static/", "/lang/", "/qr/")
MACHINE = {"/healthz", "/readyz", "/metrics", "/ws"}


def page_paths() -> set[str]:
    """Every GET page of the app whose address has no parameter (files such as .ics and .json left out)."""
    out = set()
    for area in WEB_AREAS:
        for route in area.routes():
            if not isinstance(route, Route) or "GET" not in (route.methods or set()) or "{" in route.path:
                continue
            if route.path in MACHINE or route.path.startswith(NOT_PAGES) or "." in route.path.rsplit("/", 1)[-1]:
                continue
            out.add(route.path)
    return out


def test_every_page_is_in_a_table_or_linked() -> None:
    listed = {link.href for link in navigation.every_link()} | set(navigation.REACHED_FROM) | set(navigation.PARTS)
    missing = sorted(page_paths() - listed)
    assert not missing, f"pages no navigation reaches (add a row to web/navigation.py): {missing}"


def test_current_page_is_the_best_match() -> None:
    items = navigation.items(navigation.MAIN, "/booths/1A-001", str)
    assert [i["href"] for i in items if i["current"]] == ["/map"]
    items = navigation.items(navigation.WORKSPACE[Role.EXHIBITOR], "/dashboard/live/12", str)
    assert [i["href"] for i in items if i["current"]] == ["/dashboard/live"]
    items = navigation.items(navigation.WORKSPACE[Role.EXHIBITOR], "/dashboard", str)
    assert [i["href"] for i in items if i["current"]] == ["/dashboard"]
    assert not any(i["current"] for i in navigation.items(navigation.MAIN, "/account", str))


def _nav_links(html: str, marker: str) -> list[str]:
    """The links of the first list after ``marker`` (the nav's id or class)."""
    found = re.search(rf'<nav [^>]*{marker}[^>]*>\s*<ul[^>]*>(.*?)</ul>', html, re.S)
    return re.findall(r'href="([^"]+)"', found.group(1)) if found else []


async def test_each_role_reaches_its_pages(services: Any, make_client: Any, make_user: Any) -> None:
    expo = await make_expo(services)
    clients = {"anonymous": await make_client()}
    for role in (Role.VISITOR, Role.EXHIBITOR, Role.MODERATOR, Role.ADMIN):
        email, _, _ = await make_user(role.value, expo.exhibitors["1A-001"] if role is Role.EXHIBITOR else None)
        clients[role.value] = await make_client()
        await clients[role.value].sign_in(email, PASSWORD)
    for who, client in clients.items():
        role = None if who == "anonymous" else Role(who)
        home = (await client.get("/")).text
        assert _nav_links(home, 'id="site-nav"') == [link.href for link in navigation.MAIN], who
        workspace = navigation.WORKSPACE[role] if role else ()
        assert _nav_links(home, 'class="workspace-bar"') == [link.href for link in workspace], who
        for link in (*navigation.MAIN, *workspace, *(navigation.MODERATION if role in (Role.MODERATOR, Role.ADMIN) else ())):
            page = await client.get(link.href, follow_redirects=True)
            assert page.status_code == 200, (who, link.href, page.status_code, page.text[:300])
            assert re.search(rf'href="{re.escape(link.href)}" aria-current="page"', page.text), (who, link.href)
    for path, (source, role) in navigation.REACHED_FROM.items():
        if not source:
            continue
        page = await clients[role.value if role else "anonymous"].get(source)
        assert re.search(rf'href="{re.escape(path)}[?"]', page.text), f"{source} does not link to {path}"


async def test_dashboards_count_what_waits(services: Any, make_client: Any, make_user: Any) -> None:
    from tests.authz_world import CARD

    expo = await make_expo(services)
    clients = {}
    for role in ("visitor", "exhibitor", "moderator"):
        email, _, _ = await make_user(role, expo.exhibitors["1A-001"] if role == "exhibitor" else None)
        clients[role] = await make_client()
        await clients[role].sign_in(email, PASSWORD)
    made = await clients["visitor"].post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD)
    assert made.status_code == 201, made.text
    page = (await clients["exhibitor"].get("/dashboard?lang=en")).text
    tile = re.search(r'<a class="task card urgent" href="/dashboard/leads">\s*<span class="task-count">(\d+)</span>', page)
    assert tile and tile.group(1) == "1", page
    assert 'href="/dashboard/live"' in page and 'href="/meetings"' in page and 'href="/dashboard/analytics"' in page
    page = (await clients["moderator"].get("/dashboard?lang=en")).text
    for href in ("/moderate/applications", "/dashboard/live", "/moderate/live", "/meetings", "/dashboard/analytics"):
        assert f'href="{href}"' in page.split("<main", 1)[1], href
