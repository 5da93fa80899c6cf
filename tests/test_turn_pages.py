"""The pages that open peer connections hand their RTCPeerConnection the TURN servers with a
credential of their own: the watch page (anonymous or signed in) and the go-live page."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from cloudexpo.services import Services
from cloudexpo.settings import Settings
from cloudexpo.turn import turn_password
from tests.live_support import make_slot

TURN_URLS = ["turn:127.0.0.1:3478?transport=tcp", "turns:127.0.0.1:5349?transport=tcp"]
SECRET = "pages-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(turn_urls=TURN_URLS, turn_secret=SECRET, turn_credential_seconds=600)


def page_data(html: str, element: str) -> dict[str, Any]:
    match = re.search(rf'<script type="application/json" id="{element}">(.*?)</script>', html, re.S)
    assert match is not None, element
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def minted_for(servers: list[dict[str, Any]]) -> str:
    """The one TURN server's id part, after checking its URLs, expiry and HMAC."""
    [server] = servers
    assert server["urls"] == TURN_URLS
    expiry, _, who = server["username"].partition(":")
    assert abs(int(expiry) - (time.time() + 600)) < 30
    assert server["credential"] == turn_password(SECRET, server["username"])
    return str(who)


async def test_watch_and_go_live_pages_get_turn_credentials_of_their_own(client: Any, make_client: Any, make_user: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, exhibitor_id=70)
    first = minted_for(page_data((await client.get(f"/live/{slot_id}")).text, "live-data")["ice_servers"])
    second = minted_for(page_data((await client.get(f"/live/{slot_id}")).text, "live-data")["ice_servers"])
    assert first != second  # anonymous visits: a random id each
    email, password, user_id = await make_user("exhibitor", 70)
    staff = await make_client()
    await staff.sign_in(email, password)
    assert minted_for(page_data((await staff.get(f"/live/{slot_id}")).text, "live-data")["ice_servers"]) == f"user{user_id}"
    golive = await staff.get(f"/dashboard/live/{slot_id}")
    assert golive.status_code == 200
    assert minted_for(page_data(golive.text, "golive-data")["ice_servers"]) == f"user{user_id}"
