"""How the booths package plugs into Cloud Expo (see :mod:`cloudexpo.areas`)."""

from __future__ import annotations

from pathlib import Path

from cloudexpo.areas import Area

from .runtime import BoothsRuntime

AREA: Area[BoothsRuntime] = Area(
    name="booths",
    models=("booths.exhibition.models", "booths.media.models", "booths.engagement.models",
            "booths.engagement.call_models"),
    migrations=Path(__file__).parent / "migrations",
    build=BoothsRuntime.build,
)
