"""Test media for the recorder: the test card with a white flash and a beep every 2 s.

Video and audio share one clock (the first ``recv`` of either), so the flash
frame and the beep's first sample leave the publisher at the same moment; a
replay is in sync when they still line up. :func:`flashes_and_beeps` finds
them again in a decoded file.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from streaming.testsource import AUDIO_RATE, AUDIO_SAMPLES, VIDEO_CLOCK, draw_test_card

PERIOD = 2.0  # seconds between flashes
FLASH_FRAMES = 3
BEEP_SECONDS = 0.1


@dataclass
class SharedClock:
    start: float | None = None

    def origin(self) -> float:
        if self.start is None:
            self.start = time.monotonic()
        return self.start


class FlashCard(MediaStreamTrack):
    """The test card; every ``PERIOD`` seconds ``FLASH_FRAMES`` frames are white."""

    kind = "video"

    def __init__(self, clock: SharedClock, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self.clock, self.width, self.height, self.fps = clock, width, height, fps
        self._n = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        t0 = self.clock.origin()
        wait = t0 + self._n / self.fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        period = int(PERIOD * self.fps)
        if self._n % period < FLASH_FRAMES:
            frame = av.VideoFrame(self.width, self.height, "yuv420p")
            frame.planes[0].update(b"\xeb" * frame.planes[0].buffer_size)
            for plane in frame.planes[1:]:
                plane.update(b"\x80" * plane.buffer_size)
        else:
            frame = av.VideoFrame.from_image(draw_test_card(self._n, self.width, self.height, (0, 96, 255)))
        frame.pts = self._n * VIDEO_CLOCK // self.fps
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._n += 1
        return frame


def _beep(samples: int, offset: int) -> bytes:
    return b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 1000 * (offset + i) / AUDIO_RATE))) for i in range(samples)
    )


_BEEP = _beep(AUDIO_SAMPLES, 0)  # 1 kHz: every 20 ms chunk is the same
_QUIET = bytes(AUDIO_SAMPLES * 2)


class BeepTone(MediaStreamTrack):
    """Silence with a 100 ms 1 kHz beep every ``PERIOD`` seconds, on the shared clock."""

    kind = "audio"

    def __init__(self, clock: SharedClock) -> None:
        super().__init__()
        self.clock = clock
        self._n = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        t0 = self.clock.origin()
        wait = t0 + self._n * AUDIO_SAMPLES / AUDIO_RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = self._n * AUDIO_SAMPLES / AUDIO_RATE
        beep = (t % PERIOD) < BEEP_SECONDS - 1e-9
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(_BEEP if beep else _QUIET)
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._n * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._n += 1
        return frame


def flash_tracks() -> tuple[FlashCard, BeepTone]:
    clock = SharedClock()
    return FlashCard(clock), BeepTone(clock)


def flashes_and_beeps(path: Path) -> tuple[list[float], list[float]]:
    """Times (s) where a white flash starts and where a beep starts, decoded from ``path``."""
    flashes: list[float] = []
    beeps: list[float] = []
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        lit = False
        loud = False
        mono = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
        for packet in container.demux(streams):
            for frame in packet.decode():
                if frame.time is None:
                    continue
                if isinstance(frame, av.VideoFrame):
                    luma = bytes(frame.planes[0])
                    step = max(1, len(luma) // 2000)
                    sample = luma[::step]
                    bright = sum(sample) / len(sample) > 150
                    if bright and not lit:
                        flashes.append(float(frame.time))
                    lit = bright
                else:
                    raw = b"".join(bytes(m.planes[0])[: m.samples * 2] for m in mono.resample(frame))
                    # RMS per 5 ms window, to place the onset finely
                    window = AUDIO_RATE // 200
                    values = struct.unpack(f"<{len(raw) // 2}h", raw)
                    for i in range(0, len(values), window):
                        chunk = values[i : i + window]
                        if not chunk:
                            continue
                        rms = math.sqrt(sum(v * v for v in chunk) / len(chunk))
                        on = rms > 2000
                        if on and not loud:
                            beeps.append(float(frame.time) + i / AUDIO_RATE)
                        loud = on
    return flashes, beeps


def offsets(flashes: list[float], beeps: list[float]) -> list[float]:
    """For each flash, the nearest beep's onset minus the flash time."""
    out = []
    for f in flashes:
        if beeps:
            nearest = min(beeps, key=lambda b: abs(b - f))
            if abs(nearest - f) < PERIOD / 2:
                out.append(nearest - f)
    return out
