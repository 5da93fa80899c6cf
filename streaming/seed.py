"""The demo programme: the 5th China Quality Conference (1–2 September 2023) as the
archive, and release-zone launches around the present time.

Idempotent: stages are matched by slug, conference sessions by stage and start
time, and launch slots are only added when nothing is open or upcoming on the
release zone. Booths are read from the ``booths`` table by plain SQL when it
exists (``streaming`` does not import ``booths``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloudexpo.db import utcnow

from .models import Slot, SlotState, StageKind
from .schedule import SlotInput, SlotOverlap, create_slot, ensure_stage

ZONE = ZoneInfo("Asia/Shanghai")
VENUE = {
    "zh-Hans": "成都世纪城新国际会展中心",
    "zh-Hant": "成都世紀城新國際會展中心",
    "en": "Century City New International Exhibition Center, Chengdu",
}


def L(hans: str, hant: str, en: str) -> dict[str, str]:
    return {"zh-Hans": hans, "zh-Hant": hant, "en": en}


RELEASE_STAGES = [
    ("release-a", L("发布区 A 台", "發佈區 A 台", "Release zone · Stage A")),
    ("release-b", L("发布区 B 台", "發佈區 B 台", "Release zone · Stage B")),
]

SUB_FORUMS = [
    ("forum-enterprise", L("企业质量提升分论坛", "企業質量提升分論壇", "Sub-forum: Enterprise quality improvement")),
    ("forum-private", L("民营企业质量标准创新分论坛", "民營企業質量標準創新分論壇", "Sub-forum: Private-enterprise quality and standards innovation")),
    ("forum-international", L("国际质量合作与供应链分论坛", "國際質量合作與供應鏈分論壇", "Sub-forum: International quality cooperation and supply chains")),
    ("forum-park-city", L("公园城市标准化分论坛", "公園城市標準化分論壇", "Sub-forum: Park-city standardisation")),
    ("forum-infrastructure", L("质量基础设施分论坛", "質量基礎設施分論壇", "Sub-forum: Quality infrastructure")),
    ("forum-cqo", L("首席质量官分论坛", "首席質量官分論壇", "Sub-forum: Chief quality officers")),
    ("forum-digital", L("数字化质量管理分论坛", "數位化質量管理分論壇", "Sub-forum: Digital quality management")),
    ("forum-education", L("质量教育分论坛", "質量教育分論壇", "Sub-forum: Quality education")),
]


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2023, 9, day, hour, minute, tzinfo=ZONE).astimezone(dt.UTC)


def conference_sessions() -> list[tuple[str, dict[str, str], dict[str, str], dt.datetime, dt.datetime, list[dict[str, Any]]]]:
    """(stage slug, title, description, start, end, speakers) of the 2023 conference."""
    sessions = [
        (
            "main-forum",
            L("开幕式暨主论坛", "開幕式暨主論壇", "Opening ceremony and main forum"),
            L("第五届中国质量大会开幕式与主论坛。", "第五屆中國質量大會開幕式與主論壇。", "The opening of the 5th China Quality Conference and its main forum."),
            at(1, 9), at(1, 12),
            [{"name": "大会组委会 Organising committee", "affiliation": L("主办方", "主辦方", "Organisers")}],
        )
    ]
    for slug, name in SUB_FORUMS:
        sessions.append((slug, name, L("9 月 1 日下午的平行分论坛之一。", "9 月 1 日下午的平行分論壇之一。", "One of eight parallel sub-forums on the afternoon of 1 September."), at(1, 14), at(1, 17, 30), []))
    sessions.append((
        "matchmaking",
        L("质量技术服务对接会", "質量技術服務對接會", "Matchmaking: quality institutions meet enterprises"),
        L("约 140 位来自国家标准、计量、质量机构的专家与约 270 家四川企业圆桌面对面。",
          "約 140 位來自國家標準、計量、質量機構的專家與約 270 家四川企業圓桌面對面。",
          "About 140 experts from national standards, metrology and quality institutions meet about 270 Sichuan enterprises face to face at round tables."),
        at(1, 14), at(1, 17), [],
    ))
    sessions.append((
        "closing",
        L("闭幕式：成都质量倡议", "閉幕式：成都質量倡議", "Closing ceremony: the Chengdu Quality Initiative"),
        L("发布“成都质量倡议”，交接第六届中国质量大会。", "發佈「成都質量倡議」，交接第六屆中國質量大會。", "The Chengdu Quality Initiative, and the handover to the 6th China Quality Conference."),
        at(2, 9), at(2, 11, 30), [],
    ))
    return sessions


async def seeded_booths(db: AsyncSession, limit: int = 6) -> list[tuple[int, int | None, dict[str, str]]]:
    """(booth id, exhibitor id, name) of published booths, if the booths table exists."""

    def columns(conn: Any) -> list[str]:
        insp = inspect(conn)
        return [c["name"] for c in insp.get_columns("booths")] if insp.has_table("booths") else []

    cols = await (await db.connection()).run_sync(columns)
    if not {"id", "exhibitor_id"} <= set(cols):
        return []
    name_col = ", name" if "name" in cols else ""
    where = " WHERE published = :yes" if "published" in cols else ""
    order = " ORDER BY featured DESC, id" if "featured" in cols else " ORDER BY id"
    params = {"yes": True} if where else {}
    rows = (await db.execute(text(f"SELECT id, exhibitor_id{name_col} FROM booths{where}{order} LIMIT {int(limit)}"), params)).all()
    out = []
    for row in rows:
        name: Any = row[2] if len(row) > 2 else {}
        if isinstance(name, str):
            try:
                name = json.loads(name)
            except ValueError:
                name = {"en": name}
        out.append((int(row[0]), int(row[1]) if row[1] is not None else None, name if isinstance(name, dict) else {}))
    return out


async def seed_programme(db: AsyncSession, secret_key: str, now: dt.datetime | None = None) -> dict[str, int]:
    """Stages, the conference archive and launches around ``now``; returns what was added."""
    now = (now or utcnow()).replace(second=0, microsecond=0)
    added = {"stages": 0, "sessions": 0, "launches": 0}
    stages = {}
    position = 0
    for slug, name in RELEASE_STAGES:
        stages[slug] = await ensure_stage(db, slug, name, kind=StageKind.RELEASE, venue=L("云展厅 · 发布区", "雲展廳 · 發佈區", "Cloud exhibition hall · release zone"), position=position)
        position += 1
    forum_stages = [
        ("main-forum", L("主论坛", "主論壇", "Main forum")),
        *SUB_FORUMS,
        ("matchmaking", L("对接会", "對接會", "Matchmaking session")),
        ("closing", L("闭幕式", "閉幕式", "Closing ceremony")),
    ]
    for slug, name in forum_stages:
        stages[slug] = await ensure_stage(db, slug, name, kind=StageKind.FORUM, venue=VENUE, position=position)
        position += 1
    for slug, title, description, start, end, speakers in conference_sessions():
        stage = stages[slug]
        exists = await db.scalar(select(Slot.id).where(Slot.stage_id == stage.id, Slot.starts_at == start))
        if exists is not None:
            continue
        slot = await create_slot(db, secret_key, SlotInput(stage.id, title, start, end, forum=title["en"], description=description, speakers=speakers))
        slot.state = SlotState.ENDED.value
        slot.live_at, slot.ended_at = start, end
        added["sessions"] += 1
    # Launches around now: one open now (the demo publishes to it), a few next.
    release_ids = [stages[slug].id for slug, _ in RELEASE_STAGES]
    open_now = await db.scalar(
        select(Slot.id).where(
            Slot.stage_id.in_(release_ids), Slot.starts_at <= now, Slot.ends_at > now + dt.timedelta(minutes=10),
            Slot.state.in_([SlotState.SCHEDULED.value, SlotState.GREEN_ROOM.value, SlotState.LIVE.value]),
        )
    )
    if open_now is not None:
        return added
    booths = await seeded_booths(db) or [(1000 + i, None, {}) for i in range(4)]
    # The launch open now goes on the first release stage that is free now (a
    # slot ended by an earlier run of the demo keeps its stage until its end).
    plan: list[tuple[int, dt.datetime, dt.timedelta]] = []
    for stage_id in release_ids:
        taken = await db.scalar(
            select(Slot.id).where(
                Slot.stage_id == stage_id, Slot.starts_at <= now, Slot.ends_at > now,
                Slot.state != SlotState.CANCELLED.value,
            )
        )
        if taken is not None:
            continue
        next_start = await db.scalar(
            select(func.min(Slot.starts_at)).where(
                Slot.stage_id == stage_id, Slot.starts_at > now, Slot.state != SlotState.CANCELLED.value
            )
        )
        begins = now - dt.timedelta(minutes=5)
        ends = min(now + dt.timedelta(minutes=55), next_start) if next_start else now + dt.timedelta(minutes=55)
        if ends - now >= dt.timedelta(minutes=5):
            plan.append((stage_id, begins, ends - begins))
            break
    stage_a, stage_b = release_ids
    plan += [
        (stage_b, now + dt.timedelta(minutes=20), dt.timedelta(minutes=30)),
        (stage_a, now + dt.timedelta(minutes=75), dt.timedelta(minutes=30)),
        (stage_b, now + dt.timedelta(minutes=90), dt.timedelta(minutes=45)),
    ]
    for index, (stage_id, begins, length) in enumerate(plan):
        booth_id, exhibitor_id, booth_name = booths[index % len(booths)]
        name_hans = booth_name.get("zh-Hans") or booth_name.get("en") or f"{booth_id} 号展台"
        name_hant = booth_name.get("zh-Hant") or name_hans
        name_en = booth_name.get("en") or f"Booth {booth_id}"
        title = L(f"{name_hans}：新品发布", f"{name_hant}：新品發佈", f"{name_en}: product launch")
        description = L("发布区直播：新产品与新技术。", "發佈區直播：新產品與新技術。", "A live launch from the release zone: new products and technologies.")
        try:
            await create_slot(db, secret_key, SlotInput(stage_id, title, begins, begins + length, booth_id=booth_id, exhibitor_id=exhibitor_id, description=description))
            added["launches"] += 1
        except SlotOverlap:
            continue
    return added
