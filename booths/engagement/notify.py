"""Notifications: in the app (a bell with an unread count) and by e-mail.

Kinds: ``application_decided``, ``card_received``, ``booth_message`` (a visitor's message while nobody
was at the booth), ``meeting_requested``,
``meeting_accepted``, ``meeting_declined``, ``meeting_cancelled``,
``meeting_reminder``, ``launch_starting``, ``launch_live``, and the schedule's changes of an
exhibitor's launch: ``launch_added``, ``launch_approved``, ``launch_declined``,
``launch_moved``, ``launch_cancelled``. Each is stored as a row
(:class:`Notification`: kind and parameters; the text is made in the
reader's language when shown), published on the bus topic ``user.{id}`` as
``{"type": "notification", "id", "kind", "title", "url", "unread"}`` so that
an open page updates at once, and mailed in the recipient's language
(``users.language``, else the default) as plain text and HTML, unless they
unsubscribed from that kind through the signed link every mail carries.

:class:`Notifier` collects what to send while a transaction runs; call
:meth:`Notifier.deliver` after the commit, so that nobody is told about
something that was rolled back. Mails go out in background tasks;
:meth:`Notifier.drain` waits for them (tests, shutdown). A reminder loop
(:func:`install`) tells hosts and visitors about meetings starting soon and
visitors who asked to be reminded of a launch (a launch bookmark: "Remind me")
ten minutes before it starts and again when it actually goes live. Each of
those notices is claimed with a conditional UPDATE of the bookmark before it
is sent, so with several nodes running the loop, and across restarts, a
visitor is told once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from booths.engagement import meetings
from booths.engagement.bookmarks import live_slots, upcoming_slots
from booths.engagement.models import Bookmark, MailOptOut, Notification
from booths.exhibition.directory import staff_of
from cloudexpo.accounts import User
from cloudexpo.db import utcnow
from cloudexpo.i18n import LANGUAGES, day_text, pick
from cloudexpo.mail import Attachment, Mail, Mailer, make_mailer
from cloudexpo.values import in_zone, same_token

if TYPE_CHECKING:
    from cloudexpo.services import Services

log = logging.getLogger(__name__)

REMIND_BEFORE = dt.timedelta(minutes=15)  # meetings
LAUNCH_REMIND_BEFORE = dt.timedelta(minutes=10)
#: A launch that went live longer ago than this is no news any more (a node that was down meanwhile stays quiet).
LIVE_NEWS_FOR = dt.timedelta(minutes=15)

# Per kind and language: (title, body). Placeholders come from the notification's params.
MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    "application_decided": {
        "zh-Hans": ("您的参展申请已{decision}", "您为“{organisation}”提交的参展申请已{decision}。{reason}"),
        "zh-Hant": ("您的參展申請已{decision}", "您為「{organisation}」提交的參展申請已{decision}。{reason}"),
        "en": ("Your exhibitor application was {decision}", "Your application for {organisation} was {decision}. {reason}"),
    },
    "card_received": {
        "zh-Hans": ("收到新名片：{name}", "{name}（{organisation}）在展位 {booth} 留下了名片。"),
        "zh-Hant": ("收到新名片：{name}", "{name}（{organisation}）在展位 {booth} 留下了名片。"),
        "en": ("New business card: {name}", "{name} ({organisation}) left a business card at booth {booth}."),
    },
    "booth_message": {
        "zh-Hans": ("展位 {booth} 有新留言：{name}", "{name} 在无人值守时给展位 {booth} 留言：{text}"),
        "zh-Hant": ("展位 {booth} 有新留言：{name}", "{name} 在無人值守時給展位 {booth} 留言：{text}"),
        "en": ("New message at booth {booth}: {name}", "{name} left a message at booth {booth} while nobody was there: {text}"),
    },
    "meeting_requested": {
        "zh-Hans": ("新的会面请求：{name}", "{name} 请求在 {time} 与您会面。留言：{note}"),
        "zh-Hant": ("新的會面請求：{name}", "{name} 請求在 {time} 與您會面。留言：{note}"),
        "en": ("Meeting request from {name}", "{name} asks to meet you at {time}. Note: {note}"),
    },
    "meeting_accepted": {
        "zh-Hans": ("会面已确认：{time}", "{host} 已接受您在 {time} 的会面请求。地点：{location}"),
        "zh-Hant": ("會面已確認：{time}", "{host} 已接受您在 {time} 的會面請求。地點：{location}"),
        "en": ("Meeting confirmed: {time}", "{host} accepted your meeting at {time}. Where: {location}"),
    },
    "meeting_declined": {
        "zh-Hans": ("会面请求未被接受", "{host} 未能接受您在 {time} 的会面请求，请选择其他时间。"),
        "zh-Hant": ("會面請求未被接受", "{host} 未能接受您在 {time} 的會面請求，請選擇其他時間。"),
        "en": ("Meeting request declined", "{host} could not accept your meeting at {time}; please choose another time."),
    },
    "meeting_cancelled": {
        "zh-Hans": ("会面已取消：{time}", "与 {name} 在 {time} 的会面已取消。"),
        "zh-Hant": ("會面已取消：{time}", "與 {name} 在 {time} 的會面已取消。"),
        "en": ("Meeting cancelled: {time}", "The meeting with {name} at {time} was cancelled."),
    },
    "meeting_reminder": {
        "zh-Hans": ("会面即将开始：{time}", "您与 {name} 的会面将于 {time} 开始。地点：{location}"),
        "zh-Hant": ("會面即將開始：{time}", "您與 {name} 的會面將於 {time} 開始。地點：{location}"),
        "en": ("Your meeting starts soon: {time}", "Your meeting with {name} starts at {time}. Where: {location}"),
    },
    "launch_starting": {
        "zh-Hans": ("即将开始：{title}", "您设置了提醒的发布“{title}”将于 {time} 开始直播。"),
        "zh-Hant": ("即將開始：{title}", "您設定了提醒的發佈「{title}」將於 {time} 開始直播。"),
        "en": ("Starting soon: {title}", "“{title}”, the launch you asked to be reminded of, goes live at {time}."),
    },
    "launch_live": {
        "zh-Hans": ("正在直播：{title}", "“{title}”现在正在直播，打开即可观看。"),
        "zh-Hant": ("正在直播：{title}", "「{title}」現在正在直播，打開即可觀看。"),
        "en": ("Live now: {title}", "“{title}” is live now. Open it to watch."),
    },
    "launch_added": {
        "zh-Hans": ("新的发布时段：{title}", "主持人为展位 {booth} 安排了发布“{title}”：{time}开始，{minutes} 分钟，{stage}。"),
        "zh-Hant": ("新的發佈時段：{title}", "主持人為展位 {booth} 安排了發佈「{title}」：{time}開始，{minutes} 分鐘，{stage}。"),
        "en": ("New launch slot: {title}", "A moderator scheduled “{title}” for booth {booth}: {time}, {minutes} minutes, {stage}."),
    },
    "launch_approved": {
        "zh-Hans": ("发布申请已通过：{title}", "展位 {booth} 的发布“{title}”已列入日程：{time}开始，{minutes} 分钟，{stage}。"),
        "zh-Hant": ("發佈申請已通過：{title}", "展位 {booth} 的發佈「{title}」已列入日程：{time}開始，{minutes} 分鐘，{stage}。"),
        "en": ("Launch request approved: {title}", "“{title}” for booth {booth} is on the programme: {time}, {minutes} minutes, {stage}."),
    },
    "launch_declined": {
        "zh-Hans": ("发布申请未通过：{title}", "展位 {booth} 在 {time}的发布申请“{title}”未获通过。原因：{reason}"),
        "zh-Hant": ("發佈申請未通過：{title}", "展位 {booth} 在 {time}的發佈申請「{title}」未獲通過。原因：{reason}"),
        "en": ("Launch request declined: {title}", "The request for “{title}” (booth {booth}, {time}) was declined. Reason: {reason}"),
    },
    "launch_moved": {
        "zh-Hans": ("发布时间已调整：{title}", "展位 {booth} 的发布“{title}”由 {old_time}调整为 {time}开始，{minutes} 分钟，{stage}。"),
        "zh-Hant": ("發佈時間已調整：{title}", "展位 {booth} 的發佈「{title}」由 {old_time}調整為 {time}開始，{minutes} 分鐘，{stage}。"),
        "en": ("Launch moved: {title}", "“{title}” for booth {booth} moved from {old_time} to {time}, {minutes} minutes, {stage}."),
    },
    "launch_cancelled": {
        "zh-Hans": ("发布已取消：{title}", "展位 {booth} 在 {time}的发布“{title}”已被主持人取消。"),
        "zh-Hant": ("發佈已取消：{title}", "展位 {booth} 在 {time}的發佈「{title}」已被主持人取消。"),
        "en": ("Launch cancelled: {title}", "A moderator cancelled “{title}” for booth {booth} at {time}."),
    },
}
KINDS = tuple(MESSAGES)
KIND_NAMES = {
    "application_decided": {"zh-Hans": "参展申请结果", "zh-Hant": "參展申請結果", "en": "application decisions"},
    "card_received": {"zh-Hans": "收到名片", "zh-Hant": "收到名片", "en": "business cards received"},
    "booth_message": {"zh-Hans": "展位留言", "zh-Hant": "展位留言", "en": "messages left at your booth"},
    "meeting_requested": {"zh-Hans": "会面请求", "zh-Hant": "會面請求", "en": "meeting requests"},
    "meeting_accepted": {"zh-Hans": "会面确认", "zh-Hant": "會面確認", "en": "meeting confirmations"},
    "meeting_declined": {"zh-Hans": "会面被拒", "zh-Hant": "會面被拒", "en": "declined meetings"},
    "meeting_cancelled": {"zh-Hans": "会面取消", "zh-Hant": "會面取消", "en": "cancelled meetings"},
    "meeting_reminder": {"zh-Hans": "会面提醒", "zh-Hant": "會面提醒", "en": "meeting reminders"},
    "launch_starting": {"zh-Hans": "发布开始提醒", "zh-Hant": "發佈開始提醒", "en": "launch reminders"},
    "launch_added": {"zh-Hans": "新的发布时段", "zh-Hant": "新的發佈時段", "en": "new launch slots"},
    "launch_approved": {"zh-Hans": "发布申请通过", "zh-Hant": "發佈申請通過", "en": "approved launch requests"},
    "launch_declined": {"zh-Hans": "发布申请未通过", "zh-Hant": "發佈申請未通過", "en": "declined launch requests"},
    "launch_moved": {"zh-Hans": "发布时间调整", "zh-Hant": "發佈時間調整", "en": "moved launches"},
    "launch_cancelled": {"zh-Hans": "发布取消", "zh-Hant": "發佈取消", "en": "cancelled launches"},
    "launch_live": {"zh-Hans": "发布开播通知", "zh-Hant": "發佈開播通知", "en": "launches going live"},
}
WORDS = {
    "approved": {"zh-Hans": "通过", "zh-Hant": "通過", "en": "approved"},
    "rejected": {"zh-Hans": "被拒绝", "zh-Hant": "被拒絕", "en": "rejected"},
    "online": {"zh-Hans": "线上", "zh-Hant": "線上", "en": "online"},
    "open": {"zh-Hans": "打开", "zh-Hant": "打開", "en": "Open"},
    "unsubscribe": {
        "zh-Hans": "不再接收此类邮件（{kind}）",
        "zh-Hant": "不再接收此類郵件（{kind}）",
        "en": "Stop e-mails about {kind}",
    },
    "footer": {
        "zh-Hans": "质量之光 · 云展厅",
        "zh-Hant": "質量之光 · 雲展廳",
        "en": "Light of Quality · Cloud Expo",
    },
}


class _Params(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def word(key: str, language: str) -> str:
    return pick(WORDS[key], language).text


def format_time(value: str | dt.datetime, language: str, timezone: str) -> str:
    """A UTC time in the exhibition's time zone, written as pages write a time on another day
    (``Mon, Dec 7 15:30``, ``12月7日周一 15:30``: a notice is read later, so always with its date), the zone named."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):  # no such zone
        zone = dt.UTC
    zoned = in_zone(moment, zone)
    if zoned.tzinfo is dt.UTC:  # no such zone, or beyond the calendar there
        timezone = "UTC"
    local = f"{day_text(zoned, language, dt.datetime.now(zoned.tzinfo).date())} {zoned:%H:%M}"
    if language.startswith("zh"):
        return f"{local}（{timezone}）"
    return f"{local} ({timezone})"


