"""The running parts: areas declared once, started in order, closed in reverse, listeners per app."""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from booths.exhibition.models import Hall
from cloudexpo import areas as areas_module
from cloudexpo.app import Runtime, areas, migration_folders
from cloudexpo.areas import close_all, start_all
from cloudexpo.db import MIGRATIONS
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from web.booth_pages import BoothPageCache

ROOT = Path(__file__).resolve().parent.parent


def test_each_area_declares_its_models_and_its_migration_branch() -> None:
    names = [area.name for area in areas()]
    assert sorted(names) == ["booths", "streaming"]
    for area in areas():
        assert area.migrations.is_dir(), area.migrations
        assert any(area.migrations.glob("*.py")), f"{area.name} has no revisions"
        assert all(model.startswith(area.name + ".") for model in area.models)
    # The hand-run alembic.ini names the same branches as the areas.
    ini = configparser.ConfigParser(defaults={"here": str(MIGRATIONS)})
    ini.read(MIGRATIONS / "alembic.ini")
    listed = ini["alembic"]["version_locations"].split()
    assert {Path(p).resolve() for p in listed} == {p.resolve() for p in [MIGRATIONS / "versions", *migration_folders()]}


def test_services_has_no_bag_of_extras() -> None:
    assert not hasattr(Services, "extras")
    for path in [*ROOT.glob("cloudexpo/**/*.py"), *ROOT.glob("booths/**/*.py"), *ROOT.glob("streaming/**/*.py"),
                 *ROOT.glob("web/**/*.py")]:
        assert ".extras" not in path.read_text(encoding="utf-8"), path


class Probe:
    def __init__(self, name: str, log: list[str], *, fail_start: bool = False, fail_close: bool = False) -> None:
        self.name, self.log, self.fail_start, self.fail_close = name, log, fail_start, fail_close

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.log.append(f"start {self.name}")

    async def close(self) -> None:
        self.log.append(f"close {self.name}")
        if self.fail_close:
            raise RuntimeError(f"{self.name} cannot close")


async def test_parts_start_in_order_and_close_in_reverse_even_when_one_fails() -> None:
    log: list[str] = []
    parts = [Probe("a", log), Probe("b", log, fail_close=True), Probe("c", log)]
    await start_all(parts)
    await close_all(parts)
    assert log == ["start a", "start b", "start c", "close c", "close b", "close a"]


class SlowToClose:
    """A part whose close waits for a worker task of its own, which waits for a signal."""

    def __init__(self) -> None:
        self.signal = asyncio.Event()
        self.closed = False

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        await asyncio.create_task(self._finish_work())
        self.closed = True

    async def _finish_work(self) -> None:
        await self.signal.wait()


async def test_a_part_slow_to_close_is_waited_for_and_the_log_says_where_it_waits(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(areas_module, "SLOW_CLOSE", 0.05)
    log: list[str] = []
    slow = SlowToClose()
    closing = asyncio.create_task(close_all([Probe("a", log), slow]))

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]

    async with asyncio.timeout(10):
        while len(warnings()) < 2:  # noqa: ASYNC110 - said again while it goes on (the log, not an event)
            await asyncio.sleep(0.02)
    assert not closing.done() and log == []  # not cut short, and the parts before it wait their turn
    first = warnings()[0]
    assert re.match(r"closing SlowToClose: still waiting after \d+ s, in close_all \(areas\.py:\d+\) → ", first), first
    assert "SlowToClose.close (test_areas.py:" in first
    assert "SlowToClose._finish_work (test_areas.py:" in first  # into the task it awaits
    assert "Event.wait (locks.py:" in first and first.endswith("Future"), first
    slow.signal.set()
    await asyncio.wait_for(closing, 5)
    assert slow.closed and log == ["close a"]


async def test_cancelling_a_close_cancels_the_part_closing() -> None:
    slow = SlowToClose()
    closing = asyncio.create_task(close_all([slow]))
    await asyncio.sleep(0.05)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await asyncio.sleep(0)
    assert not slow.closed


class StopsItsWorker:
    """A part that stops a worker task of its own, taking the worker's cancellation as its end."""

    def __init__(self) -> None:
        self.worker = asyncio.Event()

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.worker.wait()


async def test_a_cancel_during_a_close_reaches_the_part_and_the_others_still_close() -> None:
    log: list[str] = []
    closing = asyncio.create_task(close_all([Probe("a", log), StopsItsWorker()]))
    await asyncio.sleep(0.05)
    closing.cancel()  # the part takes it, as an awaited close always did
    await asyncio.wait_for(closing, 5)
    assert log == ["close a"]


async def test_a_part_that_cannot_start_closes_the_ones_already_started() -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="b cannot start"):
        await start_all([Probe("a", log), Probe("b", log, fail_start=True), Probe("c", log)])
    assert log == ["start a", "close a"]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_the_booth_page_cache_listens_from_start_to_close_of_its_own_app(
        settings: Settings, services: Services, runtime: Runtime, app: Any) -> None:
    other = BoothPageCache()
    mine = runtime.booth_pages
    assert event.contains(OrmSession, "after_flush", mine._on_flush)
    assert not event.contains(OrmSession, "after_flush", other._on_flush)
    mine.put("1A-001", {"b": "cached"})
    other.put("1A-001", {"b": "cached"})
    assert mine.get("1A-001") is not None and other.get("1A-001") is None  # a cache that hears no writes keeps nothing
    async with services.db.session() as db:
        db.add(Hall(code="9", name={"en": "Hall 9"}))
        await db.commit()
    assert mine.get("1A-001") is None  # a write to a table booth pages show drops the pages
    await mine.close()
    assert not event.contains(OrmSession, "after_flush", mine._on_flush)
    assert not event.contains(OrmSession, "do_orm_execute", mine._on_execute)
    await mine.start()  # the app fixture closes it again


def test_every_route_module_is_mounted_by_exactly_one_web_area() -> None:
    from web.app import WEB_AREAS

    mounted = [module.__name__ for area in WEB_AREAS for module in area.modules]
    assert len(mounted) == len(set(mounted)), mounted
    modules = {f"web.routes.{p.stem}" for p in (ROOT / "web" / "routes").glob("*.py") if p.stem != "__init__"}
    assert modules <= set(mounted), f"not in any web.app.WEB_AREAS: {sorted(modules - set(mounted))}"
    assert {area.domain for area in WEB_AREAS} == {"cloudexpo", *(area.name for area in areas())}
