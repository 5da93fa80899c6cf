"""Cross-origin answers for endpoints that any page or tool may call (WHIP/WHEP, the local store's URLs)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class WithHeaders:
    """Route middleware: puts ``headers`` on every answer of the route, refusals included.

    A route's middleware wraps its exception handling (``web.errors``), so an
    error answered from the table gets the headers as well.
    """

    def __init__(self, app: ASGIApp, headers: Mapping[str, str]) -> None:
        self.app = app
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
