"""Replays: what the recorder left in storage, made watchable, editable and countable.

Plain async functions taking an ``AsyncSession`` / ``Database`` and an
``ObjectStore``; ``web/routes/replays.py`` turns their errors into 4xx.

Objects of a slot's replay, all under ``replays/{slot_id}/`` (so deleting the
prefix removes everything)::

    index.m3u8           the recorder's playlist (relative URIs; EVENT while live)
    init_00001.mp4       an init segment (fragmented MP4), one a run of segments with the same set-up
    seg_00001.m4s ...    segments (H.264 + Opus as sent), each from a keyframe; ``seg_00001.ts``
                         (MPEG-TS, H.264 + AAC) in replays recorded before Cloud Expo wrote fMP4
    replay.mp4           the download, joined from the (trimmed) segments, with AAC sound
    captions/en.vtt      WebVTT captions per language

Who sees what (:func:`can_manage`, :func:`visible_to`): moderators and the
slot's exhibitor staff see and edit their replays in every state; everyone
else sees a replay only when it is published, playable and its slot is not
cancelled — otherwise it does not exist for them (404).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo.db import Database, utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Principal
from cloudexpo.storage import ObjectNotFound, ObjectStore

from .hls import Playlist, TrimError, parse_playlist, snap_trim, trim, write_playlist
from .models import ChatMessage, Slot, SlotState
from .replay_models import PLAYABLE_STATES, Replay, ReplayState, ReplayView
from .schedule import DEFAULT_OVERRUN, on_air
from .spool import PLAYLIST, SpoolRecording, content_type, replay_prefix

NO_REPLAY = message("replay.none", "Slot {slot} has no replay.")
NOT_STORED = message("replay.not_stored", "Slot {slot} has no recording in storage yet.")
TRIM_AFTER = message("replay.trim_after", "Trim the replay after the broadcast has ended.")
CAPTIONS_BIG = message("replay.captions_big", "Caption files may be at most {kib} KiB.")
CAPTIONS_UTF8 = message("replay.captions_utf8", "Save the caption file as UTF-8 text.")
CAPTIONS_WEBVTT = message("replay.captions_webvtt", 'A WebVTT file starts with the line "WEBVTT"; this one does not (SubRip .srt files need converting).')
CUE_ORDER = message("replay.cue_order", "Line {line}: a cue must end after it starts.")
NO_CUES = message("replay.no_cues", 'The file has no cues; add lines like "00:01.000 --> 00:04.000" followed by text.')
CAPTIONS_LANGUAGE = message("replay.captions_language", "Captions may be in {languages}; not {lang}.")
STILL_RECORDING = message("replay.still_recording", "The broadcast is still being recorded; delete the replay after it ends.")

log = logging.getLogger(__name__)

CAPTION_LANGUAGES = ("zh-Hans", "zh-Hant", "en")
MAX_CAPTION_BYTES = 1024 * 1024
MAX_PROGRESS_SECONDS = 30.0  # one progress post counts at most this much watch time
URL_LIFETIME = 6 * 3600
MP4_NAME = "replay.mp4"


class ReplayError(Exception):
    """Base of the replay refusals; the message says what to fix."""


class ReplayNotFound(ReplayError):
    pass


class InvalidTrim(ReplayError, ValueError):
    pass


class InvalidCaptions(ReplayError, ValueError):
    pass


# --- permissions ------------------------------------------------------------------------


def can_manage(principal: Principal, slot: Slot) -> bool:
    """Moderators, and the staff of the slot's exhibitor."""
    return principal.is_moderator or principal.is_staff_of(slot.exhibitor_id)


def visible_to(principal: Principal, slot: Slot, replay: Replay) -> bool:
    if can_manage(principal, slot):
        return True
    return (
        replay.published
        and replay.state in PLAYABLE_STATES
        and (replay.segments > 0 or replay.state == ReplayState.RECORDING.value)  # live rewind
        and slot.state != SlotState.CANCELLED.value
    )


async def get_replay(db: AsyncSession, slot_id: int, principal: Principal) -> tuple[Slot, Replay]:
    """The slot and its replay if ``principal`` may see them; else :class:`ReplayNotFound`."""
    row = (await db.execute(select(Slot, Replay).join(Replay, Replay.slot_id == Slot.id).where(Slot.id == slot_id))).first()
    if row is None:
        raise ReplayNotFound(NO_REPLAY(slot=slot_id))
    slot, replay = row
    if not visible_to(principal, slot, replay):
        raise ReplayNotFound(NO_REPLAY(slot=slot_id))
    return slot, replay


