"""Gettext catalogs for the pages, compiled from the .po files at start-up.

Source strings are English. ``scripts/i18n.py`` extracts them from templates
and code and keeps ``web/translations/<locale>/LC_MESSAGES/messages.po``
up to date; ``tests/test_i18n.py`` fails when a string lacks a translation.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from cloudexpo.i18n import BABEL_LOCALES, LANGUAGES

TRANSLATIONS = Path(__file__).parent / "translations"


def po_path(language: str) -> Path:
    return TRANSLATIONS / BABEL_LOCALES[language] / "LC_MESSAGES" / "messages.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    path = po_path(language)
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=BABEL_LOCALES[language])
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def load_all() -> None:
    """Compile every catalog now, so that a broken .po file stops start-up, not a page."""
    for language in LANGUAGES:
        translations(language)


def gettext_for(language: str) -> gettext.NullTranslations:
    return translations(language if language in LANGUAGES else LANGUAGES[0])
