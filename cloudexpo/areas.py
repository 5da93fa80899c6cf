"""How a domain package plugs into Cloud Expo: one :class:`Area` each, declared in ``<package>/area.py``.

The composition root (:mod:`cloudexpo.app`) walks its list of areas to import
their models, find their migration branches, and build, start and close their
long-lived parts. The HTTP side of an area (routes, templates, error table)
is declared in ``web/`` (domain packages never import ``web``).

A part is anything with ``async start()`` and ``async close()`` (:class:`Part`):
``start`` runs after the kernel's database, store and bus are up, ``close``
before they go down, in the reverse order of starting. A part that takes more
than :data:`SLOW_CLOSE` seconds to close is not cut short, but the log says,
every :data:`SLOW_CLOSE` seconds, what it still waits on: a node that does not
stop names the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from cloudexpo.services import Services

log = logging.getLogger(__name__)

SLOW_CLOSE = 10.0  # seconds a part closes before the log says what it waits on (and again every as many)


class Part(Protocol):
    """A long-lived piece of a running process (a worker, a cache, an engine)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


P = TypeVar("P", bound=Part, covariant=True)


@dataclass(frozen=True)
class Area(Generic[P]):
    """What a domain package brings to a Cloud Expo process.

    :param name: the package, also the label of its Alembic branch.
    :param models: modules declaring its tables (imported so that ``Base.metadata`` knows them).
    :param migrations: the folder of its Alembic branch.
    :param build: makes the area's parts for one process (not started yet).
    """

    name: str
    models: tuple[str, ...]
    migrations: Path
    build: Callable[[Services], P]


async def start_all(parts: Sequence[Part]) -> None:
    """Start each part in order; if one fails, close the ones already started (last first) and raise."""
    started: list[Part] = []
    try:
        for part in parts:
            await part.start()
            started.append(part)
    except BaseException:
        await close_all(started)
        raise


async def close_all(parts: Sequence[Part]) -> None:
    """Close each part, the last started first; a failure is logged and the others still close."""
    for part in reversed(parts):
        try:
            await _close_watched(part)
        except Exception:
            log.exception("closing %s failed", type(part).__name__)


async def _close_watched(part: Part) -> None:
    """``part.close()``, awaited as it always was (a cancel reaches it the same way), with a watcher beside it
    that logs every :data:`SLOW_CLOSE` seconds it goes on where the closing task waits."""
    closing = asyncio.current_task()
    assert closing is not None  # close_all is awaited in a task
    watcher = asyncio.get_running_loop().create_task(_say_where_it_waits(part, closing))
    try:
        await part.close()
    finally:
        watcher.cancel()


async def _say_where_it_waits(part: Part, closing: asyncio.Task[Any]) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(SLOW_CLOSE)
        log.warning("closing %s: still waiting after %.0f s, in %s",
                    type(part).__name__, time.monotonic() - started, where_it_waits(closing))


def where_it_waits(task: asyncio.Future[Any]) -> str:
    """The chain of calls a task is suspended in, outermost first, followed into the tasks it awaits, and what
    the innermost awaits: ``close (runtime.py:97) → close (polls.py:131) → Event.wait (locks.py:213) → Future``."""
    steps: list[str] = []
    for _ in range(20):  # tasks awaiting tasks; never this many, and a cycle must not hang the warning
        if not isinstance(task, asyncio.Task):
            steps.append(type(task).__name__)
            break
        awaited: object = task.get_coro()
        while (frame := getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)) is not None:
            code = frame.f_code
            steps.append(f"{code.co_qualname} ({Path(code.co_filename).name}:{frame.f_lineno})")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        waiter = getattr(task, "_fut_waiter", None)  # the future the task is suspended on (asyncio's own field)
        if waiter is None:
            break
        task = waiter
    return " → ".join(steps) or "nothing (it is running)"
