"""The states a broadcast's stream and its publisher go through (a slot's own are :class:`streaming.models.SlotState`)."""

from __future__ import annotations

from enum import StrEnum


class StreamState(StrEnum):
    """A media engine stream's state, reported to its state listeners.

    ``LIVE``
        a publisher is connected (or connecting) and forwarding;
    ``PUBLISHER_GONE``
        the publisher's session ended or its connection failed; viewers stay
        connected and a new publisher takes over (within the engine's grace
        period, when it has one);
    ``ENDED``
        ended, or the grace period ran out: every viewer was disconnected and
        the stream is forgotten.
    """

    LIVE = "live"
    PUBLISHER_GONE = "publisher_gone"
    ENDED = "ended"


class PublisherStatus(StrEnum):
    """A slot's publisher as the ``publisher`` field of its ``state`` events says it.

    ``INTERRUPTED``: the broadcast runs but its publisher's session ended
    (a stop, a reload, a lost network, an encoder restart); viewers keep their
    sessions and see "back in a moment" until a publisher returns with the
    slot's token, an End, or the slot's end plus its overrun.
    """

    CONNECTED = "connected"
    INTERRUPTED = "interrupted"
