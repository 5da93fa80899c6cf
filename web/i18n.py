"""Gettext catalogs for the pages, compiled from the .po files at start-up.

Source strings are English. Each area keeps its own catalog beside the
others — ``web/translations/<locale>/LC_MESSAGES/<area>.po`` (``messages``
for the shell, ``booths``, ``streaming``, ...) — and they are merged into
one translation per language. ``scripts/i18n.py`` lists strings used in
templates and code that no catalog has; ``tests/test_i18n.py`` fails when a
string lacks a translation.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from cloudexpo.i18n import BABEL_LOCALES, LANGUAGES
from cloudexpo.messages import Said

TRANSLATIONS = Path(__file__).parent / "translations"


def po_paths(language: str) -> list[Path]:
    folder = TRANSLATIONS / BABEL_LOCALES[language] / "LC_MESSAGES"
    return sorted(folder.glob("*.po"))


def _compile(path: Path, locale: str) -> gettext.GNUTranslations:
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


@cache
def translations(language: str) -> gettext.NullTranslations:
    merged: gettext.NullTranslations | None = None
    for path in po_paths(language):
        compiled = _compile(path, BABEL_LOCALES[language])
        if merged is None:
            merged = compiled
        else:
            merged._catalog.update(compiled._catalog)  # type: ignore[attr-defined]
    return merged or gettext.NullTranslations()


def load_all() -> None:
    """Compile every catalog now, so that a broken .po file stops start-up, not a page."""
    for language in LANGUAGES:
        translations(language)


def gettext_for(language: str) -> gettext.NullTranslations:
    return translations(language if language in LANGUAGES else LANGUAGES[0])


def translate(text: str, language: str) -> str:
    """A server message in ``language``.

    A :class:`~cloudexpo.messages.Said` is looked up by its English template
    and gets its values put into the translation; other text is looked up as
    it is and stays English when no catalog has it.
    """
    catalog = gettext_for(language)
    if not isinstance(text, Said):
        return catalog.gettext(text) if text else text
    values = {k: translate(v, language) if isinstance(v, Said) else v for k, v in text.params.items()}
    try:
        return catalog.gettext(text.template).format(**values)
    except (KeyError, IndexError, ValueError):  # a translation naming a value the English has not: say it in English
        return str(text)
