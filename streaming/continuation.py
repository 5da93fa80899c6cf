"""A recording that goes on where the stored one stops: one replay per slot, however often its origin changed.

A slot's recording is written by the node holding its publisher. When that
node dies mid-broadcast the publisher reconnects to another node, which
becomes the origin and starts recording with an empty spool; a slot that goes
live again after its broadcast ended (and its spool was cleared) does the
same. Numbered from 1, its segments would overwrite the replay's.

Before such a recording writes anything, :func:`continue_stored` reads what
storage holds of the slot: the playlist's segments go into the fresh spool's
journal as already uploaded, so the uploader's playlist keeps them, numbering
goes on past every segment object in storage (also one uploaded just before a
crash but not yet listed), and the timeline goes on where the stored one ends
(:meth:`streaming.segmenter.SegmentWriter.continue_after`); the first new
segment starts with ``#EXT-X-DISCONTINUITY``, as after a publisher's
reconnection on one node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from cloudexpo.storage import ObjectNotFound, ObjectStore

from . import fmp4
from .hls import PlaylistError, Segment, parse_playlist
from .spool import PLAYLIST, SpoolRecording, file_number, replay_prefix

log = logging.getLogger(__name__)

ATTEMPTS = 6  # reads of storage before the recording starts without what it holds
FIRST_DELAY = 0.5


@dataclass(frozen=True)
class StoredRecording:
    """What storage holds of a slot's recording."""

    segments: int  # in its playlist
    duration: float  # seconds: where the continued timeline starts
    next_index: int  # the first segment number no stored object uses
    audio_channels: int | None = None  # of its last init segment: the new segments keep them (one layout a replay)


async def read_stored(store: ObjectStore, slot_id: int) -> tuple[str | None, list[str]]:
    """(the stored playlist's text or None, the keys under the slot's replay prefix)."""
    prefix = replay_prefix(slot_id)
    keys = await store.list_keys(prefix)
    try:
        text = (await store.get_bytes(prefix + PLAYLIST)).decode()
    except ObjectNotFound:
        text = None
    return text, keys


async def continue_stored(store: ObjectStore, spool: SpoolRecording) -> StoredRecording | None:
    """Seed an empty spool's journal from storage; None when storage holds nothing of the slot.

    Storage trouble is retried for a few seconds (the broadcast's packets wait
    in the recorder's queue); past that the recording starts fresh, and says so.
    """
    delay = FIRST_DELAY
    for attempt in range(ATTEMPTS):
        try:
            text, keys = await read_stored(store, spool.slot_id)
            break
        except Exception as exc:
            if attempt == ATTEMPTS - 1:
                log.error("recorder: storage could not be read for slot %s (%s); its recording may restart the "
                          "replay's numbering", spool.slot_id, exc)
                return None
            await asyncio.sleep(delay)
            delay *= 2
    # segments' numbers and init segments' (the number of its first segment: one uploaded just before a crash
    # may have no segment stored yet)
    indices = [i for i in map(file_number, keys) if i is not None]
    if text is None and not indices:
        return None
    try:
        playlist = parse_playlist(text) if text is not None else None
    except PlaylistError as exc:
        log.error("recorder: the stored playlist of slot %s is unreadable (%s); the new segments follow its "
                  "segment objects", spool.slot_id, exc)
        playlist = None
    segments = playlist.segments if playlist is not None else []
    await asyncio.to_thread(_seed, spool, segments)
    listed = [i for i in (file_number(s.uri) for s in segments) if i is not None]
    stored = StoredRecording(
        segments=len(segments),
        duration=round(sum(s.duration for s in segments), 3),
        next_index=max(indices + listed, default=0) + 1,
        audio_channels=await stored_audio_channels(store, spool, segments[-1].map) if segments else None,
    )
    log.info("recorder: slot %s continues its stored recording (%d segments, %.1f s; next segment %d)",
             spool.slot_id, stored.segments, stored.duration, stored.next_index)
    return stored


async def stored_audio_channels(store: ObjectStore, spool: SpoolRecording, init: str | None) -> int | None:
    """The Opus channels of the stored init segment ``init``; None if unknown (or an MPEG-TS recording)."""
    if not init:
        return None
    try:
        return fmp4.audio_channels(await store.get_bytes(replay_prefix(spool.slot_id) + init))
    except Exception as exc:
        log.warning("recorder: the audio layout of slot %s's stored recording could not be read (%s)",
                    spool.slot_id, exc)
        return None


def _seed(spool: SpoolRecording, segments: Sequence[Segment]) -> None:
    entries: list[dict[str, object]] = []
    inits: set[str] = set()
    for segment in segments:
        if segment.map and segment.map not in inits:
            inits.add(segment.map)
            entries.append({"type": "init", "name": segment.map, "stored": True})
        entries.append({
            "type": "segment",
            "name": segment.uri,
            "duration": segment.duration,
            "pdt": segment.program_date_time.isoformat() if segment.program_date_time else None,
            "discontinuity": segment.discontinuity,
            "stored": True,
            **({"map": segment.map} if segment.map else {}),
        })
    spool.seed(entries)


async def continued_elsewhere(store: ObjectStore, spool: SpoolRecording) -> bool:
    """Whether the stored playlist lists segments this spool never wrote: another node went on with the
    recording after this one stopped (died), so what this spool still holds must not be sent over it."""
    try:
        text, _ = await read_stored(store, spool.slot_id)
        stored = {s.uri for s in parse_playlist(text).segments} if text is not None else set()
    except Exception as exc:
        log.warning("recorder: the stored playlist of slot %s could not be read (%s)", spool.slot_id, exc)
        return False
    state = await asyncio.to_thread(spool.state)
    return bool(stored - {e["name"] for e in state.segments})
