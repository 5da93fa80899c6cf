"""The refusals of the booths package: each says what to fix; ``web`` maps them to 4xx."""

from __future__ import annotations

from typing import Any


class BoothsError(Exception):
    """Base of the exhibition's errors; ``field`` names the input at fault, if any."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(BoothsError):
    """No such hall, zone, booth, product or application (or not visible to the asker)."""

    status = 404


class Invalid(BoothsError):
    """Input that cannot be accepted: missing, too long, not one of the choices."""

    status = 422


class Conflict(BoothsError):
    """The thing is not in a state that allows this (an application already decided, ...)."""

    status = 409


class MediaRejected(Invalid):
    """An uploaded or made file is not what its kind allows; the message tells the exhibitor why."""


class TooLarge(BoothsError):
    """Beyond a per-file limit or the exhibitor's media quota (413); ``extra`` has the figures."""

    status = 413

    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, "size")
        self.extra = extra or {}


class WrongType(BoothsError):
    """The browser's claimed type does not fit the kind of media chosen (415)."""

    status = 415


class BadUpload(BoothsError):
    """An upload cannot be completed as asked: parts missing or wrong (400)."""

    status = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, "parts")
        self.extra = extra or {}
