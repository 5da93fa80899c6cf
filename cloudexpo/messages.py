"""Messages the server shows a person: a stable code and an English text, translated at the boundary.

A module declares each of its messages once, at module level::

    MUTED = message("chat.muted", "A moderator muted you in this chat.")
    WAIT = message("rate.wait", "Too many attempts; try again in {seconds} s.")

and raises with it: ``raise ChatMuted(MUTED())``, ``raise RateLimited(WAIT(seconds=3))``.
Calling a :class:`Message` gives a :class:`Said`: a ``str`` holding the English
text (so ``str(exc)``, logs and the ``detail`` of an error body read as before)
that also remembers its code and parameters. ``web`` shows it in the
request's language: the English text is the msgid in the gettext catalogs
(``web/translations/<locale>/LC_MESSAGES/server.po``), the parameters are put
into the translated text, and JSON error bodies carry the code as ``code``
and the translated text as ``message``.

:data:`REGISTRY` holds every declared message; ``tests/test_messages.py``
walks it and checks each has a text in all three languages, and
``scripts/i18n.py check`` lists the texts no catalog has yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_FIELD = re.compile(r"{([a-z_][a-z0-9_]*)}")


class Said(str):
    """The English text of one message with its code and the values put into it."""

    code: str
    template: str
    params: Mapping[str, Any]

    def __new__(cls, code: str, template: str, params: Mapping[str, Any]) -> Said:
        said = super().__new__(cls, template.format(**params))
        said.code = code
        said.template = template
        said.params = dict(params)
        return said

    def __reduce__(self) -> Any:  # pickles (and copies) as what it is, not as a plain str
        return (Said, (self.code, self.template, self.params))


@dataclass(frozen=True)
class Message:
    """One message: ``code`` never changes once published (clients may test it); ``text`` is English."""

    code: str
    text: str

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(_FIELD.findall(self.text))

    def __call__(self, **params: Any) -> Said:
        missing = set(self.fields) - set(params)
        if missing:
            raise TypeError(f"message {self.code} needs {', '.join(sorted(missing))}")
        return Said(self.code, self.text, params)


REGISTRY: dict[str, Message] = {}


def message(code: str, text: str) -> Message:
    """Declare a message (at import time); one code, one text."""
    if not _CODE.match(code):
        raise ValueError(f"a message code is dotted lower case like 'chat.muted', not {code!r}")
    found = REGISTRY.get(code)
    if found is not None and found.text != text:
        raise ValueError(f"message {code} is declared twice with different texts")
    REGISTRY[code] = found or Message(code, text)
    return REGISTRY[code]


def said_by(exc: BaseException) -> Said | None:
    """The message an exception was raised with, when it was raised with one."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, Said) else None
