"""How a domain package plugs into Cloud Expo: one :class:`Area` each, declared in ``<package>/area.py``.

The composition root (:mod:`cloudexpo.app`) walks its list of areas to import
their models, find their migration branches, and build, start and close their
long-lived parts. The HTTP side of an area (routes, templates, error table)
is declared in ``web/`` (domain packages never import ``web``).

A part is anything with ``async start()`` and ``async close()`` (:class:`Part`):
``start`` runs after the kernel's database, store and bus are up, ``close``
before they go down, in the reverse order of starting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from cloudexpo.services import Services

log = logging.getLogger(__name__)


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
            await part.close()
        except Exception:
            log.exception("closing %s failed", type(part).__name__)
