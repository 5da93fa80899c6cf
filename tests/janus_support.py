"""A third-party WHIP server for the egress test: Janus (Debian's package) with its VideoRoom plugin,
behind simple-whip-server (Meetecho's WHIP front end; ``scripts/whip-server.sh`` prepares it), both in a
network namespace of the test's own.

Why a namespace: libnice (Janus's ICE) never gathers candidates on loopback, and tests send media to
nowhere but addresses they own. The namespace gets one end of a veth pair and a /30 of 10.213.0.0/16
(the host keeps the other end); Janus gathers on its end, Cloud Expo adds the host's end to
``CLOUDEXPO_ICE_HOSTS``. Everything is removed when the fixture ends.

:class:`JanusSubscriber` checks what the cluster outputs: it joins the VideoRoom as a subscriber over
Janus's HTTP API (long polls for the offer) and decodes the test card with aiortc.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiortc import RTCSessionDescription

from streaming import testsource
from streaming.peers import ice_hosts, new_peer_connection

ROOT = Path(__file__).resolve().parents[1]
WHIP_SERVER = ROOT / ".cache" / "simple-whip-server"
PLUGINS = "/usr/lib/x86_64-linux-gnu/janus"
ROOM = 1
WHIP_PORT = 7080  # inside the namespace: its ports are its own
JANUS_HTTP_PORT = 8088
JANUS_WS_PORT = 8188


def missing() -> str | None:
    """What the Janus test needs and this machine lacks (``scripts/test.sh`` installs it)."""
    for tool in ("janus", "node", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not (WHIP_SERVER / "server.js").exists():
        return "simple-whip-server is not prepared (bash scripts/whip-server.sh)"
    if os.geteuid() != 0:
        return "a network namespace needs root"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _janus_config(folder: Path, address: str, interface: str) -> Path:
    plugins = sorted(p.name for p in Path(PLUGINS, "plugins").glob("libjanus_*.so") if p.name != "libjanus_videoroom.so")
    transports = ["libjanus_mqtt.so", "libjanus_nanomsg.so", "libjanus_pfunix.so", "libjanus_rabbitmq.so"]
    files = {
        "janus.jcfg": f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{PLUGINS}/plugins"
    transports_folder = "{PLUGINS}/transports"
    events_folder = "{PLUGINS}/events"
    loggers_folder = "{PLUGINS}/loggers"
    debug_level = 4
}}
media: {{ rtp_port_range = "30000-30999" }}
nat: {{ ice_enforce_list = "{interface}" ignore_mdns = true }}
plugins: {{ disable = "{','.join(plugins)}" }}
transports: {{ disable = "{','.join(transports)}" }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
events: {{ broadcast = false }}
""",
        "janus.transport.websockets.jcfg": f'general: {{ ws = true ws_port = {JANUS_WS_PORT} ws_ip = "{address}" wss = false }}\nadmin: {{ admin_ws = false }}\n',
        "janus.transport.http.jcfg": f'general: {{ base_path = "/janus" http = true port = {JANUS_HTTP_PORT} ip = "{address}" https = false }}\nadmin: {{ admin_http = false }}\n',
        "janus.plugin.videoroom.jcfg": f'general: {{ }}\nroom-{ROOM}: {{ description = "Cloud Expo egress" publishers = 3 videocodec = "h264" audiocodec = "opus" bitrate = 4000000 }}\n',
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder / "janus.jcfg"


@dataclass
class JanusWhip:
    """The running pair: where to publish (``whip_url(id)``), what Cloud Expo gathers on (``host_address``)."""

    address: str  # Janus's side, in the namespace
    host_address: str  # the host's side of the veth pair
    whip_base: str
    janus_api: str
    logs: Path

    def whip_url(self, endpoint: str) -> str:
        return f"{self.whip_base}/whip/endpoint/{endpoint}"

    async def create_endpoint(self, endpoint: str, token: str) -> None:
        """simple-whip-server's own (non-standard) call that maps a WHIP endpoint onto the VideoRoom."""
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            response = await http.post(f"{self.whip_base}/whip/create", json={"id": endpoint, "room": ROOM, "token": token})
            assert response.status_code == 200, response.text

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("*.log")))


def _wait(url: str, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=1, trust_env=False).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url}: {log.read_text(errors='replace')[-2000:]}")


