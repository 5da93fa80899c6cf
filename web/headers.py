"""Security headers on every HTTP response: CSP, framing, sniffing, referrer, permissions, HSTS.

The pages load scripts only from ``/static/`` (no inline script and no inline
event handlers: page data travels in ``<script type="application/json">``
blocks, which never run). Media come from the app or straight from object
storage (presigned S3 URLs of the configured endpoint), hls.js plays replays
through MSE (``blob:``) and a worker, the live pages use a WebSocket to this
site (``'self'`` covers ``ws:``/``wss:`` to the same host, CSP Level 3).

Camera, microphone and screen capture are off everywhere; the go-live page
turns them on for itself by sending its own ``Permissions-Policy``
(:data:`GO_LIVE_PERMISSIONS`), which this middleware leaves in place, and a
video call's page camera and microphone (:data:`CALL_PERMISSIONS`).
Objects served from ``/storage/`` get a policy of their own that runs
nothing (``sandbox``): an uploaded SVG or HTML file is inert even on our origin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudexpo.storage import ObjectStore

PERMISSIONS_OFF = "camera=(), microphone=(), display-capture=(), geolocation=(), payment=(), usb=(), serial=()"
GO_LIVE_PERMISSIONS = PERMISSIONS_OFF.replace("camera=()", "camera=(self)").replace(
    "microphone=()", "microphone=(self)").replace("display-capture=()", "display-capture=(self)")
# A video call's own page (/calls/ID): camera and microphone, no screen.
CALL_PERMISSIONS = PERMISSIONS_OFF.replace("camera=()", "camera=(self)").replace("microphone=()", "microphone=(self)")
STORAGE_CSP = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"
HSTS = "max-age=31536000"


def page_policy(storage_origin: str | None, media_origins: Sequence[str] = ()) -> str:
    """The pages' Content-Security-Policy; ``storage_origin`` is where presigned media live,
    ``media_origins`` other places players fetch from (the live HLS CDN, an external cluster's WHEP)."""
    storage = "".join(f" {o}" for o in dict.fromkeys([storage_origin, *media_origins]) if o)
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # style="--zone: …" and timeline positions; never script
        f"img-src 'self' data: blob:{storage}",
        f"media-src 'self' blob:{storage}",
        f"connect-src 'self'{storage}",  # fetch, the /ws WebSocket, hls.js segments, upload PUTs
        "worker-src 'self' blob:",  # hls.js
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def origin_of(url: str | None) -> str | None:
    parts = urlsplit(url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def storage_origin(store: ObjectStore) -> str | None:
    """The origin of the store's presigned URLs, when they point off this site (S3)."""
    try:
        url = store.get_url("csp-origin-probe", expires=60)
    except Exception:  # a store that cannot presign now still serves pages; media then come from 'self'
        return None
    return origin_of(url)


class SecurityHeadersMiddleware:
    """Adds the headers to every HTTP response that does not set them itself."""

    def __init__(
        self, app: ASGIApp, store_getter: Callable[[], ObjectStore], https: bool, media_urls: Sequence[str | None] = ()
    ) -> None:
        self.app = app
        self.store = store_getter
        self.https = https
        self.media_origins = [o for o in map(origin_of, media_urls) if o]
        self._page_csp: str | None = None

    def page_csp(self) -> str:
        if self._page_csp is None:
            self._page_csp = page_policy(storage_origin(self.store()), self.media_origins)
        return self._page_csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        storage = scope["path"].startswith("/storage/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", STORAGE_CSP if storage else self.page_csp())
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                headers.setdefault("Permissions-Policy", PERMISSIONS_OFF)
                if self.https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
