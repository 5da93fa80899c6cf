"""Re-publishing to an external media cluster: node A, with CLOUDEXPO_EGRESS_WHIP_URL pointing at a second
Cloud Expo (B: ``cloudexpo serve`` in its own process, with its own database and storage, standing in for
the organiser's cluster), re-publishes a broadcast there without transcoding; a viewer on B decodes the
publisher's test card; when B is killed and comes back, A publishes again after its back-off; when the
broadcast ends on A (End), A ends its session on B (DELETE), which interrupts B's broadcast (a WHIP DELETE
ends a session, not the broadcast)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudexpo.app import open_services
from cloudexpo.settings import Settings, load_settings
from streaming import testsource
from streaming.testsource import colour_close, publish_test_card, watch
from tests import janus_support
from tests.conftest import IN_CI, free_port, live_settings, serve_app
from tests.janus_support import JanusWhip
from tests.live_support import make_slot, moderator_over_http
from tests.test_replay_crash import Server, server_env

pytestmark = pytest.mark.media
HOSTS = ("127.0.0.1",)
MARKER = (0, 200, 90)
SDP = {"Content-Type": "application/sdp"}


async def _slot(settings: Settings) -> tuple[int, str]:
    svc = open_services(settings)
    try:
        await svc.db.migrate()  # before the node first starts
        return await make_slot(svc, start_in=dt.timedelta(minutes=-1), minutes=30)
    finally:
        await svc.db.close()


async def _publisher_connected(http: httpx.AsyncClient, base: str, slot_id: int, within: float = 30) -> None:
    for _ in range(int(within * 10)):
        info = (await http.get(f"{base}/api/slots/{slot_id}")).json()
        if info["publisher"] == "connected" and info["state"] == "live":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no publisher connected to slot {slot_id} at {base}")


async def _watch_b(http: httpx.AsyncClient, base: str, slot_id: int) -> testsource.TestViewer:
    async def whep(offer: str) -> str:
        response = await http.post(f"{base}/whep/{slot_id}", content=offer, headers=SDP)
        assert response.status_code == 201, response.text
        return response.text

    viewer = await watch(whep, hosts=HOSTS)
    await viewer.wait_frames(10, within=20)
    counters = [c for c, _, _ in viewer.frames[-5:]]
    assert counters == sorted(counters) and counters[-1] > counters[0]
    assert colour_close(viewer.frames[-1][1], MARKER)  # the publisher's picture, through A and B
    return viewer


async def test_origin_republishes_to_an_external_whip_server(tmp_path: Path) -> None:
    b_env = server_env(tmp_path / "b", free_port())
    b_port = b_env["CLOUDEXPO_PORT"]
    b_slot, b_token = await _slot(load_settings(environ=b_env))
    b = Server(b_env, tmp_path / "b.log")
    a_settings = live_settings(
        tmp_path / "a",
        egress_whip_url=f"http://127.0.0.1:{b_port}/whip/{{slot}}",
        egress_whip_token=b_token,
        egress_whep_url=f"http://127.0.0.1:{b_port}/whep/{{slot}}",
    )
    a_slot, a_token = await _slot(a_settings)
    assert a_slot == b_slot  # the URL template maps A's slot onto B's
    async with httpx.AsyncClient(timeout=20) as http:
        with serve_app(a_settings, "node-a") as a:
            # the watch page plays the cluster's WHEP URL, and may fetch from it (CSP)
            page = await http.get(f"{a.url}/live/{a_slot}")
            assert f'"whep": "http://127.0.0.1:{b_port}/whep/{a_slot}"' in page.text
            assert f"http://127.0.0.1:{b_port}" in page.headers["content-security-policy"]

            location = ""

            async def whip(offer: str) -> str:
                nonlocal location
                response = await http.post(f"{a.url}/whip/{a_slot}", content=offer, headers={**SDP, "Authorization": f"Bearer {a_token}"})
                assert response.status_code == 201, response.text
                location = response.headers["location"]
                return response.text

            viewers: list[testsource.TestViewer] = []
            publisher: Any = None
            try:
                b.start()
                await b.ready(http)
                publisher = await publish_test_card(whip, colour=MARKER, hosts=HOSTS)
                await _publisher_connected(http, a.url, a_slot)
                await _publisher_connected(http, b.url, b_slot)  # A's egress reached B
                viewers.append(await _watch_b(http, b.url, b_slot))
                await viewers[-1].close()
                # B dies (the cluster drops the session), then comes back: A publishes again after its back-off
                b.kill()
                await asyncio.sleep(2)
                b.start()
                await b.ready(http)
                await _publisher_connected(http, b.url, b_slot, within=45)
                viewers.append(await _watch_b(http, b.url, b_slot))
                # the broadcast ends on A (End): A ends its session on B (DELETE), which interrupts B's
                mod = await moderator_over_http(a_settings, a.url, "mod-egress@example.org")
                try:
                    ended = await mod.post(f"/api/slots/{a_slot}/end")
                finally:
                    await mod.http.aclose()
                assert ended.status_code == 200 and ended.json()["state"] == "ended"
                for _ in range(100):
                    if (await http.get(f"{b.url}/api/slots/{b_slot}")).json()["publisher"] == "interrupted":
                        break
                    await asyncio.sleep(0.1)
                assert (await http.get(f"{b.url}/api/slots/{b_slot}")).json()["publisher"] == "interrupted", b.output()
            finally:
                for viewer in viewers:
                    await viewer.close()
                if publisher is not None:
                    await publisher.close()
                b.stop()


@pytest.fixture
def janus(tmp_path: Path) -> Iterator[JanusWhip]:
    """Janus behind simple-whip-server, in a network namespace (tests/janus_support.py)."""
    lacking = janus_support.missing()
    if lacking is not None:
        if IN_CI:
            pytest.fail(f"the Janus egress test cannot run: {lacking}")
        pytest.skip(lacking)
    with janus_support.janus_whip_server(tmp_path / "janus") as server:
        yield server


async def test_origin_republishes_to_janus(janus: JanusWhip, tmp_path: Path) -> None:
    """The third-party WHIP server of the issue: Janus's VideoRoom behind Meetecho's simple-whip-server.
    A subscriber of the room decodes the publisher's test card, re-published by Cloud Expo untouched."""
    settings = live_settings(
        tmp_path / "a",
        ice_hosts=["127.0.0.1", janus.host_address],  # where Cloud Expo reaches the cluster
        egress_whip_url=janus.whip_url("expo-{slot}"),
        egress_whip_token="janus-token",
    )
    slot_id, token = await _slot(settings)
    await janus.create_endpoint(f"expo-{slot_id}", "janus-token")
    subscriber = janus_support.JanusSubscriber(janus)
    publisher: Any = None
    async with httpx.AsyncClient(timeout=20) as http:
        with serve_app(settings, "node-a") as a:

            async def whip(offer: str) -> str:
                response = await http.post(f"{a.url}/whip/{slot_id}", content=offer, headers={**SDP, "Authorization": f"Bearer {token}"})
                assert response.status_code == 201, response.text
                return response.text

            try:
                publisher = await publish_test_card(whip, colour=MARKER, hosts=HOSTS)
                viewer = await subscriber.watch()
                await viewer.wait_frames(10, within=20)
                counters = [c for c, _, _ in viewer.frames[-5:]]
                assert counters == sorted(counters) and counters[-1] > counters[0]
                assert colour_close(viewer.frames[-1][1], MARKER), janus.output()
            finally:
                await subscriber.close()
                if publisher is not None:
                    await publisher.close()
