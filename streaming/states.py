"""The states a broadcast's stream and its publisher go through (a slot's own are :class:`streaming.models.SlotState`)."""

from __future__ import annotations

from enum import StrEnum


class StreamState(StrEnum):
    """A media engine stream's state, reported to its state listeners.

    ``LIVE``
        a publisher is connected (or connecting) and forwarding;
    ``PUBLISHER_GONE``
        the publisher's connection failed or closed; viewers stay connected
        and a new publisher within the engine's grace period takes over;
    ``ENDED``
        unpublished, or the grace period ran out: every viewer was
        disconnected and the stream is forgotten.
    """

    LIVE = "live"
    PUBLISHER_GONE = "publisher_gone"
    ENDED = "ended"


class PublisherStatus(StrEnum):
    """A slot's publisher as the ``publisher`` field of its ``state`` events says it."""

    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
