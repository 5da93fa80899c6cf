"""Liveness, readiness and metrics for operators and load balancers."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streaming import media_meter
from web.context import services, streaming_runtime


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


# The process's own figures (resident memory, open file descriptors, CPU): what a leak shows in first.
PROCESS = CollectorRegistry()
ProcessCollector(registry=PROCESS)


def runtime_gauges(request: Request) -> bytes:
    """Asyncio tasks and WebRTC peer connections now, in the text format."""
    streaming = streaming_runtime(request)
    peers = streaming.engine.peer_connections()
    cluster = streaming.live.cluster
    return (
        "# HELP cloudexpo_asyncio_tasks Asyncio tasks not yet done.\n# TYPE cloudexpo_asyncio_tasks gauge\n"
        f"cloudexpo_asyncio_tasks {len(asyncio.all_tasks())}\n"
        "# HELP cloudexpo_peer_connections WebRTC peer connections open (publishers and viewers).\n"
        f"# TYPE cloudexpo_peer_connections gauge\ncloudexpo_peer_connections {peers}\n"
        "# HELP cloudexpo_edge_pulls Broadcasts this node pulls from their origin on another node.\n"
        f"# TYPE cloudexpo_edge_pulls gauge\ncloudexpo_edge_pulls {cluster.pulling() if cluster else 0}\n"
        "# HELP cloudexpo_frames_decoded Video frames the media engine decoded (it forwards without decoding).\n"
        f"# TYPE cloudexpo_frames_decoded counter\ncloudexpo_frames_decoded {streaming.engine.frames_decoded}\n"
        + media_meter.prometheus_text(time.thread_time())  # this handler runs on the event loop's thread
    ).encode()


async def metrics(request: Request) -> Response:
    body = generate_latest(services(request).metrics) + generate_latest(PROCESS) + runtime_gauges(request)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET", "HEAD"]),
    Route("/metrics", metrics, methods=["GET"]),
]
