"""Reactions at a launch, as counted: one row per slot, app node and interval.

A node adds up its viewers' taps for an interval (:data:`streaming.reactions.INTERVAL_MS`,
aligned on the clock so every node's intervals start together) and stores the
counts once; the replay and the exhibitor's analytics add up the rows of all nodes.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudexpo.db import Base


class ReactionCount(Base):
    __tablename__ = "reaction_counts"
    __table_args__ = (Index("ix_reaction_counts_slot_started", "slot_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    node: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[dt.datetime] = mapped_column()  # the interval's start (UTC)
    # Milliseconds since the slot went on air (live_at), like a chat message's.
    offset_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # {"like": 3, "heart": 1}
    total: Mapped[int] = mapped_column(Integer, default=0)
