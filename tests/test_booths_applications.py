"""Applying for a booth: apply → a moderator approves → the applicant is staff → edits → publishes."""

from __future__ import annotations

from typing import Any

import pytest

from cloudexpo.services import Services
from tests.test_booths_support import make_expo

APPLICATION = {
    "organisation": "成都蓉城精密仪器有限公司",
    "organisation_en": "Chengdu Rongcheng Precision Instruments",
    "region": "sichuan",
    "industry": "heavy-equipment",
    "zone": "innovation",
    "description": "精密测量仪器\n<script>alert(1)</script>",
    "contact_name": "王经理",
    "contact_phone": "+86 28 8888 6666",
    "contact_email": "wang@example.org",
}


async def test_apply_approve_edit_publish(signed_in: Any, make_client: Any, make_user: Any, services: Services) -> None:
    await make_expo(services)
    email, password, _ = await make_user("visitor")
    applicant = await make_client()
    await applicant.sign_in(email, password)
    created = await applicant.post("/api/applications", json=APPLICATION)
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    assert created.json()["state"] == "pending"
    again = await applicant.post("/api/applications", json=APPLICATION)
    assert again.status_code == 409  # one pending application at a time

    moderator = await signed_in("moderator")
    queue = (await moderator.get("/api/applications?state=pending")).json()["applications"]
    assert [a["id"] for a in queue] == [app_id]
    page = await moderator.get("/moderate/applications")
    assert "成都蓉城精密仪器有限公司" in page.text and "<script>alert(1)" not in page.text
    approved = await moderator.post(f"/api/applications/{app_id}/approve")
    assert approved.status_code == 200, approved.text
    booth_id = approved.json()["booth_id"]
    assert approved.json()["state"] == "approved" and booth_id
    assert (await moderator.post(f"/api/applications/{app_id}/approve")).status_code == 409

    me = await applicant.refresh_csrf()
    assert me["role"] == "exhibitor" and me["exhibitor_id"] == approved.json()["exhibitor_id"]
    told = (await applicant.get("/api/notifications?lang=en")).json()["items"]
    assert [n["kind"] for n in told] == ["application_decided"]  # in-app, and by e-mail
    booth = (await applicant.get(f"/api/booths/{booth_id}")).json()
    assert booth["number"].startswith("1A-") and booth["published"] is False
    assert booth["name"]["zh-Hant"] == "成都蓉城精密儀器有限公司" and booth["name"]["en"].startswith("Chengdu")
    assert "<script>" not in booth["description"]["zh-Hans"]
    # not visible to visitors until published
    visitor = await signed_in("visitor")
    assert (await visitor.get(f"/booths/{booth['number']}")).status_code == 404

    edited = await applicant.patch(f"/api/booths/{booth_id}", json={"tagline": {"zh-Hans": "精密测量，质量基石"}})
    assert edited.status_code == 200
    product = await applicant.post(f"/api/booths/{booth_id}/products", json={"name": {"zh-Hans": "三坐标测量机"}})
    assert product.status_code == 201
    dash = await applicant.get("/dashboard")
    assert "三坐标测量机" in dash.text
    published = await applicant.post(f"/dashboard/booths/{booth_id}/publish", data={"csrf_token": applicant.csrf, "published": "true"},
                                     follow_redirects=False)
    assert published.status_code == 303
    page = await visitor.get(f"/booths/{booth['number']}")
    assert page.status_code == 200 and "精密测量，质量基石" in page.text
    found = (await visitor.get("/api/search", params={"q": "測量"})).json()
    assert booth["number"] in {r["booth"]["number"] for r in found["results"]}


