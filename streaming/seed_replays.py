"""The demo's finished launches: replays recorded at seed time, so ``/replays`` has something to watch.

Each launch is an ended release-zone slot of a seeded booth (yesterday and the
day before). Its replay is made the way the recorder makes one: encoded H.264
access units and Opus packets go through :class:`~streaming.muxer.SegmentMuxer` into the
slot's spool, the :class:`~streaming.spool.Uploader` sends segments and the
closed playlist to storage, :func:`~streaming.replays.recording_closed` and
:func:`~streaming.replays.remake_mp4` make it playable and downloadable, and
WebVTT captions are stored in the three languages. So they are ordinary
replays: trimmed, captioned, unpublished or deleted like any other.

The picture (a card with a running clock) is encoded once per run and reused
by every launch; a few seconds each keeps the seed quick.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import math
from array import array
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo import fonts
from cloudexpo.db import utcnow
from cloudexpo.services import Services

from . import replays
from .models import Slot, SlotState, Stage, StageKind
from .muxer import SegmentMuxer
from .replay_models import Replay
from .schedule import SlotInput, SlotOverlap, create_slot
from .seed import L, seeded_booths
from .spool import SpoolRecording, Uploader
from .transcode import AUDIO_RATE, TB_AUDIO, TB_VIDEO, VIDEO_RATE

log = logging.getLogger(__name__)

SECONDS = 6
FPS = 15
SIZE = (640, 360)
SEGMENT_TARGET = 2.0
# (days ago, hour in UTC, minutes long)
WHEN = ((1, 2, 30), (1, 6, 30), (2, 7, 45))


@dataclass(frozen=True)
class Clip:
    """Encoded H.264 access units (pts in 1/90000 s, Annex B, keyframe) of the demo card."""

    video: tuple[tuple[int, bytes, bool], ...]
    seconds: float


def _card(n: int, fps: int) -> Image.Image:
    width, height = SIZE
    img = Image.new("RGB", SIZE, (11, 37, 69))
    draw = ImageDraw.Draw(img)
    sweep = int(width * (n % (fps * 2)) / (fps * 2))  # a bar that moves: the picture plays
    draw.rectangle((0, height - 24, width, height), fill=(30, 60, 100))
    draw.rectangle((0, height - 24, sweep, height), fill=(245, 183, 0))
    title_font = fonts.font(40, "zh-Hans")
    title = "云展会 · 新品发布回放" if fonts.has_cjk_font() else "Cloud Expo · launch replay"
    draw.text((width / 2, height * 0.38), title, fill=(255, 255, 255), font=title_font, anchor="mm")
    seconds = n / fps
    draw.text((width / 2, height * 0.6), f"{int(seconds // 60):02d}:{seconds % 60:04.1f}", fill=(245, 183, 0),
              font=fonts.font(56), anchor="mm")
    return img


@functools.cache
def demo_clip(seconds: int = SECONDS, fps: int = FPS) -> Clip:
    """The card encoded once per process: a keyframe every :data:`SEGMENT_TARGET` seconds, SPS/PPS on each."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = SIZE
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = TB_VIDEO
    keyint = int(SEGMENT_TARGET * fps)
    encoder.options = {
        "preset": "ultrafast", "tune": "zerolatency", "crf": "28",
        "x264-params": f"keyint={keyint}:min-keyint={keyint}:repeat-headers=1:scenecut=0",
    }
    out: list[tuple[int, bytes, bool]] = []
    frames: list[av.VideoFrame | None] = []
    for n in range(seconds * fps):
        frame = av.VideoFrame.from_image(_card(n, fps)).reformat(format="yuv420p")
        frame.pts = n * VIDEO_RATE // fps
        frame.time_base = TB_VIDEO
        frames.append(frame)
    for frame in [*frames, None]:  # None: what the encoder still holds
        out += [(int(p.pts or 0), bytes(p), bool(p.is_keyframe)) for p in encoder.encode(frame)]
    out.sort(key=lambda item: item[0])
    return Clip(tuple(out), float(seconds))


@functools.cache
def _chime_second() -> bytes:
    """One second of a soft 660 Hz tone that swells once (float32; it repeats seamlessly)."""
    return array("f", (
        0.12 * math.sin(2 * math.pi * 660 * i / AUDIO_RATE) * (0.5 + 0.5 * math.cos(2 * math.pi * i / AUDIO_RATE))
        for i in range(AUDIO_RATE)
    )).tobytes()