async def replay_status(db: AsyncSession, slot: Slot, principal: Principal) -> str:
    """What the page of a broadcast that is over tells ``principal`` about its replay.

    ``ready`` (watch it), ``coming`` (being recorded or made), ``unpublished``
    (kept from visitors), ``failed`` (the recording failed), ``removed`` (the broadcast went on air but its replay
    was deleted) or ``none`` (it never went on air, so nothing was recorded).
    """
    replay = await db.scalar(select(Replay).where(Replay.slot_id == slot.id))
    if replay is None:
        return "removed" if slot.live_at is not None else "none"
    if replay.state == ReplayState.FAILED.value:
        return "failed"
    if not visible_to(principal, slot, replay):
        return "unpublished"
    # A recording whose slot is over (a node stopped before it closed the recording) plays as it is.
    over = replay.state != ReplayState.RECORDING.value or not on_air(slot)
    return "ready" if replay.segments > 0 and over else "coming"


# --- the recorder's bookkeeping ----------------------------------------------------------


async def recording_begun(db: Database, slot_id: int) -> None:
    """A stream of the slot started: its replay is (again) recording."""
    for _ in range(2):
        async with db.session() as session:
            replay = await session.scalar(select(Replay).where(Replay.slot_id == slot_id))
            if replay is None:
                if await session.get(Slot, slot_id) is None:
                    return
                session.add(Replay(slot_id=slot_id, state=ReplayState.RECORDING.value, captions={}))
            else:
                replay.state = ReplayState.RECORDING.value
                replay.error = None
            try:
                await session.commit()
                return
            except IntegrityError:
                await session.rollback()


async def recording_started(db: Database, slot_id: int, started_at: dt.datetime, video_codec: str | None) -> None:
    async with db.session() as session:
        replay = await session.scalar(select(Replay).where(Replay.slot_id == slot_id))
        if replay is None:
            if await session.get(Slot, slot_id) is None:
                return
            replay = Replay(slot_id=slot_id, state=ReplayState.RECORDING.value, captions={})
            session.add(replay)
        if replay.started_at is None:
            replay.started_at = started_at
        replay.video_codec = video_codec
        await session.commit()


async def recording_closed(db: Database, slot_id: int, playlist: Playlist | None) -> Replay | None:
    """The playlist has ENDLIST: the replay is playable (state "processing" until its MP4 exists).

    The first time, a recording that began in the green room is trimmed to
    start at the segment where the slot went on air.
    """
    async with db.session() as session:
        replay = await session.scalar(select(Replay).where(Replay.slot_id == slot_id))
        slot = await session.get(Slot, slot_id)
        if slot is None:
            return None
        if replay is None:
            replay = Replay(slot_id=slot_id, captions={})
            session.add(replay)
        segments = playlist.segments if playlist else []
        first_close = replay.ended_at is None
        replay.duration = round(sum(s.duration for s in segments), 3)
        replay.segments = len(segments)
        replay.ended_at = utcnow()
        if not segments:
            replay.state = ReplayState.FAILED.value
            replay.error = "Nothing was recorded (no keyframe arrived)."
        else:
            replay.state = ReplayState.PROCESSING.value
            if replay.started_at is None and segments[0].program_date_time is not None:
                replay.started_at = segments[0].program_date_time
        if first_close and segments and slot.live_at and replay.trim_start == 0:
            on_air = _timeline_position(segments, slot.live_at)
            if on_air is not None and on_air > 1.0:
                _, _, snapped, _ = snap_trim(segments, on_air, None)
                replay.trim_start = snapped
        await session.commit()
        return replay


def _timeline_position(segments: Sequence[Any], at: dt.datetime) -> float | None:
    """Seconds into the recording at wall-clock time ``at`` (by each segment's date-time)."""
    t = 0.0
    for seg in segments:
        pdt = seg.program_date_time
        if pdt is not None:
            if at < pdt:
                return t  # between two broadcasts of the slot: the next one's start
            if at < pdt + dt.timedelta(seconds=seg.duration):
                return t + (at - pdt).total_seconds()
        t += seg.duration
    return None


