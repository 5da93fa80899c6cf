"""Business cards and the leads inbox: consent, privacy by role, status and notes, CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from cloudexpo.services import Services
from tests.test_engagement_support import make_expo, role_client

CARD = {"name": "李明", "organisation": "四川省计量测试研究院", "title": "工程师", "email": "li.ming@example.org",
        "phone": "+86 28 1234 5678", "message": "想了解电池检测，=SUM(A1)", "consent": True}


async def test_card_reaches_only_its_exhibitor_and_csv_opens_right(signed_in: Any, make_client: Any,
                                                                    services: Services) -> None:
    expo = await make_expo(services)
    anonymous = await make_client()
    r = await anonymous.post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD)
    assert r.status_code == 201, r.text
    visitor = await signed_in("visitor")
    r = await visitor.post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD | {"name": "Anna Schmidt",
                                                                                    "organisation": "TÜV"})
    assert r.status_code == 201
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    other = await signed_in("exhibitor", expo.exhibitors["1A-002"])
    leads = (await staff.get("/api/leads")).json()["leads"]
    assert {x["name"] for x in leads} == {"李明", "Anna Schmidt"} and all(x["status"] == "new" for x in leads)
    assert (await other.get("/api/leads")).json()["leads"] == []
    assert (await other.get(f"/api/leads?exhibitor={expo.exhibitors['1A-001']}")).status_code == 403

    lead_id = leads[0]["id"]
    assert (await other.patch(f"/api/leads/{lead_id}", json={"status": "closed"})).status_code == 404
    r = await staff.patch(f"/api/leads/{lead_id}", json={"status": "qualified", "note": "回电 9 月 5 日"})
    assert r.status_code == 200 and r.json()["status"] == "qualified"
    bad = await staff.patch(f"/api/leads/{lead_id}", json={"status": "won"})
    assert bad.status_code == 422 and bad.json()["field"] == "status"

    r = await staff.get("/api/leads.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 2
    assert list(rows[0]) == ["lead_id", "kind", "status", "name", "organisation", "title", "email", "phone", "message",
                             "booth", "meeting_start", "meeting_state", "note", "created_at", "updated_at"]
    li = next(row for row in rows if row["name"] == "李明")
    assert li["organisation"] == "四川省计量测试研究院" and li["booth"] == "1A-001" and li["kind"] == "card"
    assert li["message"] == "想了解电池检测，=SUM(A1)"
    qualified = next(row for row in rows if row["status"] == "qualified")
    assert qualified["note"] == "回电 9 月 5 日"

    page = await staff.get("/dashboard/leads")
    assert page.status_code == 200 and "李明" in page.text


async def test_withdrawn_card_is_gone_for_the_exhibitor(signed_in: Any, make_client: Any, services: Services) -> None:
    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    card = (await visitor.post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD)).json()
    stranger = await signed_in("visitor")
    assert (await stranger.delete(f"/api/cards/{card['card']['id']}")).status_code == 403
    assert (await visitor.delete(f"/api/cards/{card['card']['id']}")).status_code == 200
    staff = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    assert (await staff.get("/api/leads")).json()["leads"] == []
    # An anonymous visitor withdraws with the signed link they were given.
    anonymous = await make_client()
    left = (await anonymous.post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD)).json()
    forged = left["withdraw_url"][:-4] + "0000"
    assert (await anonymous.delete(forged)).status_code == 403
    assert (await anonymous.delete(left["withdraw_url"])).status_code == 200
    assert (await staff.get("/api/leads")).json()["leads"] == []


async def test_prefill_for_signed_in_visitors(signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    values = (await visitor.get("/api/cards/prefill")).json()["values"]
    assert values["email"].startswith("visitor-") and values["name"]
    await visitor.put("/api/profile", json={"organisation": "中国计量科学研究院", "title": "研究员", "phone": "010-1234"})
    values = (await visitor.get("/api/cards/prefill")).json()["values"]
    assert values["organisation"] == "中国计量科学研究院" and values["phone"] == "010-1234"
    page = await visitor.get(f"/booths/{expo.booths['1A-001']}/contact")
    assert page.status_code == 200 and "中国计量科学研究院" in page.text


@pytest.mark.parametrize("change, field, status", [
    ({"consent": False}, "consent", 422),
    ({"consent": None}, "consent", 422),
    ({"name": ""}, "name", 422),
    ({"email": "not-an-address"}, "email", 422),
    ({"email": "", "phone": ""}, "email", 422),
    ({"message": "x" * 2001}, "message", 422),
])
async def test_bad_cards_store_nothing(signed_in: Any, services: Services, change: dict[str, Any], field: str,
                                       status: int) -> None:
    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    r = await visitor.post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD | change)
    assert r.status_code == status and r.json()["field"] == field, r.text
    assert r.json()["detail"]
    assert (await visitor.get("/api/me/cards")).json()["cards"] == []


async def test_cards_for_unknown_or_hidden_booths_are_refused(signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    for booth_id in (999999, expo.booths["2B-001"], expo.booths["1A-003"]):
        r = await visitor.post(f"/api/booths/{booth_id}/cards", json=CARD)
        assert r.status_code == 404 and "booth" in r.json()["detail"]
    assert (await visitor.get("/api/me/cards")).json()["cards"] == []


@pytest.mark.parametrize("role, status", [
    ("anonymous", 401), ("visitor", 403), ("exhibitor", 200), ("other", 200), ("moderator", 422),
])
async def test_leads_inbox_refusals_by_role(role: str, status: int, signed_in: Any, make_client: Any,
                                            services: Services) -> None:
    expo = await make_expo(services)
    visitor = await signed_in("visitor")
    await visitor.post(f"/api/booths/{expo.booths['1A-001']}/cards", json=CARD)
    client = await role_client(role, expo, signed_in, make_client)
    r = await client.get("/api/leads")
    assert r.status_code == status, r.text
    if role == "exhibitor":
        assert len(r.json()["leads"]) == 1
    if role == "other":
        assert r.json()["leads"] == []
    # Naming the exhibitor: only its staff and moderators.
    named = await client.get(f"/api/leads?exhibitor={expo.exhibitors['1A-001']}")
    assert named.status_code == {"anonymous": 401, "visitor": 403, "exhibitor": 200, "other": 403, "moderator": 200}[role]
    csv_r = await client.get(f"/api/leads.csv?exhibitor={expo.exhibitors['1A-001']}")
    assert csv_r.status_code == named.status_code
