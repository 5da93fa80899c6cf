"""Chromium: a visitor on one node video-calls the booth's staff member on another, from their conversation.

Two browser contexts with Chromium's fake camera and microphone. The first
call connects directly (frames decoded both ways); in the second, the
visitor's socket loses every ICE candidate of the signalling on its way
(Playwright rewrites its ``/ws`` frames), so the direct path cannot connect and
both sides go through the server's forwarder, again with frames both ways.
Screenshots of the call window at 1280 and 375 px in the three languages.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cloudexpo import accounts
from cloudexpo.app import import_models
from cloudexpo.services import Services
from tests.browser_support import chromium, sign_in, wait_until
from tests.call_support import call_nodes
from tests.conftest import PASSWORD
from tests.test_booths_support import make_expo

pytestmark = [pytest.mark.browser, pytest.mark.media]
__all__ = ["call_nodes"]  # the fixture: two app nodes as one deployment

LANGUAGES = ("en", "zh-Hans", "zh-Hant")


def _prepare(settings: Any) -> int:
    """The booth (its id) and its people: a visitor and a staff member."""
    async def go() -> int:
        import_models()
        svc = Services.from_settings(settings)
        try:
            expo = await make_expo(svc)
            number = next(iter(expo.booths))
            async with svc.db.session() as db:
                await accounts.create_user(db, "caller@example.org", PASSWORD, display_name="李明 Li Ming")
                await accounts.create_user(db, "desk@example.org", PASSWORD, display_name="展台 Desk", role="exhibitor",
                                           exhibitor_id=expo.exhibitors[number])
                await db.commit()
            return expo.booths[number]
        finally:
            await svc.db.close()

    return asyncio.run(go())


WINDOW = "document.querySelector('[data-call-window]')"
REMOTE = "document.querySelector('[data-call-remote]')"


def _frames_flow(page: Any) -> None:
    """The other side's video decodes: a size, time moving on, and new frames painted."""
    try:
        wait_until(page, f"{REMOTE}.videoWidth > 0", timeout=25000)
    except AssertionError:
        raise AssertionError(page.evaluate("JSON.stringify([window.__dbgpc.localDescription.sdp.match(/a=(sendrecv|recvonly|sendonly|inactive)/g), window.__dbgpc.remoteDescription.sdp.match(/a=(sendrecv|recvonly|sendonly|inactive)/g), window.__dbgpc.getReceivers().map(r => r.track.kind + r.track.readyState)])") + page.evaluate(f"""(function () {{ const v = {REMOTE}; const s = v.srcObject;
            return JSON.stringify({{src: !!s, tracks: s ? s.getTracks().map(function (t) {{ return [t.kind, t.readyState, t.muted]; }}) : null,
                paused: v.paused, ready: v.readyState, state: {WINDOW}.dataset.callState, status: document.querySelector('[data-call-status]').textContent}}); }})()""")) from None
    first = page.evaluate(f"{REMOTE}.currentTime")
    painted = page.evaluate(f"""new Promise(function (done) {{
        let n = 0; const v = {REMOTE};
        const next = function () {{ n += 1; if (n >= 10) {{ done(n); }} else {{ v.requestVideoFrameCallback(next); }} }};
        v.requestVideoFrameCallback(next);
        setTimeout(function () {{ done(n); }}, 8000);
    }})""")
    assert painted >= 10, painted
    assert page.evaluate(f"{REMOTE}.currentTime") > first


def _without_candidates(message: Any) -> Any:
    """A frame of /ws with the ICE candidates taken out of any offer or answer in it."""
    if not isinstance(message, str) or '"call_signal"' not in message:
        return message
    data = json.loads(message)
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict) and "sdp" in item:
            item["sdp"] = re.sub(r"a=candidate:[^\r\n]*\r\n", "", item["sdp"])
    return json.dumps(data)


def _strip_candidates(route: Any) -> None:
    """The page's /ws, but offers and answers lose their ICE candidates both ways: no direct path can form."""
    server = route.connect_to_server()
    route.on_message(lambda message: server.send(_without_candidates(message)))
    server.on_message(lambda message: route.send(_without_candidates(message)))


