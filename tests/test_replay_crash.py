"""kill -9 of a real server mid-broadcast: the next start completes the replay.

The server runs as a separate process (``python -m cloudexpo.cli serve``) on
its own data folder (SQLite, local objects, spool). The test process
publishes the test card over real WHIP (ICE on 127.0.0.1 only, no STUN) to a
slot put on the programme with ``cloudexpo slot add``, lets it record for a
few seconds and kills the server with SIGKILL: no shutdown hook runs, the
journal has no end and the segment being written is a ``.part``. The server
is started again on the same folder; its start-up must upload what the spool
holds and close the playlist, so that the replay exists (ENDLIST, H.264 and
audio that ffprobe reads, the API says it is ready) and lacks at most the
segment that was being written, and the spool folder is emptied.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudexpo.app import import_models
from cloudexpo.services import Services
from cloudexpo.settings import load_settings
from streaming.hls import parse_playlist
from streaming.models import StageKind
from streaming.schedule import ensure_stage
from streaming.spool import replay_prefix
from streaming.testsource import publish_test_card
from tests.conftest import free_port
from tests.test_replay_media import ffprobe

pytestmark = pytest.mark.media

ROOT = Path(__file__).resolve().parents[1]
HOSTS = ("127.0.0.1",)
BROADCAST = 8.0
SEGMENT = 2.0  # the recorder's target; the one being written may be lost
SLACK = 1.5  # connection set-up and the wait for a first keyframe


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDEXPO_")}
    env.update(
        CLOUDEXPO_DATA_DIR=str(data_dir),
        CLOUDEXPO_PORT=str(port),
        CLOUDEXPO_ICE_HOSTS="127.0.0.1",
        CLOUDEXPO_SECRET_KEY="crash-test-secret-key-0123456789abcdef",
        PYTHONUNBUFFERED="1",
    )
    return env


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cloudexpo.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


async def seed_stage(env: dict[str, str]) -> None:
    """The database migrated and one forum stage on it (there is no command for stages)."""
    cli(env, "migrate")
    import_models()
    services = Services.from_settings(load_settings(environ=env))
    try:
        async with services.db.session() as db:
            await ensure_stage(db, "crash-forum", {"en": "Crash forum", "zh-Hans": "崩溃论坛"}, kind=StageKind.FORUM)
            await db.commit()
    finally:
        await services.close()


class Server:
    """One ``cloudexpo serve`` process, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log_path = log
        self.url = f"http://127.0.0.1:{env['CLOUDEXPO_PORT']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cloudexpo.cli", "serve"], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    async def ready(self, http: httpx.AsyncClient, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.output()
            try:
                if (await http.get(self.url + "/healthz", timeout=1.0)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the server did not answer within {within} s\n{self.output()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""


async def until(what: str, check: Any, within: float, server: Server, step: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(step)
    raise TimeoutError(f"{what} not within {within} s (last: {last!r})\n{server.output()}")


async def test_kill_9_mid_broadcast_then_restart_completes_the_replay(tmp_path: Path) -> None:
    started = time.monotonic()
    data_dir = tmp_path / "data"
    env = server_env(data_dir, free_port())
    await seed_stage(env)
    slot = json.loads(cli(env, "slot", "add", "--stage", "crash-forum", "--title", "Crash test",
                          "--forum", "Crash forum", "--start", "now", "--minutes", "30", "--json"))
    slot_id, token = int(slot["id"]), slot["whip_token"]
    prefix = replay_prefix(slot_id)
    objects = data_dir / "objects"
    playlist_file = objects / prefix / "index.m3u8"
    spool_dir = data_dir / "spool" / str(slot_id)

    server = Server(env, tmp_path / "server.log")
    publisher = None
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        try:
            server.start()
            await server.ready(http)

            async def whip(offer: str) -> str:
                response = await http.post(
                    f"/whip/{slot_id}", content=offer,
                    headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 201, response.text
                return response.text

            publisher = await publish_test_card(whip, hosts=HOSTS)

            async def connected() -> bool:
                info = (await http.get(f"/api/slots/{slot_id}")).json()
                return info["publisher"] == "connected"

            await until("the publisher connected", connected, 15, server)
            on_air = time.monotonic()
            # while live, segments reach the spool (and storage): the recorder is at work
            await until("a first segment in the spool", lambda: _async(any(spool_dir.glob("seg_*.m4s"))), 10, server)
            await asyncio.sleep(max(0.0, BROADCAST - (time.monotonic() - on_air)))
            server.kill()
            broadcast = time.monotonic() - on_air
            assert server.proc is not None and server.proc.returncode == -signal.SIGKILL
            await publisher.close()
            publisher = None

            # what kill -9 left: a journal without an end
            journal = (spool_dir / "journal.jsonl").read_text()
            assert '"type":"start"' in journal and '"type":"end"' not in journal, journal
            assert not (playlist_file.exists() and "#EXT-X-ENDLIST" in playlist_file.read_text())

            restarted = time.monotonic()
            server.start()
            await server.ready(http)

            async def closed() -> str | None:
                text = playlist_file.read_text() if playlist_file.exists() else ""
                return text if "#EXT-X-ENDLIST" in text else None

            text = await until("a playlist with ENDLIST", closed, 15, server)
            closed_after = time.monotonic() - restarted
            playlist = parse_playlist(text)
            assert playlist.ended
            numbers = [int(s.uri[4:9]) for s in playlist.segments]
            assert numbers == list(range(1, len(numbers) + 1)), numbers
            for segment in playlist.segments:
                assert (objects / prefix / segment.uri).stat().st_size > 0, segment.uri
            # at most the segment being written is lost (the writer buffers it: often it is empty)
            lost = max([SEGMENT + 0.5, *(s.duration for s in playlist.segments)])
            assert playlist.duration >= broadcast - lost - SLACK, (playlist.duration, broadcast)
            assert playlist.duration <= broadcast + 1.0, (playlist.duration, broadcast)

            probe = ffprobe(str(playlist_file))
            kinds = {s["codec_type"]: s["codec_name"] for s in probe["streams"]}
            assert kinds == {"video": "h264", "audio": "opus"}, kinds
            assert float(probe["format"]["duration"]) >= broadcast - lost - SLACK, probe["format"]

            async def ready() -> dict[str, Any] | None:
                response = await http.get(f"/api/replays/{slot_id}")
                data = response.json() if response.status_code == 200 else {}
                return data if data.get("state") == "ready" else None

            info = await until("the replay ready in the API", ready, 20, server, step=0.2)
            assert info["recorded_duration"] >= broadcast - lost - SLACK, info
            served = await http.get(f"/replays/{slot_id}/index.m3u8")
            assert served.status_code == 200 and "#EXT-X-ENDLIST" in served.text
            assert served.text.count("#EXTINF") == len(playlist.segments)
            page = await http.get(f"/replays/{slot_id}")
            assert page.status_code == 200, page.status_code

            await until("the spool folder emptied", lambda: _async(not spool_dir.exists() or not any(spool_dir.iterdir())), 15, server)
            print(json.dumps({
                "broadcast_s": round(broadcast, 2), "replay_s": round(playlist.duration, 2),
                "segments": len(playlist.segments), "closed_after_restart_s": round(closed_after, 2),
                "test_s": round(time.monotonic() - started, 1),
            }))
        finally:
            if publisher is not None:
                await publisher.close()
            server.stop()


async def _async(value: Any) -> Any:
    return value