def render(kind: str, params: dict[str, Any], language: str, timezone: str) -> tuple[str, str]:
    """Title and body of a notification in ``language``."""
    texts = MESSAGES.get(kind)
    if texts is None:
        return kind, ""
    values = _Params()
    for key, value in params.items():
        if isinstance(value, dict):
            values[key] = pick(value, language).text
        elif key in ("time", "old_time") and value:
            values[key] = format_time(str(value), language, timezone)
        elif key == "decision":
            values[key] = word(str(value), language) if value in WORDS else str(value)
        elif key == "location" and value == "online":
            values[key] = word("online", language)
        else:
            values[key] = "" if value is None else str(value)
    title, body = texts.get(language) or texts["en"]
    return title.format_map(values), body.format_map(values).strip()


def unsubscribe_token(secret: str, user_id: int, kind: str) -> str:
    return hmac.new(secret.encode(), f"unsubscribe:{user_id}:{kind}".encode(), hashlib.sha256).hexdigest()[:32]


def check_unsubscribe(secret: str, user_id: int, kind: str, token: str) -> bool:
    return kind in KINDS and same_token(token, unsubscribe_token(secret, user_id, kind))


def unsubscribe_url(public_url: str, secret: str, user_id: int, kind: str) -> str:
    query = urlencode({"u": user_id, "k": kind, "t": unsubscribe_token(secret, user_id, kind)})
    return f"{public_url}/unsubscribe?{query}"


