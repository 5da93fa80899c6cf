#!/usr/bin/env python3
"""Keep the gettext catalogs complete.

    python scripts/i18n.py check            # list strings that lack a translation
    python scripts/i18n.py add --area NAME  # append them to NAME.po in every locale

Strings are found in templates (``_("...")``) and in web code (``_("...")``
and ``gettext_for(...).gettext("...")``). zh_Hant entries that are missing
start from the zh_Hans text converted by OpenCC (s2twp); review them.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloudexpo.i18n import BABEL_LOCALES  # noqa: E402

TRANSLATIONS = ROOT / "web" / "translations"
PY_STRING = re.compile(r"""\b_\(\s*(["'])((?:\\.|(?!\1).)*)\1\s*\)""")
# Server messages (cloudexpo/messages.py): message("code", "English text"), in any package.
MESSAGE = re.compile(r"""\bmessage\(\s*"([a-z0-9_.]+)",\s*(["'])((?:\\.|(?!\2).)*)\2\s*\)""")
PACKAGES = ("cloudexpo", "booths", "streaming", "web")


def message_texts() -> dict[str, str]:
    """Every declared server message: code -> English text (the msgid of its translations)."""
    found: dict[str, str] = {}
    for folder in PACKAGES:
        for path in (ROOT / folder).rglob("*.py"):
            for match in MESSAGE.finditer(path.read_text()):
                raw = match.group(3)
                found[match.group(1)] = raw.encode().decode("unicode_escape") if "\\" in raw else raw
    return found


def used_strings() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "web" / "templates").rglob("*.html"):
        for _lineno, message, _comments, _context in extract_from_file("jinja2", str(path), keywords={"_": None}):
            if isinstance(message, str) and message:
                found.add(message)
    for folder in ("web",):
        for path in (ROOT / folder).rglob("*.py"):
            for match in PY_STRING.finditer(path.read_text()):
                found.add(match.group(2).encode().decode("unicode_escape") if "\\" in match.group(2) else match.group(2))
    found.update(message_texts().values())
    return found


def catalogs(locale: str) -> dict[Path, Catalog]:
    out = {}
    for path in sorted((TRANSLATIONS / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            out[path] = read_po(fh, locale=locale)
    return out


def translated(locale: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for catalog in catalogs(locale).values():
        for message in catalog:
            if message.id and isinstance(message.id, str) and message.string:
                out[message.id] = str(message.string)
    return out


def missing(locale: str) -> list[str]:
    have = translated(locale)
    return sorted(s for s in used_strings() if s not in have)


def add(area: str) -> None:
    from opencc import OpenCC

    s2t = OpenCC("s2twp")
    hans = translated("zh_Hans")
    for lang, locale in BABEL_LOCALES.items():
        folder = TRANSLATIONS / locale / "LC_MESSAGES"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{area}.po"
        if path.exists():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
        else:
            catalog = Catalog(locale=locale, project="Cloud Expo", domain=area)
        have = translated(locale)
        for text in missing(locale) if locale != "en" else sorted(used_strings() - set(have)):
            if text in catalog:
                continue
            guess = ""
            if locale == "zh_Hant" and text in hans:
                guess = s2t.convert(hans[text])
            elif locale == "en":
                guess = text
            catalog.add(text, guess)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=0, omit_header=False, sort_output=True)
        print(f"{lang}: {path.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check")
    add_cmd = sub.add_parser("add")
    add_cmd.add_argument("--area", required=True)
    args = parser.parse_args()
    if args.command == "add":
        add(args.area)
        return 0
    bad = 0
    for locale in ("zh_Hans", "zh_Hant"):
        for text in missing(locale):
            print(f"{locale}: {text}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
