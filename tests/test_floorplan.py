"""The floor map's layout: titles fit their zone, booths fill it without overlapping."""

from __future__ import annotations

from types import SimpleNamespace as NS

from booths.seed.data import HALLS, ZONES
from web import floorplan


def _expo(counts: dict[str, int]) -> tuple[list[NS], list[NS], dict[int, list[tuple[NS, NS, NS]]]]:
    halls = [NS(id=i, code=code, name=en, map_x=x, map_y=y, map_w=w, map_h=h) for i, (code, _, en, x, y, w, h) in enumerate(HALLS)]
    hall_ids = {h.code: h.id for h in halls}
    zones, by_zone = [], {}
    for i, (slug, code, hall, _, _hans, en, colour, x, y, w, h, _, _) in enumerate(ZONES):
        zone = NS(id=i, slug=slug, code=code, hall_id=hall_ids[hall], name=en, color=colour, map_x=x, map_y=y, map_w=w, map_h=h)
        zones.append(zone)
        by_zone[i] = [(NS(number=f"{code}-{n + 1:03d}"), NS(), zone) for n in range(counts.get(slug, 0))]
    return halls, zones, by_zone


def test_zone_titles_fit_and_booths_fill_their_zone() -> None:
    halls, zones, by_zone = _expo({"preface": 12, "innovation": 110, "regional": 50, "institutions": 30, "geo-indication": 40})
    plans = floorplan.plan(halls, zones, by_zone, lambda item: item.name)
    assert [len(h.zones) for h in plans] == [2, 3]
    for hall in plans:
        for zp in hall.zones:
            z = zp.zone
            assert 1 <= len(zp.lines) <= 2 and not any(line.endswith("…") for line in zp.lines)
            assert all(floorplan.text_width(line, zp.font) <= z.map_w - 2 * floorplan.PAD for line in zp.lines)
            boxes = zp.booths
            assert len(boxes) == len(by_zone[z.id])
            title_bottom = z.map_y + floorplan.PAD + len(zp.lines) * zp.line_height
            for b in boxes:
                assert z.map_x < b.x and b.x + b.w <= z.map_x + z.map_w and title_bottom < b.y and b.y + b.h <= z.map_y + z.map_h + 0.5
                assert b.label, b.row[0].number  # every seeded booth shows its number
            # filled: the booths reach the zone's right and bottom edges
            assert max(b.x + b.w for b in boxes) > z.map_x + z.map_w - floorplan.PAD - 1
            assert max(b.y + b.h for b in boxes) > z.map_y + z.map_h - floorplan.PAD - 1
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    assert a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y


def test_long_titles_wrap_then_shorten() -> None:
    lines, size = floorplan.title("National quality technical institutions", 204)
    assert len(lines) == 2 and size >= 13
    assert floorplan.title("质量管理创新企业", 444) == (["质量管理创新企业"], 15)
    lines, fits = floorplan.wrap("An exceedingly long zone name that cannot possibly fit into two short lines", 100, 12)
    assert not fits and len(lines) == 2 and lines[-1].endswith("…")


def test_empty_zone_and_crowded_zone() -> None:
    halls, zones, by_zone = _expo({"innovation": 600})
    plans = floorplan.plan(halls, zones, by_zone, lambda item: item.name)
    hall1 = plans[0]
    assert hall1.zones[0].booths == []
    crowded = hall1.zones[1].booths
    assert len(crowded) == 600 and all(b.w > 0 and b.h > 0 for b in crowded)
