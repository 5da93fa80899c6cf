"""Liveness, readiness and metrics for operators and load balancers."""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from web.context import services


async def healthz(request: Request) -> Response:
    """The process is up and answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Database, storage and bus answer; 503 naming what is down."""
    svc = services(request)
    checks = {"database": svc.db.check(), "storage": svc.store.check(), "bus": svc.bus.check()}
    results: dict[str, str] = {}
    for name, coro in checks.items():
        try:
            await asyncio.wait_for(coro, timeout=5)
            results[name] = "ok"
        except TimeoutError:
            results[name] = "no answer within 5 s"
        except Exception as exc:
            results[name] = str(exc) or exc.__class__.__name__
    down = [name for name, result in results.items() if result != "ok"]
    if down:
        return JSONResponse(
            {"status": "unavailable", "error": "unavailable", "detail": f"not answering: {', '.join(down)}", "checks": results},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "checks": results})


async def metrics(request: Request) -> Response:
    return Response(generate_latest(services(request).metrics), media_type=CONTENT_TYPE_LATEST)


routes: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET", "HEAD"]),
    Route("/metrics", metrics, methods=["GET"]),
]
