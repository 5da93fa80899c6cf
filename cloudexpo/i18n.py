"""The languages Cloud Expo speaks, and how content picks one.

Content fields that exist in several languages are stored as a mapping of
language code to text. :func:`pick` chooses the visitor's language and falls
back to the others, telling the caller whether it fell back (pages mark such
text as "shown in another language").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import NamedTuple

from babel.dates import format_skeleton

LANGUAGES: tuple[str, ...] = ("zh-Hans", "zh-Hant", "en")
LANGUAGE_NAMES = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
# gettext catalogs use POSIX-style locale names.
BABEL_LOCALES = {"zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant", "en": "en"}

# Which language to try next when the wanted one is missing.
_FALLBACKS = {
    "zh-Hans": ("zh-Hans", "zh-Hant", "en"),
    "zh-Hant": ("zh-Hant", "zh-Hans", "en"),
    "en": ("en", "zh-Hans", "zh-Hant"),
}


class Localized(NamedTuple):
    text: str
    language: str
    fallback: bool


def pick(values: Mapping[str, str] | None, language: str) -> Localized:
    """The text for ``language`` or the nearest language that has one."""
    values = values or {}
    for candidate in _FALLBACKS.get(language, LANGUAGES):
        text = values.get(candidate)
        if text:
            return Localized(text, candidate, candidate != language)
    return Localized("", language, False)


def negotiate(accept_language: str | None, default: str) -> str:
    """Choose one of :data:`LANGUAGES` from an Accept-Language header."""
    if not accept_language:
        return default
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, index, tag.strip().lower()))
    for _, _, tag in sorted(weighted):
        if tag in {"zh-hant", "zh-tw", "zh-hk", "zh-mo"} or tag.startswith("zh-hant"):
            return "zh-Hant"
        if tag.startswith("zh"):
            return "zh-Hans"
        if tag.startswith("en"):
            return "en"
    return default


def day_text(local: dt.datetime, lang: str, today: dt.date) -> str:
    """The date of a local time in ``lang``, with the weekday; the year only when not this year.

    ``Mon, Dec 7``, ``12月7日周一``: pages (web/times.py) and notices write dates this one way.
    """
    skeleton = "MMMEd" if local.year == today.year else "yMMMEd"
    return format_skeleton(skeleton, local, locale=BABEL_LOCALES.get(lang, "en"))
