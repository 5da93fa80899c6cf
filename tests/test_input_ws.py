"""``/ws`` and request bodies against a real server: what a hostile client sends is refused cleanly.

Binary frames close with 1003, frames over the limit with 1009 (1 MiB ones
refused by the server unread), malformed or hostile JSON is answered with an
error message on a socket that stays open, and none of it logs a traceback.
A body announced larger than a route's cap is refused at once, unread; so is a form
whose CSRF token would have to be read from its body, and a chunked one at the limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cloudexpo.services import Services
from cloudexpo.settings import Settings
from tests.conftest import LiveServer, free_port, serve_app
from tests.live_support import make_slot


@pytest.fixture
def server(settings: Settings, services: Services) -> Iterator[LiveServer]:
    """The app under uvicorn on a free port, on the test's backend (SQLite or the services)."""
    with serve_app(settings.replace(host="127.0.0.1", port=free_port()), "input-server") as live:
        yield live


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def _open(server: LiveServer, path: str = "/ws") -> Any:
    import websockets

    ws = await websockets.connect(server.url.replace("http://", "ws://") + path, origin=server.url, max_size=None)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello"
    return ws


async def _reply(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))


async def _closed_with(ws: Any) -> int:
    import websockets

    with pytest.raises(websockets.ConnectionClosed) as info:
        for _ in range(5):
            await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd is not None
    return int(info.value.rcvd.code)


HOSTILE = [
    ("[" * 3000, "deep"),
    ('{"type":"subscribe","slots":[1e999]}', "number"),
    ('{"type":"chat","slot":1e25,"text":"hi"}', "number"),
    ('{"type":"chat","slot":99999999999999999999999,"text":"hi"}', "64 bits"),
    ('{"type":"chat","slot":"²","text":"hi"}', "slot"),
    ('{"type":"chat","slot":[1],"text":"hi"}', "slot"),
    ('{"type":"subscribe","slots":"9223372036854775808"}', ""),
    ('{"type":"subscribe","slots":[2147483648, 9223372036854775807]}', ""),
    ('{"type":"chat","slot":2147483648,"text":"hi"}', "slot"),
    ('{"type":"chat","slot":1,"text":"\\ud800"}', "surrogate"),
    ('{"type":"watching","slot":"x","via":"hls"}', "slot"),
    ('{"type":"watching","slot":1,"via":"rtmp"}', '"via": "hls"'),
    ('{"type":"watching","slot":1,"via":"hls"}', "Subscribe to slot 1"),
    ("not json", "JSON"),
    ("[1, 2]", "JSON objects"),
]