def test_a_video_call_from_a_conversation_direct_then_through_the_server(call_nodes: tuple[str, str, Any],
                                                                        artifacts: Path) -> None:
    url_a, url_b, settings = call_nodes
    booth_id = _prepare(settings)
    errors: list[str] = []
    with chromium() as browser:
        visitor_ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
        staff_ctx = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN", is_mobile=True, has_touch=True)
        visitor, staff = visitor_ctx.new_page(), staff_ctx.new_page()
        for name, page in (("visitor", visitor), ("staff", staff)):
            page.on("pageerror", lambda exc, name=name: errors.append(f"{name}: {exc}"))
        sign_in(visitor, url_a, "caller@example.org", PASSWORD, "en")
        sign_in(staff, url_b, "desk@example.org", PASSWORD, "zh-Hans")
        talk = visitor.evaluate(f"window.cloudexpo.api('POST', '/api/booths/{booth_id}/conversations', {{text: 'Video?'}})")
        inbox = f"/conversations/{talk['conversation']['id']}"

        # call 1: direct. The visitor rings from the conversation and waits on the call's page; the staff
        # member's page (any page) rings with the focus on Accept; Enter answers, on the call's own page.
        visitor.goto(url_a + inbox)
        visitor.click("[data-conv-actions] [data-call-start]")
        visitor.wait_for_url(re.compile(r".*/calls/\d+$"))
        wait_until(visitor, f"{WINDOW}.dataset.callState === 'ringing'", timeout=15000)
        wait_until(staff, f"{WINDOW}.dataset.callState === 'ringing'", timeout=15000)
        assert staff.evaluate("document.activeElement.hasAttribute('data-call-accept')")
        assert staff.get_attribute("[data-call-window]", "role") == "dialog"
        staff.screenshot(path=str(artifacts / "call-ringing-375-zh-Hans.png"))
        staff.keyboard.press("Enter")
        staff.wait_for_url(re.compile(r".*/calls/\d+\?accept=1$"))
        for page in (visitor, staff):
            wait_until(page, f"{WINDOW}.dataset.callPath === 'direct'", timeout=20000)
            _frames_flow(page)
        wait_until(visitor, "document.querySelector('[data-call-clock]').textContent !== '00:00'", timeout=5000)
        visitor.click("[data-call-mic]")
        assert visitor.get_attribute("[data-call-mic]", "aria-pressed") == "true"
        assert visitor.evaluate("document.querySelector('[data-call-local]').srcObject.getAudioTracks()[0].enabled") is False
        visitor.screenshot(path=str(artifacts / "call-direct-1280-en.png"))
        staff.screenshot(path=str(artifacts / "call-direct-375-zh-Hans.png"))
        staff.click("[data-call-hangup]")
        wait_until(visitor, f"{WINDOW}.dataset.callState === 'ended'", timeout=10000)

        # call 2: the direct path cannot connect (no candidate gets through): both go through the server.
        visitor.route_web_socket(re.compile(r".*/ws$"), _strip_candidates)
        visitor.goto(f"{url_a}/lang/zh-Hant?next={quote(inbox)}")
        visitor.click("[data-conv-actions] [data-call-start]")
        visitor.wait_for_url(re.compile(r".*/calls/\d+$"))
        wait_until(staff, f"{WINDOW}.dataset.callState === 'ringing'", timeout=15000)
        staff.click("[data-call-accept]")
        for page in (visitor, staff):
            try:
                wait_until(page, f"{WINDOW}.dataset.callPath === 'forwarder'", timeout=30000)
            except AssertionError:
                raise AssertionError([p.evaluate("[document.querySelector('[data-call-status]').textContent, " + WINDOW + ".dataset.callState, " + WINDOW + ".dataset.callPath, location.href]") for p in (visitor, staff)]) from None
            _frames_flow(page)
        visitor.screenshot(path=str(artifacts / "call-server-1280-zh-Hant.png"))
        visitor.click("[data-call-hangup]")
        wait_until(staff, f"{WINDOW}.dataset.callState === 'ended'", timeout=10000)

        records = staff.request.get(f"{url_b}/api/booths/{booth_id}/calls").json()["calls"]
        assert [r["path"] for r in records] == ["forwarder", "direct"] and all(r["answered_at"] for r in records)

        # every language at both widths: the caller's page (calling) and the ring on the other side
        for lang in LANGUAGES:
            visitor.goto(f"{url_a}/lang/{lang}?next={quote(inbox)}")
            staff.goto(f"{url_b}/lang/{lang}?next=/")
            if lang == "en":
                visitor.screenshot(path=str(artifacts / "call-button-1280-en.png"))
            visitor.click("[data-conv-actions] [data-call-start]")
            visitor.wait_for_url(re.compile(r".*/calls/\d+$"))
            wait_until(staff, f"{WINDOW}.dataset.callState === 'ringing'", timeout=15000)
            visitor.screenshot(path=str(artifacts / f"call-calling-1280-{lang}.png"))
            staff.screenshot(path=str(artifacts / f"call-ringing-375-{lang}.png"))
            staff.set_viewport_size({"width": 1280, "height": 860})
            staff.screenshot(path=str(artifacts / f"call-ringing-1280-{lang}.png"))
            staff.set_viewport_size({"width": 375, "height": 740})
            visitor.set_viewport_size({"width": 375, "height": 740})
            visitor.screenshot(path=str(artifacts / f"call-calling-375-{lang}.png"))
            visitor.set_viewport_size({"width": 1280, "height": 860})
            staff.click("[data-call-decline]")
            wait_until(visitor, f"{WINDOW}.dataset.callState === 'declined'", timeout=10000)
    assert not errors, errors
