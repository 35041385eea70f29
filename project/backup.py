"""Backups of the platform's data and model files, and their restore (`manage.py backup` / `restore`).

A backup is one folder (locally, or under an S3 prefix) named ``revsent-backup-<UTC time>``:

    manifest.json                        what is inside: format, time, database vendor, applied migrations,
                                         per model the row count, file, size and SHA-256; the same per artifact
    data/<app>.<model>.jsonl.gz          one JSON object per row (Django's "python" serialisation), gzip
    artifacts/<key>                      the model files (training.storage keys), byte for byte

Everything streams: rows are read in chunks from one consistent snapshot and written line by line,
and read back the same way, so a million reviews never sit in memory. It goes through Django's
serialisation and ORM rather than pg_dump, so the same backup restores on SQLite and PostgreSQL.

Restore checks everything before writing anything: the format, the migration state (it must equal
this database's for the backed-up apps) and every file's size and checksum. It then loads all rows
in one transaction with their primary keys, resets PostgreSQL's sequences, puts the model files back
and only then commits; any error rolls the whole load back.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.apps import apps
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from training import storage

logger = logging.getLogger(__name__)

FORMAT = "revsent-backup"
FORMAT_VERSION = 1
NAME_PREFIX = "revsent-backup-"
MANIFEST = "manifest.json"
CHUNK_ROWS = 2000

# In load order: every foreign key points to a model listed before it. Groups are matched by
# name (migrate creates the role groups), users refer to groups and permissions by natural key.
MODELS = [
    "auth.group",
    "auth.user",
    "authtoken.token",
    "training.trainingjob",
    "training.modelversion",
    "reviews.review",
    "reviews.business",
    "reviews.prediction",
    "reviews.labelevent",
    "reviews.labelvote",
    "reviews.reviewaspect",
    "training.aspectannotation",
    "training.gatedecision",
    "training.deployment",
    "training.evaluationreport",
    "training.scheduledrun",
    "training.monitoringsnapshot",
    "training.alertchannel",
    "training.alert",
]
NATURAL_KEY_MODELS = {"auth.group", "auth.user"}


class BackupError(Exception):
    """The backup cannot be made or restored; the message says why."""


@dataclass
class RestoreResult:
    name: str
    counts: dict[str, int]
    artifacts: int
    replaced: dict[str, int] = field(default_factory=dict)


# --- Writing ------------------------------------------------------------------------------


def _json_default(value):
    # Full precision: DjangoJSONEncoder would cut datetimes to milliseconds.
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"Cannot serialise {type(value).__name__}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _model(label: str) -> type[models.Model]:
    return apps.get_model(label)


def _backed_up_apps() -> list[str]:
    return sorted({label.split(".")[0] for label in MODELS} | {"contenttypes"})


def _applied_migrations(using: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    wanted = set(_backed_up_apps())
    applied: dict[str, list[str]] = {app: [] for app in wanted}
    for app, name in MigrationRecorder(connections[using]).applied_migrations():
        if app in wanted:
            applied[app].append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


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
    model = _model(label)
    natural = label in NATURAL_KEY_MODELS
    queryset = model._base_manager.using(using).order_by("pk")
    count = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        chunk: list[models.Model] = []

        def flush() -> None:
            for row in serializers.serialize(
                "python", chunk, use_natural_foreign_keys=natural, use_natural_primary_keys=label == "auth.group"
            ):
                out.write(json.dumps(row, default=_json_default, ensure_ascii=False, separators=(",", ":")))
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
        migrations = _applied_migrations(using)
        for label in MODELS:
            relative = f"data/{label}.jsonl.gz"
            count = _dump_model(label, root / relative, using)
            entries.append({"model": label, "file": relative, "count": count})
            log(f"{label}: {count} rows")
        versions = _model("training.modelversion")._base_manager.using(using)
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
        entry["sha256"] = _sha256(path)
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


def _split_s3(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise BackupError(f"{uri} names no bucket (expected s3://bucket/prefix)")
    return bucket, prefix.strip("/")


def backup_create(*, target: str, using: str = DEFAULT_DB_ALIAS, log: Callable[[str], None] = logger.info) -> str:
    """Back up to a local folder or an `s3://bucket/prefix`; returns where the backup is."""
    if not target.startswith("s3://"):
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        return str(backup_write(folder=folder, using=using, log=log))
    bucket, prefix = _split_s3(target)
    client = storage.s3_client()
    with tempfile.TemporaryDirectory(prefix="revsent-backup-") as scratch:
        root = backup_write(folder=Path(scratch), using=using, log=log)
        base = f"{prefix}/{root.name}" if prefix else root.name
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)
        for path in [*files, root / MANIFEST]:  # the manifest last, as on disk
            client.upload_file(str(path), bucket, f"{base}/{path.relative_to(root).as_posix()}")
    return f"s3://{bucket}/{base}"


# --- Reading ------------------------------------------------------------------------------


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
    bucket, prefix = _split_s3(source.removesuffix(f"/{MANIFEST}"))
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
    ours = _applied_migrations(using)
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
        elif _sha256(path) != entry["sha256"]:
            problems.append(f"{entry['file']}: checksum mismatch")
    if problems:
        raise BackupError("The backup is damaged, nothing was restored: " + "; ".join(problems))


def _bootstrap_rows(label: str) -> models.QuerySet | None:
    """Rows that `migrate` itself creates: restoring into a fresh database replaces them."""
    from training.registry import BASELINE_NAME

    if label == "auth.group":
        return _model(label)._base_manager.all()
    if label == "training.modelversion":
        return _model(label)._base_manager.filter(name=BASELINE_NAME, artifact_path="")
    if label == "training.deployment":
        return _model(label)._base_manager.filter(action="initial", model_version__name=BASELINE_NAME)
    return None


def _existing_rows(using: str) -> dict[str, int]:
    existing = {}
    for label in MODELS:
        queryset = _model(label)._base_manager.using(using)
        bootstrap = _bootstrap_rows(label)
        if bootstrap is not None:
            queryset = queryset.exclude(pk__in=bootstrap.using(using).values("pk"))
        count = queryset.count()
        if count:
            existing[label] = count
    return existing


def _tables_to_clear() -> list[str]:
    """The backed-up tables, their many-to-many tables and every table that points at them."""
    targets = {_model(label) for label in MODELS if label != "auth.group"}
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
    model = _model(label)
    count = 0
    for chunk in _read_rows(path):
        count += len(chunk)
        if label == "auth.group":
            from django.contrib.auth.models import Group

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
    restored = [_model(label) for label in MODELS]
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
        from rest_framework.authtoken.models import Token

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
    from rest_framework.authtoken.models import Token

    from project.auth import forget_cached_token
    from training.registry import forget_deployed_model

    for key in {*old_tokens, *Token.objects.values_list("key", flat=True)}:
        forget_cached_token(key)
    forget_deployed_model()


def rollups_rebuild(log: Callable[[str], None] = logger.info) -> None:
    """The dashboard and aspect rollups are derived data: rebuilt from the restored rows."""
    from django.core.management import call_command

    call_command("rebuild_rollups", stdout=_LogStream(log))


class _LogStream:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log

    def write(self, text: str) -> None:
        if text.strip():
            self.log(text.rstrip())

    def flush(self) -> None:
        pass
