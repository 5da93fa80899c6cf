"""With test workers (``CLOUDEXPO_TEST_WORKERS=2``), the heavy tests run in one worker, one after another.

Tests marked ``browser`` (Chromium) or ``media`` (real WebRTC media between
aiortc peers) each take a core or more for seconds at a time. Two of them side
by side on a two-core machine starve each other and their timeouts end up
measuring the machine: a two-worker run that spread them over both workers
lost a Chromium page's navigation to a 30 s timeout, and another hung in an
app's shutdown. Here they all go to one worker, in collection order, as in a
run in one process; the other tests share both workers around them.

pytest-xdist's own groups (the ``xdist_group`` mark with ``--dist loadgroup``)
do not take with pytest 9: xdist tags a test by rewriting an attribute of the
test's node that pytest 9 no longer reads. So the grouping is done here with
xdist's public hooks: each worker writes the ids of the heavy tests it
collected to a file the controller named (``pytest_configure_node``), and the
controller's scheduler (``pytest_xdist_make_scheduler``: xdist's scheduling
by scope, with a scope of its own for every other test) reads them and makes
them one unit of work. A worker that wrote nothing stops the run, rather than
letting the heavy tests spread again unnoticed.

Registered from ``tests/conftest.py`` with ``pytest_plugins``; without
workers it does nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

HEAVY_MARKS = ("browser", "media")
HEAVY_SCOPE = "heavy: browser and media tests, one after another"
_KEY = "cloudexpo_heavy_ids"


def is_heavy(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(mark) is not None for mark in HEAVY_MARKS)


def _folder(config: pytest.Config) -> Path:
    folder: Path | None = getattr(config, "_cloudexpo_heavy_folder", None)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="cloudexpo-heavy-"))
        config._cloudexpo_heavy_folder = folder  # type: ignore[attr-defined]
    return folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = getattr(config, "_cloudexpo_heavy_folder", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Controller: where this worker writes its heavy tests' ids."""
    node.workerinput[_KEY] = str(_folder(node.config) / f"{node.workerinput['workerid']}.txt")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Worker: the ids of the heavy tests in its final collection, written before xdist's own hook of this
    name reports that collection to the controller (hence ``tryfirst``)."""
    path = getattr(session.config, "workerinput", {}).get(_KEY)
    if path is None:
        return
    part = Path(path + ".part")
    part.write_text("".join(f"{item.nodeid}\n" for item in session.items if is_heavy(item)))
    part.rename(path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Controller: in place of xdist's default ``--dist load`` (another ``--dist`` asked for is left alone)."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class HeavyInOneWorker(LoadScopeScheduling):  # type: ignore[misc]
        """xdist's scheduling by scope: the heavy tests are one scope, every other test one of its own.

        With a scope per test, two flaws of xdist 3.8's scope scheduling after a worker crashes would
        matter (pytest-xdist #1323, #1371, #1327), so they are mended here: the crashed worker's finished
        units went back on the queue (and an empty one stalls the worker it is sent to: the run never
        ends), the test that crashed it ran again, its replacement got one test where a worker needs
        two to start, and work was handed to a replacement still collecting (a KeyError that ended the
        run when both workers were replaced at once).
        """

        _heavy: set[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._heavy is None:
                self._heavy = self._read_heavy()
            return HEAVY_SCOPE if nodeid in self._heavy else nodeid

        def _read_heavy(self) -> set[str]:
            files = sorted(_folder(config).glob("*.txt"))
            if len(files) < len(self.nodes):
                raise pytest.UsageError(
                    f"{len(self.nodes)} test workers but {len(files)} wrote which of their tests are heavy "
                    f"(tests/heavy_in_one_worker.py): the heavy tests would run side by side"
                )
            heavy: set[str] = set()
            for file in files:
                heavy.update(file.read_text().split("\n"))
            heavy.discard("")
            return heavy

        def remove_node(self, node: Any) -> str | None:
            workload = self.assigned_work.pop(node)
            pending = [(scope, nodeid) for scope, unit in workload.items() for nodeid, done in unit.items() if not done]
            if not pending:
                return None
            scope, crashed = pending[0]
            workload[scope][crashed] = True  # reported as crashed by xdist; not run again
            for scope, unit in workload.items():
                if not all(unit.values()):  # only what is left to run goes back on the queue
                    self.workqueue[scope] = unit
            for other in self.assigned_work:
                self._reschedule(other)
            return crashed

        def _reschedule(self, node: Any) -> None:
            if node not in self.registered_collections:
                return  # a replacement worker still collecting: it gets work when its collection comes
            super()._reschedule(node)

        def schedule(self) -> None:
            replacing = self.collection is not None  # a worker that replaces a crashed one
            super().schedule()
            if replacing:
                for node in self.nodes:
                    self._reschedule(node)

    return HeavyInOneWorker(config, log)
