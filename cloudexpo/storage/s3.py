"""Objects in an S3 bucket (AWS, MinIO, Ceph RGW, R2 ...) through boto3.

The client configures itself the way boto3 always does (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_DEFAULT_REGION``, profiles ...); path-style
addressing is used whenever the endpoint is not AWS's, since MinIO and most
self-hosted servers do not serve bucket subdomains. Every network call runs
in a worker thread, so the event loop never waits on S3.

Retries: botocore's "standard" mode retries API calls on 5xx, throttling and
connection errors with exponential back-off (5 attempts), and s3transfer
retries its own reads, so calls get no second layer of retries here (it
would multiply the attempts). What botocore cannot retry is a connection
dropped in the middle of a streamed body: :meth:`S3Store.iter_chunks` resumes
it with a Range GET bound to the same ETag.

Keys are stored under the configured prefix; callers only ever see their
own keys.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import boto3
import boto3.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cloudexpo.storage.base import (
    InvalidKey,
    InvalidUpload,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
    UploadedPart,
    check_expires,
    check_key,
    check_part_number,
    check_prefix,
    content_disposition,
    normalize_etag,
)

T = TypeVar("T")

_NOT_FOUND = {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}
_BAD_UPLOAD = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"}
_STREAM_RESUMES = 3
_DELETE_BATCH = 1000


class _RangeNotSatisfiable(StorageError):
    pass


def _is_aws(endpoint_url: str) -> bool:
    host = urlsplit(endpoint_url).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


class S3Store:
    kind = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        transfer_config: TransferConfig | None = None,
    ) -> None:
        if not bucket:
            raise StorageError("an S3 store needs a bucket name: s3://bucket[/prefix]")
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{check_key(prefix)}/" if prefix else ""
        # upload_file switches to parallel multipart uploads above the threshold.
        self.transfer_config = transfer_config or TransferConfig(
            multipart_threshold=64 * 1024 * 1024,
            multipart_chunksize=16 * 1024 * 1024,
            max_concurrency=4,
        )
        self._session = boto3.session.Session()
        self._config = Config(
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=60,
            max_pool_connections=32,
        )
        client = self._session.client("s3", config=self._config)
        if not _is_aws(client.meta.endpoint_url):
            client.close()
            self._config = self._config.merge(Config(s3={"addressing_style": "path"}))
            client = self._session.client("s3", config=self._config)
        self._client = client

    def __repr__(self) -> str:
        return f"S3Store({self._where})"

    @property
    def endpoint_url(self) -> str:
        return str(self._client.meta.endpoint_url)

    @property
    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint_url}"

    # --- keys and errors ---

    def _full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, op: str, key: str | None, exc: ClientError) -> StorageError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = error.get("Message") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        what = f"{key!r} in {self._where}" if key is not None else self._where
        if code == "NoSuchBucket":
            return StorageError(f"bucket {self.bucket!r} does not exist at {self.endpoint_url}")
        if code in _NOT_FOUND:
            thing = "multipart upload for" if code == "NoSuchUpload" else "object"
            return ObjectNotFound(f"no {thing} {what}")
        if code in _BAD_UPLOAD:
            return InvalidUpload(f"S3 refused to complete {what}: {code}: {message}")
        if code == "InvalidRange":
            return _RangeNotSatisfiable(f"range outside {what}")
        return StorageError(f"S3 {op} of {what} failed: {code}: {message}")

    def _sync(self, op: str, key: str | None, func: Callable[[], T]) -> T:
        try:
            return func()
        except ClientError as exc:
            raise self._error(op, key, exc) from exc
        except boto3.exceptions.S3UploadFailedError as exc:
            raise StorageError(f"S3 {op} of {key!r} in {self._where} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 {op} of {key!r}: cannot reach {self._where}: {exc}") from exc

    async def _call(self, op: str, key: str | None, **params: Any) -> dict[str, Any]:
        method = getattr(self._client, op)
        result: dict[str, Any] = await asyncio.to_thread(self._sync, op, key, lambda: method(**params))
        return result

    def _info(self, key: str, head: dict[str, Any]) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            etag=normalize_etag(head["ETag"]),
            content_type=head.get("ContentType") or "application/octet-stream",
            last_modified=head["LastModified"].astimezone(dt.UTC),
            cache_control=head.get("CacheControl"),
        )

    async def _head_or_raise(self, key: str) -> ObjectInfo:
        info = await self.head(key)
        if info is None:
            raise StorageError(f"{key!r} was written but is not visible in {self._where}")
        return info

    # --- the ObjectStore contract ---

    async def check(self) -> None:
        def probe() -> None:
            # One attempt, short timeouts: a health check should answer fast.
            config = self._config.merge(
                Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=10)
            )
            client = self._session.client("s3", config=config)
            try:
                client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                reason = {404: "the bucket does not exist", 403: "access denied (check the credentials)"}
                raise StorageError(
                    f"S3 bucket {self.bucket!r} at {self.endpoint_url}: "
                    f"{reason.get(status, exc)}"
                ) from exc
            except BotoCoreError as exc:
                raise StorageError(
                    f"S3 bucket {self.bucket!r}: cannot reach the endpoint {self.endpoint_url}: {exc}"
                ) from exc
            finally:
                client.close()

        await asyncio.to_thread(probe)

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)

    async def put_bytes(
        self, key: str, data: bytes, content_type: str, *, cache_control: str | None = None
    ) -> ObjectInfo:
        full = self._full(key)
        extra = {"CacheControl": cache_control} if cache_control is not None else {}
        await self._call("put_object", key, Bucket=self.bucket, Key=full, Body=data, ContentType=content_type, **extra)
        return await self._head_or_raise(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> ObjectInfo:
        full = self._full(key)

        def upload() -> None:
            self._client.upload_file(
                str(path),
                self.bucket,
                full,
                ExtraArgs={"ContentType": content_type},
                Config=self.transfer_config,
            )

        await asyncio.to_thread(self._sync, "upload", key, upload)
        return await self._head_or_raise(key)

    async def get_bytes(self, key: str) -> bytes:
        full = self._full(key)

        def get() -> bytes:
            body = self._client.get_object(Bucket=self.bucket, Key=full)["Body"]
            with body:
                data: bytes = body.read()
            return data

        return await asyncio.to_thread(self._sync, "get", key, get)

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        if start < 0 or length < 0:
            raise ValueError("start and length must not be negative")
        full = self._full(key)
        if length == 0:
            if await self.head(key) is None:
                raise ObjectNotFound(f"no object {key!r} in {self._where}")
            return b""

        def get() -> bytes:
            rng = f"bytes={start}-{start + length - 1}"
            body = self._client.get_object(Bucket=self.bucket, Key=full, Range=rng)["Body"]
            with body:
                data: bytes = body.read()
            return data

        try:
            return await asyncio.to_thread(self._sync, "ranged get", key, get)
        except _RangeNotSatisfiable:
            return b""

    async def download_file(self, key: str, path: Path) -> None:
        full = self._full(key)

        def download() -> None:
            self._client.download_file(self.bucket, full, str(path), Config=self.transfer_config)

        await asyncio.to_thread(self._sync, "download", key, download)

    async def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        full = self._full(key)
        response = await self._call("get_object", key, Bucket=self.bucket, Key=full)
        etag, body, offset, resumes = response["ETag"], response["Body"], 0, 0
        try:
            while True:
                try:
                    chunk: bytes = await asyncio.to_thread(body.read, chunk_size)
                except (BotoCoreError, OSError) as exc:
                    resumes += 1
                    if resumes > _STREAM_RESUMES:
                        raise StorageError(f"reading {key!r} from {self._where} kept failing: {exc}") from exc
                    body.close()
                    await asyncio.sleep(0.2 * 2**resumes)
                    response = await self._call(
                        "get_object", key, Bucket=self.bucket, Key=full, Range=f"bytes={offset}-", IfMatch=etag
                    )
                    body = response["Body"]
                    continue
                if not chunk:
                    return
                offset += len(chunk)
                yield chunk
        finally:
            body.close()

    async def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        try:
            head = await self._call("head_object", key, Bucket=self.bucket, Key=full)
        except ObjectNotFound:
            return None
        return self._info(key, head)

    async def delete(self, key: str) -> None:
        await self._call("delete_object", key, Bucket=self.bucket, Key=self._full(key))

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise InvalidKey("delete_prefix needs a non-empty prefix")
        check_prefix(prefix)

        def delete_all() -> int:
            count = 0
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                for i in range(0, len(keys), _DELETE_BATCH):
                    batch = keys[i : i + _DELETE_BATCH]
                    result = self._client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                    )
                    if errors := result.get("Errors"):
                        first = errors[0]
                        raise StorageError(
                            f"S3 refused to delete {len(errors)} of {len(batch)} objects under "
                            f"{prefix!r} in {self._where}, e.g. {first.get('Key')!r}: "
                            f"{first.get('Code')}: {first.get('Message')}"
                        )
                    count += len(batch)
            return count

        return await asyncio.to_thread(self._sync, "delete_prefix", prefix, delete_all)

    async def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)

        def list_all() -> list[str]:
            paginator = self._client.get_paginator("list_objects_v2")
            skip = len(self.prefix)
            return [
                obj["Key"][skip:]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
                for obj in page.get("Contents", [])
            ]

        return await asyncio.to_thread(self._sync, "list", prefix, list_all)

    # --- URLs ---

    def _presign(self, op: str, params: dict[str, Any], expires: int) -> str:
        check_expires(expires)
        url: str = self._client.generate_presigned_url(
            op, Params={"Bucket": self.bucket, **params}, ExpiresIn=expires
        )
        return url

    def get_url(
        self,
        key: str,
        expires: int = 3600,
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str:
        params: dict[str, Any] = {"Key": self._full(key)}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        if content_type is not None:
            params["ResponseContentType"] = content_type
        return self._presign("get_object", params, expires)

    def put_url(
        self, key: str, content_type: str, expires: int = 3600, *, max_size: int | None = None
    ) -> str:
        # Content-Type is a signed header of the presigned PUT. A presigned PUT
        # cannot bound the size (max_size is the local store's); S3 caps a PUT
        # at 5 GiB and the app checks the size with head() on completion.
        return self._presign("put_object", {"Key": self._full(key), "ContentType": content_type}, expires)

    # --- multipart ---

    async def create_multipart(self, key: str, content_type: str) -> str:
        response = await self._call(
            "create_multipart_upload", key, Bucket=self.bucket, Key=self._full(key), ContentType=content_type
        )
        upload_id: str = response["UploadId"]
        return upload_id

    def part_url(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        expires: int = 3600,
        *,
        max_size: int | None = None,
    ) -> str:
        check_part_number(part_number)
        params = {"Key": self._full(key), "UploadId": upload_id, "PartNumber": part_number}
        return self._presign("upload_part", params, expires)

    async def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        full = self._full(key)

        def list_all() -> list[UploadedPart]:
            paginator = self._client.get_paginator("list_parts")
            return [
                UploadedPart(int(p["PartNumber"]), normalize_etag(p["ETag"]), int(p["Size"]))
                for page in paginator.paginate(Bucket=self.bucket, Key=full, UploadId=upload_id)
                for p in page.get("Parts", [])
            ]

        return await asyncio.to_thread(self._sync, "list_parts", key, list_all)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        numbers = [n for n, _ in parts]
        if not parts:
            raise InvalidUpload("complete_multipart needs at least one part")
        if numbers != sorted(set(numbers)):
            raise InvalidUpload(f"parts must be listed in ascending order, once each: {numbers}")
        listed = [{"PartNumber": n, "ETag": f'"{normalize_etag(etag)}"'} for n, etag in parts]
        await self._call(
            "complete_multipart_upload",
            key,
            Bucket=self.bucket,
            Key=self._full(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": listed},
        )
        return await self._head_or_raise(key)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await self._call(
                "abort_multipart_upload", key, Bucket=self.bucket, Key=self._full(key), UploadId=upload_id
            )
        except ObjectNotFound:
            pass


__all__ = ["S3Store"]
