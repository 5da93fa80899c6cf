"""How pages and the API see an asset: signed links, thumbnails by width, poster, state.

Pages link media by presigned (S3) or signed (local) URLs, so the browser
fetches them straight from storage; no media byte passes through the app.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from booths.media.models import Asset

if TYPE_CHECKING:
    from cloudexpo.storage import ObjectStore

URL_EXPIRES = 6 * 3600


def _download_name(asset: Asset, suffix: str | None = None) -> str:
    """The name a download is saved under: the uploaded name, with ``suffix`` when the copy differs."""
    name = asset.filename or "file"
    if suffix:
        stem = name.rsplit(".", 1)[0] if "." in name else name
        name = stem + suffix
    return name


class SignedWidths(Mapping[int, str]):
    """Thumbnail URLs by width, each signed when first read."""

    __slots__ = ("_content_type", "_expires", "_keys", "_store", "_urls")

    def __init__(self, store: ObjectStore, keys: dict[int, str], expires: int, content_type: str) -> None:
        self._store, self._keys, self._expires, self._content_type = store, keys, expires, content_type
        self._urls: dict[int, str] = {}

    def __getitem__(self, width: int) -> str:
        url = self._urls.get(width)
        if url is None:
            url = self._urls[width] = self._store.get_url(self._keys[width], self._expires, content_type=self._content_type)
        return url

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class AssetView(Mapping[str, Any]):
    """What a page or the API needs of an asset: URLs (presigned S3 or signed local), thumbnails,
    poster, download link, state and the exhibitor-facing problem or warning.

    The links are signed when first read: a page shows one or two of an asset's
    up to a dozen URLs, and signing them all was most of the time of a booth
    page read from the database. :meth:`as_dict` signs everything (for JSON).
    """

    LINKS = ("url", "download", "thumbs", "webp", "poster")

    __slots__ = ("_fields", "_links")

    def __init__(self, store: ObjectStore, asset: Asset, expires: int = URL_EXPIRES) -> None:
        meta = asset.meta or {}
        self._fields: dict[str, Any] = {
            "id": asset.id,
            "kind": asset.kind,
            "state": asset.state,
            "booth_id": asset.booth_id,
            "product_id": asset.product_id,
            "exhibitor_id": asset.exhibitor_id,
            "filename": asset.filename,
            "content_type": asset.content_type,
            "size": asset.size,
            "hidden": asset.hidden,
            "position": asset.position,
            "title": asset.title or {},
            "problem": asset.problem,
            "warning": meta.get("warning"),
            "meta": {k: v for k, v in meta.items() if k not in {"variants", "poster", "display"}},
            "created_at": asset.created_at.isoformat() if asset.created_at else None,
        }
        self._links: dict[str, Any] = {}
        if asset.state != "ready" or not asset.key:
            self._fields.update(url=None, download=None, thumbs={}, webp={}, poster=None)
            return
        # Pictures are shown and downloaded from the re-encoded copy: the original may carry EXIF.
        display = meta.get("display")
        if display:
            suffix = "." + display.rsplit(".", 1)[-1]
            key, ctype, filename = display, meta.get("display_type") or asset.content_type, _download_name(asset, suffix)
        else:
            key, ctype, filename = asset.key, asset.content_type, _download_name(asset)
        widths: dict[str, dict[int, str]] = {"thumb": {}, "webp": {}}
        for name, variant in sorted((meta.get("variants") or {}).items()):
            kind, _, width = name.partition("_")
            if width.isdigit() and kind in widths:
                widths[kind][int(width)] = variant
        self._fields["thumbs"] = SignedWidths(store, widths["thumb"], expires, "image/jpeg")
        self._fields["webp"] = SignedWidths(store, widths["webp"], expires, "image/webp")
        poster = meta.get("poster")
        self._links = {
            "url": lambda: store.get_url(key, expires, content_type=ctype),
            "download": lambda: store.get_url(key, expires, filename=filename, content_type=ctype),
            "poster": lambda: store.get_url(poster, expires, content_type="image/jpeg") if poster else None,
        }

    def __getitem__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            sign = self._links.pop(name)  # KeyError for a name that is not a field
            value = self._fields[name] = sign()
            return value

    def __iter__(self) -> Iterator[str]:
        yield from self._fields
        yield from self._links

    def __len__(self) -> int:
        return len(self._fields) + len(self._links)

    def small_url(self) -> str:
        """The smallest thumbnail's URL (else the picture's own; "" when not ready), for lists and cards."""
        thumbs = self["thumbs"]
        return str(thumbs[min(thumbs)]) if thumbs else self["url"] or ""

    def as_dict(self) -> dict[str, Any]:
        out = {name: self[name] for name in list(self)}
        out["thumbs"], out["webp"] = dict(out["thumbs"]), dict(out["webp"])
        return out


def for_language(views: Sequence[Mapping[str, Any]], lang: str) -> list[Mapping[str, Any]]:
    """The assets for a page in ``lang``: those made for it first, then those for every language.

    An asset with words on it (a banner) may be made for one language
    (``meta.language``); a page shows another language's only when a kind has
    nothing else.
    """
    own = [v for v in views if (v.get("meta") or {}).get("language") == lang]
    common = [v for v in views if not (v.get("meta") or {}).get("language")]
    return own + common or list(views)
