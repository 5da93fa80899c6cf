"""Object storage: a local folder by default, any S3 endpoint by URL."""

from __future__ import annotations

from cloudexpo.storage.base import (
    MAX_URL_EXPIRES,
    MIN_PART_SIZE,
    InvalidKey,
    InvalidUpload,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    UploadedPart,
    check_key,
    check_prefix,
    content_disposition,
)

__all__ = [
    "MAX_URL_EXPIRES",
    "MIN_PART_SIZE",
    "InvalidKey",
    "InvalidUpload",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "UploadedPart",
    "check_key",
    "check_prefix",
    "content_disposition",
    "open_store",
]


def open_store(url: str, secret_key: str, public_url: str) -> ObjectStore:
    """``s3://bucket[/prefix]`` or a folder path."""
    if url.startswith("s3://"):
        from cloudexpo.storage.s3 import S3Store

        bucket, _, prefix = url[len("s3://") :].partition("/")
        return S3Store(bucket, prefix)
    from cloudexpo.storage.local import LocalStore

    path = url[len("file://") :] if url.startswith("file://") else url
    return LocalStore(path, secret_key, public_url)
