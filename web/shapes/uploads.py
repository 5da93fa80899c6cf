"""The JSON of uploads: the ticket the page sends a file with, its progress when resuming, the quota."""

from __future__ import annotations

from typing import Any

from booths.media.models import Asset, Upload
from booths.media.uploads import CONCURRENCY, URL_EXPIRES, Limits, UploadProgress
from cloudexpo.storage import ObjectStore


def ticket_json(store: ObjectStore, asset: Asset, upload: Upload) -> dict[str, Any]:
    """What the page needs to send the file: for a single PUT the URL and the
    Content-Type it must send; for multipart the part size and count."""
    view: dict[str, Any] = {
        "id": upload.id,
        "asset_id": asset.id,
        "kind": asset.kind,
        "filename": asset.filename,
        "mode": upload.mode,
        "size": upload.total_size,
        "content_type": asset.content_type,
        "part_size": upload.part_size,
        "part_count": upload.part_count,
        "concurrency": CONCURRENCY,
        "expires_in": URL_EXPIRES,
        "state": asset.state,
    }
    if upload.upload_id is None and asset.state == "uploading":
        view["url"] = store.put_url(asset.key, asset.content_type, URL_EXPIRES, max_size=upload.total_size)
        view["headers"] = {"Content-Type": asset.content_type}
    return view


def upload_status_json(store: ObjectStore, asset: Asset, upload: Upload, progress: UploadProgress) -> dict[str, Any]:
    """The ticket again, with the parts storage already holds: the page resumes from it."""
    view = ticket_json(store, asset, upload)
    view["problem"] = asset.problem
    if progress.lost:
        view["state"] = "lost"
    if progress.uploaded is not None:
        view["uploaded"] = progress.uploaded
    view["parts"] = [{"part_number": p.part_number, "etag": p.etag, "size": p.size} for p in progress.parts]
    view["done_bytes"] = sum(p.size for p in progress.parts)
    return view


def quota_json(exhibitor_id: int, used: int, limits: Limits) -> dict[str, Any]:
    return {
        "exhibitor_id": exhibitor_id,
        "used": used,
        "quota": limits.quota_bytes,
        "free": max(0, limits.quota_bytes - used),
        "max_file": limits.as_dict(),
    }
