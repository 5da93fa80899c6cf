"""One-to-one conversations between a visitor and a booth's staff.

A signed-in visitor starts one from a booth's page (one per booth and
visitor: starting again continues it); every staff member of the booth's
exhibitor answers on the staff's side and shares its read marker. Nobody
else reads it — another exhibitor, another visitor, and a moderator only once
someone reported it. When nobody is at the booth the visitor's first words
are a message left for later (``left_message``), which staff also get by
e-mail. The visitor may share their business card from the conversation: a
card with ``source="conversation"`` and a lead of kind ``conversation`` in the
exhibitor's inbox.

Limits per user (new conversations per hour, messages per minute) are the
web layer's rate limiters; the length of a message is checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.engagement import cards
from booths.engagement.models import (
    Card,
    Conversation,
    ConversationBlock,
    ConversationMessage,
    Lead,
)
from booths.errors import Conflict, Invalid, NotFound
from booths.exhibition.directory import can_see, staff_of
from booths.exhibition.models import Booth
from cloudexpo.accounts import Role, User
from cloudexpo.db import utcnow
from cloudexpo.messages import message
from cloudexpo.permissions import Forbidden, Principal, require

MAX_TEXT = 2000
MAX_REASON = 500
HISTORY = 200

NO_BOOTH = message("conversation.no_booth", "There is no booth {booth}; check the booth number.")
NO_CONVERSATION = message("conversation.none", "There is no conversation {id} of yours.")
OWN_BOOTH = message("conversation.own_booth", "This is your own booth: visitors start conversations with you here.")
EMPTY = message("conversation.empty", "Write a message first.")
TOO_LONG = message("conversation.too_long", "A message is at most {limit} characters; yours has {length}.")
NOT_TEXT = message("conversation.not_text", "'text' must be text.")
BLOCKED = message("conversation.blocked", "A moderator stopped you from sending messages to exhibitors.")
VISITOR_SHARES = message("conversation.visitor_shares", "Only the visitor shares their card in a conversation.")
SHARED_ALREADY = message("conversation.shared_already", "You already shared your card in this conversation.")
REASON_LONG = message("conversation.reason_long", "Say why in at most {limit} characters.")
MODERATORS_ONLY = message("conversation.moderators_only", "Only moderators see reported conversations.")
NO_USER = message("conversation.no_user", "There is no user {id}.")
NO_MESSAGE = message("conversation.no_message", "There is no conversation message {id}.")
MODERATORS_REMOVE = message("conversation.moderators_remove", "Only moderators remove messages from conversations.")
MODERATORS_RESTORE = message("conversation.moderators_restore", "Only moderators restore removed messages.")

SIDES = ("visitor", "staff")


@dataclass
class Access:
    """A participant's hold on one conversation: which side they are on."""

    conversation: Conversation
    side: str  # visitor | staff

    @property
    def read_id(self) -> int:
        c = self.conversation
        return c.visitor_read_id if self.side == "visitor" else c.staff_read_id


@dataclass
class Summary:
    """One row of an inbox: the conversation as its asker sees it."""

    conversation: Conversation
    side: str
    booth: Booth
    visitor: User
    last: ConversationMessage | None
    unread: int


def clean_text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise Invalid(NOT_TEXT(), "text")
    text = raw.strip()
    if not text:
        raise Invalid(EMPTY(), "text")
    if len(text) > MAX_TEXT:
        raise Invalid(TOO_LONG(limit=MAX_TEXT, length=len(text)), "text")
    return text


def side_of(principal: Principal, conversation: Conversation) -> str | None:
    if principal.user_id is not None and principal.user_id == conversation.visitor_id:
        return "visitor"
    if principal.is_staff_of(conversation.exhibitor_id):
        return "staff"
    return None


async def is_blocked(session: AsyncSession, user_id: int) -> bool:
    return await session.get(ConversationBlock, user_id) is not None


async def blocked_among(session: AsyncSession, user_ids: set[int]) -> set[int]:
    """Which of these users a moderator stopped from sending messages."""
    if not user_ids:
        return set()
    return set((await session.scalars(select(ConversationBlock.user_id).where(ConversationBlock.user_id.in_(user_ids)))).all())


