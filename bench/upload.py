"""A large multipart upload through presigned URLs: what passes through the app.

Three processes on 127.0.0.1: moto's S3 server, the Cloud Expo app (uvicorn,
SQLite, ``CLOUDEXPO_STORAGE_URL=s3://bench/media``) wrapped in a counter of
request-body bytes, and this driver, which plays the exhibitor's browser:
it signs in, asks ``POST /api/uploads`` for a ticket, asks part URLs in
batches, PUTs the parts (generated on the fly: a real H.264 clip followed by
an MP4 ``free`` box filling the size, so nothing big is ever written to disk
by the driver) straight to S3, four at a time, completes, and waits for the
background processing (probe and poster through ranged reads).

Figures printed:

* bytes of request bodies the app received (target: a few KB of JSON, 0 of
  media), and on ``/storage/`` routes (target 0);
* the app's RSS before, at its peak during, and after (target: flat within 20 MB);
* upload throughput through the ticket API against a baseline measured in the
  same run: the same bytes sent by boto3's multipart upload straight to S3
  with the same part size and concurrency, no app involved (ratio ~1.0 means
  the tickets cost nothing).

Run::

    .venv/bin/python bench/upload.py                 # 2 GB
    .venv/bin/python bench/upload.py --size 200MB    # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import secrets
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._serving import free_port

BUCKET = "bench"
PASSWORD = "bench password 123"
EMAIL = "staff@bench.example"
BLOCK = 1 << 20


def parse_size(text: str) -> int:
    text = text.strip().upper()
    for suffix, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("B", 1)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


# --- the app under test, in its own process ---------------------------------------------


class Counter:
    """ASGI wrapper: counts request-body bytes by path; ``/bench/counters`` reports them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: dict[str, int] = {"total": 0, "storage": 0, "api": 0}
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/bench/counters":
            body = json.dumps({"bodies": self.bodies, "requests": self.requests}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        self.requests += 1
        area = "storage" if scope["path"].startswith("/storage/") else "api" if scope["path"].startswith("/api/") else None

        async def counting_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                n = len(message.get("body", b""))
                self.bodies["total"] += n
                if area:
                    self.bodies[area] += n
            return message

        await self.app(scope, counting_receive, send)


def serve(port: int) -> None:
    import uvicorn

    from cloudexpo.app import create_app
    from cloudexpo.settings import load_settings

    app = Counter(create_app(load_settings()))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False)


# --- test data generated on the fly ------------------------------------------------------


class Source:
    """The bytes of a valid MP4 of ``size`` bytes: a short H.264 clip, then a ``free`` box."""

    def __init__(self, size: int, workdir: Path) -> None:
        from tests.test_media_support import make_video

        self.head = make_video(workdir / "clip.mp4", seconds=2.0, size=(640, 360)).read_bytes()
        self.size = size
        filler = size - len(self.head)
        if filler < 8 or filler >= 2**32:
            raise SystemExit("size must be between a few KB and 4 GB")
        self.head += struct.pack(">I", filler) + b"free"
        self.block = random.Random(1).randbytes(BLOCK)

    def read(self, start: int, length: int) -> bytes:
        end = min(self.size, start + length)
        out = bytearray()
        if start < len(self.head):
            out += self.head[start : min(end, len(self.head))]
            start = len(self.head)
        while start < end:
            offset = (start - len(self.head)) % BLOCK
            take = min(BLOCK - offset, end - start)
            out += self.block[offset : offset + take]
            start += take
        return bytes(out)


