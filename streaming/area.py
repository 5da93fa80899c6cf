"""How the streaming package plugs into Cloud Expo (see :mod:`cloudexpo.areas`)."""

from __future__ import annotations

from pathlib import Path

from cloudexpo.areas import Area

from .runtime import StreamingRuntime

AREA: Area[StreamingRuntime] = Area(
    name="streaming",
    models=("streaming.models", "streaming.replay_models", "streaming.reaction_models", "streaming.qa_models"),
    migrations=Path(__file__).parent / "migrations",
    build=StreamingRuntime.build,
)
