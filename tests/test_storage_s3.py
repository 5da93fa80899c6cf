"""What only the S3 store has: the key prefix and the client's configuration."""

from __future__ import annotations

import boto3
import pytest

from cloudexpo.storage import StorageError
from cloudexpo.storage.s3 import S3Store


async def test_keys_live_under_the_prefix(s3_bucket: str) -> None:
    store = S3Store(s3_bucket, "/prod/media/")
    await store.put_bytes("booths/1/logo.png", b"png", "image/png")
    raw = boto3.client("s3").list_objects_v2(Bucket=s3_bucket)
    assert [o["Key"] for o in raw["Contents"]] == ["prod/media/booths/1/logo.png"]
    assert await store.list_keys("") == ["booths/1/logo.png"]
    assert "/prod/media/booths/1/logo.png?" in store.get_url("booths/1/logo.png")
    other = S3Store(s3_bucket, "staging")
    assert await other.list_keys("") == []
    await store.close()
    await other.close()


async def test_path_style_for_a_custom_endpoint(s3_bucket: str, aws_env: str) -> None:
    store = S3Store(s3_bucket, "")
    assert store.endpoint_url == aws_env
    assert store.get_url("k").startswith(f"{aws_env}/{s3_bucket}/k?")
    await store.close()


async def test_missing_bucket(aws_env: str) -> None:
    store = S3Store("no-such-bucket-here", "")
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        await store.check()
    with pytest.raises(StorageError, match="does not exist"):
        await store.put_bytes("k", b"x", "text/plain")
    await store.close()
