"""The server process's garbage collector, tuned for a long-running event loop.

CPython's cyclic collector now and then runs a full collection that walks
every object alive in the process. In a Cloud Expo server that is its
modules, templates, SQLAlchemy mappings and page caches: one pass took
50–80 ms, a pause of the whole event loop (pages, WebSockets, media
forwarding). Once the server has started, :func:`settle` collects once and
freezes what is there (those objects live as long as the process anyway and
are never walked again), and lets more allocations pass between collections
of the young generation than the default 700.

glibc's allocator keeps the pages of freed small objects in its arenas:
after a wave of viewers joining and leaving, the memory is free for the
process but still counted in its RSS (a 20-minute soak grew 27 % that way,
and fell below its start once trimmed). :func:`start_trimming` hands such
pages back to the system every 15 s from a thread of its own (a trim of a 200 MB heap takes milliseconds, outside the GIL).

A trim reaches the free chunks inside every arena, but the free top of an
arena other than the main one shrinks only when it passes glibc's trim
threshold; and glibc raises that threshold (with the size from which blocks
are mapped on their own) each time a large mapped block is freed, up to 64 MB
per arena. The server's threads (database connections, the recorder, the
executor) each allocate from an arena of their own, up to 16 of them on two
cores: in a 10-minute soak their free tops grew from 5.7 to 9.4 MB in two
minutes, resident and out of any trim's reach. :func:`keep_thresholds`, called
once at start-up, fixes both thresholds at glibc's starting values.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from collections.abc import Callable

YOUNG_THRESHOLD = 20_000
TRIM_SECONDS = 15.0


def settle() -> None:
    """Call once, after start-up: from then on collections walk only what the server made since."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


#: glibc's ``mallopt`` parameters and the value it starts both with (128 KiB).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD = 128 * 1024


def keep_thresholds(size: int = THRESHOLD) -> bool:
    """Fix glibc's trim and mmap thresholds at ``size`` for good (see the module doc); False where there is no glibc.

    Free memory above ``size`` at the top of any arena goes back to the
    system as it is freed, and blocks of ``size`` or more are mapped on their
    own, so freeing one returns it whole.
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, size)) and bool(mallopt(M_TRIM_THRESHOLD, size))


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim() -> bool:
    """Give freed heap pages back to the system now; False where that is not possible."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True


def start_trimming(every: float = TRIM_SECONDS) -> threading.Thread | None:
    """Trim the heap every ``every`` seconds from a daemon thread (glibc only); None elsewhere."""
    fn = _malloc_trim()
    if fn is None:
        return None
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            fn(0)

    thread = threading.Thread(target=run, name="cloudexpo-heap-trim", daemon=True)
    thread.start()
    return thread
