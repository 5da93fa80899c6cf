"""Test media: an aiortc publisher sending a test card and tone, and decoding viewers.

Used by tests, benchmarks and the demo. The *publisher* encodes (H.264 or VP8
and Opus, with aiortc's encoders, on the client side); the engine never does.

The test card is a coloured picture with, in its top row, the frame counter as
16 black/white blocks (least significant bit first) and, in its middle, a
square in the publisher's marker colour; a clock is drawn under it for people
watching the demo. :func:`read_test_card` reads counter and colour back from
a decoded frame, so a test can check that viewers see what was published.

Every connection here gathers only on ``hosts`` (127.0.0.1 by default) and
drops remote candidates elsewhere (:mod:`streaming.peers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from PIL import Image, ImageDraw

from .peers import accept_answer, create_offer, new_peer_connection, release

Signal = Callable[[str], Awaitable[str]]  # offer SDP in, answer SDP out (a WHIP/WHEP POST)

COUNTER_BITS = 16
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms
TONE_HZ = 1000  # 48 samples a period: every 20 ms chunk is the same


def draw_test_card(
    counter: int, width: int, height: int, colour: tuple[int, int, int], clock: str = ""
) -> Image.Image:
    """The test card picture for frame ``counter``."""
    img = Image.new("RGB", (width, height), (40, 40, 40))
    draw = ImageDraw.Draw(img)
    # colour bars in the lower half, for people watching
    bars = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192), (192, 0, 0)]
    bar_w = width // len(bars)
    for i, bar in enumerate(bars):
        draw.rectangle((i * bar_w, height * 3 // 4, (i + 1) * bar_w, height), fill=bar)
    block = width // COUNTER_BITS
    for bit in range(COUNTER_BITS):
        on = (counter >> bit) & 1
        draw.rectangle(
            (bit * block, 0, (bit + 1) * block - 1, block - 1),
            fill=(255, 255, 255) if on else (0, 0, 0),
        )
    side = height // 4
    cx, cy = width // 2, height // 2
    draw.rectangle((cx - side, cy - side, cx + side, cy + side // 2), fill=colour)
    if clock:
        draw.text((4, block + 4), clock, fill=(255, 255, 255))
    return img


def read_test_card(frame: av.VideoFrame) -> tuple[int, tuple[int, int, int]]:
    """(frame counter, marker colour) read back from a decoded test card frame."""
    img = frame.to_image()
    width, height = img.size
    block = width // COUNTER_BITS
    counter = 0
    for bit in range(COUNTER_BITS):
        px = img.getpixel((bit * block + block // 2, block // 2))
        assert isinstance(px, tuple)
        if sum(px[:3]) > 3 * 128:
            counter |= 1 << bit
    marker = img.getpixel((width // 2, height // 2 - height // 16))
    assert isinstance(marker, tuple)
    return counter, (int(marker[0]), int(marker[1]), int(marker[2]))


def colour_close(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


class TestCardTrack(MediaStreamTrack):
    """Video: the test card at ``fps``, counting frames from ``start``."""

    kind = "video"

    def __init__(
        self,
        width: int = 320,
        height: int = 240,
        fps: int = 30,
        colour: tuple[int, int, int] = (0, 96, 255),
        start: int = 0,
    ) -> None:
        super().__init__()
        self.width, self.height, self.fps, self.colour = width, height, fps, colour
        self.counter = start
        self._t0: float | None = None
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.monotonic()
        else:
            wait = self._t0 + self._n / self.fps - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        clock = (
            time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}  #{self.counter}"
        )
        img = draw_test_card(self.counter, self.width, self.height, self.colour, clock)
        frame = av.VideoFrame.from_image(img)
        frame.pts = self._n * VIDEO_CLOCK // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._n += 1
        self.counter += 1
        return frame


_TONE = b"".join(
    struct.pack("<h", int(8000 * math.sin(2 * math.pi * TONE_HZ * i / AUDIO_RATE)))
    for i in range(AUDIO_SAMPLES)
)


class ToneTrack(MediaStreamTrack):
    """Audio: a 1 kHz tone in 20 ms frames."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._t0: float | None = None
        self._n = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.monotonic()
        else:
            wait = self._t0 + self._n * AUDIO_SAMPLES / AUDIO_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(_TONE)
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._n * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._n += 1
        return frame


