"""The ``cloudexpo`` command: serve, demo, migrate, user, check, settings.

A user error (a bad setting, a database that does not answer, a wrong
argument) prints one line and exits non-zero; no traceback.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from cloudexpo import __version__
from cloudexpo.settings import SETTINGS, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from cloudexpo.db import Database

T = TypeVar("T")

EXIT_SETTINGS = 2
EXIT_UNAVAILABLE = 3


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    def database(self, settings: Settings) -> Database:
        """The database of ``settings`` for a command of another package (``cloudexpo slot``)."""
        from cloudexpo.app import open_database

        return open_database(settings)

    def settings(self, **overrides: Any) -> Settings:
        try:
            return load_settings(config_file=self.config, **overrides)
        except SettingsError as exc:
            click.echo(f"cloudexpo: {exc}", err=True)
            sys.exit(EXIT_SETTINGS)


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    from cloudexpo.bus import BusError
    from cloudexpo.db import DatabaseError
    from cloudexpo.storage import StorageError

    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except (DatabaseError, StorageError, BusError) as exc:
        click.echo(f"cloudexpo: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": None})
@click.option("--config", type=click.Path(dir_okay=False), envvar="CLOUDEXPO_CONFIG",
              help="A TOML file with settings (names as in `cloudexpo settings`, lower case). Environment variables win.")
@click.version_option(__version__, prog_name="cloudexpo")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Cloud Expo: an online exhibition that never closes, with live launches and replays.

    Start with `cloudexpo demo` to see the seed exhibition on this machine.
    """
    ctx.obj = Context(config)


# --- serving -------------------------------------------------------------------


async def _preflight(settings: Settings) -> None:
    """Open every service once, so that a wrong URL fails now with one clear line."""
    from cloudexpo.app import open_services

    services = open_services(settings)
    try:
        await services.db.check()
        if settings.is_sqlite:
            await services.db.migrate()
        await services.store.check()
        await services.bus.start()
        await services.bus.check()
    finally:
        await services.bus.close()
        await services.store.close()
        await services.db.close()


def _serve(settings: Settings, banner: Callable[[], None] | None = None, *, demo_live: bool = False) -> None:
    import uvicorn

    from cloudexpo import heap
    from cloudexpo.app import create_app
    from cloudexpo.logs import configure_logging
    from web.routes.ws import SERVER_OPTIONS

    heap.keep_thresholds()  # before any thread allocates: see cloudexpo/heap.py
    configure_logging(settings.log_format, settings.log_level)
    _run(lambda: _preflight(settings))
    app = create_app(settings, demo_live=demo_live)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        lifespan="on",
        **SERVER_OPTIONS,
    )
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        heap.settle()
        heap.start_trimming()
        if banner is not None:
            banner()

    server.startup = startup  # type: ignore[method-assign]
    server.run()


@cli.command()
@click.option("--host", help="Address to listen on (CLOUDEXPO_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on (CLOUDEXPO_PORT).")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None) -> None:
    """Run the Cloud Expo server with the configured database, storage and bus."""
    settings = obj.settings(host=host, port=port)
    _serve(settings)


@cli.command()
@click.option("--host", help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--no-live", is_flag=True, help="Do not run the simulated launch.")
@click.pass_obj
def demo(obj: Context, host: str | None, port: int | None, no_live: bool) -> None:
    """Fill the data folder with the seed exhibition (once) and serve it.

    Uses the embedded defaults unless settings say otherwise: a SQLite file and
    a media folder under ./data, an in-process bus. Prints the URL and the demo
    sign-ins.
    """
    from cloudexpo.app import seed_demo

    settings = obj.settings(host=host, port=port)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"Preparing the demo exhibition in {settings.data_dir.resolve()} …")
    logins = _run(lambda: seed_demo(settings))
    from cloudexpo import fonts

    if not fonts.has_cjk_font():
        click.echo(f"Note: no CJK font here, so the seeded banners and logos show English names only; {fonts.INSTALL_HINT}.")

    def banner() -> None:
        url = settings.resolved_public_url
        click.echo("")
        click.echo(click.style("Cloud Expo demo is ready: ", bold=True) + click.style(url, fg="green", bold=True))
        click.echo("Demo sign-ins (password for all: " + click.style(logins.password, bold=True) + "):")
        for role, email in logins.accounts:
            click.echo(f"  {role:<10} {email}")
        click.echo("Press Ctrl+C to stop.")

    _serve(settings, banner, demo_live=not no_live)


