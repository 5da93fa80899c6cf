"""A slot's events written once per burst to every ``/ws`` socket (web.broadcast), through a real uvicorn
server and real websocket clients: every socket gets every event in order, a socket that does not read holds
no one up, and a client that negotiated per-message deflate reads the uncompressed broadcast frames."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.frames import Frame, Opcode

from cloudexpo.app import open_services
from cloudexpo.bus import InProcessBus, RedisBus
from tests.conftest import REDIS_URL, LiveServer, live_settings, require_service, serve_app
from tests.live_support import make_slot
from web.broadcast import MAX_WINDOW, Topic, text_frame, window


class RawSocket:
    """A websocket client on a plain TCP stream that sees each frame as the server wrote it (RSV1 bit included)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extensions: str) -> None:
        self.reader = reader
        self.writer = writer
        self.extensions = extensions  # what the server's handshake answered in Sec-WebSocket-Extensions
        self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        self.frames: list[tuple[bool, int]] = []  # (compressed, events in it) per text frame read

    @classmethod
    async def connect(cls, base: str, path: str, *, deflate: bool = False, read_limit: int = 2**16,
                      receive_buffer: int | None = None) -> RawSocket:
        host, port = base.removeprefix("http://").split(":")
        sock = socket.socket()
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=read_limit)
        key = base64.b64encode(os.urandom(16)).decode()
        offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" if deflate else ""
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {base}\r\n{offer}\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
        assert " 101 " in head.splitlines()[0], head
        extensions = next((line.split(":", 1)[1].strip() for line in head.splitlines()
                           if line.lower().startswith("sec-websocket-extensions:")), "")
        return cls(reader, writer, extensions)

    async def messages(self, timeout: float = 10) -> list[dict[str, Any]]:
        """The events of the next text frame (one, or a burst's array), inflated if the server compressed it."""
        while True:
            head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            length = head[1] & 0x7F
            assert not head[1] & 0x80, "a server's frames are never masked"
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await asyncio.wait_for(self.reader.readexactly(length), timeout)
            if head[0] & 0x0F != Opcode.TEXT.value:
                continue  # a ping: the server's keepalive
            assert head[0] & 0x80, "whole messages in one frame"
            compressed = bool(head[0] & 0x40)
            if compressed:
                payload = self.inflate.decompress(payload + b"\x00\x00\xff\xff")
            data = json.loads(payload)
            events = data if isinstance(data, list) else [data]
            self.frames.append((compressed, len(events)))
            return events

    async def until(self, kind: str) -> dict[str, Any]:
        while True:
            for event in await self.messages():
                if event["type"] == kind:
                    return event

    async def counts(self, last: int, timeout: float = 20) -> list[int]:
        """The ``count`` of each viewers event, in the order received, up to ``last``."""
        seen: list[int] = []
        while not seen or seen[-1] != last:
            seen += [e["count"] for e in await self.messages(timeout) if e["type"] == "viewers"]
        return seen

    def close(self) -> None:
        self.writer.close()


@contextlib.contextmanager
def redis_node(tmp_path: Path, **options: Any) -> Iterator[LiveServer]:
    """One node on the shared Redis bus, so a test can publish a slot's events from outside it."""
    require_service(REDIS_URL, "CLOUDEXPO_TEST_REDIS_URL")
    with serve_app(live_settings(tmp_path, redis_url=REDIS_URL), "broadcast-node", **options) as server:
        yield server


@contextlib.asynccontextmanager
async def slot_and_bus(server: LiveServer) -> AsyncIterator[tuple[int, RedisBus]]:
    svc = open_services(server.settings)
    try:
        await svc.db.migrate()
        slot_id, _ = await make_slot(svc)
    finally:
        await svc.close()
    bus = RedisBus(REDIS_URL, server.settings.resolved_secret_key())  # the node's deployment
    await bus.start()
    try:
        yield slot_id, bus
    finally:
        await bus.close()


def viewers_event(slot_id: int, n: int, pad: int = 0) -> dict[str, Any]:
    return {"type": "viewers", "slot": slot_id, "count": n, "pad": "x" * pad}


async def publish(bus: RedisBus, slot_id: int, counts: range, pad: int = 0) -> None:
    """One event after another, each waiting for Redis's answer."""
    for n in counts:
        await bus.publish(f"slot.{slot_id}", viewers_event(slot_id, n, pad))


async def publish_burst(bus: RedisBus, slot_id: int, counts: range) -> None:
    """The events in one pipeline, so they reach the node together, as a burst of chat does."""
    pipe = bus.client.pipeline(transaction=False)
    for n in counts:
        message = {"t": f"slot.{slot_id}", "d": viewers_event(slot_id, n)}
        pipe.publish(f"{bus.prefix}slot.{slot_id}", json.dumps(message))
    await pipe.execute()


def test_a_frame_is_what_websockets_itself_would_send() -> None:
    for size in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        payload = b"a" * size
        assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


