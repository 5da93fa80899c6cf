"""``cloudexpo.heap.settle``: what the server process does to its garbage collector once started."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from cloudexpo import heap


def test_settle_freezes_the_start_up_heap_and_collects_the_young_less_often() -> None:
    threshold = gc.get_threshold()
    try:
        heap.settle()
        assert gc.get_freeze_count() > 10_000  # modules, classes, mappings: never walked again
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, threshold[1], threshold[2])
        # Objects made afterwards are collected as ever.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:  # the test process goes on with its usual collector
        gc.unfreeze()
        gc.set_threshold(*threshold)


_TRIM_CHECK = """
import gc, json, psutil
from cloudexpo import heap
process = psutil.Process()
before = process.memory_info().rss
junk = [bytes(900) + i.to_bytes(4, "little") for i in range(80_000)]  # ~75 MB in small blocks
grown = process.memory_info().rss
del junk
gc.collect()
trimmed = heap.trim()
print(json.dumps([trimmed, before, grown, process.memory_info().rss]))
"""


def test_trimming_gives_freed_small_objects_pages_back_to_the_system() -> None:
    # A fresh interpreter: the test process's own heap may already hold tens of
    # megabytes freed by earlier tests, which the junk would reuse without growing.
    out = subprocess.run([sys.executable, "-c", _TRIM_CHECK], capture_output=True, text=True, timeout=60, check=True)
    trimmed, before, grown, after = json.loads(out.stdout)
    assert trimmed
    assert grown - before > 50_000_000
    assert grown - after > 40_000_000, (before, grown, after)


def test_the_trimming_thread_runs_as_a_daemon() -> None:
    thread = heap.start_trimming(every=3600)
    assert thread is not None and thread.daemon and thread.is_alive()
