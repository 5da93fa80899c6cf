"""WHIP and WHEP answers carry TURN servers with a credential minted for the session
(RFC 9725 ``Link: <turn:...>; rel="ice-server"``), and nothing when TURN is not configured.
A real aiortc publisher and viewer on 127.0.0.1; the TURN URLs are never contacted here."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from pathlib import Path

import httpx
import pytest

from cloudexpo.app import import_models
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from cloudexpo.turn import turn_password
from streaming.testsource import publish_test_card, watch
from tests.conftest import live_settings, serve_app
from tests.live_support import make_slot

pytestmark = pytest.mark.media
HOSTS = ("127.0.0.1",)
TURN_URLS = ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp", "turns:127.0.0.1:5349?transport=tcp"]
LIFETIME = 900


def ice_links(header: str | None) -> list[dict[str, str]]:
    """RFC 8288 link values with rel="ice-server", as {"url": ..., param: value}."""
    links = []
    for part in re.split(r",(?=\s*<)", header or ""):
        url = re.match(r"\s*<([^>]*)>", part)
        if url is None:
            continue
        params = dict(re.findall(r';\s*([\w-]+)="([^"]*)"', part))
        if params.get("rel") == "ice-server":
            links.append({"url": url.group(1), **params})
    return links


def check_minted(header: str | None, secret: str, session_id: str | None) -> str:
    """Every TURN URL once, with ``expiry:id`` and its HMAC; returns the username."""
    links = ice_links(header)
    assert [link["url"] for link in links] == TURN_URLS
    usernames = {link["username"] for link in links}
    assert len(usernames) == 1
    username = usernames.pop()
    expiry, _, who = username.partition(":")
    assert abs(int(expiry) - (time.time() + LIFETIME)) < 30
    if session_id is not None:
        assert who == session_id
    for link in links:
        assert link["credential"] == turn_password(secret, username)
        assert link["credential-type"] == "password"
    return username


async def _slot(settings: Settings) -> tuple[int, str]:
    import_models()
    svc = Services.from_settings(settings)
    try:
        return await make_slot(svc)
    finally:
        await svc.db.close()


@pytest.mark.parametrize("configured", [True, False], ids=["turn", "no-turn"])
async def test_whip_and_whep_answers_carry_fresh_turn_credentials_only_when_configured(tmp_path: Path, configured: bool) -> None:
    secret = "turn-" + secrets.token_hex(16)
    turn = {"turn_urls": TURN_URLS, "turn_secret": secret, "turn_credential_seconds": LIFETIME} if configured else {}
    with serve_app(live_settings(tmp_path, **turn)) as server:
        slot_id, token = await _slot(server.settings)
        answers: dict[str, httpx.Response] = {}
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:

            async def whip(offer: str) -> str:
                answers["whip"] = await http.post(f"/whip/{slot_id}", content=offer, headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
                assert answers["whip"].status_code == 201, answers["whip"].text
                return answers["whip"].text

            async def whep(offer: str) -> str:
                answers["whep"] = await http.post(f"/whep/{slot_id}", content=offer, headers={"Content-Type": "application/sdp"})
                assert answers["whep"].status_code == 201, answers["whep"].text
                return answers["whep"].text

            preflight = await http.options(f"/whip/{slot_id}", headers={"Origin": "https://obs.example", "Access-Control-Request-Method": "POST"})
            publisher = await publish_test_card(whip, hosts=HOSTS)
            viewer = None
            try:
                for _ in range(100):
                    if (await http.get(f"/api/slots/{slot_id}")).json()["publisher"] == "connected":
                        break
                    await asyncio.sleep(0.1)
                viewer = await watch(whep, hosts=HOSTS)
                await viewer.wait_frames(3, within=20)
                again = await http.options(f"/whep/{slot_id}")
                page = (await http.get(f"/live/{slot_id}")).text
            finally:
                if viewer is not None:
                    await viewer.close()
                await publisher.close()
    for response in (answers["whip"], answers["whep"], preflight):
        assert "Link" in response.headers["access-control-expose-headers"]
        assert not any(link["url"].startswith("stun") for link in ice_links(response.headers.get("link")))
    page_servers = json.loads(re.search(r'<script type="application/json" id="live-data">(.*?)</script>', page, re.S).group(1))["ice_servers"]  # type: ignore[union-attr]
    if not configured:
        for response in (answers["whip"], answers["whep"], preflight, again):
            assert "ice-server" not in response.headers.get("link", "")  # a WHEP 201 still links its live HLS playlist
        assert page_servers == []
        return
    # the watch page's RTCPeerConnection gets the TURN servers with a credential of its own
    [server] = page_servers
    assert server["urls"] == TURN_URLS
    assert abs(int(server["username"].split(":")[0]) - (time.time() + LIFETIME)) < 30
    assert server["credential"] == turn_password(secret, server["username"])
    whip_user = check_minted(answers["whip"].headers["link"], secret, answers["whip"].headers["location"].rsplit("/", 1)[1])
    whep_user = check_minted(answers["whep"].headers["link"], secret, answers["whep"].headers["location"].rsplit("/", 1)[1])
    assert whip_user != whep_user
    check_minted(preflight.headers["link"], secret, None)
    assert check_minted(again.headers["link"], secret, None) != check_minted(preflight.headers["link"], secret, None)
