"""My tour: bookmarks, filters and sorting, the launches' iCalendar, the visitor's own data."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

import pytest
from icalendar import Calendar

from cloudexpo.services import Services
from streaming.models import Slot, Stage
from tests.test_engagement_support import make_expo, soon


async def _launch(services: Services, booth_id: int, starts: dt.datetime, title: str) -> int:
    async with services.db.session() as session:
        stage = Stage(slug=f"release-{secrets.token_hex(3)}", kind="release", name={"en": "Release zone"})
        session.add(stage)
        await session.flush()
        slot = Slot(stage_id=stage.id, booth_id=booth_id, title={"zh-Hans": title, "en": title + " (en)"}, starts_at=starts,
                    ends_at=starts + dt.timedelta(minutes=30), token_nonce="n", token_hash="h")
        session.add(slot)
        await session.commit()
        return slot.id


async def test_bookmarks_list_filter_sort_and_ics(signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    later = await _launch(services, expo.booths["1A-001"], soon(48), "新能源汽车发布会")
    earlier = await _launch(services, expo.booths["1A-002"], soon(2), "蒙顶山茶发布")
    for kind, target in (("booth", expo.booths["1A-001"]), ("product", expo.products["1A-001"]),
                         ("launch", later), ("launch", earlier), ("booth", expo.booths["1A-002"])):
        r = await visitor.post("/api/bookmarks", json={"kind": kind, "id": target})
        assert r.status_code == 201, r.text
    again = await visitor.post("/api/bookmarks", json={"kind": "booth", "id": expo.booths["1A-001"]})
    assert again.status_code == 201
    items = (await visitor.get("/api/bookmarks")).json()["items"]
    assert len(items) == 5
    launches = (await visitor.get("/api/bookmarks?kind=launch&sort=time")).json()["items"]
    assert [i["id"] for i in launches] == [earlier, later]
    assert (await visitor.get(f"/api/bookmarks/booth/{expo.booths['1A-001']}")).json()["bookmarked"] is True

    r = await visitor.get("/me/tour.ics?lang=zh-Hans")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.content)
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == 2
    starts = sorted(e.decoded("dtstart") for e in events)
    assert starts[0].tzinfo is not None and starts[0] == soon(2)
    assert any("新能源汽车发布会" in str(e.get("summary")) for e in events)

    page = await visitor.get("/me/tour?kind=booth&sort=name")
    assert page.status_code == 200 and "比亚迪" in page.text and "新能源汽车发布会" not in page.text

    r = await visitor.delete(f"/api/bookmarks/launch/{later}")
    assert r.status_code == 200
    assert len((await visitor.get("/api/bookmarks?kind=launch")).json()["items"]) == 1


@pytest.mark.parametrize("body, status, field", [
    ({"kind": "booth", "id": 999999}, 404, "id"),
    ({"kind": "hall", "id": 1}, 422, "kind"),
    ({"kind": "booth", "id": "x"}, 422, "id"),
    ({"kind": "launch", "id": 424242}, 404, "id"),
])
async def test_bad_bookmarks_are_refused(signed_in: Any, services: Services, body: dict[str, Any], status: int,
                                         field: str) -> None:
    await make_expo(services)
    visitor = await signed_in("visitor")
    r = await visitor.post("/api/bookmarks", json=body)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert (await visitor.get("/api/bookmarks")).json()["items"] == []


async def test_hidden_and_unpublished_booths_cannot_be_bookmarked(signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    for number in ("1A-003", "2B-001"):
        r = await visitor.post("/api/bookmarks", json={"kind": "booth", "id": expo.booths[number]})
        assert r.status_code == 404


async def test_anonymous_cannot_bookmark(client: Any, services: Services) -> None:
    expo = await make_expo(services)
    r = await client.post("/api/bookmarks", json={"kind": "booth", "id": expo.booths["1A-001"]})
    assert r.status_code == 401
    assert (await client.get("/me/tour")).status_code == 303


async def test_download_and_delete_my_data(signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    await visitor.post("/api/bookmarks", json={"kind": "booth", "id": expo.booths["1A-001"]})
    card = {"name": "王芳", "organisation": "成都质检", "email": "wang@example.org", "consent": True}
    assert (await visitor.post(f"/api/booths/{expo.booths['1A-001']}/cards", json=card)).status_code == 201
    r = await visitor.get("/api/me/data")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    data = json.loads(r.content)
    assert data["account"]["email"].startswith("visitor-") and "password_hash" not in data["account"]
    assert len(data["bookmarks"]) == 1 and data["cards"][0]["name"] == "王芳"
    r = await visitor.delete("/api/me/data")
    assert r.status_code == 200 and r.json()["deleted"]["cards"] == 1
    data = json.loads((await visitor.get("/api/me/data")).content)
    assert data["bookmarks"] == [] and data["cards"] == []
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    assert (await staff.get("/api/leads")).json()["leads"] == []
