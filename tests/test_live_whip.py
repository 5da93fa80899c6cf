"""WHIP and WHEP over HTTP: the 201 shape, CORS, and every refusal with what to fix.
Plus who may call which live endpoint (anonymous, visitor, the booth's staff, another
exhibitor's staff, moderator)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cloudexpo.services import Services
from streaming.models import SlotState
from tests.live_support import make_slot, slot_row

FIXTURES = Path(__file__).parent / "fixtures" / "sdp"
OBS_OFFER = (FIXTURES / "obs-30-whip-offer.sdp").read_text()
SDP = {"Content-Type": "application/sdp"}


def audio_only(offer: str) -> str:
    """The OBS offer without its video section (mid 1, so its BUNDLE group names only mid 0)."""
    head, *sections = offer.split("\r\nm=") if "\r\n" in offer else offer.split("\nm=")
    sep = "\r\n" if "\r\n" in offer else "\n"
    kept = [s for s in sections if not s.startswith("video")]
    return sep.join([head.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0")] + ["m=" + s for s in kept])


def auth(token: str) -> dict[str, str]:
    return {**SDP, "Authorization": f"Bearer {token}"}


async def test_whip_publish_answers_201_with_location_etag_and_links(client: Any, services: Services, settings: Any) -> None:
    slot_id, token = await make_slot(services)
    response = await client.http.post(f"/whip/{slot_id}", content=OBS_OFFER, headers=auth(token))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/sdp")
    location = response.headers["location"]
    assert location.startswith(f"http://testserver/whip/{slot_id}/")
    assert response.headers["etag"].startswith('"')
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Location" in response.headers["access-control-expose-headers"]
    assert response.text.startswith("v=0")
    assert (await slot_row(services, slot_id)).state == SlotState.LIVE.value  # inside its window: on air at once
    patch = await client.http.patch(location, content="a=candidate", headers={"Content-Type": "application/trickle-ice-sdpfrag"})
    assert patch.status_code == 405 and "not supported" in patch.json()["detail"]
    wrong = await client.http.delete(location, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    stopped = await client.http.delete(location, headers={"Authorization": f"Bearer {token}"})
    assert stopped.status_code == 200
    # the DELETE ended the session, not the broadcast: the slot is interrupted and takes the token again
    row = await slot_row(services, slot_id)
    assert row.state == SlotState.LIVE.value and row.publish_session is None
    info = (await client.http.get(f"/api/slots/{slot_id}")).json()
    assert info["state"] == "live" and info["publisher"] == "interrupted"
    again = await client.http.post(f"/whip/{slot_id}", content=OBS_OFFER, headers=auth(token))
    assert again.status_code == 201, again.text
    assert again.headers["location"] != location
    # the old session's DELETE arriving late changes nothing
    late = await client.http.delete(location, headers={"Authorization": f"Bearer {token}"})
    assert late.status_code == 404
    assert (await slot_row(services, slot_id)).publish_session == again.headers["etag"].strip('"')


async def test_whip_link_headers_name_the_ice_servers(make_client: Any, services: Services, settings: Any, app: Any) -> None:
    from cloudexpo.settings import IceServer

    object.__setattr__(services.settings, "ice_servers", [IceServer(["stun:127.0.0.1:3478"]), IceServer(["turn:127.0.0.1:3478?transport=udp"], "u", "p")])
    try:
        client = await make_client()
        slot_id, _ = await make_slot(services)
        pre = await client.http.options(f"/whip/{slot_id}", headers={"Origin": "https://obs.example", "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 204
        assert '<stun:127.0.0.1:3478>; rel="ice-server"' in pre.headers["link"]
        assert 'username="u"' in pre.headers["link"]
    finally:
        object.__setattr__(services.settings, "ice_servers", [])


async def test_whip_options_is_a_cors_preflight(client: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services)
    response = await client.http.options(f"/whip/{slot_id}", headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert "Content-Type" in response.headers["access-control-allow-headers"]
    for exposed in ("Location", "Link", "ETag"):
        assert exposed in response.headers["access-control-expose-headers"]
    assert (await client.http.options(f"/whep/{slot_id}")).status_code == 204


async def test_whip_refusals_say_what_to_fix(client: Any, services: Services) -> None:
    slot_id, token = await make_slot(services)
    missing = await client.http.post(f"/whip/{slot_id}", content=OBS_OFFER, headers=SDP)
    assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.http.post(f"/whip/{slot_id}", content=OBS_OFFER, headers=auth("cxw_wrong"))
    assert wrong.status_code == 403 and "token" in wrong.json()["detail"]
    unknown = await client.http.post("/whip/999999", content=OBS_OFFER, headers=auth(token))
    assert unknown.status_code == 404 and "no slot" in unknown.json()["detail"]
    text_type = await client.http.post(f"/whip/{slot_id}", content=OBS_OFFER, headers={"Content-Type": "text/plain", "Authorization": f"Bearer {token}"})
    assert text_type.status_code == 415 and "application/sdp" in text_type.json()["detail"]
    no_video = await client.http.post(f"/whip/{slot_id}", content=audio_only(OBS_OFFER), headers=auth(token))
    assert no_video.status_code == 400 and "video" in no_video.json()["detail"].lower()
    garbage = await client.http.post(f"/whip/{slot_id}", content="hello", headers=auth(token))
    assert garbage.status_code == 400 and "v=0" in garbage.json()["detail"]
    assert (await client.http.get(f"/whip/{slot_id}")).status_code == 405
    later_id, later_token = await make_slot(services, stage="release-b", start_in=dt.timedelta(hours=2))
    early = await client.http.post(f"/whip/{later_id}", content=OBS_OFFER, headers=auth(later_token))
    assert early.status_code == 409 and "opens for publishing" in early.json()["detail"]
    past_id, past_token = await make_slot(services, stage="release-c", start_in=dt.timedelta(hours=-3), minutes=30)
    late = await client.http.post(f"/whip/{past_id}", content=OBS_OFFER, headers=auth(past_token))
    assert late.status_code == 409 and "ended" in late.json()["detail"]
    for body in (missing, wrong, unknown, text_type, no_video, early):
        assert set(body.json()) >= {"error", "detail"}
        assert body.headers["access-control-allow-origin"] == "*"


async def test_green_room_then_on_air(client: Any, signed_in: Any, services: Services) -> None:
    slot_id, token = await make_slot(services, start_in=dt.timedelta(minutes=10))
    response = await client.http.post(f"/whip/{slot_id}", content=OBS_OFFER, headers=auth(token))
    assert response.status_code == 201, response.text
    assert response.headers["x-slot-state"] == "green_room"
    assert (await slot_row(services, slot_id)).state == SlotState.GREEN_ROOM.value
    # visitors see "starting soon", not the preview
    anonymous = await client.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers=SDP)
    assert anonymous.status_code == 401 and "green room" in anonymous.json()["detail"]
    visitor = await signed_in("visitor")
    assert (await visitor.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers=SDP)).status_code == 403
    page = await client.get(f"/live/{slot_id}?lang=en")
    assert "Starting soon" in page.text
    moderator = await signed_in("moderator")
    on_air = await moderator.post(f"/api/slots/{slot_id}/on-air")
    assert on_air.status_code == 200 and on_air.json()["state"] == "live"
    row = await slot_row(services, slot_id)
    assert row.state == SlotState.LIVE.value and row.live_at is not None
    end = await moderator.post(f"/api/slots/{slot_id}/end")
    assert end.status_code == 200 and end.json()["state"] == "ended"
    page = await client.get(f"/live/{slot_id}?lang=en")
    assert 'id="replay"' in page.text and "replay is coming" in page.text


async def test_whep_refusals(client: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, start_in=dt.timedelta(hours=1))
    not_live = await client.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers=SDP)
    assert not_live.status_code == 409 and "not live" in not_live.json()["detail"]
    assert (await client.http.post("/whep/999999", content=OBS_OFFER, headers=SDP)).status_code == 404
    assert (await client.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers={"Content-Type": "application/json"})).status_code == 415
    assert (await client.http.post(f"/whep/{slot_id}", content=OBS_OFFER, headers=auth("cxw_wrong"))).status_code == 403
    assert (await client.http.delete(f"/whep/{slot_id}/nosuchsession")).status_code == 404
    assert (await client.http.patch(f"/whep/{slot_id}/x", content="")).status_code == 405


# --- who may do what ----------------------------------------------------------------

ROLES = ["anonymous", "visitor", "own", "other", "moderator"]


@pytest.fixture
async def as_role(make_client: Any, signed_in: Any) -> Any:
    async def make(role: str) -> Any:
        if role == "anonymous":
            return await make_client()
        if role == "own":
            return await signed_in("exhibitor", 70)
        if role == "other":
            return await signed_in("exhibitor", 71)
        return await signed_in(role)

    return make


CASES: list[tuple[str, str, dict[str, Any] | None, list[int]]] = [
    # method, path ({id} = slot), json body, statuses for anonymous, visitor, own, other, moderator
    ("GET", "/api/slots/{id}/token", None, [401, 403, 200, 403, 200]),
    ("GET", "/api/slots/{id}/stats", None, [401, 403, 200, 403, 200]),
    ("GET", "/dashboard/live/{id}", None, [303, 403, 200, 403, 200]),
    ("GET", "/dashboard/live", None, [303, 403, 200, 200, 200]),
    ("GET", "/moderate/live", None, [303, 403, 403, 403, 200]),
    ("GET", "/api/live/status", None, [401, 403, 403, 403, 200]),
    ("POST", "/api/slots/{id}/on-air", None, [401, 403, 403, 403, 200]),
    ("POST", "/api/slots/{id}/end", None, [401, 403, 409, 403, 200]),  # the staff end only a running broadcast
    ("POST", "/api/slots/{id}/kick", None, [401, 403, 403, 403, 200]),
    ("POST", "/api/slots/{id}/token", None, [401, 403, 403, 403, 200]),
    ("POST", "/api/slots/{id}/cancel", None, [401, 403, 403, 403, 200]),
    ("POST", "/api/slots/{id}/approve", None, [401, 403, 403, 403, 200]),
    ("PATCH", "/api/slots/{id}", {"minutes": 45}, [401, 403, 403, 403, 200]),
    ("POST", "/api/slots/{id}/mutes", {"user_id": 12345}, [401, 403, 403, 403, 201]),
    ("POST", "/api/slots/{id}/chat", {"text": "你好"}, [401, 201, 201, 201, 201]),
    ("GET", "/api/slots/{id}/chat", None, [200, 200, 200, 200, 200]),
    ("GET", "/api/slots/{id}", None, [200, 200, 200, 200, 200]),
    ("GET", "/live/{id}", None, [200, 200, 200, 200, 200]),
    ("GET", "/programme", None, [200, 200, 200, 200, 200]),
]


@pytest.mark.parametrize("role_index,role", list(enumerate(ROLES)))
async def test_authorisation_of_every_endpoint(role_index: int, role: str, as_role: Any, services: Services) -> None:
    client = await as_role(role)
    for index, (method, path, body, statuses) in enumerate(CASES):
        slot_id, _ = await make_slot(services, stage=f"auth-{index}", start_in=dt.timedelta(minutes=5))
        url = path.replace("{id}", str(slot_id))
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        if method == "GET":
            response = await client.http.get(url, headers={"Accept": "application/json"} if url.startswith("/api/") else {}, follow_redirects=False)
        else:
            response = await getattr(client, method.lower())(url, **kwargs)
        assert response.status_code == statuses[role_index], f"{role} {method} {url}: {response.status_code} {response.text[:200]}"


@pytest.mark.parametrize("role_index,role", list(enumerate(ROLES)))
async def test_green_room_preview_needs_the_token_or_staff(role_index: int, role: str, as_role: Any, services: Services) -> None:
    slot_id, _ = await make_slot(services, start_in=dt.timedelta(minutes=5), state=SlotState.GREEN_ROOM.value)
    client = await as_role(role)
    # from a Cloud Expo page: the sign-in cookie counts with the page's CSRF token
    response = await client.post(f"/whep/{slot_id}", content=OBS_OFFER, headers=SDP)
    expected = [401, 403, None, 403, None][role_index]
    if expected is None:  # allowed to preview; there is no stream in this test, so 409
        assert response.status_code == 409, response.text
    else:
        assert response.status_code == expected, response.text
    # the DELETE of a publishing session needs the token or the staff
    session = await client.delete(f"/whip/{slot_id}/nosuch")
    assert session.status_code == [401, 403, 404, 403, 404][role_index]