async def open_for(session: AsyncSession, principal: Principal, conversation_id: int) -> Access:
    """The conversation, for its visitor or the booth's staff; NotFound for anyone else (its existence is not told)."""
    require(principal)
    conversation = await session.get(Conversation, conversation_id)
    side = side_of(principal, conversation) if conversation is not None else None
    if conversation is None or side is None:
        raise NotFound(NO_CONVERSATION(id=conversation_id))
    return Access(conversation, side)


async def read_for(session: AsyncSession, principal: Principal, conversation_id: int) -> Access:
    """Like :func:`open_for`, and moderators read reported conversations (side ``moderator``)."""
    try:
        return await open_for(session, principal, conversation_id)
    except NotFound:
        conversation = await session.get(Conversation, conversation_id)
        if principal.is_moderator and conversation is not None and conversation.reported_at is not None:
            return Access(conversation, "moderator")
        raise


async def recipients(session: AsyncSession, conversation: Conversation) -> set[int]:
    """Everyone who follows the conversation live: its visitor and every staff member of the booth."""
    return {conversation.visitor_id, *(u.id for u in await staff_of(session, conversation.exhibitor_id))}


async def _post(session: AsyncSession, access: Access, user_id: int, text: str) -> ConversationMessage:
    note = ConversationMessage(conversation_id=access.conversation.id, sender_id=user_id, side=access.side, text=text)
    session.add(note)
    await session.flush()
    access.conversation.last_message_at = note.created_at
    # what one writes, one has read
    if access.side == "visitor":
        access.conversation.visitor_read_id = note.id
    else:
        access.conversation.staff_read_id = note.id
    await session.flush()
    return note


async def start(session: AsyncSession, principal: Principal, booth_id: int, raw_text: Any, *,
                staffed: bool) -> tuple[Access, ConversationMessage, bool]:
    """Open (or continue) the visitor's conversation with a booth; True when it is new.

    ``staffed``: somebody is at the booth now; if not, the conversation is a message left for later.
    """
    require(principal)
    text = clean_text(raw_text)
    booth = await session.get(Booth, booth_id)
    if booth is None or not can_see(principal, booth):
        raise NotFound(NO_BOOTH(booth=booth_id), "booth_id")
    if principal.is_staff_of(booth.exhibitor_id):
        raise Forbidden(OWN_BOOTH())
    if await is_blocked(session, principal.user_id):  # type: ignore[arg-type]
        raise Forbidden(BLOCKED())
    conversation = await session.scalar(
        select(Conversation).where(Conversation.booth_id == booth.id, Conversation.visitor_id == principal.user_id)
    )
    created = conversation is None
    if conversation is None:
        conversation = Conversation(booth_id=booth.id, exhibitor_id=booth.exhibitor_id, visitor_id=principal.user_id,
                                    left_message=not staffed, visitor_read_id=0, staff_read_id=0, report_reason="")
        session.add(conversation)
        await session.flush()
    access = Access(conversation, "visitor")
    return access, await _post(session, access, principal.user_id, text), created  # type: ignore[arg-type]


async def post(session: AsyncSession, principal: Principal, conversation_id: int,
               raw_text: Any) -> tuple[Access, ConversationMessage]:
    access = await open_for(session, principal, conversation_id)
    text = clean_text(raw_text)
    if await is_blocked(session, principal.user_id):  # type: ignore[arg-type]
        raise Forbidden(BLOCKED())
    return access, await _post(session, access, principal.user_id, text)  # type: ignore[arg-type]


async def history(session: AsyncSession, access: Access, limit: int = HISTORY) -> list[tuple[ConversationMessage, User | None]]:
    """The last ``limit`` messages, oldest first, with their senders."""
    rows = await session.execute(
        select(ConversationMessage, User).outerjoin(User, User.id == ConversationMessage.sender_id)
        .where(ConversationMessage.conversation_id == access.conversation.id)
        .order_by(ConversationMessage.id.desc()).limit(limit)
    )
    return list(reversed([(m, u) for m, u in rows.all()]))


async def mark_read(session: AsyncSession, access: Access) -> None:
    last = await session.scalar(
        select(func.max(ConversationMessage.id)).where(ConversationMessage.conversation_id == access.conversation.id)
    )
    if access.side == "visitor":
        access.conversation.visitor_read_id = int(last or 0)
    elif access.side == "staff":
        access.conversation.staff_read_id = int(last or 0)
    await session.flush()


