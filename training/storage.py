"""Model files: a local folder on the embedded default, S3 (boto3) when a bucket is set.

Artifacts are addressed by a key ("sentiment-2026...joblib"); `local_path(key)`
returns a file on this machine, downloading it from S3 into MODEL_ARTIFACT_DIR
first when needed, so every process can load any version.
"""

from __future__ import annotations

import os
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