class SourceFile(io.RawIOBase):
    """:class:`Source` as a readable file, for boto3's baseline upload."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.source.read(self.pos, len(buffer))
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


# --- the driver ------------------------------------------------------------------------


async def seed(env: dict[str, str]) -> int:
    from booths.exhibition.models import Booth, Exhibitor, Hall, Zone
    from cloudexpo import accounts
    from cloudexpo.app import open_services
    from cloudexpo.settings import load_settings

    services = open_services(load_settings(env))
    try:
        await services.db.migrate()
        async with services.db.session() as db:
            hall = Hall(code="1", name={"en": "Hall 1"})
            db.add(hall)
            await db.flush()
            zone = Zone(hall_id=hall.id, slug="bench", code="1A", name={"en": "Bench"})
            db.add(zone)
            await db.flush()
            exhibitor = Exhibitor(name={"en": "Bench Motors"}, region="sichuan", industry="services")
            db.add(exhibitor)
            await db.flush()
            booth = Booth(number="1A-001", zone_id=zone.id, exhibitor_id=exhibitor.id, name={"en": "Bench"}, published=True)
            db.add(booth)
            await accounts.create_user(db, EMAIL, PASSWORD, role="exhibitor", exhibitor_id=exhibitor.id)
            await db.commit()
            return booth.id
    finally:
        await services.close()


def wait_http(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.1)


def upload_through_app(base: str, booth_id: int, source: Source, concurrency: int) -> tuple[float, dict[str, Any]]:
    import httpx
    import urllib3

    app = httpx.Client(base_url=base, trust_env=False, timeout=60)
    csrf = app.get("/api/me").json()["csrf_token"]
    signed = app.post("/api/session", json={"email": EMAIL, "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
    assert signed.status_code == 200, signed.text
    csrf = app.get("/api/me").json()["csrf_token"]
    headers = {"X-CSRF-Token": csrf}
    started = time.perf_counter()
    answer = app.post("/api/uploads", headers=headers, json={
        "booth_id": booth_id, "kind": "video", "filename": "bench.mp4", "size": source.size, "content_type": "video/mp4",
    })
    assert answer.status_code == 201, answer.text
    ticket = answer.json()
    assert ticket["mode"] == "multipart", ticket
    part_size, count = ticket["part_size"], ticket["part_count"]
    urls: dict[int, str] = {}
    lock = threading.Lock()

    def url_for(n: int) -> str:
        with lock:
            if n not in urls:
                batch = list(range(n, min(count, n + 15) + 1))
                got = app.post(f"/api/uploads/{ticket['id']}/parts", headers=headers, json={"part_numbers": batch})
                assert got.status_code == 200, got.text
                urls.update({p["part_number"]: p["url"] for p in got.json()["parts"]})
            return urls[n]

    # urllib3, as boto3 uses in the baseline, so that the comparison is of the paths, not the clients
    s3 = urllib3.PoolManager(maxsize=concurrency, retries=False, timeout=urllib3.Timeout(connect=10, read=300))

    def put(n: int) -> tuple[int, str]:
        data = source.read((n - 1) * part_size, part_size)
        for attempt in range(5):
            response = s3.request("PUT", url_for(n), body=data)
            if response.status == 200:
                return n, str(response.headers["etag"])
            time.sleep(2**attempt)
        raise SystemExit(f"part {n} failed: {response.status} {response.data[:200]!r}")

    with ThreadPoolExecutor(concurrency) as pool:
        etags = sorted(pool.map(put, range(1, count + 1)))
    parts_elapsed = time.perf_counter() - started
    done = app.post(f"/api/uploads/{ticket['id']}/complete", headers=headers,
                    json={"parts": [{"part_number": n, "etag": e} for n, e in etags]})
    assert done.status_code == 200, done.text
    elapsed = time.perf_counter() - started
    asset_id = ticket["asset_id"]
    deadline = time.monotonic() + 600
    while True:
        view = app.get(f"/api/assets/{asset_id}").json()
        if view["state"] in ("ready", "rejected") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    s3.clear()
    app.close()
    view["bench_parts_seconds"] = parts_elapsed
    return elapsed, view


def baseline_boto3(source: Source, part_size: int, concurrency: int) -> float:
    import boto3
    from boto3.s3.transfer import TransferConfig

    client = boto3.client("s3")
    config = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=concurrency)
    started = time.perf_counter()
    client.upload_fileobj(SourceFile(source), BUCKET, "baseline/bench.mp4", Config=config)
    elapsed = time.perf_counter() - started
    client.delete_object(Bucket=BUCKET, Key="baseline/bench.mp4")
    client.close()
    return elapsed


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="2GB", help="bytes to upload (2GB, 500MB, ...)")
    parser.add_argument("--concurrency", type=int, default=4, help="parts in flight at once")
    parser.add_argument("--no-baseline", action="store_true", help="skip the boto3 baseline upload")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="cloudexpo-bench-upload-") as folder:
        work = Path(folder)
        moto_port, app_port = free_port(), free_port()
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
            "NO_PROXY": "127.0.0.1,localhost",
            "CLOUDEXPO_DATA_DIR": str(work / "data"),
            "CLOUDEXPO_STORAGE_URL": f"s3://{BUCKET}/media",
            "CLOUDEXPO_SECRET_KEY": secrets.token_hex(24),
            "CLOUDEXPO_HOST": "127.0.0.1",
            "CLOUDEXPO_PORT": str(app_port),
            "CLOUDEXPO_SIGNIN_RATE": "1000",
            "CLOUDEXPO_MAX_VIDEO_BYTES": str(max(size, 2 * 1024**3)),
            "CLOUDEXPO_QUOTA_BYTES": str(max(size * 2, 2 * 1024**3)),
            "CLOUDEXPO_LOG_LEVEL": "warning",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith(("AWS_", "NO_PROXY"))})
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
            wait_http(f"http://127.0.0.1:{moto_port}/")
            import boto3

            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            s3.close()
            booth_id = asyncio.run(seed(env))
            procs.append(subprocess.Popen([sys.executable, __file__, "--serve", str(app_port)], env=env))
            base = f"http://127.0.0.1:{app_port}"
            wait_http(f"{base}/healthz")
            print(f"generating {mb(size)} on the fly (an H.264 clip and an MP4 free box) ...", flush=True)
            source = Source(size, work)

            import httpx

            # Warm-up: a small upload through the same path, so that one-time costs (botocore's
            # models, PyAV's libraries, the first thread pool) are not counted as growth.
            warm = Source(20 * 10**6, work)
            upload_through_app(base, booth_id, warm, args.concurrency)
            sampler = RssSampler(procs[-1].pid)
            rss_before = sampler.rss()
            sampler.start()
            elapsed, view = upload_through_app(base, booth_id, source, args.concurrency)
            time.sleep(1.0)
            rss_after = sampler.rss()
            sampler.stop.set()
            sampler.join()
            counters = httpx.get(f"{base}/bench/counters", trust_env=False).json()

            from booths.media.uploads import plan_parts

            part_size, parts = plan_parts(size)
            print(f"uploaded {mb(size)} in {parts} parts of {part_size // 2**20} MiB, {args.concurrency} at a time, "
                  f"in {elapsed:.1f} s ({size / elapsed / 1e6:.0f} MB/s; ticket and parts {view['bench_parts_seconds']:.1f} s, "
                  f"completion and checks {elapsed - view['bench_parts_seconds']:.1f} s)")
            print(f"asset: {view['state']}; duration {view['meta'].get('duration')} s, codecs {view['meta'].get('codecs')}, "
                  f"poster {'yes' if view.get('poster') else 'no'}{'; problem: ' + view['problem'] if view.get('problem') else ''}")
            print(f"request bodies through the app: {counters['bodies']['total']:,} bytes in {counters['requests']} requests "
                  f"(on /storage/: {counters['bodies']['storage']:,}; JSON on /api/: {counters['bodies']['api']:,}) "
                  f"= {counters['bodies']['total'] / size:.2e} of the file")
            print(f"app RSS: before {mb(rss_before)}, peak {mb(sampler.peak)}, after {mb(rss_after)}; "
                  f"growth {mb(rss_after - rss_before)} (peak {mb(sampler.peak - rss_before)})")
            if not args.no_baseline:
                base_elapsed = baseline_boto3(source, part_size, args.concurrency)
                print(f"baseline (boto3 multipart straight to S3, same parts, no app): {base_elapsed:.1f} s "
                      f"({size / base_elapsed / 1e6:.0f} MB/s); through the ticket API / baseline throughput "
                      f"= {base_elapsed / elapsed:.2f}")
            ok = counters["bodies"]["storage"] == 0 and rss_after - rss_before < 20e6 and view["state"] == "ready"
            print("targets met" if ok else "TARGETS MISSED")
            return 0 if ok else 1
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    sys.exit(main())
