"""Viewers whose networks block UDP: Chromium, forced to relay (``iceTransportPolicy:
"relay"``), plays a live broadcast through coturn (Debian's package, on 127.0.0.1) over TCP
and over TLS, with the TURN servers and the credential the watch page hands out. And coturn
itself takes the credentials Cloud Expo mints, and refuses expired and foreign ones."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from aioice.stun import TransactionFailed
from aioice.turn import create_turn_endpoint

from cloudexpo.app import import_models
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from cloudexpo.turn import client_ice_servers, mint
from tests.browser_support import chromium, wait_until
from tests.conftest import live_settings, serve_app
from tests.coturn_support import Coturn, run_coturn
from tests.live_support import PublisherThread, make_slot

pytestmark = pytest.mark.media
INFRA = Path(__file__).resolve().parent.parent / "infra"

# The page's RTCPeerConnection, as on a network where only the TURN server is reachable.
FORCE_RELAY = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = function (config) {
    const pc = new Native(Object.assign({}, config, { iceTransportPolicy: "relay" }));
    window.__peers.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""

# The selected pair's local candidate, and the frames decoded so far.
SELECTED = """
async () => {
  const pc = window.__peers[window.__peers.length - 1];
  const stats = await pc.getStats();
  let pair = null, frames = 0;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0;
  });
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
  return { type: local.candidateType, relayProtocol: local.relayProtocol, url: local.url || "",
           remote: remote.address + ":" + remote.port, frames: frames };
}
"""


@pytest.fixture
def coturn(tmp_path: Path) -> Any:
    with run_coturn(tmp_path / "coturn") as server:
        yield server


def _slot(settings: Any) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        import_models()
        svc = Services.from_settings(settings)
        try:
            return await make_slot(svc, stage="release-turn", start_in=dt.timedelta(minutes=-1), minutes=30)
        finally:
            await svc.db.close()

    return asyncio.run(go())


@pytest.mark.browser
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_a_viewer_forced_to_relay_plays_through_coturn(coturn: Coturn, tmp_path: Path, artifacts: Path, transport: str) -> None:
    url = f"turn:127.0.0.1:{coturn.port}?transport=tcp" if transport == "tcp" else f"turns:127.0.0.1:{coturn.tls_port}?transport=tcp"
    settings = live_settings(tmp_path, turn_urls=[url], turn_secret=coturn.secret, turn_credential_seconds=600)
    with serve_app(settings) as server:
        slot_id, token = _slot(server.settings)
        publisher = PublisherThread(server.url, slot_id, token)
        publisher.start()
        assert publisher.started.wait(30) and publisher.error is None, publisher.error
        try:
            # Chromium checks the TURN server's certificate: trust exactly this test's self-signed one.
            with chromium([f"--ignore-certificate-errors-spki-list={coturn.spki}"]) as browser:
                page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.add_init_script(FORCE_RELAY)
                page.goto(f"{server.url}/live/{slot_id}?lang=en")
                try:
                    wait_until(page, "document.getElementById('player-video').videoWidth > 0", timeout=30000)
                    wait_until(page, "document.getElementById('player-video').currentTime > 1", timeout=15000)
                except Exception:
                    page.screenshot(path=str(artifacts / f"turn-{transport}-failed.png"), full_page=True)
                    raise AssertionError(coturn.log_text()[-4000:]) from None
                page.wait_for_timeout(1000)
                selected = page.evaluate(SELECTED)
                username = page.evaluate("JSON.parse(document.getElementById('live-data').textContent).ice_servers[0].username")
                page.screenshot(path=str(artifacts / f"turn-{transport}-watch.png"))
                assert not errors, errors
        finally:
            publisher.stop_event.set()
            publisher.join(20)
    assert selected is not None
    assert selected["type"] == "relay", selected
    assert selected["relayProtocol"] == transport, selected
    assert selected["remote"].startswith("127.0.0.1:")
    assert selected["frames"] > 10, selected
    # coturn took the credential the page was given (``expiry:id`` and its HMAC) and relayed to the app
    log = coturn.log_text()
    assert f"user <{username}>: incoming packet ALLOCATE processed, success" in log, log[-3000:]
    assert f"user <{username}>: incoming packet CREATE_PERMISSION processed, success" in log, log[-3000:]
    if transport == "tls":
        assert f"username=<{username}>, lifetime=600, cipher=" in log, log[-3000:]


async def _allocate(coturn: Coturn, username: str, password: str, transport: str) -> tuple[str, int]:
    """A TURN allocation with aioice (aiortc's ICE) over ``udp``, ``tcp`` or ``tls``."""
    context = None
    if transport == "tls":
        context = ssl.create_default_context(cafile=str(coturn.cert))
    port = coturn.tls_port if transport == "tls" else coturn.port
    turn, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol, ("127.0.0.1", port), username, password, ssl=context, transport="udp" if transport == "udp" else "tcp"
    )
    try:
        relayed = turn.get_extra_info("sockname")
        return str(relayed[0]), int(relayed[1])
    finally:
        turn.close()


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_coturn_takes_minted_credentials_and_refuses_expired_or_foreign_ones(coturn: Coturn, transport: str) -> None:
    settings = Settings(turn_urls=[f"turn:127.0.0.1:{coturn.port}"], turn_secret=coturn.secret, turn_credential_seconds=600)
    [server] = client_ice_servers(settings, "session-1")
    assert server.username and server.credential
    host, port = await _allocate(coturn, server.username, server.credential, transport)
    assert host == "127.0.0.1" and port > 0
    expired = mint(coturn.secret, "session-2", 600, time.time() - 660)
    foreign = mint("not-" + coturn.secret, "session-3", 600, time.time())
    for username, password in (expired, foreign):
        with pytest.raises(TransactionFailed) as refused:
            await _allocate(coturn, username, password, transport)
        assert refused.value.response.attributes["ERROR-CODE"][0] == 401


async def test_the_deployment_config_runs_in_coturn_and_takes_minted_credentials(tmp_path: Path) -> None:
    """``infra/turnserver.conf`` as compose runs it, moved to 127.0.0.1 and this test's ports."""
    with run_coturn(tmp_path / "coturn", config=INFRA / "turnserver.conf") as coturn:
        settings = Settings(turn_urls=[f"turn:127.0.0.1:{coturn.port}"], turn_secret=coturn.secret)
        [server] = client_ice_servers(settings, "session-1")
        assert server.username and server.credential
        for transport in ("udp", "tcp", "tls"):
            host, _ = await _allocate(coturn, server.username, server.credential, transport)
            assert host == "127.0.0.1"
        with pytest.raises(TransactionFailed):
            await _allocate(coturn, *mint("change-me", "session-2", 600, time.time()), "udp")
        log = coturn.log_text()
    assert "CONFIG ERROR" not in log and "Bad configuration" not in log, log[:3000]