def prefer_codec(pc: RTCPeerConnection, kind: str, name: str) -> None:
    """Offer only codec ``name`` (e.g. "H264", "VP8") on ``pc``'s ``kind`` transceivers."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in caps if c.mimeType.split("/")[1].upper() in (name.upper(), "RTX")]
    for t in pc.getTransceivers():
        if t.kind == kind:
            t.setCodecPreferences(chosen)


@dataclass
class TestPublisher:
    pc: RTCPeerConnection
    video: MediaStreamTrack
    audio: MediaStreamTrack | None
    answer_sdp: str = ""

    async def close(self) -> None:
        await self.pc.close()
        release(self.pc)


async def make_publisher(
    video: MediaStreamTrack,
    audio: MediaStreamTrack | None,
    signal: Signal,
    *,
    codec: str = "H264",
    hosts: Sequence[str] = ("127.0.0.1",),
    ice_servers: Sequence[object] = (),
) -> TestPublisher:
    """An aiortc publisher of ``video``/``audio`` (sendonly, like OBS) through ``signal``."""
    pc = new_peer_connection(ice_servers)
    pc.addTransceiver(video, direction="sendonly")
    if audio is not None:
        pc.addTransceiver(audio, direction="sendonly")
    prefer_codec(pc, "video", codec)
    offer = await create_offer(pc, hosts)
    try:
        answer = await signal(offer)
        await accept_answer(pc, answer, hosts)
    except BaseException:
        await pc.close()
        raise
    return TestPublisher(pc, video, audio, answer)


async def publish_test_card(
    signal: Signal,
    *,
    codec: str = "H264",
    audio: bool = True,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    colour: tuple[int, int, int] = (0, 96, 255),
    start: int = 0,
    hosts: Sequence[str] = ("127.0.0.1",),
) -> TestPublisher:
    """Publish the test card (and a tone) through ``signal`` (e.g. ``engine.publish``)."""
    return await make_publisher(
        TestCardTrack(width, height, fps, colour, start),
        ToneTrack() if audio else None,
        signal,
        codec=codec,
        hosts=hosts,
    )


@dataclass
class TestViewer:
    """An aiortc viewer; with ``decode`` it reads the test card from every frame."""

    pc: RTCPeerConnection
    decode: bool = True
    started_at: float = field(default_factory=time.monotonic)
    frames: list[tuple[int, tuple[int, int, int], float]] = field(default_factory=list)
    audio_frames: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    first_frame: asyncio.Event = field(default_factory=asyncio.Event)
    answer_sdp: str = ""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def first_frame_delay(self) -> float | None:
        return self.frames[0][2] - self.started_at if self.frames else None

    async def wait_frames(self, count: int, within: float = 15.0) -> None:
        """Wait until ``count`` more video frames arrived."""
        target = len(self.frames) + count
        deadline = time.monotonic() + within
        while len(self.frames) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.frames)} of {target} frames after {within} s")
            await asyncio.sleep(0.02)

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "audio":
                    self.audio_frames += 1
                    continue
                assert isinstance(frame, av.VideoFrame)
                if self.decode:
                    counter, colour = read_test_card(frame)
                    self.frames.append((counter, colour, time.monotonic()))
                else:
                    self.frames.append((-1, (0, 0, 0), time.monotonic()))
                self.first_frame.set()
        except MediaStreamError:
            pass
        finally:
            self.ended.set()

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        release(self.pc)


async def watch(
    signal: Signal,
    *,
    hosts: Sequence[str] = ("127.0.0.1",),
    audio: bool = True,
    decode: bool = True,
) -> TestViewer:
    """An aiortc viewer (recvonly, like a WHEP player) through ``signal``."""
    pc = new_peer_connection()
    viewer = TestViewer(pc, decode=decode)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        viewer._tasks.append(asyncio.ensure_future(viewer._consume(track)))

    pc.addTransceiver("video", direction="recvonly")
    if audio:
        pc.addTransceiver("audio", direction="recvonly")
    offer = await create_offer(pc, hosts)
    try:
        viewer.answer_sdp = await signal(offer)
        await accept_answer(pc, viewer.answer_sdp, hosts)
    except BaseException:
        await pc.close()
        raise
    return viewer
