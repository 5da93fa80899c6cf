"""Search latency on 10,000 generated booths, SQLite and PostgreSQL, against a primary-key lookup.

    python bench/search.py [--booths 10000] [--runs 200] [--postgres postgresql://postgres@127.0.0.1:5432/test]

For each database: typical queries in four groups (two-character Chinese,
three or more characters, Traditional Chinese, English) go through
``booths.exhibition.search.search`` (count, first page, highlights) — p50/p99 per group,
and the ratio of each p50 to the baseline measured in the same run (a plain
``SELECT ... WHERE id = ?`` of one booth, through the same
``Database.read`` trip). Target: p99 ≤ 10 ms, in the steady state: every
query runs once before the measured runs (its figures are printed apart). A scratch
PostgreSQL database is created and dropped; after the bulk fill it gets the
``VACUUM ANALYZE`` that autovacuum would soon run on a live database (planner
statistics, visibility map for index-only scans), so the figures are those of
a settled database rather than of one still digesting a 1.3-million-row insert.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text

from booths.exhibition import search
from booths.exhibition.models import Booth, Exhibitor, Product
from booths.seed.exhibition import _description, _halls_and_zones, _localized, plans
from cloudexpo.app import import_models, migration_folders
from cloudexpo.db import Database

QUERIES = {
    "zh 2 chars": ["汽车", "质量", "电器", "装备", "茶叶", "检测"],
    "zh 3+ chars": ["新能源汽车", "地理标志", "数控机床", "检验检测中心"],
    "Traditional": ["汽車", "質量", "電器", "蒙頂山茶", "檢驗檢測"],
    "English": ["appliances", "vehicle", "tea", "robot", "testing center"],
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def fill(db: Database, count: int) -> None:
    rng = random.Random(7)
    async with db.session() as session:
        zones = await _halls_and_zones(session)
        zone_list = list(zones.values())
        templates = []
        for plan in plans():
            templates.append((plan, _localized(plan.name_hans, plan.name_en), _localized(plan.exhibitor_hans, plan.exhibitor_en),
                              _localized(plan.tagline_hans, plan.tagline_en), _description(plan),
                              [(_localized(p[0], p[1]), p[2]) for p in plan.products]))
        await session.commit()
        for start in range(0, count, 1000):
            exhibitors, booths = [], []
            for i in range(start, min(count, start + 1000)):
                plan, name, ex_name, tagline, desc, _ = templates[i % len(templates)]
                exhibitors.append({"name": {k: f"{v}{i}" for k, v in ex_name.items()}, "region": plan.region,
                                   "industry": plan.industry, "website": ""})
            ex_ids = (await session.scalars(insert(Exhibitor).returning(Exhibitor.id), exhibitors)).all()
            for n, i in enumerate(range(start, min(count, start + 1000))):
                plan, name, ex_name, tagline, desc, _ = templates[i % len(templates)]
                zone = zone_list[i % len(zone_list)]
                booths.append({"number": f"{zone.code[0]}{chr(65 + i // 1000)}-{i:05d}"[:16], "zone_id": zone.id,
                               "exhibitor_id": ex_ids[n], "name": name, "tagline": tagline, "description": desc,
                               "published": True, "hidden": False, "hidden_reason": "", "featured": i % 50 == 0,
                               "has_video": i % 10 == 3, "map_x": 0, "map_y": 0})
            booth_ids = (await session.scalars(insert(Booth).returning(Booth.id), booths)).all()
            products = []
            for booth_id, i in zip(booth_ids, range(start, start + len(booth_ids)), strict=True):
                for position, (pname, specs) in enumerate(templates[i % len(templates)][5][: rng.randint(0, 3)]):
                    products.append({"booth_id": booth_id, "name": pname, "description": {}, "position": position,
                                     "specifications": [{"label": _localized(a, b), "value": v} for a, b, v in specs]})
            if products:
                await session.execute(insert(Product), products)
            await search.refresh_booths(session, list(booth_ids))
            await session.commit()


async def measure(db: Database, runs: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    ids = list(await db.read(lambda session: session.scalars(select(Booth.id)).all()))
    # Steady state, as on a server that has been answering searches: every query once first (each statement
    # shape compiled, the texts of its hits folded once, the pages it reads in the cache). Those first runs are
    # reported apart, as "first run".
    first: list[float] = []
    for queries in QUERIES.values():
        for query in queries:
            t = time.perf_counter()
            await search.search(db, query, language="zh-Hans")
            first.append(time.perf_counter() - t)
    for query in QUERIES["zh 2 chars"]:
        t = time.perf_counter()
        await search.search(db, query, search.Filters(region="sichuan", has_video=True))
        first.append(time.perf_counter() - t)
    times: list[float] = []
    for n in range(runs):
        booth_id = ids[(n * 7919) % len(ids)]
        t = time.perf_counter()
        await db.read(lambda session, booth_id=booth_id: session.execute(select(Booth).where(Booth.id == booth_id)).scalar_one())
        times.append(time.perf_counter() - t)
    out["baseline: booth by id"] = (percentile(times, 50), percentile(times, 99))
    for group, queries in QUERIES.items():
        times = []
        for n in range(runs):
            query = queries[n % len(queries)]
            t = time.perf_counter()
            await search.search(db, query, language="zh-Hans")
            times.append(time.perf_counter() - t)
        out[group] = (percentile(times, 50), percentile(times, 99))
    times = []
    for n in range(runs):
        t = time.perf_counter()
        await search.search(db, QUERIES["zh 2 chars"][n % 6], search.Filters(region="sichuan", has_video=True))
        times.append(time.perf_counter() - t)
    out["zh 2 chars + filters"] = (percentile(times, 50), percentile(times, 99))
    out["first run of each query"] = (percentile(first, 50), max(first))
    total = (await search.search(db, "汽车")).total
    out["_hits"] = (float(total), 0.0)
    return out


def report(name: str, figures: dict[str, tuple[float, float]], build: float, count: int) -> None:
    base = figures["baseline: booth by id"][0]
    print(f"\n{name}: {count} booths indexed in {build:.1f} s; “汽车” matches {int(figures['_hits'][0])} (capped at {search.COUNT_CAP})")
    print(f"  {'query group':26} {'p50 ms':>8} {'p99 ms':>8} {'p50 / baseline':>15}  p99 ≤ 10 ms")
    for group, (p50, p99) in figures.items():
        if group.startswith("_") or group.startswith("first"):
            continue
        ok = "yes" if p99 <= 0.010 else "NO"
        print(f"  {group:26} {p50 * 1000:8.2f} {p99 * 1000:8.2f} {p50 / base:14.1f}x  {ok}")
    p50, worst = figures["first run of each query"]
    print(f"  {'first run of each query':26} {p50 * 1000:8.2f} {'max ' + format(worst * 1000, '.2f'):>8}  (before the steady state above)")


async def run_one(url: str, count: int, runs: int) -> tuple[dict[str, tuple[float, float]], float]:
    db = Database(url, migration_folders())
    try:
        await db.migrate()
        started = time.perf_counter()
        await fill(db, count)
        build = time.perf_counter() - started
        if db.dialect == "postgresql":
            async with db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
        return await measure(db, runs), build
    finally:
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--booths", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    import_models()
    with tempfile.TemporaryDirectory() as folder:
        figures, build = await run_one(f"sqlite+aiosqlite:///{folder}/bench.db", args.booths, args.runs)
        report("SQLite (FTS5 trigram + bigram table)", figures, build, args.booths)
    if args.postgres:
        import asyncpg

        name = f"bench_search_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
            figures, build = await run_one(url, args.booths, args.runs)
            report("PostgreSQL (pg_trgm + bigram table)", figures, build, args.booths)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
