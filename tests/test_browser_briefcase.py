"""In Chromium: a visitor collects a document and a product on a booth page, sees the count in the
navigation, downloads the briefcase as one ZIP and reads its entries, removes an item; the briefcase,
booth and document pages pass axe-core (0 serious or critical) in three languages at 1280 and 375 px,
with screenshots in ``test-artifacts/briefcase/``."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path
from typing import Any

import pytest

from booths.media.processing import create_asset_from_bytes
from booths.seed.media import brochure_pdf
from cloudexpo import accounts
from cloudexpo.app import open_services
from tests.browser_support import chromium, wait_until
from tests.conftest import PASSWORD, LiveServer
from tests.test_browser_tour import AXE, LANGS, WIDTHS, axe_problems, with_lang
from tests.test_engagement_support import make_expo
from tests.test_media_support import pdf_bytes

pytestmark = pytest.mark.browser


async def _seed(live: LiveServer) -> dict[str, Any]:
    services = open_services(live.settings)
    try:
        await services.db.migrate()
        expo = await make_expo(services)
        async with services.db.session() as db:
            docs = []
            # the first is a seeded brochure: its Chinese text shows in the reader's screenshot
            for title, text, data in (
                ({"zh-Hans": "新能源汽车白皮书", "zh-Hant": "新能源汽車白皮書", "en": "EV white paper"}, "EV",
                 brochure_pdf("BYD New Energy Vehicles", 3, "比亚迪新能源汽车展台")),
                ({"zh-Hans": "质量检测报告", "en": "Quality test report"}, "QA", pdf_bytes("QA")),
            ):
                asset = await create_asset_from_bytes(
                    db, services.store, exhibitor_id=expo.exhibitors["1A-001"], booth_id=expo.booths["1A-001"],
                    kind="document", data=data, filename=f"{text}.pdf", title=title)
                docs.append(asset.id)
            visitor = await accounts.create_user(db, "li.na@example.org", PASSWORD, display_name="李娜", language="zh-Hans")
            await db.commit()
            return {"docs": docs, "product": expo.products["1A-001"], "visitor": visitor.email}
    finally:
        await services.close()


def _check(page: Any, url: str, path: str, lang: str, width: int, shots: Path, problems: dict[str, list[str]]) -> None:
    where = f"{path} [{lang}, {width}px]"
    response = page.goto(url + with_lang(path, lang))
    assert response is not None and response.status == 200, where
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{where} scrolls sideways"
    if "/documents/" in path:  # pdf.js has drawn the page (its status line is gone)
        wait_until(page, "document.querySelector('[data-role=pdf-status]').hidden && document.querySelector('.pdf-view canvas') !== null", timeout=20000)
        page.wait_for_timeout(300)  # the page drawn into its canvas, for the screenshot
    found = axe_problems(page)
    if found:
        problems[where] = found
    name = path.strip("/").split("?")[0].replace("/", "-")
    page.screenshot(path=str(shots / f"{name}-{lang}-{width}.png"), full_page=True)


def test_visitor_collects_and_takes_the_briefcase_away(live_server: LiveServer, artifacts: Path,
                                                       tmp_path: Path) -> None:
    seed = asyncio.run(_seed(live_server))
    url = live_server.url
    shots = artifacts / "briefcase"
    shots.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    with chromium() as browser:
        context = browser.new_context(accept_downloads=True, **WIDTHS[1280])
        context.add_init_script(path=str(AXE))
        page = context.new_page()
        # Not signed in: the toggle asks to sign in and comes back to the booth.
        page.goto(f"{url}/booths/1A-001?lang=en")
        page.locator("a.briefcase-toggle").first.click()
        page.wait_for_url("**/signin?next=**")
        page.fill("input[name=email]", seed["visitor"])
        page.fill("input[name=password]", PASSWORD)
        page.click("form.stack button[type=submit]")
        page.wait_for_url("**/booths/1A-001**")

        # Collect a document and the product; the navigation counts them.
        wait_until(page, "window.cloudexpoEngagement === true")
        doc_toggle = page.locator(f'button[data-briefcase-kind="document"][data-briefcase-id="{seed["docs"][0]}"]')
        product_toggle = page.locator(f'button[data-briefcase-kind="product"][data-briefcase-id="{seed["product"]}"]')
        doc_toggle.click()
        page.wait_for_selector(f'button[data-briefcase-kind="document"][data-briefcase-id="{seed["docs"][0]}"][aria-pressed=true]')
        product_toggle.click()
        page.wait_for_selector(f'button[data-briefcase-kind="product"][data-briefcase-id="{seed["product"]}"][aria-pressed=true]')
        count = page.locator('[data-nav-count="briefcase"]')
        wait_until(page, "document.querySelector('[data-nav-count=briefcase]').textContent === '2'")
        assert count.is_visible()

        # The reader shows the second document already in the briefcase once added there.
        page.goto(f"{url}/documents/{seed['docs'][1]}?lang=en")
        reader_toggle = page.locator(f'button[data-briefcase-kind="document"][data-briefcase-id="{seed["docs"][1]}"]')
        wait_until(page, "document.querySelector('[data-nav-count=briefcase]').textContent === '2'")
        assert reader_toggle.get_attribute("aria-pressed") == "false"

        # The briefcase from the navigation; one ZIP with the document and the index.
        page.click('.workspace-bar a[href="/me/briefcase"]')
        page.wait_for_url("**/me/briefcase")
        with page.expect_download() as download_info:
            page.click("[data-briefcase-zip]")
        download = download_info.value
        assert download.suggested_filename.startswith("cloudexpo-briefcase-") and download.suggested_filename.endswith(".zip")
        saved = tmp_path / "briefcase.zip"
        download.save_as(saved)
        with zipfile.ZipFile(saved) as archive:
            names = archive.namelist()
            assert names[0] == "index.html" and len(names) == 2, names
            assert names[1].startswith("1A-001 ") and names[1].endswith(".pdf"), names
            assert archive.read(names[1]).startswith(b"%PDF")
            index = archive.read("index.html").decode()
            assert f"/products/{seed['product']}" in index and "/booths/1A-001" in index

        # The pages in three languages and two widths, with axe (the briefcase filled: two items).
        for width, options in WIDTHS.items():
            page.set_viewport_size(options["viewport"])
            for lang in LANGS:
                _check(page, url, "/me/briefcase", lang, width, shots, problems)
            _check(page, url, "/booths/1A-001", "zh-Hans", width, shots, problems)
            _check(page, url, f"/documents/{seed['docs'][0]}", "zh-Hant", width, shots, problems)

        # Removing an item from the page (a form: works without JavaScript too).
        page.set_viewport_size(WIDTHS[1280]["viewport"])
        page.goto(f"{url}/me/briefcase?lang=en")
        with page.expect_navigation():
            page.locator(f'[data-briefcase-item="product-{seed["product"]}"] button').click()
        assert page.locator("[data-briefcase-item]").count() == 1
        wait_until(page, "document.querySelector('[data-nav-count=briefcase]').textContent === '1'")
        context.close()
    assert not problems, "\n".join(f"{where}: {found}" for where, found in problems.items())
