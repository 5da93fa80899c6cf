"""The JSON of the exhibition: halls, zones, exhibitors, booths, products and search hits."""

from __future__ import annotations

from typing import Any

from booths.exhibition import search
from booths.exhibition.models import Booth, Exhibitor, Hall, Product, Zone


def hall_json(hall: Hall) -> dict[str, Any]:
    return {
        "id": hall.id, "code": hall.code, "name": hall.name, "description": hall.description,
        "map": {"x": hall.map_x, "y": hall.map_y, "w": hall.map_w, "h": hall.map_h},
    }


def zone_json(zone: Zone, booth_count: int | None = None) -> dict[str, Any]:
    out = {
        "id": zone.id, "hall_id": zone.hall_id, "slug": zone.slug, "code": zone.code, "kind": zone.kind,
        "name": zone.name, "description": zone.description, "color": zone.color, "url": f"/zones/{zone.slug}",
        "map": {"x": zone.map_x, "y": zone.map_y, "w": zone.map_w, "h": zone.map_h},
    }
    if booth_count is not None:
        out["booth_count"] = booth_count
    return out


def exhibitor_json(e: Exhibitor) -> dict[str, Any]:
    return {"id": e.id, "name": e.name, "region": e.region, "industry": e.industry, "website": e.website}


def booth_json(b: Booth, e: Exhibitor, z: Zone, *, product_count: int | None = None, logo: str | None = None,
               manager: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": b.id, "number": b.number, "url": f"/booths/{b.number}", "zone": {"id": z.id, "slug": z.slug, "name": z.name},
        "exhibitor": exhibitor_json(e), "name": b.name, "tagline": b.tagline, "description": b.description,
        "featured": b.featured, "has_video": b.has_video, "map": {"x": b.map_x, "y": b.map_y},
        "logo": logo, "updated_at": b.updated_at.isoformat(),
    }
    if product_count is not None:
        out["product_count"] = product_count
    if manager:
        out.update({"published": b.published, "hidden": b.hidden, "hidden_reason": b.hidden_reason})
    return out


def product_json(p: Product, booth: Booth | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id, "booth_id": p.booth_id, "name": p.name, "description": p.description,
        "specifications": p.specifications, "position": p.position, "url": f"/products/{p.id}",
    }
    if booth is not None:
        out["booth_number"] = booth.number
    return out


def hit_json(hit: search.Hit) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "url": f"/products/{hit.product.id}" if hit.product else f"/booths/{hit.booth.number}",
        "booth": {"id": hit.booth.id, "number": hit.booth.number, "name": hit.booth.name, "tagline": hit.booth.tagline,
                  "url": f"/booths/{hit.booth.number}", "has_video": hit.booth.has_video},
        "exhibitor": exhibitor_json(hit.exhibitor),
        "zone": {"id": hit.zone.id, "slug": hit.zone.slug, "name": hit.zone.name},
        "product": product_json(hit.product) if hit.product else None,
        "highlights": hit.highlights,
    }