async def test_hostile_text_frames_are_answered_and_the_socket_stays_open(
        server: LiveServer, services: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    slot_id, _ = await make_slot(services)
    ws = await _open(server)
    try:
        for frame, words in HOSTILE:
            await ws.send(frame)
            if words:
                answer = await _reply(ws)
                assert answer["type"] == "error" and words in answer["detail"], (frame[:40], answer)
        await ws.send(json.dumps({"type": "subscribe", "slots": [2147483647, slot_id]}))
        assert "no slot" in (await _reply(ws))["detail"]
        assert (await _reply(ws))["type"] == "snapshot"
        await ws.send('{"type":"ping"}')
        assert (await _reply(ws))["type"] == "pong"
    finally:
        await ws.close()
    assert _no_tracebacks(caplog) == []


async def test_ws_errors_carry_a_code_and_speak_the_pages_language(server: LiveServer, services: Services) -> None:
    slot_id, _ = await make_slot(services)
    ws = await _open(server, "/ws?lang=zh-Hant")
    try:
        await ws.send(json.dumps({"type": "chat", "slot": slot_id, "text": "你好", "ref": 7}))
        answer = await _reply(ws)
        assert (answer["type"], answer["status"], answer["code"], answer["ref"]) == ("error", 401, "ws.sign_in_to_chat", 7)
        assert answer["message"] == "登入後才能聊天。" and answer["detail"] == "Sign in to chat."
        await ws.send('{"type":"dance"}')
        answer = await _reply(ws)
        assert answer["code"] == "ws.unknown_type" and answer["message"].startswith("未知的訊息型別 'dance'")
    finally:
        await ws.close()


@pytest.mark.parametrize("frame,code", [(b"\x00\x01binary", 1003), ("x" * 5000, 1009), ("x" * (1024 * 1024), 1009),
                                        (b"y" * (1024 * 1024), 1009)],
                         ids=["binary", "over the app's 4 KiB", "1 MiB text", "1 MiB binary"])
async def test_binary_and_oversized_frames_close_with_the_right_code(
        server: LiveServer, caplog: pytest.LogCaptureFixture, frame: str | bytes, code: int) -> None:
    caplog.set_level(logging.INFO)
    ws = await _open(server)
    await ws.send(frame)
    assert await _closed_with(ws) == code
    assert _no_tracebacks(caplog) == []
    # the server is fine and answers the next client
    again = await _open(server)
    await again.send('{"type":"ping"}')
    assert (await _reply(again))["type"] == "pong"
    await again.close()


def _post_declaring(url: str, path: str, declared: int, content_type: str, extra: str = "") -> tuple[float, str]:
    """Send headers announcing ``declared`` bytes and only a few; the time to the answer and its status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
                      f"Content-Length: {declared}\r\n{extra}\r\n").encode() + b'{"a":')
        answer = sock.recv(65536).decode("latin-1")
        return time.monotonic() - started, answer.split("\r\n", 1)[0]


@pytest.mark.parametrize("path,content_type", [
    ("/api/session", "application/json"),
    ("/api/analytics/events", "application/json"),
    ("/whep/12", "application/sdp"),
    ("/whip/12", "application/sdp"),
    ("/api/users", "application/x-www-form-urlencoded"),
])
def test_a_body_announced_too_large_is_refused_unread(server: LiveServer, path: str, content_type: str) -> None:
    import httpx

    with httpx.Client(base_url=server.url) as http:
        me = http.get("/api/me")
        csrf = me.json()["csrf_token"]
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    extra = f"X-CSRF-Token: {csrf}\r\nCookie: {cookie}\r\n"
    elapsed, status = _post_declaring(server.url, path, 64 * 1024 * 1024, content_type, extra)
    # The answer comes before the 64 MiB: the server did not wait to buffer them.
    assert " 413 " in status, status
    assert elapsed < 5, elapsed


def test_captions_announced_too_large_are_refused_unread(server: LiveServer) -> None:
    import httpx

    with httpx.Client(base_url=server.url) as http:
        csrf = http.get("/api/me").json()["csrf_token"]
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall((f"PUT /api/replays/12/captions/en HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/vtt\r\n"
                      f"Content-Length: {64 * 1024 * 1024}\r\nX-CSRF-Token: {csrf}\r\nCookie: {cookie}\r\n\r\n"
                      "WEBVTT\n\n").encode())
        status = sock.recv(65536).decode("latin-1").split("\r\n", 1)[0]
    assert " 413 " in status and time.monotonic() - started < 5, status


def _anonymous_cookie(server: LiveServer) -> str:
    import httpx

    with httpx.Client(base_url=server.url) as http:
        http.get("/api/me")
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


def _answer(sock: socket.socket) -> tuple[str, dict[str, Any]]:
    """The status line and JSON body of the server's answer (``Connection: close`` on the request)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n", 1)[0], json.loads(body)


def test_a_form_announced_too_large_is_refused_before_its_token_is_looked_for(server: LiveServer) -> None:
    """A form without the X-CSRF-Token header has its token in the body: a 64 MiB one is refused unread, 413."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall((f"POST /api/session HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\nAccept-Language: zh-CN\r\n"
                      f"Content-Length: {64 * 1024 * 1024}\r\nCookie: {_anonymous_cookie(server)}\r\n\r\n"
                      "csrf_token=").encode())
        # only the headers and 11 bytes were sent: an answer at all means the body was not waited for
        status, body = _answer(sock)
    assert " 413 " in status, status
    assert body["code"] == "http.form_too_large" and "2 MiB" in body["detail"], body
    assert "2 MiB" in body["message"] and body["message"] != body["detail"], body  # in the visitor's language


def test_a_chunked_form_is_cut_off_at_the_limit(server: LiveServer) -> None:
    """Sent without a length (chunked), a form is read up to the limit and refused there, before it ends: 413."""
    host, port = server.url.removeprefix("http://").split(":")
    chunk = b"a" * 64 * 1024
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall((f"POST /api/session HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
                      f"Cookie: {_anonymous_cookie(server)}\r\n\r\n").encode())
        for _ in range(2 * 16):  # 2 MiB,
            sock.sendall(frame)
        # one byte past it, and never the last chunk: the body has not ended. No more than that, so the
        # server has read all that was sent when it answers: a close with unread bytes would be a reset
        sock.sendall(b"1\r\na\r\n")
        status, body = _answer(sock)
    assert " 413 " in status, status
    assert body["code"] == "http.form_too_large" and "2 MiB" in body["detail"], body