def compose_mail(user: User, kind: str, params: dict[str, Any], url: str, *, language: str, timezone: str,
                 public_url: str, secret: str, attachments: list[Attachment] | None = None) -> Mail:
    """The e-mail for one notification: plain text and HTML in the recipient's language."""
    title, body = render(kind, params, language, timezone)
    link = public_url + url if url.startswith("/") else url
    stop = unsubscribe_url(public_url, secret, user.id, kind)
    stop_label = word("unsubscribe", language).format(kind=pick(KIND_NAMES[kind], language).text)
    footer = word("footer", language)
    text = f"{body}\n\n{word('open', language)}: {link}\n\n--\n{footer}\n{stop_label}: {stop}\n"
    html = (
        f'<!doctype html><html lang="{escape(language)}"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f'<body style="font-family:system-ui,sans-serif;color:#1b2430;max-width:560px;margin:0 auto;padding:16px">'
        f'<h1 style="font-size:20px;color:#0b2545">{escape(title)}</h1><p>{escape(body)}</p>'
        f'<p><a href="{escape(link)}" style="background:#c8102e;color:#fff;padding:8px 16px;border-radius:999px;'
        f'text-decoration:none">{escape(word("open", language))}</a></p>'
        f'<hr style="border:0;border-top:1px solid #dfe3ea"><p style="font-size:12px;color:#5b6675">{escape(footer)}<br>'
        f'<a href="{escape(stop)}">{escape(stop_label)}</a></p></body></html>'
    )
    return Mail(
        to=user.email, to_name=user.display_name, subject=title, text=text, html=html,
        headers={"List-Unsubscribe": f"<{stop}>", "Content-Language": language},
        attachments=list(attachments or []),
    )


