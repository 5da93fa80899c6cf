"""Chromium viewers whose WebRTC cannot work fall back to the live HLS playlist and play it in hls.js:
one on a network where ICE is impossible (the server's candidates unreachable, as where a company's
firewall drops UDP), one whose WHEP requests are blocked. The video plays (time advances, frames are decoded), the page says it is
the delayed stream, and the delay behind the server is printed (-s) and kept with the screenshots."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from cloudexpo.app import import_models
from cloudexpo.services import Services
from tests.browser_support import chromium, wait_until
from tests.conftest import live_settings, serve_app
from tests.live_support import PublisherThread, ViewerThread, make_slot

pytestmark = [pytest.mark.browser, pytest.mark.media]

PLAYER = "window.cloudexpo && window.cloudexpo.player"
VIEWERS = "document.querySelector('[data-role=\"viewers\"]').textContent.trim()"


def _slot(settings: Any) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        import_models()
        svc = Services.from_settings(settings)
        try:
            return await make_slot(svc, start_in=dt.timedelta(minutes=-1), minutes=30)
        finally:
            await svc.db.close()

    return asyncio.run(go())


def _unreachable_candidates(route: Any) -> None:
    """The real WHEP answer, its candidates pointing at a port where nothing answers: ICE fails as on a
    network that drops UDP, while the session, its Link headers and its DELETE stay real."""
    if route.request.method != "POST":
        route.continue_()
        return
    response = route.fetch()
    body = re.sub(r"(a=candidate:\S+ \d+ udp \d+ \S+ )\d+", r"\g<1>9", response.text())
    route.fulfill(response=response, body=body)


def _plays_delayed(page: Any) -> dict[str, Any]:
    """The page is on the delayed stream, and hls.js plays it: time advances and frames are decoded."""
    wait_until(page, f"{PLAYER} && {PLAYER}.mode() === 'hls'", timeout=20000)
    wait_until(page, "document.getElementById('player-video').currentTime > 1", timeout=40000)
    before = page.evaluate("[document.getElementById('player-video').currentTime, document.getElementById('player-video').getVideoPlaybackQuality().totalVideoFrames]")
    page.wait_for_timeout(2000)
    after = page.evaluate("[document.getElementById('player-video').currentTime, document.getElementById('player-video').getVideoPlaybackQuality().totalVideoFrames]")
    assert after[0] > before[0] + 1, (before, after)
    assert after[1] > before[1], (before, after)
    assert page.is_visible('[data-role="delayed-badge"]')
    assert page.is_visible('[data-role="delayed-note"]')
    assert page.evaluate("document.getElementById('player-video').srcObject") is None  # not WebRTC
    return {"time": after[0], "frames": after[1]}


def test_viewers_without_webrtc_fall_back_to_live_hls(tmp_path: Path, artifacts: Path) -> None:
    settings = live_settings(tmp_path)
    with serve_app(settings) as server:
        slot_id, token = _slot(settings)
        publisher = PublisherThread(server.url, slot_id, token)
        publisher.start()
        assert publisher.started.wait(30) and publisher.error is None, publisher.error
        try:
            with chromium() as browser:
                errors: list[str] = []
                # no UDP: WHEP answers, ICE never connects, and after a few seconds the page plays HLS
                phone = browser.new_context(viewport={"width": 375, "height": 812}, locale="en-US", is_mobile=True, has_touch=True)
                page = phone.new_page()
                page.on("pageerror", lambda exc: errors.append(f"{exc}"))
                page.route("**/whep/**", _unreachable_candidates)
                page.goto(f"{server.url}/live/{slot_id}?lang=en")
                _plays_delayed(page)
                delays = []
                for _ in range(10):
                    delay = page.evaluate(f"{PLAYER}.delay()")
                    if delay is not None:
                        delays.append(delay)
                    page.wait_for_timeout(1000)
                assert delays, "hls.js reported no playing date (EXT-X-PROGRAM-DATE-TIME)"
                figures = {"delay_s_median": round(statistics.median(delays), 2), "delay_s_max": round(max(delays), 2), "samples": len(delays)}
                print("live HLS delay behind the server:", figures)
                (artifacts / "live-hls-delay.json").write_text(json.dumps(figures))
                page.screenshot(path=str(artifacts / "live-watch-hls-phone.png"), full_page=True)

                # WHEP itself blocked (a proxy refusing it): the page falls back at once
                desktop = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
                blocked = desktop.new_page()
                blocked.on("pageerror", lambda exc: errors.append(f"{exc}"))
                blocked.route("**/whep/**", lambda route: route.abort())
                blocked.goto(f"{server.url}/live/{slot_id}")
                _plays_delayed(blocked)
                assert "延时" in blocked.text_content('[data-role="delayed-badge"]')
                blocked.screenshot(path=str(artifacts / "live-watch-hls-blocked.png"))
                assert not errors, errors
        finally:
            publisher.stop_event.set()
            publisher.join(15)


def test_a_full_node_sends_the_viewer_to_hls_and_back_when_a_place_frees(tmp_path: Path, artifacts: Path) -> None:
    """CLOUDEXPO_MAX_WEBRTC_VIEWERS=1 and an aiortc viewer holds the place: the page gets 503 and plays
    HLS (counted among the viewers); the viewer leaves; after Retry-After (the page's clock moved on) it
    moves to WebRTC."""
    settings = live_settings(tmp_path, max_webrtc_viewers=1)
    with serve_app(settings) as server:
        slot_id, token = _slot(settings)
        publisher = PublisherThread(server.url, slot_id, token)
        publisher.start()
        assert publisher.started.wait(30) and publisher.error is None, publisher.error
        holder = ViewerThread(server.url, slot_id)
        holder.start()
        assert holder.started.wait(30) and holder.error is None, holder.error
        try:
            with chromium() as browser:
                errors: list[str] = []
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.on("pageerror", lambda exc: errors.append(f"{exc}"))
                page.clock.install()  # time flows as usual; fast_forward jumps the Retry-After wait
                full: list[int] = []
                page.on("response", lambda r: full.append(r.status) if "/whep/" in r.url and r.request.method == "POST" else None)
                page.goto(f"{server.url}/live/{slot_id}?lang=en")
                _plays_delayed(page)
                assert 503 in full
                # the page playing HLS counts as a viewer beside the WebRTC one holding the place
                wait_until(page, f"{VIEWERS} === '2'", timeout=10000)
                holder.stop_event.set()
                holder.join(15)
                page.clock.fast_forward(50_000)  # past any Retry-After (15-45 s)
                wait_until(page, f"{PLAYER}.mode() === 'webrtc'", timeout=20000)
                wait_until(page, "document.getElementById('player-video').srcObject !== null", timeout=5000)
                assert not page.is_visible('[data-role="delayed-badge"]')
                assert not page.is_visible('[data-role="delayed-note"]')
                assert full[-1] == 201
                wait_until(page, f"{VIEWERS} === '1'", timeout=10000)  # counted once, on WebRTC now
                assert not errors, errors
        finally:
            holder.stop_event.set()
            publisher.stop_event.set()
            publisher.join(15)

