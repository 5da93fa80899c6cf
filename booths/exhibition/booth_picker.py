"""Choosing a booth the way people name it: by its number (``1A-001``) or by the booth's or company's name.

The schedule's forms and API take such a reference (never an internal id):
:func:`booth_choices` lists the booths matching what was typed so far (the
searchable picker), :func:`resolve_booth` turns the final text into one booth
or says why it cannot (none matches, or several do). Staff of an exhibitor
choose among their own booths only (``exhibitor_id``); moderators among all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booths.errors import Invalid
from booths.exhibition.models import Booth, Exhibitor
from cloudexpo.i18n import pick
from cloudexpo.messages import message

MAX_CHOICES = 50

CHOOSE_BOOTH = message("booths.choose_booth", "Choose the booth: type its number (like 1A-001) or the company's name.")
NO_BOOTH_MATCHES = message("booths.no_booth_matches", "No booth matches {typed}; type a booth number like 1A-001 or a company's name.")
BOOTHS_MATCH = message("booths.several_booths_match", "{typed} matches {count} booths ({numbers}); choose one by its number.")


@dataclass(frozen=True)
class BoothChoice:
    id: int
    number: str
    name: dict[str, str]
    exhibitor_id: int
    exhibitor: dict[str, str]

    def label(self, lang: str) -> str:
        """``1A-001 · 比亚迪新能源汽车展台`` (the company's name when the booth has none)."""
        name = pick(self.name, lang).text or pick(self.exhibitor, lang).text
        return f"{self.number} · {name}" if name else self.number

    def texts(self) -> list[str]:
        """What a typed reference is compared with: the number and every name, folded."""
        return [self.number.casefold(), *(v.casefold() for v in (*self.name.values(), *self.exhibitor.values()) if v)]


def _choices_query() -> Any:
    return select(Booth.id, Booth.number, Booth.name, Booth.exhibitor_id, Exhibitor.name).join(
        Exhibitor, Exhibitor.id == Booth.exhibitor_id
    )


def _choice(row: Any) -> BoothChoice:
    return BoothChoice(row[0], row[1], dict(row[2] or {}), row[3], dict(row[4] or {}))


async def _all(session: AsyncSession, exhibitor_id: int | None) -> list[BoothChoice]:
    query = _choices_query()
    if exhibitor_id is not None:
        query = query.where(Booth.exhibitor_id == exhibitor_id)
    return [_choice(r) for r in (await session.execute(query.order_by(Booth.number))).all()]


def _matches(choices: list[BoothChoice], typed: str) -> list[BoothChoice]:
    """Exact number first, then an exact name, then every booth whose number or name contains the text."""
    folded = " ".join(typed.split()).casefold()
    if not folded:
        return choices
    number = [c for c in choices if c.number.casefold() == folded]
    if number:
        return number
    # "1A-001 · 比亚迪…", as the picker shows a choice, names its number first.
    head = folded.split(" · ", 1)[0].strip()
    number = [c for c in choices if c.number.casefold() == head]
    if number:
        return number
    exact = [c for c in choices if folded in c.texts()[1:]]
    if exact:
        return exact
    return [c for c in choices if any(folded in text for text in c.texts())]


async def booth_choices(session: AsyncSession, typed: str = "", *, exhibitor_id: int | None = None,
                        limit: int = 20) -> list[BoothChoice]:
    """The booths matching ``typed`` (number or name, any part of it), by number; at most ``limit``."""
    return _matches(await _all(session, exhibitor_id), typed)[: max(1, min(limit, MAX_CHOICES))]


async def resolve_booth(session: AsyncSession, typed: str, *, exhibitor_id: int | None = None,
                        field: str = "booth") -> BoothChoice:
    """The one booth ``typed`` names; :class:`Invalid` naming ``field`` when none or several match."""
    if not str(typed or "").strip():
        raise Invalid(CHOOSE_BOOTH(), field)
    found = _matches(await _all(session, exhibitor_id), str(typed))
    if not found:
        raise Invalid(NO_BOOTH_MATCHES(typed=f"“{str(typed).strip()}”"), field)
    if len(found) > 1:
        shown = ", ".join(c.number for c in found[:5]) + (", …" if len(found) > 5 else "")
        raise Invalid(BOOTHS_MATCH(typed=f"“{str(typed).strip()}”", count=len(found), numbers=shown), field)
    return found[0]


async def booth_labels(session: AsyncSession, booth_ids: set[int]) -> dict[int, BoothChoice]:
    """The booths with these ids, for showing slots by booth number and name."""
    if not booth_ids:
        return {}
    rows = (await session.execute(_choices_query().where(Booth.id.in_(sorted(booth_ids))))).all()
    return {r[0]: _choice(r) for r in rows}