@dataclass
class _Outgoing:
    notification_id: int
    user_id: int
    kind: str
    title: str
    url: str
    mail: Mail | None


@dataclass
class Notifier:
    """Creates notifications inside a transaction and delivers them after it commits."""

    bus: Any
    mailer: Mailer
    secret: str
    public_url: str
    timezone: str
    default_language: str
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    sent: int = 0
    failed: int = 0

    @classmethod
    def from_services(cls, services: Services) -> Notifier:
        s = services.settings
        return cls(services.bus, make_mailer(s), services.secret_key, s.resolved_public_url, s.timezone,
                   s.default_language)

    def batch(self) -> Batch:
        return Batch(self)

    async def drain(self, timeout: float = 30.0) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)

    async def _mail(self, mail: Mail) -> None:
        try:
            await self.mailer.send(mail)
            self.sent += 1
        except Exception:
            self.failed += 1
            log.exception("notification mail to %s failed", mail.to)


@dataclass
class Batch:
    """The notifications of one transaction."""

    notifier: Notifier
    outgoing: list[_Outgoing] = field(default_factory=list)

    async def add(self, session: AsyncSession, user_id: int, kind: str, params: dict[str, Any], url: str = "",
                  *, attachments: list[Attachment] | None = None) -> Notification | None:
        if kind not in MESSAGES:
            raise ValueError(f"unknown notification kind {kind!r}")
        user = await session.get(User, user_id)
        if user is None or not user.active:
            return None
        note = Notification(user_id=user_id, kind=kind, params=params, url=url)
        session.add(note)
        await session.flush()
        n = self.notifier
        language = user.language if user.language in LANGUAGES else n.default_language
        title, _ = render(kind, params, language, n.timezone)
        opted_out = await session.get(MailOptOut, (user_id, kind))
        mail = None if opted_out else compose_mail(
            user, kind, params, url, language=language, timezone=n.timezone, public_url=n.public_url,
            secret=n.secret, attachments=attachments,
        )
        self.outgoing.append(_Outgoing(note.id, user_id, kind, title, url, mail))
        return note

    async def deliver(self, session: AsyncSession | None = None) -> None:
        """After the commit: publish on the bus and send the mails in the background."""
        n = self.notifier
        for item in self.outgoing:
            unread = await unread_count(session, item.user_id) if session is not None else None
            with contextlib.suppress(Exception):
                await n.bus.publish(f"user.{item.user_id}", {
                    "type": "notification", "id": item.notification_id, "kind": item.kind, "title": item.title,
                    "url": item.url, "unread": unread,
                })
            if item.mail is not None:
                task = asyncio.create_task(n._mail(item.mail), name=f"mail-{item.notification_id}")
                n.tasks.add(task)
                task.add_done_callback(n.tasks.discard)
        self.outgoing.clear()


