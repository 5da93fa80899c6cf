"""Media end to end through the real HTTP endpoints on a live server, over 127.0.0.1 only:
an aiortc publisher POSTs to /whip, two aiortc viewers POST to /whep and decode the test
card; the publisher stops and starts again as OBS does and the viewers decode again in the
sessions they had; End, or the slot's end, ends it for everyone."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.models import Slot
from streaming.testsource import colour_close, publish_test_card, watch
from tests.conftest import live_settings, serve_app
from tests.live_support import make_slot, moderator_over_http

pytestmark = pytest.mark.media
HOSTS = ("127.0.0.1",)
MARKER = (255, 64, 0)
SECOND = (0, 200, 80)


async def _slot(live_server: Any, start_in: dt.timedelta = dt.timedelta(minutes=-1)) -> tuple[int, str]:
    import_models()
    svc = Services.from_settings(live_server.settings)
    try:
        return await make_slot(svc, start_in=start_in)
    finally:
        await svc.db.close()


async def _wait_api(http: httpx.AsyncClient, slot_id: int, **expected: Any) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for _ in range(150):
        info = (await http.get(f"/api/slots/{slot_id}")).json()
        if all(info.get(k) == v for k, v in expected.items()):
            return info
        await asyncio.sleep(0.1)
    raise AssertionError(f"slot {slot_id} never had {expected}: {info}")


async def test_publish_stop_start_replace_and_end_through_http(live_server: Any) -> None:
    """OBS's Stop then Start with the same token: 201 again, and viewers that stayed connected
    decode the new session's frames with no new WHEP session; a second publisher replaces the
    one there; only End ends the broadcast for everyone."""
    slot_id, token = await _slot(live_server)
    import_models()
    moderator_client = await moderator_over_http(live_server.settings, live_server.url, "moderator-live@example.org")
    locations: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=live_server.url, timeout=20) as http:

        async def whip(offer: str) -> str:
            response = await http.post(f"/whip/{slot_id}", content=offer, headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
            assert response.status_code == 201, response.text
            locations["whip"] = response.headers["location"]
            return response.text

        def whep(name: str) -> Any:
            async def signal(offer: str) -> str:
                response = await http.post(f"/whep/{slot_id}", content=offer, headers={"Content-Type": "application/sdp"})
                assert response.status_code == 201, response.text
                locations[name] = response.headers["location"]
                return response.text

            return signal

        publishers = [await publish_test_card(whip, colour=MARKER, hosts=HOSTS)]
        viewers = []
        try:
            await _wait_api(http, slot_id, publisher="connected", state="live")
            viewers = [await watch(whep("v1"), hosts=HOSTS), await watch(whep("v2"), hosts=HOSTS)]
            for viewer in viewers:
                await viewer.wait_frames(10, within=20)
                counters = [c for c, _, _ in viewer.frames[-5:]]
                assert counters == sorted(counters) and counters[-1] > counters[0]
                assert colour_close(viewer.frames[-1][1], MARKER)
            info = await _wait_api(http, slot_id, viewers=2)
            # OBS's Stop: the session's DELETE interrupts the broadcast; it does not end it
            stopped = await http.delete(locations["whip"], headers={"Authorization": f"Bearer {token}"})
            assert stopped.status_code == 200
            await publishers[0].close()
            info = await _wait_api(http, slot_id, publisher="interrupted")
            assert info["state"] == "live"
            await asyncio.sleep(1.0)  # the gap viewers wait through
            assert all(v.pc.connectionState == "connected" and not v.ended.is_set() for v in viewers)
            before = [len(v.frames) for v in viewers]
            # OBS's Start: the same token publishes again (a new encoder: new SSRC, numbers and picture)
            started = time.monotonic()
            publishers.append(await publish_test_card(whip, colour=SECOND, start=5000, hosts=HOSTS))
            await _wait_api(http, slot_id, publisher="connected")
            for viewer, seen in zip(viewers, before, strict=True):
                await viewer.wait_frames(15, within=20)  # the same WHEP session decodes again
                new = [f for f in viewer.frames[seen:] if f[0] >= 5000]
                assert new and colour_close(new[-1][1], SECOND)
                print(f"resumed: a viewer decoded the new session's first frame {new[0][2] - started:.2f} s after its WHIP POST")
            # a second publisher with the token replaces the one there (a reloaded page whose
            # old session is still up): the old session is closed, viewers stay
            publishers.append(await publish_test_card(whip, colour=MARKER, start=20000, hosts=HOSTS))
            for _ in range(100):
                if publishers[1].pc.connectionState == "closed":
                    break
                await asyncio.sleep(0.1)
            assert publishers[1].pc.connectionState == "closed"
            for viewer in viewers:
                await viewer.wait_frames(15, within=20)
                assert viewer.frames[-1][0] >= 20000 and colour_close(viewer.frames[-1][1], MARKER)
            # End (a moderator here; the go-live page's confirmed End is the same call) ends it for everyone
            ended = await moderator_client.post(f"/api/slots/{slot_id}/end")
            assert ended.status_code == 200 and ended.json()["state"] == "ended"
            await asyncio.gather(*(asyncio.wait_for(v.ended.wait(), 15) for v in viewers))
            refused = await http.post(f"/whep/{slot_id}", content=publishers[0].pc.localDescription.sdp, headers={"Content-Type": "application/sdp"})
            assert refused.status_code == 409
            again = await http.post(f"/whip/{slot_id}", content=publishers[0].pc.localDescription.sdp, headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
            assert again.status_code == 409 and "ended" in again.json()["detail"]
        finally:
            for viewer in viewers:
                await viewer.close()
            for publisher in publishers:
                await publisher.close()
            await moderator_client.http.aclose()


async def test_the_slots_end_plus_its_overrun_ends_the_broadcast(tmp_path: Path) -> None:
    """No End pressed: the broadcast ends by itself once the slot's end and the overrun have passed,
    and a moderator's extension in between keeps it running."""
    with serve_app(live_settings(tmp_path, overrun_minutes=0)) as live_server:
        await _run_past_the_end(live_server)


