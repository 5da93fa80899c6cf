"""``cloudexpo.heap.settle``: what the server process does to its garbage collector once started."""

from __future__ import annotations

import gc

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
