"""Imports of review files, each recorded as an ImportJob so the staff Imports page lists them all.

An upload is checked while the person waits (its type, size, encoding and columns: a wrong column name
is worth an answer now, not a failed job later), stored with the job, and imported by
reviews.imports.file.import_file in a Celery worker. `manage.py import_reviews` runs the same import in
its own process (import_job_run_command): its job goes QUEUED -> RUNNING -> SUCCEEDED/FAILED through
the same transitions and records the same progress, counts and errors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from project.outbox.services import outbox_enqueue
from reviews.imports.columns import ImportOptions, ImportRefused, file_columns
from reviews.imports.file import ImportSummary, import_file
from reviews.imports.reading import JSONL_SUFFIXES, TAB_SUFFIXES, UnreadableFile, file_encoding, read_rows
from reviews.imports.scales import parse_label_map
from reviews.models import ImportJob

logger = logging.getLogger(__name__)

IMPORT_TASK = "reviews.run_import_job"
ACCEPTED_SUFFIXES = {".csv", *TAB_SUFFIXES, *JSONL_SUFFIXES}
RECENT_JOBS = 20
# A command-line import whose process was killed outright stays RUNNING: past this age the Imports page
# stops reloading itself for it (it still lists it as running).
COMMAND_JOB_WATCHED_FOR = dt.timedelta(hours=2)


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
    with transaction.atomic():
        job = ImportJob.objects.create(
            file_name=name,
            size_bytes=len(content),
            content=content,
            options=_stored_options(options),
            requested_by_id=requested_by_id,
        )
        outbox_enqueue(IMPORT_TASK, args=[job.pk])
    return job


def _stored_options(options: ImportOptions) -> dict:
    return {key: value for key, value in dataclasses.asdict(options).items() if key != "batch_size"}


def _claim(job_id: int) -> bool:
    """QUEUED (or RUNNING, for a redelivered task) -> RUNNING, by compare-and-set: one runner per job."""
    return bool(
        ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]).update(
            status=ImportJob.Status.RUNNING, started_at=timezone.now(), rows_done=0, error=""
        )
    )


def _progress(job_id: int, notes: list[str]) -> tuple[Callable[[int], None], Callable[[ImportSummary], None]]:
    """import_file's on_batch and on_progress for a job: rows stored and the counts so far, after each batch."""

    def on_batch(rows: int) -> None:
        ImportJob.objects.filter(pk=job_id).update(rows_done=F("rows_done") + rows)

    def on_progress(summary: ImportSummary) -> None:
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            summary={"counts": dict(summary.counts), "notes": list(notes)}
        )

    return on_batch, on_progress


def _finished_summary(summary: ImportSummary, notes: list[str]) -> dict:
    return {
        "line": summary.line(),
        "counts": dict(summary.counts),
        "reasons": summary.top_reasons(),
        "notes": notes,
        "text_col": summary.text_col,
        "rating_col": summary.rating_col,
    }


def import_job_run(job_id: int) -> ImportJob | None:
    """Import a queued job's file; a job already finished is left alone (a task delivered twice).

    A job a worker died in is run again from the start when its task is redelivered: the import is
    idempotent by external id, so the rows it had stored count as "already present".
    """
    if not _claim(job_id):
        return None
    job = ImportJob.objects.get(pk=job_id)
    notes: list[str] = []
    on_batch, on_progress = _progress(job_id, notes)

    try:
        with _as_file(bytes(job.content), Path(job.file_name).suffix.lower()) as path:
            summary = import_file(
                path,
                ImportOptions(**job.options),
                file_name=job.file_name,
                on_batch=on_batch,
                note=notes.append,
                on_progress=on_progress,
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
    return _finish(job_id, ImportJob.Status.SUCCEEDED, summary=_finished_summary(summary, notes))


def import_job_run_command(
    path: Path,
    options: ImportOptions,
    *,
    on_batch: Callable[[int], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> ImportSummary:
    """import_file for `manage.py import_reviews`, recorded as a command-line ImportJob (no stored file, no
    uploader: the OS user who ran it) so the Imports page lists it with the uploads.

    Behaves as import_file does (same callbacks, same summary, the same exceptions raised): the command's
    output and exit codes stay what scripts expect. A failure is recorded on the job before it is raised,
    an interruption (Ctrl-C) too; a process killed outright leaves its job RUNNING.
    """
    job = import_job_start_command(file_name=path.name, options=options, size_bytes=path.stat().st_size)
    notes: list[str] = []
    record_batch, on_progress = _progress(job.pk, notes)

    def batch_done(rows: int) -> None:
        record_batch(rows)
        if on_batch is not None:
            on_batch(rows)

    def noted(text: str) -> None:
        notes.append(text)
        if note is not None:
            note(text)

    try:
        summary = import_file(path, options, on_batch=batch_done, note=noted, on_progress=on_progress)
    except (UnreadableFile, ImportRefused) as exc:
        _finish_quietly(job.pk, ImportJob.Status.FAILED, error=str(exc), summary={"notes": notes})
        raise
    except BaseException as exc:
        reason = "Interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else f"Unexpected error: {exc}"
        _finish_quietly(job.pk, ImportJob.Status.FAILED, error=reason, summary={"notes": notes})
        raise
    _finish_quietly(job.pk, ImportJob.Status.SUCCEEDED, summary=_finished_summary(summary, notes))
    return summary


def import_job_start_command(*, file_name: str, options: ImportOptions, size_bytes: int = 0) -> ImportJob:
    """A command-line import's job, claimed at once (QUEUED -> RUNNING: its process is the runner)."""
    job = ImportJob.objects.create(
        origin=ImportJob.Origin.COMMAND,
        file_name=file_name[:255],
        size_bytes=size_bytes,
        options=_stored_options(options),
        run_by=_os_user(),
    )
    _claim(job.pk)
    return job


def import_job_refuse_command(*, file_name: str, options: ImportOptions, error: str) -> ImportJob:
    """A command-line import that could not start (no such file): listed as failed with the reason."""
    job = import_job_start_command(file_name=file_name, options=options)
    return _finish(job.pk, ImportJob.Status.FAILED, error=error, summary={})


def _os_user() -> str:
    try:
        return getpass.getuser()[:150]
    except Exception:  # no login name and no passwd entry for the uid (some containers)
        return ""


def _finish_quietly(job_id: int, status: str, *, summary: dict, error: str = "") -> None:
    """_finish for the command: recording the outcome must not change it (a database that went away
    during the import fails the import, not the line after it)."""
    try:
        _finish(job_id, status, summary=summary, error=error)
    except Exception:
        logger.exception("Could not record the outcome of import job %s", job_id)


def recent_import_jobs() -> list[ImportJob]:
    """The latest imports of both origins (uploads and command-line runs), newest first."""
    return list(ImportJob.objects.select_related("requested_by").defer("content").order_by("-id")[:RECENT_JOBS])


def import_jobs_in_progress(jobs: list[ImportJob]) -> bool:
    """Whether the Imports page should keep reloading to show progress."""
    watched_since = timezone.now() - COMMAND_JOB_WATCHED_FOR
    return any(
        job.status == ImportJob.Status.QUEUED
        or (
            job.status == ImportJob.Status.RUNNING
            and (job.origin == ImportJob.Origin.PAGE or (job.started_at or job.created_at) > watched_since)
        )
        for job in jobs
    )


def _finish(job_id: int, status: str, *, summary: dict, error: str = "") -> ImportJob:
    """RUNNING -> SUCCEEDED or FAILED; a job that is not running is left as it is."""
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
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
