"""What backup and restore share: the format, the models in load order, checksums, migration state."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.migrations.recorder import MigrationRecorder

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


def json_default(value):
    # Full precision: DjangoJSONEncoder would cut datetimes to milliseconds.
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"Cannot serialise {type(value).__name__}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_class(label: str) -> type[models.Model]:
    return apps.get_model(label)


def backed_up_apps() -> list[str]:
    return sorted({label.split(".")[0] for label in MODELS} | {"contenttypes"})


def applied_migrations(using: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    wanted = set(backed_up_apps())
    applied: dict[str, list[str]] = {app: [] for app in wanted}
    for app, name in MigrationRecorder(connections[using]).applied_migrations():
        if app in wanted:
            applied[app].append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


def split_s3(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise BackupError(f"{uri} names no bucket (expected s3://bucket/prefix)")
    return bucket, prefix.strip("/")
