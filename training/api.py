"""The training API: start a job, follow it, list jobs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.db import transaction
from fastapi import HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from project.auth import Principal, require
from project.errors import error_responses
from project.routing import DjangoAPIRouter
from training import services
from training.models import TrainingJob

router = DjangoAPIRouter(prefix="/training", tags=["training"])


class TrainingStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"min_samples": 1000}]})
    min_samples: int = Field(
        default=services.DEFAULT_MIN_SAMPLES,
        ge=1,
        le=100_000_000,
        description="Fail at once unless at least this many labelled or rated reviews exist",
    )


class TrainingStartOut(BaseModel):
    job_id: int
    status: str = Field(examples=["queued"])


class TrainingJobOut(BaseModel):
    job_id: int
    status: str = Field(examples=["running"])
    progress: float = Field(description="0 to 1", examples=[0.4])
    progress_message: str = Field(examples=["Fitting TF-IDF + logistic regression on 12000 reviews"])
    trigger: str
    parameters: dict
    metrics: dict
    error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class TrainingJobPage(BaseModel):
    total: int
    results: list[TrainingJobOut]


def job_out(job: TrainingJob) -> TrainingJobOut:
    return TrainingJobOut(
        job_id=job.pk,
        status=job.status,
        progress=job.progress,
        progress_message=job.progress_message,
        trigger=job.trigger,
        parameters=job.parameters,
        metrics=job.metrics,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def training_job_enqueue(job: TrainingJob) -> None:
    from training.tasks import run_training_job

    # After commit, or a fast worker could look for a job it cannot see yet.
    transaction.on_commit(lambda: run_training_job.delay(job.pk))


@router.post(
    "/start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainingStartOut,
    summary="Start a training job (runs on a Celery worker)",
    responses=error_responses(401, 403, 409, 422),
)
def start_training(
    body: TrainingStartIn | None = None, principal: Principal = require("training.start_trainingjob")
) -> TrainingStartOut:
    body = body or TrainingStartIn()
    try:
        with transaction.atomic():
            job = services.training_job_create(
                parameters=body.model_dump(), trigger=TrainingJob.Trigger.API, requested_by_id=principal.user_id
            )
            training_job_enqueue(job)
    except services.JobAlreadyActive as exc:
        raise HTTPException(
            status_code=409,
            detail=f"Training job {exc.job.pk} is already {exc.job.status}; one job runs at a time",
        ) from exc
    return TrainingStartOut(job_id=job.pk, status=job.status)


@router.get(
    "/status/{job_id}",
    response_model=TrainingJobOut,
    summary="A training job's status and progress",
    responses=error_responses(401, 403, 404, 422),
)
def training_status(
    job_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: Principal = require("training.view_trainingjob")
) -> TrainingJobOut:
    job = TrainingJob.objects.filter(pk=job_id).first()
    if job is None:
        raise HTTPException(status_code=404, detail=f"Training job {job_id} does not exist")
    return job_out(job)


@router.post(
    "/{job_id}/cancel",
    response_model=TrainingJobOut,
    summary="Cancel a training job",
    description="A queued job is cancelled at once; a running job stops at its next step (it checks a flag in "
    "the database). Cancelling a finished job changes nothing and returns it as it is.",
    responses=error_responses(401, 403, 404, 422),
)
def cancel_training(
    job_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: Principal = require("training.start_trainingjob")
) -> TrainingJobOut:
    job = TrainingJob.objects.filter(pk=job_id).first()
    if job is None:
        raise HTTPException(status_code=404, detail=f"Training job {job_id} does not exist")
    if not job.is_final:
        job = services.training_job_request_cancel(job=job)
    return job_out(job)


@router.get(
    "/jobs",
    response_model=TrainingJobPage,
    summary="Recent training jobs, newest first",
    responses=error_responses(401, 403, 422),
)
def training_jobs(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    principal: Principal = require("training.view_trainingjob"),
) -> TrainingJobPage:
    jobs = TrainingJob.objects.order_by("-id")
    return TrainingJobPage(total=jobs.count(), results=[job_out(job) for job in jobs[:limit]])
