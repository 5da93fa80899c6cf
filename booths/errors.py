"""The exhibition's refusals: each says what to fix; ``web`` maps them to 4xx."""

from __future__ import annotations


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
