"""The server process's garbage collector, tuned for a long-running event loop.

CPython's cyclic collector now and then runs a full collection that walks
every object alive in the process. In a Cloud Expo server that is its
modules, templates, SQLAlchemy mappings and page caches: one pass took
50–80 ms, a pause of the whole event loop (pages, WebSockets, media
forwarding). Once the server has started, :func:`settle` collects once and
freezes what is there (those objects live as long as the process anyway and
are never walked again), and lets more allocations pass between collections
of the young generation than the default 700.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def settle() -> None:
    """Call once, after start-up: from then on collections walk only what the server made since."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
