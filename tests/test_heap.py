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


_THREAD_ARENA_CHECK = """
import json, sys, threading
import psutil
from cloudexpo import heap
if sys.argv[1] == "keep":
    assert heap.keep_thresholds()
big = bytes(16 << 20)  # a mapped 16 MB block: freed, it raises glibc's thresholds unless they are kept
del big
process = psutil.Process()
before = process.memory_info().rss
def work():
    blocks = [bytes(32_000) + i.to_bytes(4, "little") for i in range(750)]  # ~24 MB in the thread's own arena
    del blocks
thread = threading.Thread(target=work)
thread.start()
thread.join()
heap.trim()
print(json.dumps(process.memory_info().rss - before))
"""


def test_kept_thresholds_let_memory_a_thread_freed_go_back_to_the_system() -> None:
    # A server thread (a database connection, the recorder) allocates from an arena of its own; once
    # glibc has raised its thresholds, what the thread frees stays resident, out of malloc_trim's reach.
    def held(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _THREAD_ARENA_CHECK, mode], capture_output=True, text=True,
                             timeout=60, check=True)
        return int(json.loads(out.stdout))

    assert held("raised") > 15_000_000  # glibc's own way: the thread's 24 MB stay
    assert held("keep") < 4_000_000