@functools.cache
def demo_chime(seconds: int = SECONDS) -> tuple[tuple[int, bytes], ...]:
    """The chime encoded once per process as a browser sends it: Opus packets of 20 ms (pts at 48 kHz)."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = AUDIO_RATE
    encoder.layout = "stereo"
    encoder.format = "flt"
    encoder.time_base = TB_AUDIO
    encoder.bit_rate = 64000
    second = _chime_second()
    out: list[tuple[int, bytes]] = []
    step = 960
    for start in range(0, seconds * AUDIO_RATE, step):
        offset = start % AUDIO_RATE * 4
        mono = array("f")
        mono.frombytes((second[offset:] + second)[: step * 4])
        both = array("f", bytes(8 * step))  # interleaved stereo: the chime on both sides
        both[0::2] = both[1::2] = mono
        frame = av.AudioFrame(format="flt", layout="stereo", samples=step)
        frame.planes[0].update(both.tobytes())
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = TB_AUDIO
        out += [(int(p.pts or 0), bytes(p)) for p in encoder.encode(frame)]
    out += [(int(p.pts or 0), bytes(p)) for p in encoder.encode(None)]
    first = out[0][0] if out else 0  # the encoder's priming comes before 0: the chime starts with the picture
    return tuple((pts - first, packet) for pts, packet in out)


def record_clip(spool: SpoolRecording, clip: Clip, started: dt.datetime) -> None:
    """Write ``clip`` into the spool as the recorder's writer would (segments, journal, end)."""
    spool.ensure()
    muxer = SegmentMuxer(spool, {"video": "H264", "audio": "opus"}, target=SEGMENT_TARGET, on_segment=lambda: None)
    muxer.prefer_stereo()
    muxer.wall0 = started.timestamp()
    spool.append({"type": "start", "at": started.isoformat(), "video": "H264", "audio": "opus", "sync": "generated"})
    chime = demo_chime(math.ceil(clip.seconds))
    taken = 0
    for pts, data, keyframe in clip.video:
        muxer.write_video(pts, data, keyframe)
        while taken < len(chime) and chime[taken][0] * VIDEO_RATE <= (pts + VIDEO_RATE // 10) * AUDIO_RATE:
            muxer.write_audio(*chime[taken])  # audio 0.1 s ahead, as it comes from a browser
            taken += 1
    muxer.finish()


def captions(title: dict[str, str], seconds: float) -> dict[str, bytes]:
    """WebVTT in the three languages: the launch's name, then what the picture shows."""
    lines = {
        "zh-Hans": [title.get("zh-Hans", ""), "欢迎观看发布会回放。", "产品资料请到展台页面查看。"],
        "zh-Hant": [title.get("zh-Hant", ""), "歡迎觀看發佈會回放。", "產品資料請到展台頁面查看。"],
        "en": [title.get("en", ""), "Welcome to the launch replay.", "Product documents are on the booth page."],
    }
    step = seconds / 3
    out = {}
    for language, texts in lines.items():
        cues = [
            f"{_stamp(i * step)} --> {_stamp((i + 1) * step - 0.05)}\n{text}"
            for i, text in enumerate(texts) if text
        ]
        out[language] = ("WEBVTT\n\n" + "\n\n".join(cues) + "\n").encode()
    return out


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"{millis // 60000:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


async def _release_stages(db: AsyncSession) -> list[Stage]:
    return list((await db.scalars(select(Stage).where(Stage.kind == StageKind.RELEASE.value).order_by(Stage.position))).all())


async def _has_seeded_replays(db: AsyncSession) -> bool:
    found = await db.scalar(
        select(Replay.id).join(Slot, Slot.id == Replay.slot_id).join(Stage, Stage.id == Slot.stage_id)
        .where(Stage.kind == StageKind.RELEASE.value).limit(1)
    )
    return found is not None


async def _ended_launches(db: AsyncSession, secret_key: str, now: dt.datetime) -> list[Slot]:
    stages = await _release_stages(db)
    if not stages:
        return []
    booths = (await seeded_booths(db, limit=12))[6:] or await seeded_booths(db)
    if not booths:
        return []
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    slots = []
    for index, (days, hour, minutes) in enumerate(WHEN):
        booth_id, exhibitor_id, name = booths[index % len(booths)]
        hans = name.get("zh-Hans") or name.get("en") or f"{booth_id} 号展台"
        hant = name.get("zh-Hant") or hans
        en = name.get("en") or f"Booth {booth_id}"
        begins = today - dt.timedelta(days=days) + dt.timedelta(hours=hour)
        try:
            slot = await create_slot(db, secret_key, SlotInput(
                stages[index % len(stages)].id, L(f"{hans}：新品发布", f"{hant}：新品發佈", f"{en}: product launch"),
                begins, begins + dt.timedelta(minutes=minutes), booth_id=booth_id, exhibitor_id=exhibitor_id,
                description=L("发布区直播的回放：新产品与新技术。", "發佈區直播的回放：新產品與新技術。",
                              "The replay of a live launch from the release zone: new products and technologies."),
            ))
        except SlotOverlap:
            continue
        slot.state = SlotState.ENDED.value
        slot.live_at, slot.ended_at = begins, begins + dt.timedelta(minutes=minutes)
        slots.append(slot)
    await db.commit()
    return slots


async def seed_replays(services: Services, spool_root: Path, now: dt.datetime | None = None) -> int:
    """Ended launches with published, captioned replays (once: skipped when release-zone replays exist)."""
    now = now or utcnow()
    async with services.db.session() as db:
        if await _has_seeded_replays(db):
            return 0
        slots = [(s.id, dict(s.title), s.live_at) for s in await _ended_launches(db, services.secret_key, now)]
    clip = await asyncio.to_thread(demo_clip)
    for slot_id, title, live_at in slots:
        assert live_at is not None
        spool = SpoolRecording(spool_root, slot_id)
        await asyncio.to_thread(record_clip, spool, clip, live_at)
        uploader = Uploader(services.store, spool)
        uploader.finish()
        await uploader.run()
        await replays.recording_closed(services.db, slot_id, uploader.playlist)
        await replays.remake_mp4(services.db, services.store, slot_id, spool_root)
        async with services.db.session() as db:
            replay = await db.scalar(select(Replay).where(Replay.slot_id == slot_id))
            assert replay is not None
            for language, vtt in captions(title, clip.seconds).items():
                await replays.put_captions(db, services.store, replay, language, vtt)
        await asyncio.to_thread(spool.remove)
    if slots:
        log.info("seed: %d launch replays of %.0f s each", len(slots), clip.seconds)
    return len(slots)

