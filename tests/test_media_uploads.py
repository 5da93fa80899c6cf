"""Booth media uploads end to end: tickets over the app's API, bytes straight to
storage (moto's S3 server over real HTTP, or the app's signed local URLs),
completion, checks, background processing, quotas and who may do what."""

from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from booths.errors import MediaRejected
from booths.exhibition.models import Booth, Exhibitor, Hall, Product, Zone
from booths.media import assets
from booths.media.models import Asset, asset_folder
from booths.media.processing import create_asset_from_bytes
from cloudexpo.app import Runtime
from cloudexpo.services import Services
from tests.test_media_support import (
    jpeg_with_exif,
    make_video,
    pad_mp4,
    pdf_bytes,
    png_bomb,
    png_bytes,
)
from web.shapes.media import asset_json

MiB = 1024 * 1024


class World:
    """Two exhibitors with a booth each, and clients for every role."""

    def __init__(self, runtime: Runtime, booth: int, exhibitor: int, other_booth: int, other_exhibitor: int,
                 product: int) -> None:
        self.services = runtime.services
        self.media = runtime.booths.media
        self.booth = booth
        self.exhibitor = exhibitor
        self.other_booth = other_booth
        self.other_exhibitor = other_exhibitor
        self.product = product


@pytest.fixture
async def world(runtime: Runtime) -> World:
    services = runtime.services
    async with services.db.session() as db:
        hall = Hall(code="1", name={"en": "Hall 1"})
        db.add(hall)
        await db.flush()
        zone = Zone(hall_id=hall.id, slug="z-" + secrets.token_hex(3), code="1A", name={"en": "Zone A"})
        db.add(zone)
        await db.flush()
        ex1 = Exhibitor(name={"en": "Maker One"}, region="sichuan", industry="services")
        ex2 = Exhibitor(name={"en": "Maker Two"}, region="beijing", industry="services")
        db.add_all([ex1, ex2])
        await db.flush()
        b1 = Booth(number="1A-001", zone_id=zone.id, exhibitor_id=ex1.id, name={"en": "Booth One"}, published=True)
        b2 = Booth(number="1A-002", zone_id=zone.id, exhibitor_id=ex2.id, name={"en": "Booth Two"}, published=True)
        db.add_all([b1, b2])
        await db.flush()
        product = Product(booth_id=b1.id, name={"en": "Widget"})
        db.add(product)
        await db.commit()
        return World(runtime, b1.id, ex1.id, b2.id, ex2.id, product.id)


