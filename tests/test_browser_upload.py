"""An exhibitor uploads a 50 MB video from the media page in Chromium, reloads
the page half-way, and the upload resumes where it stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from booths.exhibition.models import Booth, Exhibitor, Hall, Zone
from booths.media.models import Asset
from cloudexpo import accounts
from cloudexpo.services import Services
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD, LiveServer
from tests.test_media_support import make_video, pad_mp4

pytestmark = pytest.mark.browser

VIDEO_BYTES = 50_000_000
HELD_AFTER = 3  # parts let through before the "network" stalls


async def _seed(live: LiveServer) -> tuple[int, str]:
    services = Services.from_settings(live.settings)
    try:
        async with services.db.session() as db:
            hall = Hall(code="1", name={"en": "Hall 1"})
            db.add(hall)
            await db.flush()
            zone = Zone(hall_id=hall.id, slug="quality", code="1A", name={"en": "Quality"})
            db.add(zone)
            await db.flush()
            exhibitor = Exhibitor(name={"en": "Chengdu Motors"}, region="sichuan", industry="new-energy-vehicles")
            db.add(exhibitor)
            await db.flush()
            booth = Booth(number="1A-001", zone_id=zone.id, exhibitor_id=exhibitor.id,
                          name={"en": "Chengdu Motors"}, published=True)
            db.add(booth)
            email = "staff@chengdu-motors.example"
            await accounts.create_user(db, email, PASSWORD, display_name="Staff", role="exhibitor",
                                       exhibitor_id=exhibitor.id)
            await db.commit()
            return booth.id, email
    finally:
        await services.close()


async def _asset_state(live: LiveServer, asset_id: int) -> tuple[str, dict[str, Any]]:
    services = Services.from_settings(live.settings)
    try:
        async with services.db.session() as db:
            asset = await db.get(Asset, asset_id)
            assert asset is not None
            return asset.state, dict(asset.meta)
    finally:
        await services.close()


def test_video_upload_resumes_after_a_reload(live_server: LiveServer, artifacts: Path, tmp_path: Path) -> None:
    booth_id, email = asyncio.run(_seed(live_server))
    clip = make_video(tmp_path / "clip.mp4", seconds=2.0).read_bytes()
    video = tmp_path / "launch-film.mp4"
    video.write_bytes(pad_mp4(clip, VIDEO_BYTES))

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/lang/en?next=/signin")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".who")
        page.goto(f"{live_server.url}/dashboard/booths/{booth_id}/media")
        wait_until(page, "document.getElementById('quota-text').textContent.includes('free')")
        assert "2.1 GB" in page.locator("#quota-text").inner_text()  # the quota shows before anything starts

        # The first parts pass; then the network stalls (the rest are held).
        seen: list[str] = []
        held: list[Any] = []

        def stall(route: Any) -> None:
            seen.append(route.request.url)
            if len(seen) <= HELD_AFTER:
                route.continue_()
            else:
                held.append(route)  # stalled until the network drops them

        page.route("**/storage/part/**", stall)
        page.select_option("#upload-kind", "video")
        page.set_input_files("#upload-file", str(video))
        page.click("#upload-start")
        page.wait_for_selector(f"#media-app[data-parts-done='{HELD_AFTER}']", timeout=60_000)
        assert page.locator("#upload-progress").is_visible()
        percent = int(page.locator("#upload-bar").get_attribute("value") or "0")
        assert 30 <= percent < 100, percent
        assert page.locator("#upload-bytes").inner_text().endswith("/ 50 MB")
        assert page.locator("#upload-speed").inner_text().endswith("/s")
        page.screenshot(path=str(artifacts / "media-upload-progress.png"), full_page=True)
        upload_id = page.locator("#media-app").get_attribute("data-upload-id")

        # A reload mid-way: the page remembers the upload.
        assert held, "the stalled parts were waiting"
        for route in held:
            route.abort("connectionreset")  # the network drops them
        page.unroute("**/storage/part/**")
        page.reload()
        wait_until(page, "document.getElementById('resume-notice').textContent.includes('interrupted')")
        page.screenshot(path=str(artifacts / "media-upload-interrupted.png"), full_page=True)
        resumed: list[str] = []
        page.on("request", lambda r: resumed.append(r.url) if "/storage/part/" in r.url else None)
        page.set_input_files("#upload-file", str(video))
        wait_until(page, "document.getElementById('resume-notice').textContent.includes('Resuming')")
        page.click("#upload-start")
        page.wait_for_selector("#media-app[data-upload-state='complete']", timeout=120_000)
        app = page.locator("#media-app")
        assert app.get_attribute("data-upload-id") == upload_id
        assert app.get_attribute("data-resumed-parts") == str(HELD_AFTER)
        total_parts = -(-VIDEO_BYTES // (8 * 1024 * 1024))
        assert len(resumed) == total_parts - HELD_AFTER, resumed  # only the missing parts were sent
        asset_id = int(app.get_attribute("data-asset-id") or "0")
        page.wait_for_selector(f"li[data-asset-id='{asset_id}'][data-state='ready']", timeout=60_000)
        page.screenshot(path=str(artifacts / "media-upload-ready.png"), full_page=True)
        assert page.evaluate("localStorage.getItem('cloudexpo.uploads')") == "{}"
    state, meta = asyncio.run(_asset_state(live_server, asset_id))  # Playwright's loop is gone now
    assert state == "ready"
    assert meta["codecs"]["video"] == "h264" and meta["browser_playable"] is True
