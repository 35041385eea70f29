"""Restoring a backup (`manage.py restore`): everything checked before anything is written, one transaction."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.apps import apps
from django.contrib.auth.models import Group
from django.core import serializers
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from rest_framework.authtoken.models import Token

from project.auth import forget_cached_token
from project.backup.common import (
    CHUNK_ROWS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MODELS,
    BackupError,
    RestoreResult,
    applied_migrations,
    model_class,
    sha256,
    split_s3,
)
from training import storage
from training.registry import BASELINE_NAME, forget_deployed_model

logger = logging.getLogger(__name__)


@contextmanager
def _local_copy(source: str) -> Iterator[Path]:
    if not source.startswith("s3://"):
        path = Path(source)
        if path.is_file() and path.name == MANIFEST:
            path = path.parent
        if not (path / MANIFEST).is_file():
            raise BackupError(f"{source} is not a backup: no {MANIFEST} in it")
        yield path
        return
    bucket, prefix = split_s3(source.removesuffix(f"/{MANIFEST}"))
    client = storage.s3_client()
    with tempfile.TemporaryDirectory(prefix="revsent-restore-") as scratch:
        root = Path(scratch)
        found = False
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) + 1 :]
                if not relative or relative.endswith("/"):
                    continue
                target = root / relative
                if root.resolve() not in target.resolve().parents:
                    raise BackupError(f"Refusing an object outside the backup: {item['Key']}")
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, item["Key"], str(target))
                found = True
        if not found or not (root / MANIFEST).is_file():
            raise BackupError(f"{source} is not a backup: no {MANIFEST} under it")
        yield root


def _read_manifest(root: Path) -> dict:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"The manifest cannot be read: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{MANIFEST} does not describe a {FORMAT}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"Backup format version {manifest.get('format_version')} is not supported (this version reads "
            f"{FORMAT_VERSION})"
        )
    unknown = {entry["model"] for entry in manifest["models"]} - set(MODELS)
    if unknown:
        raise BackupError(f"The backup holds models this version does not know: {', '.join(sorted(unknown))}")
    return manifest


def _check_migrations(manifest: dict, using: str) -> None:
    theirs = manifest["django_migrations"]
    ours = applied_migrations(using)
    differences = []
    for app in sorted(set(theirs) | set(ours)):
        only_backup = sorted(set(theirs.get(app, [])) - set(ours.get(app, [])))
        only_here = sorted(set(ours.get(app, [])) - set(theirs.get(app, [])))
        differences += [f"{app}.{name} (backup only)" for name in only_backup]
        differences += [f"{app}.{name} (this database only)" for name in only_here]
    if differences:
        raise BackupError(
            "The backup's migrations do not match this database's: "
            + ", ".join(differences)
            + ". Restore into a database migrated to the same state (same version of the code)."
        )


def _verify_files(root: Path, manifest: dict) -> None:
    problems = []
    for entry in manifest["models"] + manifest["artifacts"]:
        path = root / entry["file"]
        if root.resolve() not in path.resolve().parents:
            problems.append(f"{entry['file']}: outside the backup")
        elif not path.is_file():
            problems.append(f"{entry['file']}: missing")
        elif path.stat().st_size != entry["bytes"]:
            problems.append(f"{entry['file']}: {path.stat().st_size} bytes, the manifest says {entry['bytes']}")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{entry['file']}: checksum mismatch")
    if problems:
        raise BackupError("The backup is damaged, nothing was restored: " + "; ".join(problems))


def _bootstrap_rows(label: str) -> models.QuerySet | None:
    """Rows that `migrate` itself creates: restoring into a fresh database replaces them."""

    if label == "auth.group":
        return model_class(label)._base_manager.all()
    if label == "training.modelversion":
        return model_class(label)._base_manager.filter(name=BASELINE_NAME, artifact_path="")
    if label == "training.deployment":
        return model_class(label)._base_manager.filter(action="initial", model_version__name=BASELINE_NAME)
    return None


def _existing_rows(using: str) -> dict[str, int]:
    existing = {}
    for label in MODELS:
        queryset = model_class(label)._base_manager.using(using)
        bootstrap = _bootstrap_rows(label)
        if bootstrap is not None:
            queryset = queryset.exclude(pk__in=bootstrap.using(using).values("pk"))
        count = queryset.count()
        if count:
            existing[label] = count
    return existing


def _tables_to_clear() -> list[str]:
    """The backed-up tables, their many-to-many tables and every table that points at them."""
    targets = {model_class(label) for label in MODELS if label != "auth.group"}
    clear = set(targets)
    for model in apps.get_models(include_auto_created=True):
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model in targets:
                clear.add(model)
    return sorted({m._meta.db_table for m in clear})


def _read_rows(path: Path) -> Iterator[list[dict]]:
    chunk = []
    with gzip.open(path, "rt", encoding="utf-8") as rows:
        for line in rows:
            chunk.append(json.loads(line))
            if len(chunk) >= CHUNK_ROWS:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _insert(model: type[models.Model], objs: list[models.Model], using: str) -> None:
    # Raw inserts, as loaddata's save(raw=True) but many rows per statement: the stored values go in
    # unchanged (auto_now_add keeps the original time), with their primary keys, and no signals fire.
    fields = [f for f in model._meta.local_concrete_fields if not f.generated]
    size = max(1, min(CHUNK_ROWS, connections[using].ops.bulk_batch_size(fields, objs)))
    for start in range(0, len(objs), size):
        model._base_manager.using(using)._insert(objs[start : start + size], fields=fields, raw=True, using=using)


def _load_model(label: str, path: Path, using: str) -> int:
    model = model_class(label)
    count = 0
    for chunk in _read_rows(path):
        count += len(chunk)
        if label == "auth.group":
            for item in serializers.deserialize("python", chunk, using=using):
                group, _ = Group.objects.using(using).get_or_create(name=item.object.name)
                group.permissions.set(item.m2m_data.get("permissions", []))
            continue
        objects = list(serializers.deserialize("python", chunk, using=using))
        _insert(model, [item.object for item in objects], using)
        for item in objects:
            for name, values in (item.m2m_data or {}).items():
                getattr(item.object, name).set(values)
    return count


def _reset_sequences(using: str) -> None:
    connection = connections[using]
    restored = [model_class(label) for label in MODELS]
    through = [f.remote_field.through for m in restored for f in m._meta.local_many_to_many]
    statements = connection.ops.sequence_reset_sql(no_style(), restored + through)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def _restore_artifacts(root: Path, manifest: dict) -> int:
    for entry in manifest["artifacts"]:
        scratch = storage.scratch_dir()
        try:
            copy = scratch / Path(entry["key"]).name
            shutil.copyfile(root / entry["file"], copy)
            storage.save(copy, entry["key"])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return len(manifest["artifacts"])


def backup_restore(
    *, source: str, force: bool = False, using: str = DEFAULT_DB_ALIAS, log: Callable[[str], None] = logger.info
) -> RestoreResult:
    """Load a backup into this database (empty unless `force`) and put its model files back."""
    with _local_copy(source) as root:
        manifest = _read_manifest(root)
        _check_migrations(manifest, using)
        _verify_files(root, manifest)
        existing = _existing_rows(using)
        if existing and not force:
            listed = ", ".join(f"{label}: {count}" for label, count in existing.items())
            raise BackupError(
                f"The database is not empty ({listed}). Restore into a freshly migrated database, "
                "or pass --force to replace everything in these tables with the backup."
            )

        old_tokens = list(Token.objects.using(using).values_list("key", flat=True))
        counts = {}
        connection = connections[using]
        try:
            with transaction.atomic(using=using):
                with connection.cursor() as cursor:
                    for sql in connection.ops.sql_flush(no_style(), _tables_to_clear(), allow_cascade=False):
                        cursor.execute(sql)
                for entry in manifest["models"]:
                    count = _load_model(entry["model"], root / entry["file"], using)
                    if count != entry["count"]:
                        raise BackupError(f"{entry['file']} holds {count} rows, the manifest says {entry['count']}")
                    counts[entry["model"]] = count
                    log(f"{entry['model']}: {count} rows")
                _reset_sequences(using)
                artifacts = _restore_artifacts(root, manifest)
                log(f"model files: {artifacts}")
        except (DatabaseError, DeserializationError, ValueError, KeyError, TypeError) as error:
            # Raised inside the transaction (or by its commit, where deferred foreign keys are checked).
            raise BackupError(f"The backup could not be loaded, nothing was restored: {error}") from error
    _after_restore(old_tokens)
    return RestoreResult(name=manifest["name"], counts=counts, artifacts=artifacts, replaced=existing)


def _after_restore(old_tokens: list[str]) -> None:
    """Drop what is remembered about the old data: resolved tokens (shared cache) and the deployed model."""

    for key in {*old_tokens, *Token.objects.values_list("key", flat=True)}:
        forget_cached_token(key)
    forget_deployed_model()


def rollups_rebuild(log: Callable[[str], None] = logger.info) -> None:
    """The dashboard and aspect rollups are derived data: rebuilt from the restored rows."""

    call_command("rebuild_rollups", stdout=_LogStream(log))


class _LogStream:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log

    def write(self, text: str) -> None:
        if text.strip():
            self.log(text.rstrip())

    def flush(self) -> None:
        pass
