"""What only the local store has: its HTTP answers, size limits and files on disk.

The behaviour both stores share is in ``test_storage_contract.py``; these
tests drive the routes in-process.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette

from cloudexpo.storage import InvalidKey, ObjectNotFound, open_store
from cloudexpo.storage.local import LocalStore
from web.routes.storage import routes


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    local = open_store(str(tmp_path / "objects"), "secret", "http://testserver/")
    assert isinstance(local, LocalStore)
    return local


@pytest.fixture
async def http(store: LocalStore) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=routes)
    app.state.services = SimpleNamespace(store=store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_put_size_limit_is_in_the_signature(store: LocalStore, http: httpx.AsyncClient) -> None:
    url = store.put_url("u/small.bin", "application/octet-stream", max_size=10)
    headers = {"Content-Type": "application/octet-stream"}
    assert (await http.put(url, content=b"x" * 10, headers=headers)).status_code == 200

    too_big = await http.put(url, content=b"x" * 11, headers=headers)
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "too_large"

    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse early
        for _ in range(3):
            yield b"x" * 5

    streamed = await http.put(url, content=body(), headers=headers)
    assert streamed.status_code == 413
    assert await store.get_bytes("u/small.bin") == b"x" * 10  # the old object stays
    assert list((store.root / ".tmp").iterdir()) == []  # no temp file left behind
    # the max is signed: raising it breaks the signature
    raised = await http.put(url.replace("max=10", "max=99"), content=b"x" * 11, headers=headers)
    assert raised.status_code == 403


async def test_part_size_limit(store: LocalStore, http: httpx.AsyncClient) -> None:
    upload_id = await store.create_multipart("u/big.bin", "application/octet-stream")
    url = store.part_url("u/big.bin", upload_id, 1, max_size=4)
    assert (await http.put(url, content=b"12345")).status_code == 413
    assert (await http.put(url, content=b"1234")).status_code == 200
    assert [p.size for p in await store.list_parts("u/big.bin", upload_id)] == [4]


async def test_part_url_of_unknown_upload(store: LocalStore, http: httpx.AsyncClient) -> None:
    upload_id = await store.create_multipart("u/x.bin", "application/octet-stream")
    url = store.part_url("u/x.bin", upload_id, 1)
    await store.abort_multipart("u/x.bin", upload_id)
    response = await http.put(url, content=b"late")
    assert response.status_code == 404
    assert response.json()["error"] == "no_such_upload"
    with pytest.raises(ObjectNotFound):
        store.part_url("u/x.bin", "../../etc", 1)
    with pytest.raises(ValueError):
        store.part_url("u/x.bin", upload_id, 10_001)


async def test_part_url_is_bound_to_its_key(store: LocalStore, http: httpx.AsyncClient) -> None:
    upload_id = await store.create_multipart("u/a.bin", "application/octet-stream")
    forged = store.part_url("u/other.bin", upload_id, 1)  # signed for another key
    assert (await http.put(forged, content=b"x")).status_code == 403
    with pytest.raises(ObjectNotFound):
        await store.list_parts("u/other.bin", upload_id)


async def test_if_modified_since_and_head(store: LocalStore, http: httpx.AsyncClient) -> None:
    info = await store.put_bytes("p/page.html", b"<p>hi</p>", "text/html")
    url = store.get_url("p/page.html", 120)
    response = await http.get(url)
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert 100 <= int(response.headers["cache-control"].rsplit("=", 1)[1]) <= 120
    assert response.headers["access-control-allow-origin"] == "*"
    last_modified = response.headers["last-modified"]
    assert email.utils.parsedate_to_datetime(last_modified) == info.last_modified.replace(microsecond=0)

    assert (await http.get(url, headers={"If-Modified-Since": last_modified})).status_code == 304
    earlier = email.utils.format_datetime(info.last_modified - dt.timedelta(hours=1), usegmt=True)
    assert (await http.get(url, headers={"If-Modified-Since": earlier})).status_code == 200
    # If-None-Match wins over If-Modified-Since
    assert (await http.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": last_modified})).status_code == 200

    head = await http.head(url)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "9")


async def test_ranges_s3_would_ignore(store: LocalStore, http: httpx.AsyncClient) -> None:
    await store.put_bytes("r.bin", b"0123456789", "application/octet-stream")
    url = store.get_url("r.bin")
    for value in ("bytes=0-1,3-4", "bytes=abc", "items=0-1", "bytes=5-2"):
        response = await http.get(url, headers={"Range": value})
        assert (response.status_code, response.content) == (200, b"0123456789"), value
    assert (await http.get(url, headers={"Range": "bytes=-0"})).status_code == 416
    assert (await http.get(url, headers={"Range": "bytes=8-100"})).content == b"89"
    stale = await http.get(url, headers={"Range": "bytes=0-1", "If-Range": '"old"'})
    assert stale.status_code == 200  # If-Range mismatch: the whole object


async def test_errors_are_json_with_cors(store: LocalStore, http: httpx.AsyncClient) -> None:
    missing = await http.get(store.get_url("nothing.txt"))
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "code": "not_found", "message": "no object 'nothing.txt'",
                              "detail": "no object 'nothing.txt'"}
    assert missing.headers["access-control-allow-origin"] == "*"
    preflight = await http.options(
        store.get_url("x"), headers={"Origin": "https://a.example", "Access-Control-Request-Method": "DELETE"}
    )
    assert preflight.status_code == 403


async def test_routes_answer_404_when_the_store_is_not_local(store: LocalStore) -> None:
    app = Starlette(routes=routes)
    app.state.services = SimpleNamespace(store=object())
    await store.put_bytes("x.txt", b"x", "text/plain")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get(store.get_url("x.txt"))).status_code == 404
        put = store.put_url("x.txt", "text/plain")
        assert (await client.put(put, content=b"y", headers={"Content-Type": "text/plain"})).status_code == 404


async def test_reserved_folders_are_not_keys(store: LocalStore) -> None:
    upload_id = await store.create_multipart("a.bin", "application/octet-stream")
    for key in (f".uploads/{upload_id}/manifest.json", ".meta/a.json", ".tmp/x"):
        with pytest.raises(InvalidKey):
            await store.get_bytes(key)
        with pytest.raises(InvalidKey):
            store.get_url(key)
    await store.put_bytes("a/b.txt", b"b", "text/plain")
    assert await store.list_keys("") == ["a/b.txt"]


async def test_files_on_disk(store: LocalStore) -> None:
    await store.put_bytes("deep/er/x.txt", b"x", "text/plain")
    assert (store.root / "deep/er/x.txt").read_bytes() == b"x"
    meta = json.loads((store.root / ".meta/deep/er/x.txt.json").read_bytes())
    assert meta["content_type"] == "text/plain"
    await store.delete("deep/er/x.txt")
    assert not (store.root / "deep").exists()  # empty folders pruned
    assert not (store.root / ".meta/deep").exists()


async def test_a_file_copied_in_by_hand(store: LocalStore) -> None:
    await store.check()
    (store.root / "manual").mkdir()
    (store.root / "manual/clip.mp4").write_bytes(b"abc")
    info = await store.head("manual/clip.mp4")
    assert info is not None
    assert (info.size, info.content_type) == (3, "video/mp4")
    # a stale sidecar (the file was replaced behind the store's back) is ignored
    await store.put_bytes("s.txt", b"one", "text/plain")
    first = await store.head("s.txt")
    (store.root / "s.txt").write_bytes(b"three")
    os.utime(store.root / "s.txt", ns=(1, 1))
    second = await store.head("s.txt")
    assert first is not None and second is not None
    assert second.size == 5 and second.etag != first.etag


async def test_a_key_that_is_also_a_folder(store: LocalStore) -> None:
    from cloudexpo.storage import StorageError

    await store.put_bytes("a/b", b"x", "text/plain")
    with pytest.raises(StorageError, match="both an object and a folder"):
        await store.put_bytes("a/b/c", b"y", "text/plain")
    with pytest.raises(StorageError, match="both an object and a folder"):
        await store.put_bytes("a", b"y", "text/plain")
    assert await store.list_keys("") == ["a/b"]