async def test_reject_needs_a_reason_the_applicant_sees(signed_in: Any, services: Services) -> None:
    await make_expo(services)
    applicant = await signed_in("visitor")
    app_id = (await applicant.post("/api/applications", json=APPLICATION)).json()["id"]
    moderator = await signed_in("moderator")
    missing = await moderator.post(f"/api/applications/{app_id}/reject", json={"reason": "  "})
    assert missing.status_code == 422 and missing.json()["field"] == "reason"
    rejected = await moderator.post(f"/api/applications/{app_id}/reject", json={"reason": "请补充市场监管部门的推荐意见"})
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    dash = await applicant.get("/dashboard")
    assert "请补充市场监管部门的推荐意见" in dash.text
    assert (await applicant.get("/api/applications")).json()["applications"][0]["reason"] == "请补充市场监管部门的推荐意见"
    # the form page flow: a visitor may apply again after a rejection
    again = await applicant.post("/dashboard/apply", data={**APPLICATION, "csrf_token": applicant.csrf}, follow_redirects=False)
    assert again.status_code == 303


@pytest.mark.parametrize("missing", ["organisation", "region", "industry", "zone", "contact_name", "contact_phone", "contact_email"])
async def test_missing_fields_are_named(signed_in: Any, services: Services, missing: str) -> None:
    await make_expo(services)
    applicant = await signed_in("visitor")
    body = {k: v for k, v in APPLICATION.items() if k != missing}
    response = await applicant.post("/api/applications", json=body)
    assert response.status_code == 422 and response.json()["field"] == missing
    form = await applicant.post("/dashboard/apply", data={**body, "csrf_token": applicant.csrf})
    assert form.status_code == 422 and 'aria-invalid="true"' in form.text


async def test_wrong_values_are_named(signed_in: Any, services: Services) -> None:
    await make_expo(services)
    applicant = await signed_in("visitor")
    for field, value in (("region", "atlantis"), ("industry", "piracy"), ("zone", "nowhere"),
                         ("contact_email", "not-an-email"), ("contact_phone", "call me"), ("organisation", "x" * 300)):
        response = await applicant.post("/api/applications", json={**APPLICATION, field: value})
        assert response.status_code == 422 and response.json()["field"] == field, (field, response.text)


async def test_application_refusals(client: Any, signed_in: Any, services: Services) -> None:
    expo = await make_expo(services)
    applicant = await signed_in("visitor")
    app_id = (await applicant.post("/api/applications", json=APPLICATION)).json()["id"]
    assert (await client.post("/api/applications", json=APPLICATION)).status_code == 401
    exhibitor = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    assert (await exhibitor.post("/api/applications", json=APPLICATION)).status_code == 403
    other_visitor = await signed_in("visitor")
    assert (await other_visitor.get(f"/api/applications/{app_id}")).status_code == 404
    for who, status in ((client, 401), (other_visitor, 403), (applicant, 403), (exhibitor, 403)):
        assert (await who.post(f"/api/applications/{app_id}/approve")).status_code == status
        assert (await who.post(f"/api/applications/{app_id}/reject", json={"reason": "x"})).status_code == status
    moderator = await signed_in("moderator")
    assert (await moderator.get(f"/api/applications/{app_id}")).status_code == 200
    assert (await moderator.post("/api/applications/999999/approve")).status_code == 404


async def test_roles_only_admins_make_moderators(signed_in: Any, make_user: Any, services: Services) -> None:
    expo = await make_expo(services)
    _, _, user_id = await make_user("visitor")
    moderator = await signed_in("moderator")
    made = await moderator.post(f"/api/users/{user_id}/role", json={"role": "exhibitor", "exhibitor_id": expo.exhibitors["1A-002"]})
    assert made.status_code == 200 and made.json()["exhibitor_id"] == expo.exhibitors["1A-002"]
    assert (await moderator.post(f"/api/users/{user_id}/role", json={"role": "moderator"})).status_code == 403
    assert (await moderator.post(f"/api/users/{user_id}/role", json={"role": "exhibitor", "exhibitor_id": 999999})).status_code == 422
    admin = await signed_in("admin")
    assert (await admin.post(f"/api/users/{user_id}/role", json={"role": "moderator"})).status_code == 200
