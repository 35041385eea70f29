"""Writing a backup (`manage.py backup`): one consistent snapshot streamed to files, locally or to S3."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core import serializers
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone

from project.backup.common import (
    CHUNK_ROWS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MODELS,
    NAME_PREFIX,
    NATURAL_KEY_MODELS,
    applied_migrations,
    json_default,
    model_class,
    sha256,
    split_s3,
)
from training import storage

logger = logging.getLogger(__name__)


@contextmanager
def _snapshot(using: str) -> Iterator[None]:
    """One consistent view of every table while the app keeps running (no prediction without its review)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with transaction.atomic(using=using):
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    elif connection.vendor == "sqlite":
        # A deferred read transaction: in WAL mode it sees one snapshot and, unlike Django's IMMEDIATE
        # atomic(), does not hold the write lock, so the app keeps writing during a long backup.
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")
    else:
        with transaction.atomic(using=using):
            yield


def _dump_model(label: str, path: Path, using: str) -> int:
    model = model_class(label)
    natural = label in NATURAL_KEY_MODELS
    queryset = model._base_manager.using(using).order_by("pk")
    count = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        chunk: list[models.Model] = []

        def flush() -> None:
            for row in serializers.serialize(
                "python", chunk, use_natural_foreign_keys=natural, use_natural_primary_keys=label == "auth.group"
            ):
                out.write(json.dumps(row, default=json_default, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
            chunk.clear()

        for obj in queryset.iterator(chunk_size=CHUNK_ROWS):
            chunk.append(obj)
            count += 1
            if len(chunk) >= CHUNK_ROWS:
                flush()
        flush()
    return count


def backup_write(*, folder: Path, using: str = DEFAULT_DB_ALIAS, log: Callable[[str], None] = logger.info) -> Path:
    """Write a complete backup into a new folder inside `folder`; returns the backup's folder."""
    now = timezone.now().astimezone(dt.UTC)
    name = NAME_PREFIX + now.strftime("%Y%m%dT%H%M%S%fZ")
    root = Path(folder) / name
    (root / "data").mkdir(parents=True)
    connection = connections[using]

    entries = []
    with _snapshot(using):
        migrations = applied_migrations(using)
        for label in MODELS:
            relative = f"data/{label}.jsonl.gz"
            count = _dump_model(label, root / relative, using)
            entries.append({"model": label, "file": relative, "count": count})
            log(f"{label}: {count} rows")
        versions = model_class("training.modelversion")._base_manager.using(using)
        referenced = set(versions.exclude(artifact_path="").values_list("artifact_path", flat=True))

    # After the snapshot: a model file is stored before its ModelVersion row, so every version in
    # the snapshot has its files by now (files of versions created since are harmless extras).
    artifacts = []
    for key in storage.keys():
        relative = f"artifacts/{key}"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        storage.fetch(key, target)
        artifacts.append({"key": key, "file": relative})
    missing = sorted(referenced - {a["key"] for a in artifacts})
    if missing:
        log(f"warning: model files missing from storage: {', '.join(missing)}")
    log(f"model files: {len(artifacts)}")

    for entry in entries + artifacts:
        path = root / entry["file"]
        entry["bytes"] = path.stat().st_size
        entry["sha256"] = sha256(path)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "created_at": now.isoformat(),
        "database_vendor": connection.vendor,
        "django_migrations": migrations,
        "models": entries,
        "artifacts": artifacts,
        "missing_artifacts": missing,
        "artifact_storage": storage.artifact_uri(""),
    }
    # The manifest is written last: a folder without one is an unfinished backup.
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return root


def backup_create(*, target: str, using: str = DEFAULT_DB_ALIAS, log: Callable[[str], None] = logger.info) -> str:
    """Back up to a local folder or an `s3://bucket/prefix`; returns where the backup is."""
    if not target.startswith("s3://"):
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        return str(backup_write(folder=folder, using=using, log=log))
    bucket, prefix = split_s3(target)
    client = storage.s3_client()
    with tempfile.TemporaryDirectory(prefix="revsent-backup-") as scratch:
        root = backup_write(folder=Path(scratch), using=using, log=log)
        base = f"{prefix}/{root.name}" if prefix else root.name
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
        for path in [*files, root / MANIFEST]:  # the manifest last, as on disk
            client.upload_file(str(path), bucket, f"{base}/{path.relative_to(root).as_posix()}")
    return f"s3://{bucket}/{base}"
