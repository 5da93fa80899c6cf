"""``cloudexpo slot``: put slots on the programme and list them from the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from typing import Any
from zoneinfo import ZoneInfo

import click

from cloudexpo.i18n import LANGUAGES


def _parse_start(value: str, zone: ZoneInfo) -> dt.datetime:
    if value.strip().lower() == "now":
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use an ISO time like 2023-09-01T14:00+08:00, or 'now'", param_hint="--start") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.UTC)


def _settings(ctx: click.Context) -> Any:
    obj = ctx.obj
    if obj is None or not hasattr(obj, "settings"):
        from cloudexpo.settings import load_settings

        return load_settings()
    return obj.settings()


async def _with_db(ctx: click.Context, settings: Any, work: Any) -> Any:
    # The ``cloudexpo`` command opens the database: it knows every package's tables and migrations.
    db = ctx.obj.database(settings)
    try:
        await db.check()
        if settings.is_sqlite:
            await db.migrate()
        async with db.session() as session:
            return await work(session)
    finally:
        await db.close()


def _run(coro: Any) -> Any:
    from cloudexpo.bus import BusError
    from cloudexpo.db import DatabaseError

    try:
        return asyncio.run(coro)
    except (DatabaseError, BusError) as exc:
        click.echo(f"cloudexpo: {exc}", err=True)
        sys.exit(3)


@click.group()
def slot() -> None:
    """Broadcast slots on the programme's stages."""


@slot.command("add")
@click.option("--stage", required=True, help="Stage slug, id or name (see `cloudexpo slot list --stages`).")
@click.option("--title", required=True, help="Title (used for every language).")
@click.option("--booth", "booth_id", type=int, help="Booth id, for a launch.")
@click.option("--forum", help="Forum name, for a conference session.")
@click.option("--exhibitor", "exhibitor_id", type=int, help="Exhibitor whose staff may publish (default: the booth's).")
@click.option("--start", required=True, help="ISO time (without zone: the exhibition's time zone) or 'now'.")
@click.option("--minutes", type=click.IntRange(1, 720), required=True, help="Length of the slot.")
@click.option("--json", "as_json", is_flag=True, help="Print the slot as JSON (with whip_url, whip_token, whep_url, watch_url).")
@click.pass_context
def slot_add(ctx: click.Context, stage: str, title: str, booth_id: int | None, forum: str | None, exhibitor_id: int | None,
             start: str, minutes: int, as_json: bool) -> None:
    """Put a slot on a stage and print its WHIP URL and token."""
    from .schedule import InvalidSlot, ScheduleError, SlotInput, create_slot, get_stage, token_of

    if (booth_id is None) == (forum is None):
        raise click.UsageError("give either --booth ID (a launch) or --forum NAME (a conference session)")
    settings = _settings(ctx)
    starts_at = _parse_start(start, ZoneInfo(settings.timezone))
    secret = settings.resolved_secret_key()
    base = settings.resolved_public_url

    async def work(db: Any) -> dict[str, Any]:
        stage_row = await get_stage(db, stage)
        created = await create_slot(db, secret, SlotInput(
            stage_id=stage_row.id,
            title={lang: title for lang in LANGUAGES},
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(minutes=minutes),
            booth_id=booth_id,
            exhibitor_id=exhibitor_id,
            forum=forum,
        ))
        await db.commit()
        return {
            "id": created.id,
            "stage": stage_row.slug,
            "title": title,
            "booth_id": created.booth_id,
            "exhibitor_id": created.exhibitor_id,
            "forum": created.forum,
            "starts_at": created.starts_at.isoformat(),
            "ends_at": created.ends_at.isoformat(),
            "state": created.state,
            "whip_url": f"{base}/whip/{created.id}",
            "whip_token": token_of(secret, created),
            "whep_url": f"{base}/whep/{created.id}",
            "watch_url": f"{base}/live/{created.id}",
        }

    try:
        row = _run(_with_db(ctx, settings, work))
    except (InvalidSlot, ScheduleError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(row, ensure_ascii=False, indent=2))
        return
    click.echo(f"Slot {row['id']} on {row['stage']}: {row['starts_at']} – {row['ends_at']}")
    for key in ("whip_url", "whip_token", "whep_url", "watch_url"):
        click.echo(f"  {key:<11} {row[key]}")


@slot.command("list")
@click.option("--stage", help="Only this stage (slug, id or name).")
@click.option("--stages", "show_stages", is_flag=True, help="List the stages instead.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def slot_list(ctx: click.Context, stage: str | None, show_stages: bool, as_json: bool) -> None:
    """List slots (or stages) with their state."""
    from cloudexpo.i18n import pick

    from .schedule import ScheduleError, get_stage, list_slots, list_stages

    settings = _settings(ctx)
    zone = ZoneInfo(settings.timezone)

    async def work(db: Any) -> list[dict[str, Any]]:
        stages = {s.id: s for s in await list_stages(db)}
        if show_stages:
            return [{"id": s.id, "slug": s.slug, "kind": s.kind, "name": pick(s.name, "en").text} for s in stages.values()]
        stage_id = (await get_stage(db, stage)).id if stage else None
        return [
            {
                "id": s.id,
                "stage": stages[s.stage_id].slug if s.stage_id in stages else s.stage_id,
                "title": pick(s.title, "en").text,
                "starts_at": s.starts_at.isoformat(),
                "ends_at": s.ends_at.isoformat(),
                "state": s.state,
                "approved": s.approved,
                "booth_id": s.booth_id,
            }
            for s in await list_slots(db, stage_id=stage_id, include_requests=True)
        ]

    try:
        rows = _run(_with_db(ctx, settings, work))
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        if show_stages:
            click.echo(f"{row['id']:>4}  {row['slug']:<22} {row['kind']:<8} {row['name']}")
            continue
        start = dt.datetime.fromisoformat(row["starts_at"]).astimezone(zone)
        end = dt.datetime.fromisoformat(row["ends_at"]).astimezone(zone)
        flag = "" if row["approved"] else "  (request)"
        click.echo(f"{row['id']:>5}  {start:%Y-%m-%d %H:%M}–{end:%H:%M}  {row['stage']:<20} {row['state']:<10} {row['title']}{flag}")