def _mine(principal: Principal) -> Any:
    """The conversations a user takes part in: as their visitor, or as staff of the booth's exhibitor."""
    own = Conversation.visitor_id == principal.user_id
    if principal.role is Role.EXHIBITOR and principal.exhibitor_id is not None:
        return or_(own, Conversation.exhibitor_id == principal.exhibitor_id)
    return own


def _unread_expr(principal: Principal) -> Any:
    """Per conversation: the messages from the other side after the asker's read marker."""
    as_visitor = Conversation.visitor_id == principal.user_id
    return func.sum(case(
        (and_(as_visitor, ConversationMessage.side == "staff", ConversationMessage.id > Conversation.visitor_read_id), 1),
        (and_(~as_visitor, ConversationMessage.side == "visitor", ConversationMessage.id > Conversation.staff_read_id), 1),
        else_=0,
    ))


async def inbox(session: AsyncSession, principal: Principal, *, booth_id: int | None = None) -> list[Summary]:
    """The asker's conversations, latest activity first, with the unread count of each."""
    require(principal)
    query = select(Conversation).where(_mine(principal))
    if booth_id is not None:
        query = query.where(Conversation.booth_id == booth_id)
    conversations = list((await session.scalars(query.order_by(Conversation.last_message_at.desc()).limit(500))).all())
    if not conversations:
        return []
    ids = [c.id for c in conversations]
    unread: dict[int, int] = dict((await session.execute(
        select(Conversation.id, _unread_expr(principal)).join(ConversationMessage, ConversationMessage.conversation_id == Conversation.id)
        .where(Conversation.id.in_(ids)).group_by(Conversation.id)
    )).all())
    last_ids = select(func.max(ConversationMessage.id)).where(ConversationMessage.conversation_id.in_(ids)) \
        .group_by(ConversationMessage.conversation_id)
    lasts = {m.conversation_id: m for m in (await session.scalars(
        select(ConversationMessage).where(ConversationMessage.id.in_(last_ids)))).all()}
    booths = {b.id: b for b in (await session.scalars(select(Booth).where(Booth.id.in_({c.booth_id for c in conversations})))).all()}
    users = {u.id: u for u in (await session.scalars(select(User).where(User.id.in_({c.visitor_id for c in conversations})))).all()}
    return [
        Summary(c, side_of(principal, c) or "visitor", booths[c.booth_id], users[c.visitor_id], lasts.get(c.id),
                int(unread.get(c.id) or 0))
        for c in conversations
    ]


async def unread_total(session: AsyncSession, principal: Principal) -> int:
    if not principal.signed_in:
        return 0
    total = await session.scalar(
        select(_unread_expr(principal)).select_from(Conversation)
        .join(ConversationMessage, ConversationMessage.conversation_id == Conversation.id).where(_mine(principal))
    )
    return int(total or 0)


async def summary(session: AsyncSession, principal: Principal, conversation: Conversation) -> Summary:
    """One conversation as ``principal`` sees it in their inbox."""
    found = [s for s in await inbox(session, principal, booth_id=conversation.booth_id) if s.conversation.id == conversation.id]
    if found:
        return found[0]
    booth = await session.get(Booth, conversation.booth_id)
    visitor = await session.get(User, conversation.visitor_id)
    assert booth is not None and visitor is not None
    return Summary(conversation, "moderator", booth, visitor, None, 0)


async def share_card(session: AsyncSession, principal: Principal, conversation_id: int, data: dict[str, Any], *,
                     language: str = "") -> tuple[Access, Card, Lead]:
    """The visitor shares their card with the booth: the conversation becomes a lead."""
    access = await open_for(session, principal, conversation_id)
    if access.side != "visitor":
        raise Forbidden(VISITOR_SHARES())
    conversation = access.conversation
    if conversation.card_id is not None and await session.get(Card, conversation.card_id) is not None:
        raise Conflict(SHARED_ALREADY())
    card, _booth = await cards.leave(session, principal, conversation.booth_id, data | {"source": "conversation"},
                                     language=language)
    lead = await session.scalar(select(Lead).where(Lead.card_id == card.id))
    assert lead is not None
    conversation.card_id = card.id
    await session.flush()
    return access, card, lead


async def lead_ids(session: AsyncSession, card_ids: list[int]) -> dict[int, int]:
    """card id -> lead id, for the conversations that became leads."""
    if not card_ids:
        return {}
    rows = await session.execute(select(Lead.card_id, Lead.id).where(Lead.card_id.in_(card_ids)))
    return {int(card_id): int(lead_id) for card_id, lead_id in rows.all() if card_id is not None}


