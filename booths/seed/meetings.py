"""The demo's matchmaking: experts of quality institutions and the meeting times they and exhibitors offer.

At the real exhibition about 140 experts of national standards, metrology
and quality institutions met Sichuan enterprises at round tables; the demo
lists a few of them in the expert directory, each offering round-table and
online times over the coming days, and the demo exhibitors offer online
times at their booths. Safe to run again: a host who still has times to come
gets no new ones.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement.models import MeetingSlot, Profile
from cloudexpo import accounts
from cloudexpo.accounts import Role
from cloudexpo.db import utcnow

# (name, institution, field, title, languages, bio)
EXPERTS = [
    ("王立新 Wang Lixin", "中国标准化研究院 China National Institute of Standardization", "standards",
     "研究员 Research fellow", ["中文", "English"],
     "Twenty years of work on enterprise standards systems and standards innovation for private enterprises."),
    ("陈静 Chen Jing", "中国计量科学研究院 National Institute of Metrology", "metrology",
     "高级工程师 Senior engineer", ["中文", "English"],
     "Measurement capability and calibration for manufacturers; traceability of production test equipment."),
    ("李明 Li Ming", "中国质量认证中心 China Quality Certification Centre", "certification",
     "审核组长 Lead auditor", ["中文"],
     "Quality, environment and product certification; preparing small and medium enterprises for audits."),
    ("周晓燕 Zhou Xiaoyan", "四川省产品质量监督检验检测院 Sichuan Product Quality Inspection Institute", "testing",
     "主任 Director", ["中文", "粵語"],
     "Product testing for electrical appliances and new-energy vehicle components; laboratory accreditation."),
    ("Anna Keller", "International quality partner network", "quality management",
     "Senior adviser", ["English", "Deutsch"],
     "Chief quality officer programmes, supply-chain quality and international cooperation."),
    ("刘洋 Liu Yang", "中国质量协会 China Association for Quality", "quality management",
     "专家 Expert", ["中文", "English"],
     "Digital quality management, quality awards and continuous improvement in manufacturing."),
]
EXPERT_HOURS = (10, 14, 16)  # local times offered, on each of the coming days
EXHIBITOR_HOURS = (11, 15)
DAYS = 3
MINUTES = 30


def _upcoming(zone: ZoneInfo, hours: tuple[int, ...], now: dt.datetime) -> list[dt.datetime]:
    today = now.astimezone(zone).date()
    out = []
    for day in range(1, DAYS + 1):
        date = today + dt.timedelta(days=day)
        out += [dt.datetime.combine(date, dt.time(hour), tzinfo=zone).astimezone(dt.UTC) for hour in hours]
    return out


async def _offer_times(session: AsyncSession, host_id: int, exhibitor_id: int | None, starts: list[dt.datetime],
                       mode: str, location: str) -> None:
    now = utcnow()
    upcoming = await session.scalar(
        select(MeetingSlot.id).where(MeetingSlot.host_id == host_id, MeetingSlot.starts_at > now).limit(1)
    )
    if upcoming is not None:
        return
    for n, start in enumerate(starts):
        table_mode = mode == "table" and n % 2 == 0
        session.add(MeetingSlot(
            host_id=host_id, exhibitor_id=exhibitor_id, starts_at=start, ends_at=start + dt.timedelta(minutes=MINUTES),
            mode="table" if table_mode else "online",
            location=location if table_mode else f"https://meet.example.org/cloudexpo-{host_id}-{n}",
        ))


async def seed_meetings(session: AsyncSession, password: str, timezone: str) -> list[tuple[str, str]]:
    """The experts (with profiles) and everyone's meeting times; returns the experts' demo logins."""
    zone = ZoneInfo(timezone)
    now = utcnow()
    logins: list[tuple[str, str]] = []
    for n, (name, institution, field, title, languages, bio) in enumerate(EXPERTS, start=1):
        email = f"expert{n}@demo.cloudexpo"
        user = await session.scalar(select(accounts.User).where(accounts.User.email == email))
        if user is None:
            user = await accounts.create_user(session, email, password, display_name=name, role=Role.VISITOR)
        if await session.get(Profile, user.id) is None:
            session.add(Profile(user_id=user.id, is_expert=True, institution=institution, field=field, title=title,
                                languages=languages, bio=bio, organisation=institution))
        await _offer_times(session, user.id, None, _upcoming(zone, EXPERT_HOURS, now), "table", f"圆桌 Round table {n}")
        logins.append(("expert", email))
    staff = await session.scalars(
        select(accounts.User).where(accounts.User.email.like("exhibitor%@demo.cloudexpo"), accounts.User.exhibitor_id.is_not(None))
    )
    for user in staff.all():
        await _offer_times(session, user.id, user.exhibitor_id, _upcoming(zone, EXHIBITOR_HOURS, now), "online", "")
    await session.flush()
    return logins[:1]  # one expert in the banner; all share the demo password
