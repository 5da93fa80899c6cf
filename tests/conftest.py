"""Shared fixtures: settings, databases, buses, the app in-process and on a real port.

Backends: every app-level test runs on the embedded defaults ("embedded":
SQLite file, local storage folder, in-process bus) and, when their URLs are
set, on real services ("services": PostgreSQL, Redis, S3 through moto's
server). Under CI=true the PostgreSQL and Redis URLs are required: a missing
service fails the run instead of skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudexpo.app import Runtime, build_runtime, create_app, import_models, open_services
from cloudexpo.services import Services
from cloudexpo.settings import Settings
from tests.clock import zone_where_it_is

pytest_plugins = ["tests.fixtures_storage", "tests.fixtures_db", "tests.fixtures_mail", "tests.heavy_in_one_worker"]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("CLOUDEXPO_TEST_ARTIFACTS", ROOT / "test-artifacts"))
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("CLOUDEXPO_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("CLOUDEXPO_TEST_REDIS_URL", "")


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI:
        missing = [
            name
            for name, value in (("CLOUDEXPO_TEST_POSTGRES_URL", POSTGRES_URL), ("CLOUDEXPO_TEST_REDIS_URL", REDIS_URL))
            if not value
        ]
        if missing:
            raise pytest.UsageError(f"CI=true but {', '.join(missing)} is not set: the run needs PostgreSQL and Redis")
    import_models()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"cloudexpo backends: postgres={'yes' if POSTGRES_URL else 'no'} redis={'yes' if REDIS_URL else 'no'}"
        f" (CI={'true' if IN_CI else 'false'})"
    ]


def require_service(url: str, name: str) -> None:
    """Skip outside CI when a service URL is not set; fail under CI."""
    if url:
        return
    if IN_CI:
        pytest.fail(f"{name} is required under CI=true")
    pytest.skip(f"{name} not set")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- settings and the app --------------------------------------------------------

BACKENDS = ["embedded", "services"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "services":
        require_service(POSTGRES_URL, "CLOUDEXPO_TEST_POSTGRES_URL")
        require_service(REDIS_URL, "CLOUDEXPO_TEST_REDIS_URL")
    return str(request.param)


def _exhibition_zone(request: pytest.FixtureRequest, default: str) -> str:
    """The test's exhibition_zone marker: a zone's name, or local_hour=H for the zone where it is H o'clock now."""
    marker = request.node.get_closest_marker("exhibition_zone")
    if marker is None:
        hour = os.environ.get("CLOUDEXPO_TEST_LOCAL_HOUR")  # the whole run at that hour of the exhibition's day
        return zone_where_it_is(int(hour)) if hour else default
    return str(marker.args[0]) if marker.args else zone_where_it_is(marker.kwargs["local_hour"])


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for one test: a fresh data folder, database, bucket and bus."""
    base = Settings(
        data_dir=tmp_path / "data",
        secret_key="test-" + secrets.token_hex(16),
        public_url="http://testserver",
        ice_hosts=["127.0.0.1"],
        signin_rate=1000,
    )
    base = base.replace(timezone=_exhibition_zone(request, base.timezone))
    if backend == "embedded":  # a migrated SQLite file in its place: the services' migrate finds nothing to do
        database = Path(base.resolved_database_url.removeprefix("sqlite+aiosqlite:///"))
        database.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), database)
        return base
    database_url = request.getfixturevalue("postgres_database")
    bucket_url = request.getfixturevalue("s3_bucket_url")
    return base.replace(database_url=database_url, storage_url=bucket_url, redis_url=REDIS_URL)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    svc = open_services(settings)
    await svc.db.migrate()
    yield svc


@pytest.fixture
def runtime(settings: Settings, services: Services) -> Runtime:
    """The parts of the app under test (``app`` starts them and closes them)."""
    return build_runtime(settings, services=services)


@pytest.fixture
async def app(runtime: Runtime) -> AsyncIterator[Any]:
    from web.app import build_app

    application = build_app(runtime)
    await runtime.start()
    try:
        yield application
    finally:
        await runtime.close()


@dataclass
class Client:
    """An httpx client on the app that keeps the session's CSRF token."""

    http: httpx.AsyncClient
    csrf: str = ""

    async def refresh_csrf(self) -> dict[str, Any]:
        me = (await self.http.get("/api/me")).json()
        self.csrf = me["csrf_token"]
        return dict(me)

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = {"X-CSRF-Token": self.csrf}
        out.update(headers or {})
        return out

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.http.get(url, **kw)

    async def fetch_media(self, url: str, **kw: Any) -> httpx.Response:
        """GET a media URL the way a browser does: signed app URLs from the app,
        presigned S3 URLs from the S3 server over real HTTP."""
        if url.startswith(("http://", "https://")) and not url.startswith("http://testserver"):
            async with httpx.AsyncClient(timeout=30) as outside:
                return await outside.get(url, **kw)
        return await self.http.get(url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        kw["headers"] = self._headers(kw.get("headers"))
        return await self.http.post(url, **kw)

    async def put(self, url: str, **kw: Any) -> httpx.Response:
        kw["headers"] = self._headers(kw.get("headers"))
        return await self.http.put(url, **kw)

    async def patch(self, url: str, **kw: Any) -> httpx.Response:
        kw["headers"] = self._headers(kw.get("headers"))
        return await self.http.patch(url, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        kw["headers"] = self._headers(kw.get("headers"))
        return await self.http.delete(url, **kw)

    async def sign_in(self, email: str, password: str) -> dict[str, Any]:
        await self.refresh_csrf()
        response = await self.post("/api/session", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return await self.refresh_csrf()


@pytest.fixture
async def make_client(app: Any) -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    async def make() -> Client:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(http)
        client = Client(http)
        await client.refresh_csrf()
        return client

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
async def client(make_client: Any) -> Client:
    return await make_client()  # type: ignore[no-any-return]


PASSWORD = "correct horse battery"


@pytest.fixture
async def make_user(services: Services) -> Any:
    """Create an account directly in the database; returns (email, password, id)."""
    from cloudexpo import accounts

    async def make(role: str = "visitor", exhibitor_id: int | None = None, email: str | None = None) -> tuple[str, str, int]:
        email = email or f"{role}-{secrets.token_hex(4)}@example.org"
        async with services.db.session() as db:
            user = await accounts.create_user(db, email, PASSWORD, role=role, exhibitor_id=exhibitor_id)
            await db.commit()
            return email, PASSWORD, user.id

    return make


@pytest.fixture
async def signed_in(make_client: Any, make_user: Any) -> Any:
    """A client signed in with a new account of ``role``."""

    async def make(role: str = "visitor", exhibitor_id: int | None = None) -> Client:
        email, password, _ = await make_user(role, exhibitor_id)
        client: Client = await make_client()
        await client.sign_in(email, password)
        return client

    return make


# --- a real server on a free port ---------------------------------------------------


@dataclass
class LiveServer:
    url: str
    settings: Settings


@contextmanager
def serve_app(settings: Settings, name: str = "live-server", **options: Any) -> Iterator[LiveServer]:
    """``create_app(settings)`` under uvicorn in a thread on 127.0.0.1:``settings.port``, as ``cloudexpo serve``
    runs it (``options`` change uvicorn's websocket options, ``web.routes.ws.SERVER_OPTIONS``)."""
    import uvicorn

    app = create_app(settings)
    from web.routes.ws import SERVER_OPTIONS

    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None, lifespan="on",
                            **{**SERVER_OPTIONS, **options})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{settings.port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def live_settings(tmp_path: Path, **changes: Any) -> Settings:
    """Embedded-default settings for a server on a free port."""
    settings = Settings(
        data_dir=tmp_path / "live-data",
        secret_key="live-" + secrets.token_hex(8),
        host="127.0.0.1",
        port=free_port(),
        ice_hosts=["127.0.0.1"],
        signin_rate=1000,
    )
    return settings.replace(**changes)


@pytest.fixture
def live_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The app under uvicorn in a thread, on 127.0.0.1 and a free port (embedded defaults)."""
    settings = live_settings(tmp_path)
    with serve_app(settings.replace(timezone=_exhibition_zone(request, settings.timezone))) as server:
        yield server


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """A folder the run leaves behind: screenshots and other evidence."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS

