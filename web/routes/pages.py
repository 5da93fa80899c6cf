"""Pages every visitor reaches: the home page (the exhibition, see ``web/routes/exhibition.py``)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from web.routes.exhibition import home

routes: list[BaseRoute] = [
    Route("/", home, methods=["GET", "HEAD"], name="home"),
]
