"""The JSON of booth media: an asset with every link signed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from booths.media.models import Asset
from booths.media.views import URL_EXPIRES, AssetView
from cloudexpo.storage import ObjectStore


def asset_json(store: ObjectStore, asset: Asset, expires: int = URL_EXPIRES) -> dict[str, Any]:
    """:class:`AssetView` with every link signed, as plain JSON-ready data."""
    return AssetView(store, asset, expires).as_dict()


def views_json(views: Sequence[AssetView]) -> list[dict[str, Any]]:
    """Views the domain hands out (links signed on first read) as JSON."""
    return [view.as_dict() for view in views]