@cli.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Bring the database schema up to date (run once per release on PostgreSQL)."""
    from cloudexpo.app import open_database

    settings = obj.settings()

    async def go() -> list[str]:
        db = open_database(settings)
        try:
            await db.check()
            return await db.migrate()
        finally:
            await db.close()

    heads = _run(go)
    click.echo(f"Database is up to date ({', '.join(heads)}).")


@cli.command()
@click.pass_obj
def check(obj: Context) -> None:
    """Print which database, storage and bus Cloud Expo would use, and whether each answers."""
    from cloudexpo.app import open_services

    settings = obj.settings()

    async def go() -> bool:
        services = open_services(settings)
        ok = True
        rows: list[tuple[str, str, Callable[[], Awaitable[None]]]] = [
            ("database", services.db.engine.url.render_as_string(hide_password=True), services.db.check),
            ("storage", f"{services.store.kind}: {settings.resolved_storage_url}", services.store.check),
            ("bus", f"{services.bus.kind}" + (f": {settings.redis_url}" if settings.redis_url else ""), services.bus.start),
        ]
        for name, what, probe in rows:
            try:
                await asyncio.wait_for(probe(), 10)
                state = click.style("ok", fg="green")
            except Exception as exc:
                ok = False
                state = click.style(f"FAILED: {exc}", fg="red")
            click.echo(f"{name:<9} {what}  {state}")
        await services.close()
        return ok

    if not asyncio.run(go()):
        sys.exit(EXIT_UNAVAILABLE)


@cli.command("settings")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def settings_cmd(as_json: bool) -> None:
    """List every setting with its environment variable, default and an example."""
    rows = [
        {"variable": f"CLOUDEXPO_{s.name.upper()}", "default": "" if s.default in (None, []) else str(s.default), "example": s.example, "help": s.help}
        for s in SETTINGS
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['variable']}  (default: {row['default'] or '—'}; e.g. {row['example']})\n    {row['help']}")


# --- users -------------------------------------------------------------------------


@cli.group()
def user() -> None:
    """Manage accounts: create them and list them."""


@user.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["visitor", "exhibitor", "moderator", "admin"]), default="visitor", show_default=True)
@click.option("--name", "display_name", help="Display name (default: the part of the e-mail before @).")
@click.option("--exhibitor", "exhibitor_id", type=int, help="Exhibitor id, for staff of an exhibitor.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@click.pass_obj
def user_add(obj: Context, email: str, role: str, display_name: str | None, exhibitor_id: int | None, password_stdin: bool) -> None:
    """Create an account. The password is asked for, or read from standard input."""
    from cloudexpo import accounts
    from cloudexpo.app import open_database

    settings = obj.settings()
    if role == "exhibitor" and exhibitor_id is None:
        raise click.UsageError("an exhibitor account needs --exhibitor ID (the exhibitor it is staff of)")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise click.ClickException("the two passwords differ")

    async def go() -> int:
        db = open_database(settings)
        try:
            await db.check()
            if settings.is_sqlite:
                await db.migrate()
            async with db.session() as session:
                created = await accounts.create_user(session, email, password, display_name=display_name, role=role, exhibitor_id=exhibitor_id)
                await session.commit()
                return created.id
        finally:
            await db.close()

    try:
        user_id = _run(go)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {role} {email} (id {user_id}).")


@user.command("list")
@click.option("--role", type=click.Choice(["visitor", "exhibitor", "moderator", "admin"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def user_list(obj: Context, role: str | None, as_json: bool) -> None:
    """List accounts with their role and, for staff, their exhibitor."""
    from cloudexpo import accounts
    from cloudexpo.app import open_database

    settings = obj.settings()

    async def go() -> list[dict[str, Any]]:
        db = open_database(settings)
        try:
            await db.check()
            if settings.is_sqlite:
                await db.migrate()
            async with db.session() as session:
                users = await accounts.list_users(session, accounts.Role(role) if role else None)
                return [
                    {"id": u.id, "email": u.email, "name": u.display_name, "role": u.role, "exhibitor_id": u.exhibitor_id}
                    for u in users
                ]
        finally:
            await db.close()

    rows = _run(go)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        extra = f" exhibitor={row['exhibitor_id']}" if row["exhibitor_id"] else ""
        click.echo(f"{row['id']:>5}  {row['role']:<10} {row['email']}  {row['name']}{extra}")


from streaming.cli import slot  # noqa: E402 - the composition root registers each package's commands

cli.add_command(slot)


def main() -> None:
    cli(prog_name="cloudexpo")


if __name__ == "__main__":
    main()