async def put_to(client: Any, url: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """PUT straight to storage: the app's own signed URL (local store) through the
    in-process client, anything else (moto's S3 server) over real HTTP."""
    if url.startswith("http://testserver/"):
        return await client.http.put(url, content=data, headers=headers or {})  # type: ignore[no-any-return]
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
        return await http.put(url, content=data, headers=headers or {})


async def get_from(client: Any, url: str) -> httpx.Response:
    if url.startswith("http://testserver/"):
        return await client.http.get(url)  # type: ignore[no-any-return]
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
        return await http.get(url)


async def ticket(client: Any, w: World, kind: str, filename: str, size: int, content_type: str,
                 **extra: Any) -> httpx.Response:
    body = {"booth_id": w.booth, "kind": kind, "filename": filename, "size": size, "content_type": content_type}
    body.update(extra)
    return await client.post("/api/uploads", json=body)  # type: ignore[no-any-return]


async def upload_single(client: Any, w: World, kind: str, filename: str, data: bytes, content_type: str) -> httpx.Response:
    """Ticket, PUT, complete; returns the complete response."""
    answer = await ticket(client, w, kind, filename, len(data), content_type)
    assert answer.status_code == 201, answer.text
    t = answer.json()
    assert t["mode"] == "single"
    put = await put_to(client, t["url"], data, t["headers"])
    assert put.status_code == 200, put.text
    return await client.post(f"/api/uploads/{t['id']}/complete", json={"parts": []})  # type: ignore[no-any-return]


async def processed(w: World, asset_id: int) -> Asset:
    await w.media.wait_idle(120)
    async with w.services.db.session() as db:
        asset = await db.get(Asset, asset_id)
        assert asset is not None
        return asset


@pytest.fixture
async def staff(signed_in: Any, world: World) -> Any:
    return await signed_in("exhibitor", world.exhibitor)


# --- the happy paths ---------------------------------------------------------------------


async def test_small_picture_is_ready_with_thumbnails_and_no_exif(app: Any, staff: Any, world: World) -> None:
    data = jpeg_with_exif(800, 600, orientation=6)
    done = await upload_single(staff, world, "image", "holiday.jpg", data, "image/jpeg")
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "processing"
    asset = await processed(world, done.json()["id"])
    assert asset.state == "ready", asset.problem
    assert asset.meta["width"] == 600 and asset.meta["height"] == 800  # orientation applied
    assert set(asset.meta["variants"]) == {f"{f}_{w}" for f in ("thumb", "webp") for w in (320, 640, 1280)}

    view = (await staff.get(f"/api/assets/{asset.id}")).json()
    assert view["state"] == "ready"
    assert set(view["thumbs"]) == {"320", "640", "1280"} and set(view["webp"]) == {"320", "640", "1280"}
    for url in [view["url"], view["thumbs"]["320"], view["webp"]["640"], view["download"]]:
        got = await get_from(staff, url)
        assert got.status_code == 200, (url, got.text[:200])
        img = Image.open(io.BytesIO(got.content))
        assert not img.getexif(), f"EXIF left in {url}"
        assert "exif" not in img.info
        assert img.height > img.width
    small = Image.open(io.BytesIO((await get_from(staff, view["thumbs"]["320"])).content))
    assert small.width == 320 and small.format == "JPEG"
    download = await get_from(staff, view["download"])
    assert "holiday.jpg" in download.headers["content-disposition"]
    # visitors see the ready asset of a published booth
    visitor = (await app_client(staff)).get
    anonymous = await visitor(f"/api/booths/{world.booth}/assets")
    assert [a["id"] for a in anonymous.json()["assets"]] == [asset.id]


async def app_client(client: Any) -> Any:
    """A fresh anonymous client on the same app."""
    http = httpx.AsyncClient(transport=client.http._transport, base_url="http://testserver")

    class Anonymous:
        async def get(self, url: str) -> httpx.Response:
            return await http.get(url)

    return Anonymous()


async def test_multipart_upload_resumes_from_the_parts_storage_holds(staff: Any, world: World, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4").read_bytes()
    data = pad_mp4(clip, 17 * MiB)
    answer = await ticket(staff, world, "video", "launch.mp4", len(data), "video/mp4")
    assert answer.status_code == 201, answer.text
    t = answer.json()
    assert t["mode"] == "multipart" and t["part_size"] == 8 * MiB and t["part_count"] == 3
    assert 3 <= t["concurrency"] <= 4
    part_size = t["part_size"]

    def part(n: int) -> bytes:
        return data[(n - 1) * part_size : n * part_size]

    urls = (await staff.post(f"/api/uploads/{t['id']}/parts", json={"part_numbers": [1, 3]})).json()["parts"]
    etags = {}
    for item in urls:
        put = await put_to(staff, item["url"], part(item["part_number"]))
        assert put.status_code == 200, put.text
        etags[item["part_number"]] = put.headers["etag"].strip('"')

    # the page is reloaded: it asks what storage holds
    status = (await staff.get(f"/api/uploads/{t['id']}")).json()
    assert status["state"] == "uploading"
    assert [p["part_number"] for p in status["parts"]] == [1, 3]
    assert status["done_bytes"] == part_size + len(part(3))
    assert {p["part_number"]: p["etag"] for p in status["parts"]} == etags

    missing = [n for n in range(1, t["part_count"] + 1) if n not in {p["part_number"] for p in status["parts"]}]
    fresh = (await staff.post(f"/api/uploads/{t['id']}/parts", json={"part_numbers": missing})).json()["parts"]
    for item in fresh:
        put = await put_to(staff, item["url"], part(item["part_number"]))
        assert put.status_code == 200
        etags[item["part_number"]] = put.headers["etag"].strip('"')
    parts = [{"part_number": n, "etag": e} for n, e in sorted(etags.items())]
    done = await staff.post(f"/api/uploads/{t['id']}/complete", json={"parts": parts})
    assert done.status_code == 200, done.text
    asset = await processed(world, t["asset_id"])
    assert asset.state == "ready", asset.problem
    assert asset.meta["codecs"] == {"video": "h264", "audio": "aac"}
    assert asset.meta["browser_playable"] is True and "warning" not in asset.meta
    assert asset.meta["poster"]
    info = await world.services.store.head(asset.key)
    assert info is not None and info.size == len(data)
    async with world.services.db.session() as db:
        booth = await db.get(Booth, world.booth)
        assert booth is not None and booth.has_video is True
    # a finished upload cannot be completed twice
    again = await staff.post(f"/api/uploads/{t['id']}/complete", json={"parts": parts})
    assert again.status_code == 409


async def test_video_in_a_codec_browsers_do_not_play_gets_a_warning(staff: Any, world: World, tmp_path: Path) -> None:
    data = make_video(tmp_path / "old.mp4", codec="mpeg4", audio="aac").read_bytes()
    done = await upload_single(staff, world, "video", "old-camera.mp4", data, "video/mp4")
    assert done.status_code == 200, done.text
    asset = await processed(world, done.json()["id"])
    assert asset.state == "ready"
    assert asset.meta["browser_playable"] is False
    assert asset.meta["codecs"]["video"] == "mpeg4"
    assert "MPEG-4 Part 2" in asset.meta["warning"] and "H.264" in asset.meta["warning"]
    assert 0.9 < asset.meta["duration"] < 1.2
    assert (asset.meta["width"], asset.meta["height"]) == (320, 240)
    view = (await staff.get(f"/api/assets/{asset.id}")).json()
    assert view["warning"] == asset.meta["warning"]
    poster = await get_from(staff, view["poster"])
    assert Image.open(io.BytesIO(poster.content)).format == "JPEG"

    mjpeg = make_video(tmp_path / "m.mov", codec="mjpeg", container="mov", audio=None).read_bytes()
    done = await upload_single(staff, world, "video", "m.mov", mjpeg, "video/quicktime")
    asset = await processed(world, done.json()["id"])
    assert asset.state == "ready" and asset.meta["browser_playable"] is False
    assert "Motion JPEG" in asset.meta["warning"]


async def test_pdf_is_accepted_and_a_fake_pdf_rejected(staff: Any, world: World) -> None:
    done = await upload_single(staff, world, "document", "brochure.pdf", pdf_bytes(), "application/pdf")
    assert done.status_code == 200, done.text
    asset = await processed(world, done.json()["id"])
    assert asset.state == "ready" and asset.meta["type"] == "application/pdf"
    assert "poster" in asset.meta or "pdftoppm" in asset.meta["thumbnail"]

    fake = b"%PDF-1.7\n" + b"this is not really a PDF; it stops here"
    done = await upload_single(staff, world, "document", "fake.pdf", fake, "application/pdf")
    assert done.status_code == 422
    assert "%%EOF" in done.json()["detail"]
    view = done.json()["asset"]
    assert view["state"] == "rejected"
    assert await world.services.store.list_keys(asset_folder(world.exhibitor, view["id"])) == []


# --- bad input ---------------------------------------------------------------------


async def test_a_text_file_named_jpg_is_rejected_and_deleted(staff: Any, world: World) -> None:
    done = await upload_single(staff, world, "image", "photo.jpg", b"just some text, honestly\n" * 20, "image/jpeg")
    assert done.status_code == 422, done.text
    body = done.json()
    assert body["error"] == "rejected"
    assert "not recognise" in body["detail"] and "photo.jpg" in body["detail"]
    asset_id = body["asset"]["id"]
    listed = (await staff.get(f"/api/booths/{world.booth}/assets")).json()["assets"]
    mine = next(a for a in listed if a["id"] == asset_id)
    assert mine["state"] == "rejected" and mine["problem"] == body["detail"]
    assert await world.services.store.list_keys(asset_folder(world.exhibitor, asset_id)) == []
    # a PDF given as a picture is refused by content too
    done = await upload_single(staff, world, "image", "scan.png", pdf_bytes(), "image/png")
    assert done.status_code == 422 and "PDF" in done.json()["detail"]


async def test_oversize_refused_before_upload_and_larger_object_rejected(staff: Any, world: World) -> None:
    limit = world.services.settings.max_image_bytes
    answer = await ticket(staff, world, "image", "huge.png", limit + 1, "image/png")
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large" and "at most" in answer.json()["detail"]
    answer = await ticket(staff, world, "banner", "huge.png", 10**12, "image/png")
    assert answer.status_code == 413

    data = png_bytes()
    answer = await ticket(staff, world, "image", "small.png", len(data), "image/png")
    t = answer.json()
    bigger = data + b"\x00" * 4096
    put = await put_to(staff, t["url"], bigger, t["headers"])
    done = await staff.post(f"/api/uploads/{t['id']}/complete", json={})
    if world.services.store.kind == "local":
        assert put.status_code == 413  # the signed URL allows the announced size only
        assert done.status_code == 400 and "Nothing arrived" in done.json()["detail"]
    else:
        assert put.status_code == 200  # S3 cannot bound a presigned PUT: the check afterwards does
        assert done.status_code == 422
        assert "announced" in done.json()["detail"]
        assert await world.services.store.list_keys(asset_folder(world.exhibitor, t["asset_id"])) == []


async def test_completing_with_a_missing_part_stores_nothing(staff: Any, world: World) -> None:
    data = b"\x00\x00\x00\x18ftypisom" + b"\x00" * (17 * MiB)
    t = (await ticket(staff, world, "video", "cut.mp4", len(data), "video/mp4")).json()
    urls = (await staff.post(f"/api/uploads/{t['id']}/parts", json={"part_numbers": [1, 2]})).json()["parts"]
    parts = []
    for item in urls:
        n = item["part_number"]
        put = await put_to(staff, item["url"], data[(n - 1) * t["part_size"] : n * t["part_size"]])
        parts.append({"part_number": n, "etag": put.headers["etag"]})
    done = await staff.post(f"/api/uploads/{t['id']}/complete", json={"parts": parts})
    assert done.status_code == 400
    assert done.json()["missing"] == [3] and "part(s) 3 missing" in done.json()["detail"]
    # claiming the last part without sending it does not help
    fake = [*parts, {"part_number": 3, "etag": "0" * 32}]
    done = await staff.post(f"/api/uploads/{t['id']}/complete", json={"parts": fake})
    assert done.status_code == 400
    store = world.services.store
    assert await store.head(f"{asset_folder(world.exhibitor, t['asset_id'])}original.mp4") is None
    status = (await staff.get(f"/api/uploads/{t['id']}")).json()
    assert status["state"] == "uploading" and len(status["parts"]) == 2  # still resumable
    # cancelling frees everything
    gone = await staff.delete(f"/api/uploads/{t['id']}")
    assert gone.status_code == 204
    assert (await staff.get(f"/api/uploads/{t['id']}")).status_code == 404
    quota = (await staff.get(f"/api/exhibitors/{world.exhibitor}/quota")).json()
    assert quota["used"] == 0


async def test_image_bomb_is_rejected(staff: Any, world: World) -> None:
    done = await upload_single(staff, world, "image", "bomb.png", png_bomb(), "image/png")
    assert done.status_code == 200  # it is a PNG by its first bytes; decoding tells
    asset = await processed(world, done.json()["id"])
    assert asset.state == "rejected"
    assert asset.problem and "pixels" in asset.problem
    assert await world.services.store.list_keys(asset.folder) == []


async def test_quota_is_shown_and_enforced(staff: Any, world: World) -> None:
    svc = world.services
    svc.settings = svc.settings.replace(quota_bytes=40_000)
    q = (await staff.get(f"/api/exhibitors/{world.exhibitor}/quota")).json()
    assert q == {
        "exhibitor_id": world.exhibitor, "used": 0, "quota": 40_000, "free": 40_000,
        "max_file": {"logo": svc.settings.max_image_bytes, "banner": svc.settings.max_image_bytes,
                     "image": svc.settings.max_image_bytes, "video": svc.settings.max_video_bytes,
                     "document": svc.settings.max_document_bytes},
    }
    first = await ticket(staff, world, "image", "a.png", 30_000, "image/png")
    assert first.status_code == 201
    second = await ticket(staff, world, "image", "b.png", 20_000, "image/png")
    assert second.status_code == 413
    body = second.json()
    assert body["free"] == 10_000 and body["used"] == 30_000 and "quota" in body["detail"]
    # cancelling the first frees its room
    assert (await staff.delete(f"/api/uploads/{first.json()['id']}")).status_code == 204
    assert (await ticket(staff, world, "image", "b.png", 20_000, "image/png")).status_code == 201


async def test_wrong_claims_and_fields_are_refused(staff: Any, world: World) -> None:
    assert (await ticket(staff, world, "document", "x.png", 100, "image/png")).status_code == 415
    assert (await ticket(staff, world, "sculpture", "x.png", 100, "image/png")).status_code == 422
    assert (await ticket(staff, world, "image", "", 100, "image/png")).status_code == 422
    assert (await ticket(staff, world, "image", "x.png", 0, "image/png")).status_code == 422
    assert (await ticket(staff, world, "image", "x.png", "12", "image/png")).status_code == 201
    answer = await staff.post("/api/uploads", json={"booth_id": 999_999, "kind": "image", "filename": "x.png", "size": 1})
    assert answer.status_code == 404
    answer = await ticket(staff, world, "image", "x.png", 100, "image/png", product_id=world.product)
    assert answer.status_code == 201
    t = answer.json()
    bad = await staff.post(f"/api/uploads/{t['id']}/parts", json={"part_numbers": [1]})
    assert bad.status_code == 409  # a single PUT has no parts


# --- who may do what -------------------------------------------------------------------


async def test_refusals_by_role(app: Any, make_client: Any, signed_in: Any, staff: Any, world: World) -> None:
    anonymous = await make_client()
    visitor = await signed_in("visitor")
    other = await signed_in("exhibitor", world.other_exhibitor)
    moderator = await signed_in("moderator")
    body = {"booth_id": world.booth, "kind": "image", "filename": "a.png", "size": 100, "content_type": "image/png"}

    assert (await anonymous.post("/api/uploads", json=body)).status_code == 401
    assert (await visitor.post("/api/uploads", json=body)).status_code == 403
    refused = await other.post("/api/uploads", json=body)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert (await moderator.post("/api/uploads", json=body)).status_code == 201
    mine = await staff.post("/api/uploads", json=body)
    assert mine.status_code == 201
    uid = mine.json()["id"]

    for client, code in ((anonymous, 401), (visitor, 403), (other, 403)):
        assert (await client.get(f"/api/uploads/{uid}")).status_code == code
        assert (await client.post(f"/api/uploads/{uid}/parts", json={"part_numbers": [1]})).status_code == code
        assert (await client.post(f"/api/uploads/{uid}/complete", json={})).status_code == code
        assert (await client.delete(f"/api/uploads/{uid}")).status_code == code
        assert (await client.get(f"/api/exhibitors/{world.exhibitor}/quota")).status_code == code
        page = await client.get(f"/dashboard/booths/{world.booth}/media")
        assert page.status_code == (303 if code == 401 else 403)
    assert (await moderator.get(f"/api/uploads/{uid}")).status_code == 200
    assert (await moderator.get(f"/api/exhibitors/{world.exhibitor}/quota")).status_code == 200
    assert (await staff.get(f"/dashboard/booths/{world.booth}/media")).status_code == 200
    assert (await moderator.get(f"/dashboard/booths/{world.booth}/media")).status_code == 200

    # a ready asset: visitors see it, only staff and moderators change it, only moderators hide it
    done = await upload_single(staff, world, "image", "p.png", png_bytes(), "image/png")
    asset = await processed(world, done.json()["id"])
    aid = asset.id
    for client in (anonymous, visitor, other):
        assert (await client.get(f"/api/assets/{aid}")).status_code == 200
    for client, code in ((anonymous, 401), (visitor, 403), (other, 403)):
        assert (await client.patch(f"/api/assets/{aid}", json={"title": {"en": "x"}})).status_code == code
        assert (await client.delete(f"/api/assets/{aid}")).status_code == code
        assert (await client.post(f"/api/booths/{world.booth}/assets/order", json={"ids": [aid]})).status_code == code
    assert (await staff.patch(f"/api/assets/{aid}", json={"hidden": True})).status_code == 403
    title = await staff.patch(f"/api/assets/{aid}", json={"title": {"en": "<script>alert(1)</script> Widget", "zh-Hans": "产品"}})
    assert title.status_code == 200 and title.json()["title"]["zh-Hans"] == "产品"
    hidden = await moderator.patch(f"/api/assets/{aid}", json={"hidden": True})
    assert hidden.status_code == 200 and hidden.json()["hidden"] is True
    assert (await anonymous.get(f"/api/assets/{aid}")).status_code == 404
    assert aid not in [a["id"] for a in (await anonymous.get(f"/api/booths/{world.booth}/assets")).json()["assets"]]
    assert aid in [a["id"] for a in (await staff.get(f"/api/booths/{world.booth}/assets")).json()["assets"]]
    page = await staff.get(f"/dashboard/booths/{world.booth}/media")
    assert "<script>alert(1)</script>" not in page.text
    assert (await moderator.patch(f"/api/assets/{aid}", json={"hidden": False})).status_code == 200
    assert (await moderator.delete(f"/api/assets/{aid}")).status_code == 204


async def test_delete_removes_every_object(staff: Any, world: World, tmp_path: Path) -> None:
    done = await upload_single(staff, world, "image", "p.jpg", jpeg_with_exif(), "image/jpeg")
    picture = await processed(world, done.json()["id"])
    data = make_video(tmp_path / "v.mp4").read_bytes()
    done = await upload_single(staff, world, "video", "v.mp4", data, "video/mp4")
    video = await processed(world, done.json()["id"])
    store = world.services.store
    assert len(await store.list_keys(picture.folder)) == 8  # original, display, 3 JPEG, 3 WebP
    assert len(await store.list_keys(video.folder)) == 2  # original, poster
    async with world.services.db.session() as db:
        booth = await db.get(Booth, world.booth)
        assert booth is not None and booth.has_video
    listed = (await staff.get(f"/api/booths/{world.booth}/assets")).json()["assets"]
    assert [a["id"] for a in listed] == [picture.id, video.id]
    order = await staff.post(f"/api/booths/{world.booth}/assets/order", json={"ids": [video.id, picture.id]})
    assert [a["id"] for a in order.json()["assets"]] == [video.id, picture.id]
    for asset in (picture, video):
        assert (await staff.delete(f"/api/assets/{asset.id}")).status_code == 204
        assert await store.list_keys(asset.folder) == []
        assert (await staff.get(f"/api/assets/{asset.id}")).status_code == 404
    async with world.services.db.session() as db:
        booth = await db.get(Booth, world.booth)
        assert booth is not None and not booth.has_video


async def test_processing_left_over_is_picked_up_at_start(app: Any, staff: Any, world: World) -> None:
    svc = world.services
    worker = world.media
    data = png_bytes(300, 200)
    t = (await ticket(staff, world, "image", "left.png", len(data), "image/png")).json()
    await put_to(staff, t["url"], data, t["headers"])
    # the process stops between completion and processing
    async with svc.db.session() as db:
        asset = await db.get(Asset, t["asset_id"])
        assert asset is not None
        asset.state = "processing"
        await db.commit()
    await worker.close()
    await worker.start()
    asset = await processed(world, t["asset_id"])
    assert asset.state == "ready" and asset.meta["width"] == 300


async def test_create_asset_from_bytes_for_the_seed(services: Services, world: World, tmp_path: Path) -> None:
    store = services.store
    async with services.db.session() as db:
        logo = await create_asset_from_bytes(
            db, store, exhibitor_id=world.exhibitor, booth_id=world.booth, kind="logo",
            data=png_bytes(200, 200, alpha=True), filename="logo.png",
            title={"en": "Logo"},
        )
        video = await create_asset_from_bytes(
            db, store, exhibitor_id=world.exhibitor, booth_id=world.booth, kind="video",
            data=make_video(tmp_path / "s.mp4").read_bytes(), filename="s.mp4",
        )
        with pytest.raises(MediaRejected):
            await create_asset_from_bytes(
                db, store, exhibitor_id=world.exhibitor, booth_id=world.booth, kind="document",
                data=b"nope", filename="x.pdf",
            )
        await db.commit()
        assert logo.state == "ready" and video.state == "ready"
        view = asset_json(store, logo)
        assert view["url"] and view["thumbs"][320] and view["webp"][640] and view["download"]
        assert asset_json(store, video)["poster"]
        listed = await assets.list_assets(db, booth_id=world.booth)
        assert [a.id for a in listed] == [logo.id, video.id]
        booth = await db.get(Booth, world.booth)
        assert booth is not None
        await db.refresh(booth)
        assert booth.has_video
    display = await store.get_bytes(logo.meta["display"])
    assert Image.open(io.BytesIO(display)).mode == "RGBA"  # transparency kept for logos


async def test_a_product_picture_shows_on_its_page_and_in_the_api(staff: Any, world: World) -> None:
    """The domain hands out lazily signed views; the page reads them and the API sends them as JSON."""
    data = jpeg_with_exif(640, 480, orientation=1)
    answer = await ticket(staff, world, "image", "widget.jpg", len(data), "image/jpeg", product_id=world.product)
    assert answer.status_code == 201, answer.text
    t = answer.json()
    assert (await put_to(staff, t["url"], data, t["headers"])).status_code == 200
    done = await staff.post(f"/api/uploads/{t['id']}/complete", json={"parts": []})
    assert done.status_code == 200, done.text
    assert (await processed(world, done.json()["id"])).state == "ready"
    api = await staff.get(f"/api/products/{world.product}")
    assert api.status_code == 200, api.text
    [picture] = api.json()["media"]
    assert picture["kind"] == "image" and picture["url"] and picture["thumbs"] and picture["download"]
    page = await staff.get(f"/products/{world.product}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    shown = {url.split("?")[0] for url in [picture["url"], *picture["thumbs"].values()]}
    assert any(f'<img src="{path}' in page.text for path in shown), "the product page shows its picture"