@contextmanager
def janus_whip_server(folder: Path) -> Iterator[JanusWhip]:
    """Janus and simple-whip-server in a namespace of their own (see the module doc)."""
    tag = secrets.token_hex(3)
    netns, outside, inside = f"cx-{tag}", f"cx{tag}a", f"cx{tag}b"
    block = secrets.randbelow(256 * 64) * 4  # a /30 of 10.213.0.0/16
    prefix = f"10.213.{block // 256}."
    host, address = f"{prefix}{block % 256 + 1}", f"{prefix}{block % 256 + 2}"
    procs: list[subprocess.Popen[bytes]] = []
    _ip("netns", "add", netns)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", netns)
        _ip("addr", "add", f"{host}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("netns", "exec", netns, "ip", "addr", "add", f"{address}/30", "dev", inside)
        _ip("netns", "exec", netns, "ip", "link", "set", inside, "up")
        _ip("netns", "exec", netns, "ip", "link", "set", "lo", "up")
        config = _janus_config(folder / "janus", address, inside)
        janus_log = folder / "janus.log"
        with open(janus_log, "wb") as log:
            procs.append(subprocess.Popen(["ip", "netns", "exec", netns, "janus", "-C", str(config), "-F", str(config.parent)],
                                          stdout=log, stderr=subprocess.STDOUT))
        _wait(f"http://{address}:{JANUS_HTTP_PORT}/janus/info", "Janus", procs[-1], janus_log)
        whip = folder / "whip"
        whip.mkdir()
        for name in ("server.js", "whip-janus.js"):
            shutil.copy(WHIP_SERVER / name, whip / name)
        (whip / "node_modules").symlink_to(WHIP_SERVER / "node_modules")
        (whip / "config.js").write_text(
            f"module.exports = {{ janus: {{ address: 'ws://{address}:{JANUS_WS_PORT}' }}, port: {WHIP_PORT}, rest: '/whip', "
            "allowTrickle: true, strictETags: false, iceServers: [] };\n"
        )
        whip_log = folder / "whip.log"
        with open(whip_log, "wb") as log:
            procs.append(subprocess.Popen(["ip", "netns", "exec", netns, "node", "server.js"], cwd=whip, stdout=log, stderr=subprocess.STDOUT))
        _wait(f"http://{address}:{WHIP_PORT}/whip/endpoints", "simple-whip-server", procs[-1], whip_log)
        yield JanusWhip(address, host, f"http://{address}:{WHIP_PORT}", f"http://{address}:{JANUS_HTTP_PORT}/janus", folder)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=10)


class JanusSubscriber:
    """A VideoRoom subscriber over Janus's HTTP API, decoding with aiortc (what the cluster plays out)."""

    def __init__(self, server: JanusWhip) -> None:
        self.server = server
        self.http = httpx.AsyncClient(timeout=40, trust_env=False)
        self.viewer: testsource.TestViewer | None = None

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(self.server.janus_api + path, json={**body, "transaction": secrets.token_hex(6)})
        answer: dict[str, Any] = response.json()
        assert answer.get("janus") in ("success", "ack"), answer
        return answer

    async def watch(self, within: float = 20) -> testsource.TestViewer:
        session = (await self._call("", {"janus": "create"}))["data"]["id"]
        handle = (await self._call(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"}))["data"]["id"]
        feeds: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        while not feeds:  # until the WHIP publisher is in the room with its media
            answer = await self._call(f"/{session}/{handle}", {"janus": "message", "body": {"request": "listparticipants", "room": ROOM}})
            feeds = [p for p in answer["plugindata"]["data"]["participants"] if p.get("publisher")]
            if time.monotonic() > deadline:
                raise AssertionError(f"nobody publishes in the VideoRoom\n{self.server.output()}")
            await asyncio.sleep(0.2)
        join = {"request": "join", "ptype": "subscriber", "room": ROOM, "streams": [{"feed": feeds[0]["id"]}]}
        await self._call(f"/{session}/{handle}", {"janus": "message", "body": join})
        offer = None
        while offer is None:
            events = (await self.http.get(f"{self.server.janus_api}/{session}?maxev=5")).json()
            for event in events if isinstance(events, list) else [events]:
                offer = event.get("jsep") or offer
            if time.monotonic() > deadline:
                raise AssertionError("Janus sent no offer for the subscription")
        pc = new_peer_connection()
        viewer = testsource.TestViewer(pc)
        self.viewer = viewer

        @pc.on("track")
        def on_track(track: Any) -> None:
            viewer._tasks.append(asyncio.ensure_future(viewer._consume(track)))

        with ice_hosts([self.server.host_address]):
            await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        start = {"janus": "message", "body": {"request": "start", "room": ROOM}, "jsep": {"type": "answer", "sdp": pc.localDescription.sdp}}
        await self._call(f"/{session}/{handle}", start)
        return viewer

    async def close(self) -> None:
        if self.viewer is not None:
            await self.viewer.close()
        await self.http.aclose()