# --- reading and marking ----------------------------------------------------------------------


async def unread_count(session: AsyncSession, user_id: int) -> int:
    return int(await session.scalar(
        select(func.count(Notification.id)).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    ) or 0)


async def recent(session: AsyncSession, user_id: int, limit: int = 30) -> list[Notification]:
    return list((await session.scalars(
        select(Notification).where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    )).all())


async def mark_read(session: AsyncSession, user_id: int, ids: list[int] | None = None) -> int:
    stmt = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    result = await session.execute(stmt.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


async def unsubscribe(session: AsyncSession, user_id: int, kind: str) -> None:
    if await session.get(MailOptOut, (user_id, kind)) is None:
        session.add(MailOptOut(user_id=user_id, kind=kind))
        await session.flush()


async def opted_out(session: AsyncSession, user_id: int) -> set[str]:
    return set((await session.scalars(select(MailOptOut.kind).where(MailOptOut.user_id == user_id))).all())


# --- events from other areas --------------------------------------------------------------------


async def application_decided(batch: Batch, session: AsyncSession, application: Any) -> None:
    """For the exhibition's review: call after approving or rejecting an application."""
    await batch.add(session, application.user_id, "application_decided", {
        "organisation": application.organisation,
        "decision": "approved" if application.state == "approved" else "rejected",
        "reason": application.reason or "",
    }, "/dashboard")


async def card_received(batch: Batch, session: AsyncSession, card: Any, booth: Any) -> None:
    """Tell every staff member of the booth that a visitor left (or shared) their card."""
    for staff in await staff_of(session, booth.exhibitor_id):
        await batch.add(session, staff.id, "card_received", {
            "name": card.name, "organisation": card.organisation or "—", "booth": booth.number,
        }, "/dashboard/leads")


# --- reminders ----------------------------------------------------------------------------------


async def send_reminders(services: Services, notifier: Notifier, now: dt.datetime | None = None) -> int:
    """Meetings starting within :data:`REMIND_BEFORE`, launch reminders (before and on air); how many were told."""
    now = now or utcnow()
    told = 0
    async with services.db.session() as session:
        batch = notifier.batch()
        for meeting in await meetings.due_reminders(session, REMIND_BEFORE, now):
            host = await session.get(User, meeting.host_id)
            visitor = await session.get(User, meeting.visitor_id)
            slot = await session.get(meetings.MeetingSlot, meeting.slot_id)
            if host is None or visitor is None or slot is None:
                continue
            location = slot.location or slot.mode
            for user_id, other in ((host.id, visitor.display_name), (visitor.id, host.display_name)):
                await batch.add(session, user_id, "meeting_reminder", {
                    "name": other, "time": meeting.starts_at.isoformat(), "location": location,
                }, "/meetings")
                told += 1
        told += await _launch_notices(session, batch, now)
        await session.commit()
        await batch.deliver(session)
    return told


async def _claim(session: AsyncSession, mark: Bookmark, column: InstrumentedAttribute[Any], now: dt.datetime) -> bool:
    """Mark one notice as sent; False when another node (or an earlier run) sent it already."""
    result = await session.execute(
        update(Bookmark).where(Bookmark.id == mark.id, column.is_(None)).values({column.key: now})
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def _launch_notices(session: AsyncSession, batch: Batch, now: dt.datetime) -> int:
    """Launch reminders ten minutes before the start and when the broadcast goes live."""
    told = 0
    due = [
        ("launch_starting", Bookmark.notified_at, await upcoming_slots(session, now, now + LAUNCH_REMIND_BEFORE)),
        ("launch_live", Bookmark.live_notified_at, await live_slots(session, now - LIVE_NEWS_FOR)),
    ]
    told += await _booth_live_notices(session, batch, due[1][2], now)
    for kind, column, slots in due:
        if not slots:
            continue
        marks = (await session.scalars(
            select(Bookmark).where(Bookmark.kind == "launch", Bookmark.target_id.in_(list(slots)), column.is_(None))
        )).all()
        for mark in marks:
            slot = slots[mark.target_id]
            if kind == "launch_live" and slot["live_at"] is not None and mark.created_at > slot["live_at"]:
                continue  # asked while it was already live: nothing to tell
            if not await _claim(session, mark, column, now):
                continue
            await batch.add(session, mark.user_id, kind, {
                "title": slot["title"], "time": slot["starts_at"].isoformat(),
            }, f"/live/{mark.target_id}")
            told += 1
    return told


async def _booth_live_notices(session: AsyncSession, batch: Batch, live: dict[int, dict[str, Any]],
                              now: dt.datetime) -> int:
    """"Notify me when this booth goes live": once per launch, unless the visitor has a reminder for it."""
    by_booth: dict[int, list[dict[str, Any]]] = {}
    for slot in live.values():
        if slot["booth_id"] is not None and slot["live_at"] is not None:
            by_booth.setdefault(int(slot["booth_id"]), []).append(slot)
    if not by_booth:
        return 0
    follows = (await session.scalars(
        select(Bookmark).where(Bookmark.kind == "booth_live", Bookmark.target_id.in_(list(by_booth)))
    )).all()
    rows = await session.execute(
        select(Bookmark.user_id, Bookmark.target_id).where(Bookmark.kind == "launch", Bookmark.target_id.in_(list(live)))
    )
    reminded = {(int(user_id), int(slot_id)) for user_id, slot_id in rows.all()}
    told = 0
    for follow in follows:
        for slot in by_booth[follow.target_id]:
            if (follow.user_id, slot["id"]) in reminded or follow.created_at > slot["live_at"]:
                continue  # the launch reminder tells them, or they followed the booth after it went live
            claimed = await session.execute(
                update(Bookmark).where(Bookmark.id == follow.id, or_(Bookmark.live_notified_at.is_(None),
                                                                     Bookmark.live_notified_at < slot["live_at"]))
                .values(live_notified_at=now).execution_options(synchronize_session=False)
            )
            if not getattr(claimed, "rowcount", 0):
                continue
            await batch.add(session, follow.user_id, "launch_live", {
                "title": slot["title"], "time": slot["starts_at"].isoformat(),
            }, f"/live/{slot['id']}")
            told += 1
    return told


@dataclass
class ReminderLoop:
    """Sends meeting and launch reminders every ``interval`` seconds, from :meth:`start` to :meth:`close`."""

    services: Services
    notifier: Notifier
    interval: float = 30.0
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            try:
                await send_reminders(self.services, self.notifier)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reminders failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name="engagement-reminders")

    async def close(self) -> None:
        """Stop reminding; wait a little for the e-mails still on their way."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None
        await self.notifier.drain(10.0)
