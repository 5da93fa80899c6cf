"""Exceptions of the media engine; ``web/`` maps them to HTTP statuses."""

from __future__ import annotations


class StreamingError(Exception):
    """Base class of every error the media engine raises on purpose."""


class UnusableOffer(StreamingError, ValueError):
    """An SDP offer the engine cannot answer; the message says what to change."""


class StreamNotLive(StreamingError):
    """The stream has no publisher (and is not within its takeover grace period)."""


class AlreadyPublishing(StreamingError):
    """Another publisher holds the stream and takeover is not allowed."""


class SessionNotFound(StreamingError):
    """No publisher or viewer session with that id on that stream."""


class ViewersFull(StreamingError):
    """This node has as many WebRTC viewers as it takes; the viewer should play the live HLS
    playlist of ``slot_id`` and try WebRTC again after ``retry_after`` seconds."""

    def __init__(self, message: str, slot_id: int, retry_after: int) -> None:
        super().__init__(message)
        self.slot_id = slot_id
        self.retry_after = retry_after
