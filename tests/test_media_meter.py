"""The media path's counters (streaming/media_meter.py): a recording's writer thread counts while it runs and
after it ends, once; tests/test_cluster.py sees the receive counters count on real nodes."""

from __future__ import annotations

import time
from pathlib import Path

from streaming import media_meter
from streaming.segmenter import SegmentWriter
from streaming.spool import SpoolRecording


def test_a_writer_threads_cpu_counts_while_it_runs_and_stays_counted_after_it_ends(tmp_path: Path) -> None:
    spool = SpoolRecording(tmp_path, 1)
    spool.ensure()
    before = media_meter.recorder_cpu_seconds()
    writer = SegmentWriter(spool)
    writer.start()
    deadline = time.monotonic() + 5
    while writer not in media_meter._running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer in media_meter._running
    while_running = media_meter.recorder_cpu_seconds()
    writer.stop()
    writer.join(10)
    assert not writer.is_alive() and writer.error is None
    after = media_meter.recorder_cpu_seconds()
    assert writer not in media_meter._running  # its clock is no longer read: its CPU joined the total
    assert before <= while_running <= after and after > before
    assert "cloudexpo_recorder_cpu_seconds_total " in media_meter.prometheus_text(0.5)