async def report(session: AsyncSession, principal: Principal, conversation_id: int, reason: Any) -> Access:
    """Either side flags the conversation for the moderators."""
    access = await open_for(session, principal, conversation_id)
    text = reason.strip() if isinstance(reason, str) else ""
    if len(text) > MAX_REASON:
        raise Invalid(REASON_LONG(limit=MAX_REASON), "reason")
    access.conversation.reported_at = utcnow()
    access.conversation.reported_by = principal.user_id
    access.conversation.report_reason = text
    await session.flush()
    return access


async def reported(session: AsyncSession, principal: Principal) -> list[Summary]:
    require(principal)
    if not principal.is_moderator:
        raise Forbidden(MODERATORS_ONLY())
    conversations = list((await session.scalars(
        select(Conversation).where(Conversation.reported_at.is_not(None)).order_by(Conversation.reported_at.desc()).limit(200)
    )).all())
    out = []
    for c in conversations:
        booth = await session.get(Booth, c.booth_id)
        visitor = await session.get(User, c.visitor_id)
        if booth is not None and visitor is not None:
            out.append(Summary(c, "moderator", booth, visitor, None, 0))
    return out


async def block(session: AsyncSession, principal: Principal, user_id: int, reason: Any) -> ConversationBlock:
    """A moderator stops a user from starting conversations and sending messages."""
    require(principal)
    if not principal.is_moderator:
        raise Forbidden(MODERATORS_ONLY())
    if await session.get(User, user_id) is None:
        raise NotFound(NO_USER(id=user_id), "user_id")
    text = reason.strip() if isinstance(reason, str) else ""
    if len(text) > MAX_REASON:
        raise Invalid(REASON_LONG(limit=MAX_REASON), "reason")
    found = await session.get(ConversationBlock, user_id)
    if found is None:
        found = ConversationBlock(user_id=user_id, blocked_by=principal.user_id, reason=text)
        session.add(found)
        await session.flush()
    return found


async def unblock(session: AsyncSession, principal: Principal, user_id: int) -> None:
    require(principal)
    if not principal.is_moderator:
        raise Forbidden(MODERATORS_ONLY())
    found = await session.get(ConversationBlock, user_id)
    if found is not None:
        await session.delete(found)
        await session.flush()


async def remove_message(session: AsyncSession, principal: Principal, message_id: int) -> tuple[Access, ConversationMessage]:
    """A moderator removes one message of a reported conversation (the only ones they read): it stays stored
    with who removed it and when (removing it again changes nothing), and neither side sees its text any more."""
    if not require(principal).is_moderator:
        raise Forbidden(MODERATORS_REMOVE())
    access, note = await _reported_message(session, message_id)
    if note.removed_at is None:
        note.removed_at = utcnow()
        note.removed_by = principal.user_id
        await session.flush()
    return access, note


async def restore_message(session: AsyncSession, principal: Principal, message_id: int) -> tuple[Access, ConversationMessage]:
    """A moderator undoes a removal: both sides read the message again (restoring one that is not removed
    changes nothing)."""
    if not require(principal).is_moderator:
        raise Forbidden(MODERATORS_RESTORE())
    access, note = await _reported_message(session, message_id)
    if note.removed_at is not None:
        note.removed_at = None
        note.removed_by = None
        await session.flush()
    return access, note


async def _reported_message(session: AsyncSession, message_id: int) -> tuple[Access, ConversationMessage]:
    """A message of a reported conversation, as its moderator reads it; 404 for any other."""
    note = await session.get(ConversationMessage, message_id)
    conversation = await session.get(Conversation, note.conversation_id) if note is not None else None
    if note is None or conversation is None or conversation.reported_at is None:
        raise NotFound(NO_MESSAGE(id=message_id), "message_id")
    return Access(conversation, "moderator"), note


async def per_booth(session: AsyncSession, booth_ids: list[int]) -> dict[int, int]:
    """How many conversations each booth has had (exhibitor analytics)."""
    if not booth_ids:
        return {}
    rows = await session.execute(
        select(Conversation.booth_id, func.count(Conversation.id)).where(Conversation.booth_id.in_(booth_ids))
        .group_by(Conversation.booth_id)
    )
    return {int(b): int(n) for b, n in rows.all()}
