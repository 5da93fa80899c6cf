"""Text helpers shared by editing, search and the seed: languages, rich text, plain text."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

import nh3

from booths.errors import Invalid
from cloudexpo.i18n import LANGUAGES
from cloudexpo.messages import message

MUST_BE_TEXT = message("text.not_text", "'{name}' must be text.")
REQUIRED = message("text.required", "'{name}' is required.")
TOO_LONG = message("text.too_long", "'{name}' is longer than {limit} characters.")
PER_LANGUAGE = message("text.per_language", "'{name}' must be an object with texts per language: {languages}.")
UNKNOWN_LANGUAGE = message("text.unknown_language", "'{name}' has an unknown language {lang}; use {languages}.")
ONE_LANGUAGE = message("text.one_language", "'{name}' needs a text in at least one language.")

RICH_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "h3", "h4", "a"}
RICH_ATTRIBUTES = {"a": {"href"}}
_SPACE = re.compile(r"\s+")


def sanitize_html(value: str) -> str:
    """Rich text as the exhibition allows it: a few tags, links with rel=noopener, nothing else."""
    return nh3.clean(
        value,
        tags=RICH_TAGS,
        attributes=RICH_ATTRIBUTES,
        link_rel="noopener noreferrer",
        url_schemes={"http", "https", "mailto"},
        strip_comments=True,
    ).strip()


def plain_text(value: str) -> str:
    """Rich text without its tags, entities decoded, spaces collapsed."""
    stripped = nh3.clean(value.replace("<", " <"), tags=set(), strip_comments=True)
    return _SPACE.sub(" ", html.unescape(stripped)).strip()


def clean_plain(value: Any, field: str, max_length: int, *, required: bool = False) -> str:
    """One line of plain text: control characters and tags stay text, never markup."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(MUST_BE_TEXT(name=field), field)
    value = _SPACE.sub(" ", value.replace("\x00", "")).strip()
    if required and not value:
        raise Invalid(REQUIRED(name=field), field)
    if len(value) > max_length:
        raise Invalid(TOO_LONG(name=field, limit=max_length), field)
    return value


def clean_localized(value: Any, field: str, max_length: int, *, rich: bool = False, required: bool = False) -> dict[str, str]:
    """``{"zh-Hans": ..., "zh-Hant": ..., "en": ...}`` with unknown languages refused and empty ones dropped."""
    if value is None:
        value = {}
    if isinstance(value, str):
        raise Invalid(PER_LANGUAGE(name=field, languages=", ".join(LANGUAGES)), field)
    if not isinstance(value, dict):
        raise Invalid(PER_LANGUAGE(name=field, languages=", ".join(LANGUAGES)), field)
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            raise Invalid(UNKNOWN_LANGUAGE(name=field, lang=repr(lang), languages=", ".join(LANGUAGES)), field)
        key = f"{field}.{lang}"
        if rich:
            if text is not None and not isinstance(text, str):
                raise Invalid(MUST_BE_TEXT(name=key), key)
            cleaned = sanitize_html(text or "")
            if len(cleaned) > max_length:
                raise Invalid(TOO_LONG(name=key, limit=max_length), key)
            if not plain_text(cleaned):
                cleaned = ""
        else:
            cleaned = clean_plain(text, key, max_length)
        if cleaned:
            out[lang] = cleaned
    if required and not out:
        raise Invalid(ONE_LANGUAGE(name=field), field)
    return out


@lru_cache(maxsize=1)
def _s2twp() -> Any:
    from opencc import OpenCC

    return OpenCC("s2twp")


@lru_cache(maxsize=1)
def _t2s() -> Any:
    from opencc import OpenCC

    return OpenCC("t2s")


def to_traditional(text: str) -> str:
    return str(_s2twp().convert(text))


def to_simplified(text: str) -> str:
    return str(_t2s().convert(text))
