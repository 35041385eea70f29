from __future__ import annotations

from celery import shared_task

from reviews.imports.jobs import import_job_run


@shared_task(
    name="reviews.run_import_job",
    acks_late=True,  # idempotent: a rerun counts the rows stored before as already present
    reject_on_worker_lost=True,
    # An upload of IMPORT_MAX_UPLOAD_BYTES imports in a few minutes; within the broker's visibility timeout,
    # so a running import is never handed to a second worker.
    soft_time_limit=1740,
    time_limit=1800,
)
def run_import_job(job_id: int) -> int:
    """Import an uploaded review file (reviews.imports.jobs)."""
    job = import_job_run(job_id)
    return 0 if job is None else job.rows_done
