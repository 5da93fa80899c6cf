"""The heavy tests (browser, media) run in one worker of two, one after another (tests/heavy_in_one_worker.py).

A pytest run of its own, in two xdist workers, over a folder of small tests:
some marked ``browser`` or ``media`` (in their module or on the test), the
others not. Each test writes which worker ran it and when: the heavy ones all
ran in the same worker and never overlapped, and the others ran beside them
on the other worker. A test that kills its worker fails, once, and the run
still ends with every other test run once.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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

def record(name, seconds=0.15):
    started = time.monotonic()
    time.sleep(seconds)
    out = Path(os.environ["HEAVY_TEST_OUT"]) / f"{name}-{os.getpid()}-{time.monotonic_ns()}.json"
    out.write_text(json.dumps({"name": name, "worker": os.environ["PYTEST_XDIST_WORKER"], "start": started,
                               "end": time.monotonic()}))


def crash(name):
    record(name, 0)
    os._exit(1)  # the worker dies in the middle of the test
"""

MODULES = {
    "test_pages.py": """
import pytest
from record import record
pytestmark = pytest.mark.browser

@pytest.mark.parametrize("i", range(4))
def test_page(i):
    record(f"heavy-page-{i}", 0.3)
""",
    "test_mixed.py": """
import pytest
from record import record

@pytest.mark.media
@pytest.mark.parametrize("i", range(3))
def test_media(i):
    record(f"heavy-media-{i}", 0.3)

@pytest.mark.parametrize("i", range(8))
def test_light(i):
    record(f"light-{i}")
""",
}


CRASHING = {
    "test_crashing.py": """
import pytest
from record import crash, record

@pytest.mark.parametrize("i", range(6))
def test_light_before(i):
    record(f"light-before-{i}")

def test_light_crash():
    crash("light-crash")

@pytest.mark.browser
def test_heavy_crash():
    crash("heavy-crash")

@pytest.mark.parametrize("i", range(6))
def test_light_after(i):
    record(f"light-after-{i}")
""",
}


def run_suite(tmp_path: Path, modules: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """``modules`` run by pytest in two workers; what each test recorded, a record per run."""
    suite = tmp_path / "suite"
    out = tmp_path / "out"
    suite.mkdir()
    out.mkdir()
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "record.py").write_text(RECORD)
    for name, text in modules.items():
        (suite / name).write_text(text)
    env = {**os.environ, "HEAVY_TEST_OUT": str(out), "PYTHONPATH": f"{ROOT}{os.pathsep}{suite}"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", "--rootdir", str(suite), str(suite)],
        cwd=suite, env=env, capture_output=True, text=True, timeout=120,
    )
    return run, [json.loads(path.read_text()) for path in out.glob("*.json")]


def test_browser_and_media_tests_share_one_worker_and_the_rest_run_beside_them(tmp_path: Path) -> None:
    run, ran = run_suite(tmp_path, MODULES)
    assert run.returncode == 0, run.stdout + run.stderr
    heavy = [r for r in ran if r["name"].startswith("heavy-")]
    light = [r for r in ran if r["name"].startswith("light-")]
    assert len(heavy) == 7 and len(light) == 8, sorted(r["name"] for r in ran)
    workers = {r["worker"] for r in heavy}
    assert len(workers) == 1, heavy
    spans = sorted((r["start"], r["end"]) for r in heavy)
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans)), spans
    beside = [r for r in light if r["worker"] not in workers and any(
        r["start"] < end and start < r["end"] for start, end in spans)]
    assert beside, f"no other test ran beside the heavy ones: {light}"


def test_a_test_that_kills_its_worker_fails_once_and_the_run_ends(tmp_path: Path) -> None:
    """xdist replaces the worker; nothing it had finished runs again, and the run does not stall."""
    run, ran = run_suite(tmp_path, CRASHING)
    assert run.returncode == 1, run.stdout + run.stderr
    names = sorted(r["name"] for r in ran)
    expected = sorted([*(f"light-before-{i}" for i in range(6)), *(f"light-after-{i}" for i in range(6)),
                       "light-crash", "heavy-crash"])
    assert names == expected, names  # each once: the crashing ones too
    assert "2 failed, 12 passed" in run.stdout, run.stdout
