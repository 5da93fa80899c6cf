"""The heavy tests (browser, media) run in one worker of two, one after another (tests/heavy_in_one_worker.py).

A pytest run of its own, in two xdist workers, over a folder of small tests:
some marked ``browser`` or ``media`` (in their module or on the test), the
others not. Each test writes which worker ran it and when; the heavy ones all
ran in the same worker and never overlapped, and the others still ran.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFTEST = """
pytest_plugins = ["tests.heavy_in_one_worker"]

def pytest_configure(config):
    config.addinivalue_line("markers", "browser: heavy")
    config.addinivalue_line("markers", "media: heavy")
"""

RECORD = """
import json, os, time
from pathlib import Path

def record(name):
    started = time.monotonic()
    time.sleep(0.15)
    out = Path(os.environ["HEAVY_TEST_OUT"]) / f"{name}.json"
    out.write_text(json.dumps({"worker": os.environ["PYTEST_XDIST_WORKER"], "start": started, "end": time.monotonic()}))
"""

MODULES = {
    "test_pages.py": """
import pytest
from record import record
pytestmark = pytest.mark.browser

@pytest.mark.parametrize("i", range(4))
def test_page(i):
    record(f"heavy-page-{i}")
""",
    "test_mixed.py": """
import pytest
from record import record

@pytest.mark.media
@pytest.mark.parametrize("i", range(3))
def test_media(i):
    record(f"heavy-media-{i}")

@pytest.mark.parametrize("i", range(8))
def test_light(i):
    record(f"light-{i}")
""",
}


def test_browser_and_media_tests_share_one_worker_and_never_overlap(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    out = tmp_path / "out"
    suite.mkdir()
    out.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "record.py").write_text(RECORD)
    for name, text in MODULES.items():
        (suite / name).write_text(text)
    env = {**os.environ, "HEAVY_TEST_OUT": str(out), "PYTHONPATH": f"{ROOT}{os.pathsep}{suite}"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", "--rootdir", str(suite), str(suite)],
        cwd=suite, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    ran = {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}
    heavy = {name: r for name, r in ran.items() if name.startswith("heavy-")}
    light = {name: r for name, r in ran.items() if name.startswith("light-")}
    assert len(heavy) == 7 and len(light) == 8, sorted(ran)
    assert len({r["worker"] for r in heavy.values()}) == 1, heavy
    spans = sorted((r["start"], r["end"]) for r in heavy.values())
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans)), spans
