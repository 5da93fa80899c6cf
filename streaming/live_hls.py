"""The live HLS playlist: how viewers beyond WebRTC watch, straight from object storage or a CDN.

Beside the recording's EVENT playlist (``index.m3u8``: every segment since the
start, for the replay and live rewind) the recorder's uploader keeps
``replays/{slot}/live.m3u8``: a sliding window of the last :data:`WINDOW`
segments (RFC 8216 §6.2.2), rewritten after every segment, before the EVENT
playlist, and stored with ``Cache-Control: no-cache`` so browsers and CDNs
revalidate it. When the broadcast ends it gets ``#EXT-X-ENDLIST`` and players stop.

Its segment URIs are

- relative (``seg_00042.m4s``, ``init_00001.mp4``) when ``CLOUDEXPO_HLS_PUBLIC_URL`` names a CDN or
  public-read bucket serving the store's keys: every viewer then asks for the
  same URLs and the CDN answers them;
- otherwise signed storage URLs (presigned S3, or the local store's signed
  ones), fresh in each rewrite and valid :data:`URL_LIFETIME` seconds; the
  playlist's own URL (:meth:`LiveHls.url`) is signed for as long.

How far behind real time a viewer plays: the segment being written (the
recorder cuts ~2 s segments on keyframes), its upload, the player's reload of
the playlist, and the player's distance from the newest segment (the watch
page's hls.js keeps ``liveSyncDuration`` seconds); the figures are in the README.
"""

from __future__ import annotations

from cloudexpo.storage import ObjectStore

from .hls import Playlist, live_window, write_playlist
from .spool import PLAYLIST_TYPE, content_type, replay_prefix

LIVE_PLAYLIST = "live.m3u8"
WINDOW = 6  # segments (~12 s): RFC 8216 wants at least three target durations
URL_LIFETIME = 6 * 3600
CACHE_CONTROL = "no-cache"


class LiveHls:
    """Writes and links the live playlist of each slot (one per process)."""

    def __init__(
        self,
        store: ObjectStore,
        public_url: str | None = None,
        *,
        window: int = WINDOW,
        url_lifetime: int = URL_LIFETIME,
    ) -> None:
        self.store = store
        self.public_url = public_url.rstrip("/") if public_url else None
        self.window = window
        self.url_lifetime = url_lifetime

    @staticmethod
    def key(slot_id: int) -> str:
        return replay_prefix(slot_id) + LIVE_PLAYLIST

    def url(self, slot_id: int) -> str:
        """Where players fetch the slot's live playlist (the CDN's URL, or a signed storage URL)."""
        if self.public_url:
            return f"{self.public_url}/{self.key(slot_id)}"
        return self.store.get_url(self.key(slot_id), self.url_lifetime, content_type=PLAYLIST_TYPE)

    def text(self, slot_id: int, recording: Playlist) -> str:
        """The live window of the recording's playlist (relative URIs behind a CDN, signed ones otherwise)."""
        window = live_window(recording, self.window)
        if self.public_url:
            return write_playlist(window)
        prefix = replay_prefix(slot_id)
        return write_playlist(
            window, lambda uri: self.store.get_url(prefix + uri, self.url_lifetime, content_type=content_type(uri))
        )

    async def put(self, slot_id: int, recording: Playlist) -> None:
        """Store the live playlist for the recording's playlist as it is now."""
        data = self.text(slot_id, recording).encode()
        await self.store.put_bytes(self.key(slot_id), data, PLAYLIST_TYPE, cache_control=CACHE_CONTROL)
