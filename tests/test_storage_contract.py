"""One contract, two stores: every test runs on the local folder store and on
S3 (moto's server), and fetches the URLs it gets over real HTTP with httpx.

moto does not verify SigV4 signatures or expiry, so on S3 the tests about
refused URLs check what the URL binds (X-Amz-Expires, signed headers); the
local store's refusals are checked over HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest
from boto3.s3.transfer import TransferConfig

from cloudexpo.storage import (
    InvalidKey,
    InvalidUpload,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    open_store,
)
from cloudexpo.storage.local import LocalStore
from cloudexpo.storage.s3 import S3Store
from tests.fixtures_storage import StorageHTTPServer, free_port

MiB = 1024 * 1024
SECRET = "contract-test-secret"


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        server: StorageHTTPServer = request.getfixturevalue("storage_http_server")
        local = LocalStore(tmp_path / "objects", SECRET, server.url)
        server.app.state.services.store = local
        await local.check()
        yield local
        server.app.state.services.store = None
        await local.close()
    else:
        bucket: str = request.getfixturevalue("s3_bucket")
        # A prefix, so that every test also checks callers never see it.
        s3 = open_store(f"s3://{bucket}/media", SECRET, "http://unused")
        assert isinstance(s3, S3Store)
        # Multipart above 5 MiB so put_file's multipart path runs in the tests.
        s3.transfer_config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
        yield s3
        await s3.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
        yield client


def multipart_etag(*parts: bytes) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=httpx.QueryParams(query).__str__()))


# --- objects the server reads and writes itself ----------------------------------------


async def test_put_get_head_delete(store: ObjectStore) -> None:
    data = b"hello, exhibition\n" * 100
    info = await store.put_bytes("booths/1/notes.txt", data, "text/plain")
    assert (info.key, info.size, info.content_type) == ("booths/1/notes.txt", len(data), "text/plain")
    assert info.etag == hashlib.md5(data).hexdigest()
    assert info.last_modified.tzinfo is not None

    assert await store.get_bytes("booths/1/notes.txt") == data
    head = await store.head("booths/1/notes.txt")
    assert head is not None
    assert (head.size, head.etag, head.content_type) == (info.size, info.etag, info.content_type)

    replaced = await store.put_bytes("booths/1/notes.txt", b"v2", "text/markdown")
    assert (replaced.size, replaced.content_type) == (2, "text/markdown")
    assert await store.get_bytes("booths/1/notes.txt") == b"v2"

    await store.delete("booths/1/notes.txt")
    assert await store.head("booths/1/notes.txt") is None
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("booths/1/notes.txt")
    await store.delete("booths/1/notes.txt")  # idempotent
    assert await store.list_keys("") == []


async def test_list_and_delete_prefix(store: ObjectStore) -> None:
    keys = ["a/1/x", "a/1/y", "a/10/z", "a/2/w", "b", "é/ü"]
    for key in keys:
        await store.put_bytes(key, key.encode(), "text/plain")
    assert await store.list_keys("") == sorted(keys, key=str.encode)
    assert await store.list_keys("a/1") == ["a/1/x", "a/1/y", "a/10/z"]  # plain string prefix
    assert await store.list_keys("a/1/") == ["a/1/x", "a/1/y"]
    assert await store.list_keys("zzz/") == []

    assert await store.delete_prefix("a/1/") == 2
    assert await store.list_keys("a/") == ["a/10/z", "a/2/w"]
    assert await store.delete_prefix("a") == 2
    assert await store.list_keys("") == ["b", "é/ü"]
    assert await store.delete_prefix("nothing/") == 0
    with pytest.raises(InvalidKey):
        await store.delete_prefix("")


async def test_read_range(store: ObjectStore) -> None:
    data = bytes(range(256)) * 4
    await store.put_bytes("r.bin", data, "application/octet-stream")
    assert await store.read_range("r.bin", 10, 20) == data[10:30]
    assert await store.read_range("r.bin", 1000, 100) == data[1000:]  # clipped at the end
    assert await store.read_range("r.bin", 1024, 10) == b""
    assert await store.read_range("r.bin", 0, 0) == b""
    with pytest.raises(ObjectNotFound):
        await store.read_range("missing.bin", 0, 10)


async def test_iter_chunks(store: ObjectStore) -> None:
    data = os.urandom(3 * MiB + 7)
    await store.put_bytes("big.bin", data, "application/octet-stream")
    chunks = [chunk async for chunk in store.iter_chunks("big.bin", chunk_size=MiB)]
    assert b"".join(chunks) == data
    assert len(chunks) == 4
    with pytest.raises(ObjectNotFound):
        async for _ in store.iter_chunks("missing.bin"):
            pass


async def test_put_file_and_download_file(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    data = os.urandom(11 * MiB)
    source.write_bytes(data)
    info = await store.put_file("replays/1/full.mp4", source, "video/mp4")
    assert (info.size, info.content_type) == (len(data), "video/mp4")

    target = tmp_path / "download.bin"
    await store.download_file("replays/1/full.mp4", target)
    assert target.read_bytes() == data
    with pytest.raises(ObjectNotFound):
        await store.download_file("replays/1/missing.mp4", tmp_path / "missing.bin")


async def test_invalid_keys_refused(store: ObjectStore, http: httpx.AsyncClient) -> None:
    for key in ("../x", "a/../../x", "/etc/passwd", "a//b", "", "a\\b"):
        with pytest.raises(InvalidKey):
            await store.put_bytes(key, b"x", "text/plain")
        with pytest.raises(InvalidKey):
            store.get_url(key)
        with pytest.raises(InvalidKey):
            store.put_url(key, "text/plain")
        with pytest.raises(InvalidKey):
            await store.head(key)
    if isinstance(store, LocalStore):
        # A key smuggled past the client's path normalisation is refused by the server.
        url = store.get_url("x").replace("/storage/o/x?", "/storage/o/%2E%2E/x?")
        response = await http.get(url)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_key"


# --- URLs fetched over HTTP ---------------------------------------------------------------


async def test_get_url_full_range_416_304(store: ObjectStore, http: httpx.AsyncClient) -> None:
    data = os.urandom(100_000)
    info = await store.put_bytes("booths/7/intro.mp4", data, "video/mp4")
    url = store.get_url("booths/7/intro.mp4", 600)

    full = await http.get(url)
    assert full.status_code == 200
    assert full.content == data
    assert full.headers["content-type"] == "video/mp4"
    assert full.headers["etag"] == f'"{info.etag}"'
    assert "last-modified" in full.headers
    assert int(full.headers["content-length"]) == len(data)

    part = await http.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"

    tail = await http.get(url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206
    assert tail.content == data[-5:]

    beyond = await http.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416

    cached = await http.get(url, headers={"If-None-Match": full.headers["etag"]})
    assert cached.status_code == 304
    assert cached.content == b""

    head = await http.head(url)
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(data)
    assert head.headers.get("accept-ranges") == "bytes"


async def test_get_url_filename_and_content_type(store: ObjectStore, http: httpx.AsyncClient) -> None:
    await store.put_bytes("docs/brochure", b"%PDF-1.7 ...", "application/octet-stream")
    url = store.get_url("docs/brochure", filename="Büro brochure.pdf", content_type="application/pdf")
    response = await http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''B%C3%BCro%20brochure.pdf" in disposition


async def test_cache_control_kept_with_the_object(store: ObjectStore, http: httpx.AsyncClient) -> None:
    """A live playlist is put with no-cache: every GET says so, so players and CDNs revalidate it."""
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
    info = await store.put_bytes("replays/3/live.m3u8", playlist, "application/vnd.apple.mpegurl", cache_control="no-cache")
    assert info.cache_control == "no-cache"
    head = await store.head("replays/3/live.m3u8")
    assert head is not None and head.cache_control == "no-cache"
    response = await http.get(store.get_url("replays/3/live.m3u8", 3600))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == playlist
    # An object put without one keeps the URL's own default (the local store: private until it expires).
    await store.put_bytes("replays/3/seg_00001.ts", b"\x47" * 188, "video/mp2t")
    plain = await store.head("replays/3/seg_00001.ts")
    assert plain is not None and plain.cache_control is None


async def test_put_url_upload(store: ObjectStore, http: httpx.AsyncClient) -> None:
    data = os.urandom(50_000)
    url = store.put_url("uploads/logo.png", "image/png", 600)
    response = await http.put(url, content=data, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    etag = response.headers["etag"]
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'

    info = await store.head("uploads/logo.png")
    assert info is not None
    assert (info.size, info.content_type, f'"{info.etag}"') == (len(data), "image/png", etag)
    assert await store.get_bytes("uploads/logo.png") == data

    if isinstance(store, S3Store):
        query = parse_qs(urlsplit(url).query)
        assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
    else:
        wrong = await http.put(url, content=data, headers={"Content-Type": "text/html"})
        assert wrong.status_code == 403
        assert wrong.json()["error"] == "content_type_mismatch"


async def _put_part(http: httpx.AsyncClient, url: str, data: bytes) -> str:
    response = await http.put(url, content=data)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def test_multipart_upload_with_resume(store: ObjectStore, http: httpx.AsyncClient) -> None:
    key = "booths/3/tour.mp4"
    chunks = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    upload_id = await store.create_multipart(key, "video/mp4")
    urls = [store.part_url(key, upload_id, n, 600) for n in (1, 2, 3)]

    etags = [await _put_part(http, urls[i], chunks[i]) for i in (0, 1)]
    assert etags == [f'"{hashlib.md5(c).hexdigest()}"' for c in chunks[:2]]

    # The network dropped: the page asks what arrived and sends the rest.
    parts = await store.list_parts(key, upload_id)
    assert [(p.part_number, p.size) for p in parts] == [(1, 5 * MiB), (2, 5 * MiB)]
    assert [f'"{p.etag}"' for p in parts] == etags
    etags.append(await _put_part(http, urls[2], chunks[2]))

    info = await store.complete_multipart(key, upload_id, [(n, e) for n, e in zip((1, 2, 3), etags, strict=True)])
    assert (info.key, info.size, info.content_type) == (key, sum(map(len, chunks)), "video/mp4")
    assert info.etag == multipart_etag(*chunks)
    assert await store.get_bytes(key) == b"".join(chunks)

    fetched = await http.get(store.get_url(key), headers={"Range": f"bytes={5 * MiB - 2}-{5 * MiB + 1}"})
    assert fetched.status_code == 206
    assert fetched.content == chunks[0][-2:] + chunks[1][:2]
    with pytest.raises(ObjectNotFound):
        await store.list_parts(key, upload_id)


async def test_complete_refuses_wrong_parts(store: ObjectStore, http: httpx.AsyncClient) -> None:
    key = "uploads/bad.bin"
    upload_id = await store.create_multipart(key, "application/octet-stream")
    small = [os.urandom(1000), os.urandom(1000)]
    etags = [await _put_part(http, store.part_url(key, upload_id, n), small[n - 1]) for n in (1, 2)]
    with pytest.raises(InvalidUpload):  # part 1 is under 5 MiB and not the last
        await store.complete_multipart(key, upload_id, [(1, etags[0]), (2, etags[1])])
    with pytest.raises(InvalidUpload):
        await store.complete_multipart(key, upload_id, [(1, etags[1])])
    with pytest.raises(InvalidUpload):
        await store.complete_multipart(key, upload_id, [(2, etags[1]), (1, etags[0])])
    info = await store.complete_multipart(key, upload_id, [(2, etags[1])])  # a lone last part is fine
    assert info.size == 1000


async def test_abort_multipart(store: ObjectStore, http: httpx.AsyncClient) -> None:
    key = "uploads/abandoned.bin"
    upload_id = await store.create_multipart(key, "application/octet-stream")
    await _put_part(http, store.part_url(key, upload_id, 1), b"x" * 1000)
    await store.abort_multipart(key, upload_id)
    with pytest.raises(ObjectNotFound):
        await store.list_parts(key, upload_id)
    await store.abort_multipart(key, upload_id)  # idempotent
    assert await store.head(key) is None
    assert await store.list_keys("") == []


async def test_expired_url_refused(store: ObjectStore, http: httpx.AsyncClient) -> None:
    await store.put_bytes("soon-gone.txt", b"x", "text/plain")
    get_url = store.get_url("soon-gone.txt", expires=1)
    put_url = store.put_url("soon-gone.txt", "text/plain", expires=1)
    if isinstance(store, S3Store):
        for url in (get_url, put_url):
            assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["1"]
        return
    await asyncio.sleep(2.1)
    for response in (
        await http.get(get_url),
        await http.put(put_url, content=b"y", headers={"Content-Type": "text/plain"}),
    ):
        assert response.status_code == 403
        body = response.json()
        assert body["error"] == "signature_expired"
        assert "expired" in body["detail"]
    assert await store.get_bytes("soon-gone.txt") == b"x"


async def test_tampered_url_refused(store: ObjectStore, http: httpx.AsyncClient) -> None:
    await store.put_bytes("private/a.txt", b"a", "text/plain")
    await store.put_bytes("private/b.txt", b"b", "text/plain")
    url = store.get_url("private/a.txt")
    if isinstance(store, S3Store):
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Signature"][0]
        return
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    tampered = [
        with_query(url, sig=("A" if sig[0] != "A" else "B") + sig[1:]),  # changed signature
        url.replace("/a.txt?", "/b.txt?"),  # another object
        with_query(url, ct="text/html"),  # an added override
        with_query(url, exp="9999999999"),  # a longer life
    ]
    for bad in tampered:
        response = await http.get(bad)
        assert response.status_code == 403, bad
        assert response.json()["error"] == "signature_invalid"
    unsigned = await http.get(url.split("?")[0])
    assert unsigned.status_code == 403
    assert unsigned.json()["error"] == "signature_missing"
    # a GET signature does not allow a PUT
    put = await http.put(url, content=b"evil", headers={"Content-Type": "text/plain"})
    assert put.status_code == 403
    assert await store.get_bytes("private/a.txt") == b"a"


async def test_cors_preflight_and_exposed_etag(store: ObjectStore, http: httpx.AsyncClient) -> None:
    origin = "https://expo.example.org"
    url = store.put_url("cors/file.bin", "application/octet-stream")
    upload_id = await store.create_multipart("cors/big.bin", "application/octet-stream")
    part_url = store.part_url("cors/big.bin", upload_id, 1)
    for target in (url, part_url):
        preflight = await http.options(
            target,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] in ("*", origin)
        assert "PUT" in preflight.headers["access-control-allow-methods"]
        allowed_headers = preflight.headers["access-control-allow-headers"].lower()
        assert allowed_headers == "*" or "content-type" in allowed_headers
        assert "etag" in preflight.headers["access-control-expose-headers"].lower()

    response = await http.put(
        url, content=b"data", headers={"Origin": origin, "Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", origin)
    assert "etag" in response.headers["access-control-expose-headers"].lower()
    part = await http.put(part_url, content=b"part", headers={"Origin": origin})
    assert part.status_code == 200
    assert "etag" in part.headers["access-control-expose-headers"].lower()
    await store.abort_multipart("cors/big.bin", upload_id)


# --- health ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "s3"])
async def test_check_of_a_broken_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    broken: ObjectStore
    if kind == "local":
        (tmp_path / "a-file").write_bytes(b"")
        broken = LocalStore(tmp_path / "a-file" / "objects", SECRET, "http://127.0.0.1")
        expected = ["a-file", "not a writable folder"]
    else:
        request.getfixturevalue("aws_env")
        dead = f"http://127.0.0.1:{free_port()}"
        request.getfixturevalue("monkeypatch").setenv("AWS_ENDPOINT_URL", dead)
        broken = S3Store("expo-media", "prod")
        expected = ["expo-media", dead]
    with pytest.raises(StorageError) as caught:
        await broken.check()
    for needle in expected:
        assert needle in str(caught.value)
    await broken.close()


async def test_check_of_a_working_store(store: ObjectStore) -> None:
    await store.check()
