"""Imports of uploaded review files: checked and queued by the staff Imports page, run by a Celery worker.

The upload is checked while the person waits (its type, size, encoding and columns: a wrong column name
is worth an answer now, not a failed job later), stored with the job, and imported by
reviews.file_import.import_file in the worker, the same code as `manage.py import_reviews`.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from outbox.services import outbox_enqueue
from reviews.file_import import ImportOptions, ImportRefused, file_columns, import_file
from reviews.files import JSONL_SUFFIXES, TAB_SUFFIXES, UnreadableFile, file_encoding, read_rows
from reviews.models import ImportJob
from reviews.scales import parse_label_map

logger = logging.getLogger(__name__)

IMPORT_TASK = "reviews.run_import_job"
ACCEPTED_SUFFIXES = {".csv", *TAB_SUFFIXES, *JSONL_SUFFIXES}
RECENT_JOBS = 20


class UploadRefused(ValueError):
    """The upload cannot be imported: nothing was stored."""


def import_job_create(*, upload: UploadedFile, options: ImportOptions, requested_by_id: int | None) -> ImportJob:
    """Check the upload, store it with a queued job, and queue the import (once the transaction commits)."""
    name = Path(upload.name or "upload").name[:255]
    suffix = Path(name).suffix.lower()
    if suffix not in ACCEPTED_SUFFIXES:
        raise UploadRefused(f"{name}: upload a .csv, .tsv, .jsonl, .ndjson or .json file")
    if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        raise UploadRefused(
            f"{name} is larger than {limit:,} bytes (IMPORT_MAX_UPLOAD_BYTES): "
            "split it, or import it with manage.py import_reviews"
        )
    content = b"".join(upload.chunks())
    if not content.strip():
        raise UploadRefused(f"{name} is empty")
    if options.label_map:
        try:
            parse_label_map(options.label_map)
        except ValueError as exc:
            raise UploadRefused(f"Label map: {exc}") from None
    with _as_file(content, suffix) as path:
        try:
            names, rows = read_rows(path, file_encoding(path))
            next(rows, None)  # only the header is needed; a first row started is a file closed by close()
            rows.close()
            file_columns(names, options)
        except (UnreadableFile, ImportRefused) as exc:
            raise UploadRefused(str(exc).replace(path.name, name)) from None
    stored_options = {key: value for key, value in dataclasses.asdict(options).items() if key != "batch_size"}
    with transaction.atomic():
        job = ImportJob.objects.create(
            file_name=name,
            size_bytes=len(content),
            content=content,
            options=stored_options,
            requested_by_id=requested_by_id,
        )
        outbox_enqueue(IMPORT_TASK, args=[job.pk])
    return job


def import_job_run(job_id: int) -> ImportJob | None:
    """Import a queued job's file; a job already finished is left alone (a task delivered twice).

    A job a worker died in is run again from the start when its task is redelivered: the import is
    idempotent by external id, so the rows it had stored count as "already present".
    """
    claimed = ImportJob.objects.filter(
        pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    ).update(status=ImportJob.Status.RUNNING, started_at=timezone.now(), rows_done=0, error="")
    if not claimed:
        return None
    job = ImportJob.objects.get(pk=job_id)
    notes: list[str] = []

    def on_batch(rows: int) -> None:
        ImportJob.objects.filter(pk=job_id).update(rows_done=F("rows_done") + rows)

    try:
        with _as_file(bytes(job.content), Path(job.file_name).suffix.lower()) as path:
            summary = import_file(
                path, ImportOptions(**job.options), file_name=job.file_name, on_batch=on_batch, note=notes.append
            )
    except (UnreadableFile, ImportRefused) as exc:
        return _finish(job_id, ImportJob.Status.FAILED, error=str(exc), summary={"notes": notes})
    except SoftTimeLimitExceeded:
        return _finish(
            job_id,
            ImportJob.Status.FAILED,
            error="Stopped: the import took longer than its time limit; the rows stored so far stay (import the "
            "file again to add the rest: stored rows count as already present)",
            summary={"notes": notes},
        )
    except Exception as exc:  # recorded on the job for the page; the traceback goes to the log
        logger.exception("import job %s failed", job_id)
        return _finish(job_id, ImportJob.Status.FAILED, error=f"Unexpected error: {exc}", summary={"notes": notes})
    return _finish(
        job_id,
        ImportJob.Status.SUCCEEDED,
        summary={
            "line": summary.line(),
            "counts": dict(summary.counts),
            "reasons": summary.top_reasons(),
            "notes": notes,
            "text_col": summary.text_col,
            "rating_col": summary.rating_col,
        },
    )


def recent_import_jobs() -> list[ImportJob]:
    return list(ImportJob.objects.select_related("requested_by").defer("content").order_by("-id")[:RECENT_JOBS])


def _finish(job_id: int, status: str, *, summary: dict, error: str = "") -> ImportJob:
    ImportJob.objects.filter(pk=job_id).update(
        status=status, summary=summary, error=error, content=b"", finished_at=timezone.now()
    )
    return ImportJob.objects.get(pk=job_id)


@contextmanager
def _as_file(content: bytes, suffix: str) -> Iterator[Path]:
    """The bytes as a temporary file with the upload's suffix (the readers choose the format by it)."""
    with tempfile.TemporaryDirectory(prefix="revsent-import-") as directory:
        path = Path(directory) / f"upload{suffix}"
        path.write_bytes(content)
        yield path
