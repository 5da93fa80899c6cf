"""The floor map's drawing: each hall's viewBox, zone titles that fit, booth rectangles filling their zone.

Halls and zones keep their places in map units (moderators edit them on
/moderate/map); booths are laid out here, in booth-number order, as a grid that
fills the zone below its title, so the map never shows empty floor or
overlapping titles whatever the number of booths. Pure functions, no I/O.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

PAD = 8  # inside a zone, around the title and the booths
GAP = 3  # between two booths
AISLE = 9  # between two pairs of booth rows
LINE = 1.2  # title line height, in ems
TITLE_SIZES = (15, 13, 12)  # zone title font sizes tried, largest first


@dataclass
class BoothBox:
    row: tuple[Any, Any, Any]  # (Booth, Exhibitor, Zone)
    x: float
    y: float
    w: float
    h: float
    label: str  # what fits inside the rectangle ("" when nothing does)
    font: float


@dataclass
class ZonePlan:
    zone: Any
    name: str
    lines: list[str]
    font: float
    booths: list[BoothBox] = field(default_factory=list)

    @property
    def line_height(self) -> float:
        return round(self.font * LINE, 1)


@dataclass
class HallPlan:
    hall: Any
    name: str
    view: tuple[int, int, int, int]
    zones: list[ZonePlan] = field(default_factory=list)


def text_width(text: str, size: float, bold: bool = True) -> float:
    """A generous estimate of ``text``'s width in a sans-serif font (no font metrics on the server)."""
    width = 0.0
    for ch in text:
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            width += 1.0
        elif ch == " ":
            width += 0.32
        elif ch in "il.,:;'|!-()[]jtf":
            width += 0.36
        elif ch.isupper() or ch in "mwMW@%&":
            width += 0.76
        else:
            width += 0.62
    return width * size * (1.05 if bold else 1.0)


def _tokens(text: str) -> list[str]:
    """Pieces a title may break after: words (keeping a trailing hyphen) and single CJK characters."""
    out: list[str] = []
    word = ""
    for ch in text:
        wide = unicodedata.east_asian_width(ch) in ("W", "F")
        if wide:
            if word:
                out.append(word)
                word = ""
            out.append(ch)
        elif ch == " ":
            if word:
                out.append(word + " ")
                word = ""
        else:
            word += ch
            if ch == "-":
                out.append(word)
                word = ""
    if word:
        out.append(word)
    return out


def wrap(text: str, width: float, size: float, max_lines: int = 2) -> tuple[list[str], bool]:
    """``text`` broken into at most ``max_lines`` lines of ``width``; True when it all fits."""
    lines: list[str] = []
    current = ""
    for token in _tokens(text):
        trial = current + token
        if current and text_width(trial.rstrip(), size) > width:
            lines.append(current.rstrip())
            current = token
        else:
            current = trial
    if current.strip():
        lines.append(current.rstrip())
    fits = len(lines) <= max_lines and all(text_width(line, size) <= width for line in lines)
    if fits:
        return lines, True
    # too long: keep what fits and end the last line with an ellipsis
    kept = lines[:max_lines]
    last = kept[-1] if kept else ""
    if len(lines) > max_lines:
        last = last + " " + lines[max_lines]
    while last and text_width(last + "…", size) > width:
        last = last[:-1]
    kept[-1] = last.rstrip(" -") + "…"
    return kept, False


def title(name: str, width: float) -> tuple[list[str], float]:
    """The zone title's lines and font size: the largest size at which the name fits on two lines."""
    for size in TITLE_SIZES:
        lines, fits = wrap(name, width, size)
        if fits:
            return lines, size
    return wrap(name, width, TITLE_SIZES[-1])[0], TITLE_SIZES[-1]


def grid(count: int, width: float, height: float) -> tuple[int, int]:
    """Columns and rows for ``count`` booths in a ``width`` × ``height`` area: booths as square as can be, few empty cells."""
    best: tuple[float, int, int] | None = None
    for cols in range(1, count + 1):
        rows = math.ceil(count / cols)
        if cols > 1 and (cols - 1) * rows >= count:
            continue  # a column would stay empty
        cell_w, cell_h = width / cols, height / rows
        shape = max(cell_w / cell_h, cell_h / cell_w)
        empty = (cols * rows - count) / (cols * rows)
        score = shape + 2 * empty
        if best is None or score < best[0]:
            best = (score, cols, rows)
    assert best is not None
    return best[1], best[2]


def booth_label(number: str, width: float, height: float) -> tuple[str, float]:
    """The booth number (or its last part) at a size that fits a ``width`` × ``height`` rectangle."""
    if width < 12 or height < 10:
        return "", 0
    size = min(11.0, height * 0.42)
    for text in (number, number.rsplit("-", 1)[-1]):
        if text_width(text, size, bold=False) <= width - 5:
            return text, round(size, 1)
    short = number.rsplit("-", 1)[-1]
    size = (width - 5) / max(1.0, text_width(short, 1.0, bold=False))
    return (short, round(size, 1)) if size >= 7 else ("", 0)


def layout_booths(rows: Sequence[tuple[Any, Any, Any]], x: float, y: float, width: float, height: float) -> list[BoothBox]:
    if not rows or width <= 0 or height <= 0:
        return []
    cols, nrows = grid(len(rows), width, height)
    aisles = (nrows - 1) // 2 if nrows >= 4 else 0  # booths back to back in pairs of rows, an aisle between pairs
    cell_w = (width - (cols - 1) * GAP) / cols
    cell_h = (height - (nrows - 1) * GAP - aisles * (AISLE - GAP)) / nrows
    out: list[BoothBox] = []
    for index, row in enumerate(rows):
        r, c = divmod(index, cols)
        bx = x + c * (cell_w + GAP)
        by = y + r * (cell_h + GAP) + (r // 2 if nrows >= 4 else 0) * (AISLE - GAP)
        label, font = booth_label(row[0].number, cell_w, cell_h)
        out.append(BoothBox(row, round(bx, 1), round(by, 1), round(cell_w, 1), round(cell_h, 1), label, font))
    return out


def plan(
    halls: Sequence[Any], zones: Sequence[Any], by_zone: dict[int, list[tuple[Any, Any, Any]]],
    name: Callable[[Any], str],
) -> list[HallPlan]:
    """Everything the floor map draws, hall by hall; ``name(item)`` is a hall's or zone's name in the page's language."""
    out: list[HallPlan] = []
    for hall in halls:
        own = [z for z in zones if z.hall_id == hall.id]
        left = min([hall.map_x] + [z.map_x for z in own])
        top = min([hall.map_y] + [z.map_y for z in own])
        right = max([hall.map_x + hall.map_w] + [z.map_x + z.map_w for z in own])
        bottom = max([hall.map_y + hall.map_h] + [z.map_y + z.map_h for z in own])
        pad = 4
        hall_plan = HallPlan(hall, name(hall), (left - pad, top - pad, right - left + 2 * pad, bottom - top + 2 * pad))
        for zone in own:
            zone_name = name(zone)
            lines, size = title(zone_name, zone.map_w - 2 * PAD)
            zp = ZonePlan(zone, zone_name, lines, size)
            booths_top = zone.map_y + PAD + len(lines) * zp.line_height + 6
            rows = sorted(by_zone.get(zone.id, []), key=lambda row: row[0].number)
            zp.booths = layout_booths(
                rows, zone.map_x + PAD, booths_top, zone.map_w - 2 * PAD, zone.map_y + zone.map_h - PAD - booths_top,
            )
            hall_plan.zones.append(zp)
        out.append(hall_plan)
    return out
