"""The briefcase: collect documents and products, refuse what a visitor may not take, take it away as a
ZIP (read back with zipfile) or by e-mail (received by a real SMTP server), and the exhibitor's count."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from booths.engagement.briefcase import safe_name, unique_path
from booths.exhibition.models import Product
from booths.media.processing import create_asset_from_bytes
from cloudexpo.mail import SmtpMailer
from cloudexpo.services import Services
from tests.test_engagement_support import Expo, make_expo, wait_for
from tests.test_media_support import pdf_bytes, png_bytes

JSON = {"Accept": "application/json"}


async def _document(services: Services, expo: Expo, number: str, title: dict[str, str], data: bytes,
                    kind: str = "document") -> int:
    async with services.db.session() as db:
        row = await create_asset_from_bytes(
            db, services.store, exhibitor_id=expo.exhibitors[number], booth_id=expo.booths[number], kind=kind,
            data=data, filename="brochure.pdf" if kind == "document" else "a.png", title=title)
        await db.commit()
        return row.id


async def _hidden_product(services: Services, expo: Expo) -> int:
    async with services.db.session() as db:
        product = Product(booth_id=expo.booths["1A-003"], name={"en": "Draft appliance"}, description={},
                          specifications=[], position=0)
        db.add(product)
        await db.commit()
        return product.id


def test_zip_names_are_safe() -> None:
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name('质量:报告*?"<>|.pdf') == "质量_报告_.pdf"
    assert safe_name("CON.pdf") == "_CON.pdf"
    assert safe_name("   ...  ") == "file"
    assert safe_name("a" * 300 + ".pdf").endswith(".pdf") and len(safe_name("a" * 300 + ".pdf")) <= 80
    used: set[str] = set()
    assert unique_path("1A-001 比亚迪", "手册.pdf", used) == "1A-001 比亚迪/手册.pdf"
    assert unique_path("1A-001 比亚迪", "手册.PDF", used) == "1A-001 比亚迪/手册 (2).PDF"


async def test_briefcase_collects_refuses_and_goes_away_as_zip_and_mail(
        services: Services, runtime: Any, signed_in: Any, make_client: Any, inbox: Any) -> None:
    expo = await make_expo(services)
    brochure = pdf_bytes("BYD brochure")
    doc = await _document(services, expo, "1A-001", {"zh-Hans": "../产品手册", "en": "Product brochure"}, brochure)
    twin = await _document(services, expo, "1A-001", {"zh-Hans": "../产品手册"}, pdf_bytes("Second brochure"))
    picture = await _document(services, expo, "1A-001", {"en": "Photo"}, png_bytes(32, 32), kind="image")
    unpublished = await _document(services, expo, "1A-003", {"en": "Draft"}, pdf_bytes("Draft"))
    hidden_product = await _hidden_product(services, expo)
    product = expo.products["1A-001"]
    counter = runtime.booths.analytics
    counter.interval = 3600  # flushed by hand below

    # Anonymous visitors are asked to sign in (the briefcase belongs to an account).
    anonymous = await make_client()
    assert (await anonymous.get("/api/briefcase")).status_code == 401
    assert (await anonymous.post("/api/briefcase", json={"kind": "product", "id": product})).status_code == 401
    page = await anonymous.get("/me/briefcase", follow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/signin")
    booth_page = await anonymous.get("/booths/1A-001?lang=en")
    assert "Sign in to collect" in booth_page.text and 'href="/signin?next=/booths/1A-001' in booth_page.text

    visitor = await signed_in("visitor")
    bad_kind = await visitor.post("/api/briefcase", json={"kind": "booth", "id": product})
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind" and "document, product" in bad_kind.json()["detail"]
    no_id = await visitor.post("/api/briefcase", json={"kind": "product"})
    assert no_id.status_code == 422 and no_id.json()["field"] == "id"
    for kind, target in (("document", unpublished), ("document", picture), ("document", 999999),
                         ("product", hidden_product)):
        r = await visitor.post("/api/briefcase", json={"kind": kind, "id": target})
        assert r.status_code == 404, (kind, target, r.text)
    empty_zip = await visitor.get("/me/briefcase.zip", headers=JSON)
    assert empty_zip.status_code == 422 and "empty" in empty_zip.json()["detail"]

    for kind, target in (("document", doc), ("document", twin), ("product", product), ("document", doc)):
        r = await visitor.post("/api/briefcase", json={"kind": kind, "id": target})
        assert r.status_code == 201, r.text
    held = (await visitor.get("/api/briefcase")).json()
    assert held["count"] == 3 and held["items"] == {"document": sorted([doc, twin]), "product": [product]}

    # Another visitor neither sees nor removes them.
    other = await signed_in("visitor")
    assert (await other.get("/api/briefcase")).json()["count"] == 0
    assert (await other.delete(f"/api/briefcase/document/{doc}")).json()["count"] == 0
    assert (await visitor.get("/api/briefcase")).json()["count"] == 3

    page = await visitor.get("/me/briefcase?lang=zh-Hans")
    assert page.status_code == 200 and "比亚迪" in page.text and 'href="/me/briefcase.zip"' in page.text

    # One ZIP: the index and each document under a safe, unique name in its booth's folder.
    r = await visitor.get("/me/briefcase.zip?lang=zh-Hans")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[0] == "index.html" and len(names) == 3, names
    assert all(".." not in n and not n.startswith("/") for n in names)
    docs = sorted(n for n in names if n.endswith(".pdf"))
    assert docs == ["1A-001 比亚迪新能源汽车展台/_产品手册 (2).pdf", "1A-001 比亚迪新能源汽车展台/_产品手册.pdf"], docs
    assert brochure in {archive.read(n) for n in docs}
    index = archive.read("index.html").decode()
    assert f"http://testserver/products/{product}" in index and "http://testserver/booths/1A-001" in index
    assert "1A-001" in index and "比亚迪" in index

    # Too big for one ZIP: refused with the figures and what to do instead.
    services.settings = services.settings.replace(briefcase_max_bytes=len(brochure))
    big = await visitor.get("/me/briefcase.zip?lang=en", headers=JSON)
    assert big.status_code == 413 and "e-mail" in big.json()["detail"] and big.json()["limit"] == len(brochure)
    page = await visitor.get("/me/briefcase?lang=en")
    assert "too big for one ZIP" in page.text and 'href="/me/briefcase.zip"' not in page.text

    # By e-mail, to the visitor's own address: links (signed, expiring), never attachments.
    runtime.booths.notifier.mailer = SmtpMailer(f"smtp://127.0.0.1:{inbox.port}", "Cloud Expo <noreply@expo.example.org>")
    me = (await visitor.get("/api/me")).json()
    sent = await visitor.post("/me/briefcase/mail", json={}, headers=JSON)
    assert sent.status_code == 202 and sent.json()["to"] == me["email"]
    mail = (await wait_for(lambda: inbox.to(me["email"])))[0]
    assert not list(mail.iter_attachments())
    text = mail.get_body(("plain",)).get_content()
    assert f"http://testserver/products/{product}" in text and "http://testserver/me/briefcase" in text
    doc_links = [line.strip() for line in text.splitlines() if "/storage/" in line or "X-Amz-Expires" in line]
    assert len(doc_links) == 2 and all(("exp=" in u or "X-Amz-Expires=604800" in u) for u in doc_links), doc_links
    fetched = await visitor.fetch_media(doc_links[0])
    assert fetched.status_code == 200 and fetched.content.startswith(b"%PDF")

    # Removing; the exhibitor sees how often its things were taken.
    removed = await visitor.post("/me/briefcase/remove", data={"kind": "document", "id": str(twin)}, follow_redirects=False)
    assert removed.status_code == 303
    assert (await visitor.get("/api/briefcase")).json()["count"] == 2
    await counter.flush()
    exhibitor = await signed_in("exhibitor", expo.exhibitors["1A-001"])
    stats = (await exhibitor.get(f"/api/analytics/booths/{expo.booths['1A-001']}?days=1")).json()
    assert stats["totals"]["briefcase"] == 3, stats["totals"]
    assert (await other.get(f"/api/analytics/booths/{expo.booths['1A-001']}?days=1")).status_code == 403
