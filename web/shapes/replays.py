"""The JSON of replays: a replay with its playlist, captions and download links, and its figures."""

from __future__ import annotations

from typing import Any

from cloudexpo.storage import ObjectStore
from streaming import replays
from streaming.models import Slot
from streaming.replay_models import Replay, ReplayState
from streaming.schedule import on_air


def stats_json(replay: Replay) -> dict[str, Any]:
    return {
        "slot_id": replay.slot_id,
        "views": replay.views,
        "watch_seconds": round(replay.watch_seconds, 1),
        "average_seconds": round(replay.watch_seconds / replay.views, 1) if replay.views else 0.0,
    }


def replay_json(store: ObjectStore, slot: Slot, replay: Replay, *, manage: bool) -> dict[str, Any]:
    captions = {
        lang: store.get_url(key, replays.URL_LIFETIME, content_type="text/vtt") for lang, key in (replay.captions or {}).items()
    }
    data: dict[str, Any] = {
        "slot_id": slot.id,
        "title": slot.title,
        "state": replay.state,
        # still broadcast: the watch page rewinds it; a recording whose slot is over plays as a replay
        "on_air": replay.state == ReplayState.RECORDING.value and on_air(slot),
        "published": replay.published,
        "duration": round(replay.visible_duration, 3),
        "recorded_duration": replay.duration,
        "trim_start": replay.trim_start,
        "trim_end": replay.trim_end,
        "started_at": replay.started_at.isoformat() if replay.started_at else None,
        "playlist": f"/replays/{slot.id}/index.m3u8",
        "dvr_playlist": f"/live/{slot.id}/dvr.m3u8",
        "chat": f"/api/replays/{slot.id}/chat",
        "captions": captions,
        "download": store.get_url(replay.mp4_key, replays.URL_LIFETIME, filename=f"replay-{slot.id}.mp4", content_type="video/mp4")
        if replay.mp4_key
        else None,
        "can_manage": manage,
    }
    if manage:
        data.update(stats_json(replay))
        data["error"] = replay.error
    return data