async def test_every_socket_gets_every_event_in_order_and_a_burst_in_few_frames(tmp_path: Path) -> None:
    with redis_node(tmp_path) as server:
        async with slot_and_bus(server) as (slot_id, bus):
            sockets = [await RawSocket.connect(server.url, f"/ws?slots={slot_id}", deflate=i % 2 == 0) for i in range(20)]
            for ws in sockets:
                assert (await ws.messages())[0]["type"] == "hello"
                snapshot = await ws.messages()
                assert snapshot[0]["type"] == "snapshot"  # the slot's events come after its snapshot
                assert ws.extensions == ""  # deflate offered by half of them, refused as cloudexpo serve does
            await asyncio.sleep(0.3)  # the node's Redis subscription is up
            # in one burst: how many frames events sent one by one take depends on how busy the machine is
            await publish_burst(bus, slot_id, range(300))
            for ws in sockets:
                assert await ws.counts(299) == list(range(300))
                # the burst came in far fewer frames than events (two here: 200 and 100), none bigger than the backlog
                assert 2 <= len(ws.frames) - 2 < 20 and max(n for _, n in ws.frames) <= 200
                ws.close()


async def test_a_socket_that_does_not_read_holds_no_one_up(tmp_path: Path) -> None:
    with redis_node(tmp_path) as server:
        async with slot_and_bus(server) as (slot_id, bus):
            fast = await RawSocket.connect(server.url, f"/ws?slots={slot_id}")
            stuck = await RawSocket.connect(server.url, f"/ws?slots={slot_id}", read_limit=1024, receive_buffer=4096)
            for ws in (fast, stuck):
                await ws.until("snapshot")
            await asyncio.sleep(0.3)
            # 1,000 events of 8 KB: more than the stuck socket's buffers and the server's send buffer (at most
            # 4 MB: tcp_wmem) hold
            sending = asyncio.create_task(publish(bus, slot_id, range(1000), pad=8000))
            assert await fast.counts(999, timeout=30) == list(range(1000))
            await sending
            late = await stuck.counts(999, timeout=30)  # now it reads: in order, the newest kept, the oldest lost
            assert late == sorted(set(late)) and late[-1] == 999 and len(late) < 1000
            fast.close()
            stuck.close()


@pytest.mark.parametrize("deflate_on_server", [True, False])
async def test_a_client_that_negotiated_deflate_reads_the_uncompressed_broadcast(tmp_path: Path, deflate_on_server: bool) -> None:
    import websockets

    with redis_node(tmp_path, ws_per_message_deflate=deflate_on_server) as server:
        async with slot_and_bus(server) as (slot_id, bus):
            raw = await RawSocket.connect(server.url, f"/ws?slots={slot_id}", deflate=True)
            assert ("permessage-deflate" in raw.extensions) is deflate_on_server
            async with websockets.connect(server.url.replace("http://", "ws://") + f"/ws?slots={slot_id}",
                                          origin=server.url) as ws:  # offers deflate, as browsers do
                await raw.until("snapshot")
                while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "snapshot":
                    pass
                await asyncio.sleep(0.3)
                await publish(bus, slot_id, range(50), pad=300)
                assert await raw.counts(49) == list(range(50))
                got: list[int] = []
                while not got or got[-1] != 49:
                    data = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    got += [e["count"] for e in (data if isinstance(data, list) else [data]) if e["type"] == "viewers"]
                assert got == list(range(50))
            # the server's own frames (hello, snapshot) compressed when deflate was agreed; the broadcast never
            assert [c for c, _ in raw.frames[:2]] == [deflate_on_server] * 2
            assert not any(c for c, _ in raw.frames[2:])
            raw.close()


async def test_a_burst_goes_when_it_is_over_and_sends_keep_a_window_apart() -> None:
    """A burst that is all in goes QUIET after its last event, not a whole window after its first; a steady
    stream waits the window; a burst right after a send waits until a window since that send has run."""
    bus = InProcessBus()
    sub = await bus.subscribe("slot.1")
    topic = Topic("slot.1")
    topic.sinks = {object() for _ in range(5000)}  # type: ignore[misc]  # a window of MAX_WINDOW
    loop = asyncio.get_running_loop()
    assert window(5000) == MAX_WINDOW

    async def burst(count: int, every: float) -> None:
        for i in range(count):
            await bus.publish("slot.1", {"type": "chat", "i": i})
            await asyncio.sleep(every)

    async def gathered(sent_at: float, count: int, every: float) -> float:
        started = loop.time()
        feeding = asyncio.create_task(burst(count, every))
        await topic.gather(sub, sent_at)
        took = loop.time() - started
        await feeding
        sub.waiting()
        return took

    assert await gathered(-1e9, 10, 0.001) < MAX_WINDOW / 2  # all in within 10 ms: it goes after QUIET
    assert await gathered(-1e9, 30, 0.01) >= MAX_WINDOW * 0.9  # never quiet: the whole window
    assert await gathered(loop.time(), 1, 0) >= MAX_WINDOW * 0.9  # just sent: a window apart
