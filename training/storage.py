"""Model files: a local folder on the embedded default, S3 (boto3) when a bucket is set.

Artifacts are addressed by a key ("sentiment-2026...joblib"); `local_path(key)`
returns a file on this machine, downloading it from S3 into MODEL_ARTIFACT_DIR
first when needed, so every process can load any version.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings


def _s3_client():
    import boto3

    return boto3.client("s3", endpoint_url=settings.AWS_S3_ENDPOINT_URL or None)


def uses_s3() -> bool:
    return bool(settings.MODEL_S3_BUCKET)


def artifact_uri(key: str) -> str:
    if uses_s3():
        return f"s3://{settings.MODEL_S3_BUCKET}/{settings.MODEL_S3_PREFIX}{key}"
    return str(settings.MODEL_ARTIFACT_DIR / key)


def save(source: Path, key: str) -> str:
    """Store a finished file under `key`; returns its URI."""
    if uses_s3():
        _s3_client().upload_file(str(source), settings.MODEL_S3_BUCKET, settings.MODEL_S3_PREFIX + key)
        return artifact_uri(key)
    target = settings.MODEL_ARTIFACT_DIR / key
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != target.resolve():
        os.replace(source, target)
    return str(target)


def local_path(key: str) -> Path:
    path = settings.MODEL_ARTIFACT_DIR / key
    if path.exists() or not uses_s3():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Download to a temporary name first: another process may be reading the cache.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".download-")
    os.close(fd)
    try:
        _s3_client().download_file(settings.MODEL_S3_BUCKET, settings.MODEL_S3_PREFIX + key, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def scratch_dir() -> Path:
    settings.MODEL_ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=settings.MODEL_ARTIFACT_DIR, prefix=".build-"))


def s3_client():
    return _s3_client()


def keys() -> list[str]:
    """Every stored artifact key (for backups): the bucket's prefix on S3, else MODEL_ARTIFACT_DIR
    without its scratch and download folders (names starting with a dot)."""
    if uses_s3():
        prefix = settings.MODEL_S3_PREFIX
        found = []
        for page in (
            _s3_client().get_paginator("list_objects_v2").paginate(Bucket=settings.MODEL_S3_BUCKET, Prefix=prefix)
        ):
            found += [item["Key"][len(prefix) :] for item in page.get("Contents", []) if item["Key"] != prefix]
        return sorted(key for key in found if key and not key.endswith("/"))
    root = settings.MODEL_ARTIFACT_DIR
    if not root.is_dir():
        return []
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def fetch(key: str, target: Path) -> None:
    """Copy the stored file `key` to `target` (straight from S3, without filling the local cache)."""
    if uses_s3():
        _s3_client().download_file(settings.MODEL_S3_BUCKET, settings.MODEL_S3_PREFIX + key, str(target))
        return
    shutil.copyfile(settings.MODEL_ARTIFACT_DIR / key, target)