# --- playlists ------------------------------------------------------------------------------

async def read_playlist_text(store: ObjectStore, slot_id: int) -> str:
    try:
        return (await store.get_bytes(replay_prefix(slot_id) + PLAYLIST)).decode()
    except ObjectNotFound:
        raise ReplayNotFound(NOT_STORED(slot=slot_id)) from None


async def read_playlist(store: ObjectStore, slot_id: int) -> Playlist:
    """The recorder's playlist of ``slot_id`` as it is in storage now."""
    return parse_playlist(await read_playlist_text(store, slot_id))


async def served_playlist(files: ReplayFiles, replay: Replay, *, apply_trim: bool = True) -> str:
    """The playlist for players: signed or presigned segment URLs, trimmed once the recording ended."""
    store = files.store
    playlist = await files.playlist(replay.slot_id)
    if apply_trim and playlist.ended and (replay.trim_start or replay.trim_end is not None):
        try:
            playlist = trim(playlist, replay.trim_start or None, replay.trim_end)
        except TrimError:
            pass
    prefix = replay_prefix(replay.slot_id)
    return write_playlist(playlist, lambda uri: store.get_url(prefix + uri, URL_LIFETIME, content_type=content_type(uri)))


# --- editing ------------------------------------------------------------------------------------


async def set_published(db: AsyncSession, replay: Replay, published: bool) -> Replay:
    replay.published = bool(published)
    await db.commit()
    return replay


async def set_trim(db: AsyncSession, store: ObjectStore, replay: Replay, start: float | None, end: float | None) -> Replay:
    """Trim to whole segments (keyframes); raises :class:`InvalidTrim` for points outside the recording."""
    if replay.state == ReplayState.RECORDING.value:
        raise InvalidTrim(TRIM_AFTER())
    playlist = await read_playlist(store, replay.slot_id)
    try:
        _, last, snapped_start, snapped_end = snap_trim(playlist.segments, start, end)
    except TrimError as exc:
        raise InvalidTrim(str(exc)) from None
    replay.trim_start = round(snapped_start, 3)
    replay.trim_end = None if last == len(playlist.segments) else round(snapped_end, 3)
    await db.commit()
    return replay


_CUE_TIME = r"(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}"
_LOOKS_LIKE_TIMING = re.compile(r"\d:\d\d[.,]\d+\s*-+>")
_CUE_LINE = re.compile(rf"^({_CUE_TIME})[ \t]+-->[ \t]+({_CUE_TIME})(?:[ \t].*)?$")


def _seconds(stamp: str) -> float:
    parts = stamp.split(":")
    total = 0.0
    for p in parts:
        total = total * 60 + float(p)
    return total