async def _run_past_the_end(live_server: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    import_models()
    svc = Services.from_settings(live_server.settings)
    try:
        slot_id, token = await make_slot(svc, start_in=dt.timedelta(minutes=-1), minutes=1)
        # the slot ends in 2 s (the server's overrun is 0 in this test)
        async with svc.db.session() as db:
            row = await db.get(Slot, slot_id)
            assert row is not None
            row.ends_at = now + dt.timedelta(seconds=2)
            await db.commit()
        async with httpx.AsyncClient(base_url=live_server.url, timeout=20) as http:

            async def whip(offer: str) -> str:
                response = await http.post(f"/whip/{slot_id}", content=offer, headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
                assert response.status_code == 201, response.text
                return response.text

            publisher = await publish_test_card(whip, hosts=HOSTS)
            try:
                await _wait_api(http, slot_id, publisher="connected", state="live")
                # a moderator extends the running slot by 3 s (what the schedule editor does)
                async with svc.db.session() as db:
                    row = await db.get(Slot, slot_id)
                    assert row is not None
                    row.ends_at = now + dt.timedelta(seconds=5)
                    await db.commit()
                await asyncio.sleep(3.5)
                assert (await http.get(f"/api/slots/{slot_id}")).json()["state"] == "live"
                info = await _wait_api(http, slot_id, state="ended")
                assert info["publisher"] is None
                assert dt.datetime.fromisoformat(info["ended_at"]) >= now + dt.timedelta(seconds=5)
                for _ in range(100):
                    if publisher.pc.connectionState == "closed":
                        break
                    await asyncio.sleep(0.1)
                assert publisher.pc.connectionState in ("closed", "failed")
            finally:
                await publisher.close()
    finally:
        await svc.db.close()
