"""A party of a video call as an aiortc peer: sends the test card in its own colour, decodes what comes back.

What web/static/js/call.js does in a browser, for the call tests: the direct
path (offer and answer through ``/ws``) and the forwarder (WHIP its camera,
WHEP the other's, with the party's bearer token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from streaming import testsource as ts
from streaming.peers import accept_answer, answer_offer, create_offer, new_peer_connection, release
from tests.live_support import two_app_nodes

HOSTS = ("127.0.0.1",)


@dataclass
class Seen:
    """Video frames decoded from the other party: (frame counter, marker colour)."""

    frames: list[tuple[int, tuple[int, int, int]]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def follow(self, pc: RTCPeerConnection) -> None:
        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self.tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.frames.append(ts.read_test_card(frame))

    async def wait(self, count: int, colour: tuple[int, int, int], within: float = 20.0) -> None:
        """Until ``count`` frames in ``colour`` (the other party's) were decoded."""
        deadline = time.monotonic() + within
        while sum(ts.colour_close(c, colour) for _, c in self.frames) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.frames)} frames after {within} s, colours {[c for _, c in self.frames[-3:]]}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class DirectPeer:
    """One browser's side of the direct path: camera out, the other's camera in, one connection."""

    def __init__(self, colour: tuple[int, int, int]) -> None:
        self.colour = colour
        self.pc = new_peer_connection()
        self.seen = Seen()
        self.seen.follow(self.pc)

    async def offer(self) -> str:
        self.pc.addTransceiver(ts.TestCardTrack(colour=self.colour), direction="sendrecv")
        ts.prefer_codec(self.pc, "video", "H264")
        return await create_offer(self.pc, HOSTS)

    async def answer(self, offer: str) -> str:
        track = ts.TestCardTrack(colour=self.colour)

        def prepare(pc: RTCPeerConnection) -> None:
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    transceiver.sender.replaceTrack(track)
                    transceiver.direction = "sendrecv"

        return await answer_offer(self.pc, offer, HOSTS, prepare)

    async def accept(self, answer: str) -> None:
        await accept_answer(self.pc, answer, HOSTS)

    async def close(self) -> None:
        await self.seen.close()
        await self.pc.close()
        release(self.pc)


class ForwardedPeer:
    """One browser's side through the server: WHIP its camera, WHEP the other's."""

    def __init__(self, base: str, call_id: int, token: str, colour: tuple[int, int, int]) -> None:
        self.base, self.call_id, self.token, self.colour = base, call_id, token, colour
        self.publisher: ts.TestPublisher | None = None
        self.viewer: RTCPeerConnection | None = None
        self.seen = Seen()
        self.locations: list[str] = []

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"}

    async def publish(self) -> None:
        async def whip(offer: str) -> str:
            async with httpx.AsyncClient(timeout=20) as http:
                response = await http.post(f"{self.base}/whip/calls/{self.call_id}", content=offer, headers=self._headers())
            assert response.status_code == 201, response.text
            self.locations.append(response.headers["location"])
            return response.text

        self.publisher = await ts.make_publisher(ts.TestCardTrack(colour=self.colour), ts.ToneTrack(), whip)

    async def play(self, within: float = 10.0) -> list[int]:
        """Play the other's camera, retrying while they have not published; the statuses met on the way."""
        statuses: list[int] = []
        pc = self.viewer = new_peer_connection()
        self.seen.follow(pc)
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        offer = await create_offer(pc, HOSTS)
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=20) as http:
            while True:
                response = await http.post(f"{self.base}/whep/calls/{self.call_id}", content=offer, headers=self._headers())
                statuses.append(response.status_code)
                if response.status_code == 201 or time.monotonic() > deadline:
                    break
                assert response.status_code == 409 and response.headers["retry-after"] == "1", response.text
                await asyncio.sleep(0.2)
        assert response.status_code == 201, response.text
        self.locations.append(response.headers["location"])
        await accept_answer(pc, response.text, HOSTS)
        return statuses

    async def close(self) -> None:
        await self.seen.close()
        if self.publisher is not None:
            await self.publisher.close()
        if self.viewer is not None:
            await self.viewer.close()
            release(self.viewer)


class Socket:
    """A signed-in page's ``/ws``: the messages it receives, by type."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.kept: list[dict[str, Any]] = []

    async def send(self, data: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(data))

    async def next(self, type_: str, within: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next message of type ``type_`` (whose fields equal ``match``), keeping the others."""
        deadline = time.monotonic() + within
        while True:
            for message in self.kept:
                if message.get("type") == type_ and all(message.get(k) == v for k, v in match.items()):
                    self.kept.remove(message)
                    return message
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.monotonic())))
            self.kept.extend(frame if isinstance(frame, list) else [frame])



@pytest.fixture
def call_nodes(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    """Two app nodes as one deployment (shared SQLite, secret and Redis, each with its CLOUDEXPO_NODE_URL)."""
    with two_app_nodes(tmp_path, node_urls=True) as nodes:
        yield nodes
