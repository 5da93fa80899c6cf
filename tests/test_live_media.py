"""Media end to end through the real HTTP endpoints on a live server, over 127.0.0.1 only:
an aiortc publisher POSTs to /whip, two aiortc viewers POST to /whep and decode the test
card, the server decodes nothing, and the publisher's DELETE ends it for everyone."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from cloudexpo.app import import_models
from cloudexpo.services import Services
from streaming.testsource import colour_close, publish_test_card, watch
from tests.live_support import make_slot

pytestmark = pytest.mark.media
HOSTS = ("127.0.0.1",)
MARKER = (255, 64, 0)


async def _slot(live_server: Any, start_in: dt.timedelta = dt.timedelta(minutes=-1)) -> tuple[int, str]:
    import_models()
    svc = Services.from_settings(live_server.settings)
    try:
        return await make_slot(svc, start_in=start_in)
    finally:
        await svc.db.close()


async def test_publish_watch_and_end_through_http(live_server: Any) -> None:
    slot_id, token = await _slot(live_server)
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

        publisher = await publish_test_card(whip, colour=MARKER, hosts=HOSTS)
        viewers = []
        try:
            # wait until the publisher is connected (its media arrives), then watch
            for _ in range(100):
                info = (await http.get(f"/api/slots/{slot_id}")).json()
                if info["publisher"] == "connected" and info["state"] == "live":
                    break
                await asyncio.sleep(0.1)
            viewers = [await watch(whep("v1"), hosts=HOSTS), await watch(whep("v2"), hosts=HOSTS)]
            for viewer in viewers:
                await viewer.wait_frames(10, within=20)
                counters = [c for c, _, _ in viewer.frames[-5:]]
                assert counters == sorted(counters) and counters[-1] > counters[0]
                assert colour_close(viewer.frames[-1][1], MARKER)
            # a second publisher while the first is connected is refused
            busy = await http.post(f"/whip/{slot_id}", content=publisher.pc.localDescription.sdp, headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
            assert busy.status_code == 409 and "already" in busy.json()["detail"]
            # the viewer count reaches the API within a couple of ticks
            for _ in range(40):
                if (await http.get(f"/api/slots/{slot_id}")).json()["viewers"] == 2:
                    break
                await asyncio.sleep(0.1)
            assert (await http.get(f"/api/slots/{slot_id}")).json()["viewers"] == 2
            # one viewer leaves with DELETE
            assert (await http.delete(locations["v2"])).status_code == 200
            # the publisher's DELETE ends it for everyone
            ended = await http.delete(locations["whip"], headers={"Authorization": f"Bearer {token}"})
            assert ended.status_code == 200
            await asyncio.wait_for(viewers[0].ended.wait(), 15)
            info = (await http.get(f"/api/slots/{slot_id}")).json()
            assert info["state"] == "ended"
            refused = await http.post(f"/whep/{slot_id}", content=publisher.pc.localDescription.sdp, headers={"Content-Type": "application/sdp"})
            assert refused.status_code == 409
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()
