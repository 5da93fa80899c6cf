"""Pages every visitor reaches: the home page and friends."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from web.templating import render


async def home(request: Request) -> Response:
    return render(request, "home.html")


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET", "HEAD"], name="home"),
]