def validate_webvtt(data: bytes) -> str:
    """The caption file as text if it is WebVTT; :class:`InvalidCaptions` saying what to fix otherwise."""
    if len(data) > MAX_CAPTION_BYTES:
        raise InvalidCaptions(CAPTIONS_BIG(kib=MAX_CAPTION_BYTES // 1024))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidCaptions(CAPTIONS_UTF8()) from None
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    if not (first == "WEBVTT" or first.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise InvalidCaptions(CAPTIONS_WEBVTT())
    cues = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if "-->" not in line and not _LOOKS_LIKE_TIMING.search(line):
            continue
        match = _CUE_LINE.match(line.strip())
        if match is None:
            raise InvalidCaptions(f'Line {number} is not a cue timing like "00:01.000 --> 00:04.000": {line.strip()[:80]!r}.')
        if _seconds(match.group(2)) <= _seconds(match.group(1)):
            raise InvalidCaptions(CUE_ORDER(line=number))
        cues += 1
    if not cues:
        raise InvalidCaptions(NO_CUES())
    return text


async def put_captions(db: AsyncSession, store: ObjectStore, replay: Replay, language: str, data: bytes) -> str:
    if language not in CAPTION_LANGUAGES:
        raise InvalidCaptions(CAPTIONS_LANGUAGE(languages=", ".join(CAPTION_LANGUAGES), lang=repr(language)))
    text = validate_webvtt(data)
    key = f"{replay_prefix(replay.slot_id)}captions/{language}.vtt"
    await store.put_bytes(key, text.encode(), "text/vtt; charset=utf-8")
    replay.captions = {**(replay.captions or {}), language: key}
    await db.commit()
    return key


async def delete_captions(db: AsyncSession, store: ObjectStore, replay: Replay, language: str) -> None:
    key = (replay.captions or {}).get(language)
    if key:
        await store.delete(key)
    replay.captions = {k: v for k, v in (replay.captions or {}).items() if k != language}
    await db.commit()


async def delete_replay(db: AsyncSession, files: ReplayFiles, replay: Replay) -> int:
    """Remove every object under the replay's prefix and the replay itself; returns objects removed."""
    if replay.state == ReplayState.RECORDING.value:
        raise ReplayError(STILL_RECORDING())
    removed = await files.store.delete_prefix(replay_prefix(replay.slot_id))
    files.forget(replay.slot_id)
    await db.delete(replay)
    await db.commit()
    return removed


# --- the download MP4 ------------------------------------------------------------------------

class ReplayFiles:
    """The replays' files in storage as one process uses them (one per process, see ``streaming.runtime``).

    Playlists are read from storage at most once a second per slot (players
    poll them); each replay's download MP4 is remade by one job at a time
    (after the recording, after a trim), in the background; :meth:`close`
    waits for the jobs still running.
    """

    def __init__(self, db: Database, store: ObjectStore, spool_root: Path, *, max_age: float = 1.0) -> None:
        self.db = db
        self.store = store
        self.spool_root = spool_root
        self.max_age = max_age
        self._playlists: dict[int, tuple[float, str]] = {}
        self._mp4_locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def playlist(self, slot_id: int) -> Playlist:
        """The recorder's playlist, as stored at most :attr:`max_age` seconds ago."""
        now = time.monotonic()
        cached = self._playlists.get(slot_id)
        if cached is None or now - cached[0] >= self.max_age:
            cached = self._playlists[slot_id] = (now, await read_playlist_text(self.store, slot_id))
        return parse_playlist(cached[1])  # a fresh object each time: callers may trim it

    def forget(self, slot_id: int) -> None:
        self._playlists.pop(slot_id, None)

    def spawn_mp4(self, slot_id: int) -> None:
        """Remake the MP4 in the background (after a trim)."""
        task = asyncio.get_running_loop().create_task(self.remake_mp4(slot_id), name=f"replay-mp4-{slot_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def remake_mp4(self, slot_id: int) -> None:
        """Join the (trimmed) segments into one MP4 (the picture copied, the sound as AAC) and store it."""
        lock = self._mp4_locks.setdefault(slot_id, asyncio.Lock())
        async with lock:
            await remake_mp4(self.db, self.store, slot_id, self.spool_root)

    async def start(self) -> None:
        """Nothing to open: jobs start as replays need them."""

    async def close(self) -> None:
        """Wait for the MP4 jobs still running."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def remake_mp4(db: Database, store: ObjectStore, slot_id: int, spool_root: Path) -> None:
    """Remux the (trimmed) segments into one MP4 and store it; call it through :meth:`ReplayFiles.remake_mp4`
    (one job per slot at a time)."""
    async with db.session() as session:
        replay = await session.scalar(select(Replay).where(Replay.slot_id == slot_id))
        if replay is None:
            return
        trim_start, trim_end = replay.trim_start, replay.trim_end
    try:
        playlist = await read_playlist(store, slot_id)
        if trim_start or trim_end is not None:
            playlist = trim(playlist, trim_start or None, trim_end)
        key = replay_prefix(slot_id) + MP4_NAME
        size = await _build_mp4(store, slot_id, playlist, spool_root, key)
        error = None
    except Exception as exc:
        log.exception("replay %s: the MP4 could not be made", slot_id)
        key, size, error = None, None, f"The download could not be made: {exc}"[:500]
    async with db.session() as session:
        replay = await session.scalar(select(Replay).where(Replay.slot_id == slot_id))
        if replay is None:
            return
        replay.mp4_key = key
        replay.mp4_size = size
        replay.error = error
        if replay.state == ReplayState.PROCESSING.value:
            replay.state = ReplayState.READY.value
        await session.commit()


async def _build_mp4(store: ObjectStore, slot_id: int, playlist: Playlist, spool_root: Path, key: str) -> int:
    spool = SpoolRecording(spool_root, slot_id)
    work = Path(await asyncio.to_thread(_workdir, spool_root, slot_id))

    async def local(name: str) -> Path:
        path = spool.path(name)
        if not await asyncio.to_thread(path.exists):
            path = work / name
            if not await asyncio.to_thread(path.exists):
                await store.download_file(replay_prefix(slot_id) + name, path)
        return path

    try:
        # one file per run of segments sharing an init segment (or per MPEG-TS run): each is the run's
        # bytes joined, a fragmented MP4 (init + its segments) or a TS stream
        runs: list[tuple[str | None, list[Path]]] = []
        for seg in playlist.segments:
            if not runs or runs[-1][0] != seg.map:
                runs.append((seg.map, [await local(seg.map)] if seg.map else []))
            runs[-1][1].append(await local(seg.uri))
        parts = [work / f"run_{n:03d}{'.mp4' if init else '.ts'}" for n, (init, _) in enumerate(runs)]
        for (_, sources), part in zip(runs, parts, strict=True):
            await asyncio.to_thread(_concatenate, sources, part)
        mp4 = work / MP4_NAME
        # Opus is what live players get; a downloaded file plays in QuickTime and TVs too with AAC
        aac = ["-c:a", "aac", "-b:a", "128k"]
        if len(parts) == 1:
            audio = aac if runs[0][0] else ["-c:a", "copy"]
            await _ffmpeg("-i", str(parts[0]), "-map", "0:v:0?", "-map", "0:a:0?", "-c:v", "copy", *audio,
                          "-movflags", "+faststart", str(mp4))
        else:
            # runs of another set-up (an MPEG-TS part, an Opus part, one without sound): each to MP4 with the
            # same AAC, then joined as they are (the concat demuxer sets its decoders up from the first file)
            # one layout for the whole file: the first run with sound decides (one layout a replay)
            layouts = [await asyncio.to_thread(_audio_channels, part) for part in parts]
            channels = next((c for c in layouts if c), 2)
            joined = []
            for n, (part, has_sound) in enumerate(zip(parts, layouts, strict=True)):
                out = work / f"aac_{n:03d}.mp4"
                if has_sound:
                    inputs, sound = ["-i", str(part)], "0:a:0"
                else:
                    layout = "stereo" if channels == 2 else "mono"
                    inputs, sound = ["-i", str(part), "-f", "lavfi", "-i", f"anullsrc=r=48000:cl={layout}"], "1:a:0"
                await _ffmpeg(*inputs, "-map", "0:v:0", "-map", sound, "-shortest", "-c:v", "copy", *aac,
                              "-ac", str(channels), "-ar", "48000", str(out))
                joined.append(out)
            listing = work / "runs.txt"
            await asyncio.to_thread(listing.write_text, "".join(f"file '{p.name}'\n" for p in joined))
            await _ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart",
                          str(mp4))
        info = await store.put_file(key, mp4, "video/mp4")
        return info.size
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


async def _ffmpeg(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg exited with {proc.returncode}: {err.decode(errors='replace')[-300:]}")


def _audio_channels(path: Path) -> int | None:
    """The channels of a file's first audio stream; None without one."""
    with av.open(str(path)) as container:
        for stream in container.streams.audio:
            return int(stream.codec_context.channels) or None
    return None


def _workdir(spool_root: Path, slot_id: int) -> str:
    spool_root.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"mp4-{slot_id}-", dir=spool_root)


def _concatenate(sources: list[Path], target: Path) -> None:
    """An init segment and its media segments join into one fragmented MP4 by concatenation, as MPEG-TS
    segments join into one stream (each starts with its tables and a keyframe)."""
    with open(target, "wb") as out:
        for path in sources:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)


# --- analytics -------------------------------------------------------------------------------


async def record_progress(db: AsyncSession, replay: Replay, visitor: str, seconds: float) -> bool:
    """A player's progress post: one view per visitor a day, and the seconds watched since the last post.

    Returns whether this post counted a new view.
    """
    seconds = max(0.0, min(MAX_PROGRESS_SECONDS, float(seconds)))
    day = utcnow().date().isoformat()
    view = await db.scalar(select(ReplayView).where(ReplayView.replay_id == replay.id, ReplayView.visitor == visitor, ReplayView.day == day))
    new_view = view is None
    if view is None:
        view = ReplayView(replay_id=replay.id, visitor=visitor[:64], day=day, seconds=0.0)
        db.add(view)
        replay.views += 1
    view.seconds += seconds
    replay.watch_seconds += seconds
    try:
        await db.commit()
    except IntegrityError:  # the same visitor's other tab counted the view first
        await db.rollback()
        return False
    return new_view


# --- chat in replay time --------------------------------------------------------------------------


async def replay_clock(files: ReplayFiles, replay: Replay) -> Callable[[dt.datetime], float | None]:
    """Where a moment of the broadcast falls in the replay (seconds, after trimming); None when outside it.

    The chat, reactions, pins, questions and polls are shown in sync through it.
    """
    try:
        playlist = await files.playlist(replay.slot_id)
        segments: list[Any] = playlist.segments
    except ReplayNotFound:
        segments = []
    visible = replay.visible_duration

    def place(moment: dt.datetime) -> float | None:
        at = _timeline_position(segments, moment) if segments else None
        if at is None and replay.started_at is not None:
            at = (moment - replay.started_at).total_seconds()
        if at is None:
            return None
        at -= replay.trim_start
        return None if at < 0 or at > visible + 1 else round(at, 3)

    return place


async def chat_timeline(db: AsyncSession, files: ReplayFiles, replay: Replay) -> list[dict[str, Any]]:
    """The slot's chat with each message's place in the replay (``at``, seconds, after trimming)."""
    place = await replay_clock(files, replay)
    rows = (
        await db.scalars(
            select(ChatMessage)
            .where(ChatMessage.slot_id == replay.slot_id, ChatMessage.deleted.is_(False))
            .order_by(ChatMessage.created_at, ChatMessage.id)
        )
    ).all()
    out = []
    for chat_message in rows:
        at = place(chat_message.created_at)
        if at is not None:
            out.append({"id": chat_message.id, "author": chat_message.author, "text": chat_message.text, "at": at})
    return out


# --- lists and search ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayItem:
    slot_id: int
    booth_id: int | None
    exhibitor_id: int | None
    title: dict[str, str]
    forum: str | None
    starts_at: dt.datetime
    duration: float
    state: str
    published: bool
    views: int
    on_air: bool = False  # still being broadcast (recording and its slot on air): the watch page, not the replay

def _matches(slot: Slot, query: str) -> bool:
    needle = query.casefold()
    haystack = [*(slot.title or {}).values(), *(slot.description or {}).values(), slot.forum or ""]
    for speaker in slot.speakers or []:
        if isinstance(speaker, dict):
            haystack.append(str(speaker.get("name", "")))
    return any(needle in text.casefold() for text in haystack if text)


async def list_replays(
    session: AsyncSession,
    *,
    booth_id: int | None = None,
    exhibitor_id: int | None = None,
    query: str | None = None,
    principal: Principal | None = None,
    limit: int = 100,
    overrun: dt.timedelta = DEFAULT_OVERRUN,
) -> list[ReplayItem]:
    """Replays newest first: published and playable ones, plus every one ``principal`` may manage.

    ``query`` matches titles, descriptions, forum and speaker names in every
    language (case-insensitive substring, so two-character Chinese words work).
    """
    stmt = select(Slot, Replay).join(Replay, Replay.slot_id == Slot.id).order_by(Slot.starts_at.desc(), Slot.id.desc())
    if booth_id is not None:
        stmt = stmt.where(Slot.booth_id == booth_id)
    if exhibitor_id is not None:
        stmt = stmt.where(Slot.exhibitor_id == exhibitor_id)
    items: list[ReplayItem] = []
    for slot, replay in (await session.execute(stmt)).all():
        allowed = visible_to(principal, slot, replay) if principal is not None else (
            replay.published and replay.state in PLAYABLE_STATES and replay.segments > 0 and slot.state != SlotState.CANCELLED.value
        )
        if not allowed or (query and not _matches(slot, query)):
            continue
        items.append(
            ReplayItem(
                slot.id, slot.booth_id, slot.exhibitor_id, dict(slot.title or {}), slot.forum, slot.starts_at,
                replay.visible_duration, replay.state, replay.published, replay.views,
                replay.state == ReplayState.RECORDING.value and on_air(slot, overrun),
            )
        )
        if len(items) >= limit:
            break
    return items


