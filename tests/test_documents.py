"""Documents open in the browser: the booth page links each PDF to a reading page where the vendored
pdf.js (worker from this site, no inline script, under the pages' CSP) draws it with a text layer;
storage serves the reading URL inline with its Content-Type and nosniff, and only the download link
as an attachment. Visibility follows the booth: hidden documents and hidden booths are 404."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from booths.exhibition.models import Booth
from booths.media.models import Asset
from booths.media.processing import create_asset_from_bytes
from booths.media.views import AssetView
from booths.seed.media import brochure_pdf, logo_png
from cloudexpo.app import import_models
from cloudexpo.services import Services
from tests.browser_support import chromium, wait_until
from tests.test_booths_support import make_expo

NAME = "Pixian Douban (Sichuan) Co."


async def _document(services: Services, number: str = "1A-001", kind: str = "document") -> int:
    expo = await make_expo(services) if await _booth_id(services, number) is None else None
    booth_id = expo.booths[number] if expo else await _booth_id(services, number)
    async with services.db.session() as session:
        booth = await session.get(Booth, booth_id)
        assert booth is not None
        data, filename = (brochure_pdf(NAME, 3), "brochure.pdf") if kind == "document" else (logo_png(NAME, 3), "logo.png")
        asset = await create_asset_from_bytes(
            session, services.store, exhibitor_id=booth.exhibitor_id, booth_id=booth.id, kind=kind, data=data,
            filename=filename, title={"zh-Hans": "产品手册", "en": "Product brochure"},
        )
        await session.commit()
        return asset.id


async def _booth_id(services: Services, number: str) -> int | None:
    async with services.db.session() as session:
        return await session.scalar(select(Booth.id).where(Booth.number == number))


async def test_booth_page_links_to_reading_and_download(services: Services, make_client: Any) -> None:
    asset_id = await _document(services)
    client = await make_client()
    booth = await client.get("/booths/1A-001?lang=en")
    assert f'href="/documents/{asset_id}"' in booth.text
    page = await client.get(f"/documents/{asset_id}?lang=zh-Hans")
    assert page.status_code == 200
    assert "产品手册" in page.text and "<script>" not in page.text
    assert 'type="module"' in page.text and "pdf.worker.min.mjs" in page.text
    async with services.db.session() as session:
        asset = await session.get(Asset, asset_id)
        assert asset is not None
        view = AssetView(services.store, asset)
    # reading: inline, as a PDF, never sniffed; downloading: an attachment with the file's name
    inline = await client.fetch_media(str(view["url"]))
    assert inline.status_code == 200 and inline.content.startswith(b"%PDF")
    assert inline.headers["content-type"] == "application/pdf"
    assert "attachment" not in inline.headers.get("content-disposition", "")
    download = await client.fetch_media(str(view["download"]))
    assert download.headers["content-disposition"].startswith("attachment")
    if str(view["url"]).startswith("http://testserver/storage/"):  # the embedded store's own headers
        assert inline.headers["x-content-type-options"] == "nosniff"
        assert download.headers["x-content-type-options"] == "nosniff"


async def test_reading_page_refusals(services: Services, make_client: Any, signed_in: Any) -> None:
    asset_id = await _document(services)
    picture = await _document(services, kind="image")
    client = await make_client()
    assert (await client.get(f"/documents/{picture}")).status_code == 404  # not a document
    assert (await client.get("/documents/999999")).status_code == 404
    async with services.db.session() as session:
        asset = await session.get(Asset, asset_id)
        assert asset is not None
        asset.hidden = True
        exhibitor_id = asset.exhibitor_id
        await session.commit()
    assert (await client.get(f"/documents/{asset_id}")).status_code == 404
    assert (await (await signed_in("exhibitor", exhibitor_id + 1000)).get(f"/documents/{asset_id}")).status_code == 404
    assert (await (await signed_in("exhibitor", exhibitor_id)).get(f"/documents/{asset_id}")).status_code == 200
    assert (await (await signed_in("moderator")).get(f"/documents/{asset_id}")).status_code == 200


@pytest.mark.browser
def test_pdf_renders_in_chromium(live_server: Any, artifacts: Path) -> None:
    async def seed() -> int:
        import_models()
        svc = Services.from_settings(live_server.settings)
        try:
            return await _document(svc)
        finally:
            await svc.db.close()

    asset_id = asyncio.run(seed())
    base = live_server.url
    assert httpx.get(f"{base}/static/vendor/pdfjs/pdf.worker.min.mjs").headers["content-type"].startswith("text/javascript")
    errors: list[str] = []
    with chromium() as browser:  # fails on any CSP violation
        for width in (1280, 375):
            page = browser.new_page(viewport={"width": width, "height": 900}, locale="en-US")
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/booths/1A-001?lang=en")
            page.click(f'a[href="/documents/{asset_id}"]')
            page.wait_for_url(f"**/documents/{asset_id}")
            page.wait_for_selector('.pdf-page[data-drawn="true"]', timeout=20000)
            # the canvas has the brochure's coloured header drawn on it
            drawn = page.evaluate("""() => {
                const c = document.querySelector('.pdf-page canvas');
                const d = c.getContext('2d').getImageData(0, 0, c.width, Math.floor(c.height / 10)).data;
                let coloured = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i] < 230 || d[i + 1] < 230 || d[i + 2] < 230) coloured++;
                return coloured / (d.length / 4);
            }""")
            assert drawn > 0.5, drawn
            wait_until(page, "document.querySelector('.textLayer').textContent.includes('Product brochure')", timeout=10000)
            text = page.evaluate("document.querySelector('.textLayer').textContent")
            assert NAME in text and "China Quality Conference" in text, text
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert page.locator('a[download]').count() == 1
            page.screenshot(path=str(artifacts / f"document-{width}.png"), full_page=True)
            if width == 1280:
                page.click('[data-role="pdf-zoom-in"]')
                wait_until(page, "parseFloat(document.querySelector('.pdf-page').style.width) > 700", timeout=10000)
            assert not errors, errors
            page.close()
