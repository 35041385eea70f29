"""The training API: start a job, follow it, list jobs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from django.db import transaction
from fastapi import HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from project.auth import Principal, require
from project.errors import HTTPErrorWithFields, error_responses
from project.routing import DjangoAPIRouter
from training.jobs import (
    DEFAULT_MIN_SAMPLES,
    JobAlreadyActive,
    training_job_create,
    training_job_enqueue,
    training_job_request_cancel,
)
from training.models import Deployment, GateDecision, ModelVersion, TrainingJob
from training.registry import current_champion
from training.retraining import retraining_need
from training.versions import DeploymentError, model_version_promote, model_version_rollback

router = DjangoAPIRouter(prefix="/training", tags=["training"])


class TrainingStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"min_samples": 1000}]})
    min_samples: int = Field(
        default=DEFAULT_MIN_SAMPLES,
        ge=1,
        le=100_000_000,
        description="Fail at once unless at least this many labelled or rated reviews exist",
    )
    model: Literal["sentiment", "aspects", "suggestions"] = Field(
        default="sentiment",
        description="Which model to train: sentiment (default, from labelled and rated reviews), aspects (from "
        "aspect annotations) or suggestions (from suggestion annotations)",
    )
    kind: Literal["fast", "accurate"] | None = Field(
        default=None,
        description="Sentiment model kind: accurate (the shipped fine-tuned encoder, its head refit on your reviews, "
        "blended with the fast model) or fast (TF-IDF + LR); default: the SENTIMENT_MODEL_KIND setting",
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
    cancel_requested: bool = Field(description="A cancel was asked for; a running job stops at its next step")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobConflictOut(BaseModel):
    detail: str = Field(examples=["Training job 7 is already running; one job runs at a time"])
    job_id: int = Field(description="The job already queued or running", examples=[7])
    job_status: str = Field(examples=["running"])


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
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@router.post(
    "/start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainingStartOut,
    summary="Start a training job (runs on a Celery worker)",
    responses={
        **error_responses(401, 403, 422),
        409: {"model": JobConflictOut, "description": "A job is already queued or running: its id and status"},
    },
)
def start_training(
    body: TrainingStartIn | None = None, principal: Principal = require("training.start_trainingjob")
) -> TrainingStartOut:
    body = body or TrainingStartIn()
    try:
        with transaction.atomic():
            job = training_job_create(
                parameters=body.model_dump(exclude_none=True),
                trigger=TrainingJob.Trigger.API,
                requested_by_id=principal.user_id,
            )
            training_job_enqueue(job)
    except JobAlreadyActive as exc:
        raise HTTPErrorWithFields(
            409,
            f"Training job {exc.job.pk} is already {exc.job.status}; one job runs at a time",
            job_id=exc.job.pk,
            job_status=exc.job.status,
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
    "the database), and a running job whose worker has stopped beating (JOB_STUCK_AFTER_SECONDS) is cancelled at "
    "once. Cancelling a finished job changes nothing and returns it as it is.",
    responses=error_responses(401, 403, 404, 422),
)
def cancel_training(
    job_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: Principal = require("training.start_trainingjob")
) -> TrainingJobOut:
    job = TrainingJob.objects.filter(pk=job_id).first()
    if job is None:
        raise HTTPException(status_code=404, detail=f"Training job {job_id} does not exist")
    if not job.is_final:
        job = training_job_request_cancel(job=job)
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


class GateDecisionOut(BaseModel):
    decision: str
    reason: str
    champion: str | None
    delta_macro_f1: float
    probability_better: float
    evaluation_set: dict
    candidate_metrics: dict
    champion_metrics: dict
    created_at: dt.datetime


class DeploymentOut(BaseModel):
    action: str = Field(description="initial, gate, manual or rollback")
    model_version: str
    previous: str | None
    by: str | None = Field(description="The user who promoted or rolled back, if a person did")
    reason: str
    created_at: dt.datetime


class ModelVersionOut(BaseModel):
    name: str
    kind: str
    algorithm: str
    stage: str = Field(description="candidate, champion (deployed), archived or rejected")
    metrics: dict
    reference_stats: dict
    mlflow_run_id: str
    mlflow_version: str
    training_job_id: int | None
    created_at: dt.datetime
    deployed_at: dt.datetime | None
    gate: GateDecisionOut | None
    deployments: list[DeploymentOut]


class ModelVersionList(BaseModel):
    champion: str | None
    results: list[ModelVersionOut]


class DeploymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=1000)


class RollbackIn(DeploymentIn):
    kind: Literal["sentiment", "aspects", "suggestions"] = Field(
        default="sentiment",
        description="Which model to roll back: sentiment (default), aspects or suggestions; "
        "each kind has its own champions",
    )


class RetrainingNeedOut(BaseModel):
    last_training_at: dt.datetime | None
    new_labels: int
    new_rated: int
    min_new_labels: int
    min_new_rated: int
    labels_needed: int = Field(description="More human labels needed before retraining is worth it")
    rated_needed: int
    ready: bool


def _deployment_out(deployment: Deployment) -> DeploymentOut:
    return DeploymentOut(
        action=deployment.action,
        model_version=deployment.model_version.name,
        previous=deployment.previous.name if deployment.previous else None,
        by=deployment.user.get_username() if deployment.user else None,
        reason=deployment.reason,
        created_at=deployment.created_at,
    )


def model_version_out(version: ModelVersion) -> ModelVersionOut:
    gate: GateDecision | None = version.gate_decisions.select_related("champion").first()
    return ModelVersionOut(
        name=version.name,
        kind=version.kind,
        algorithm=version.algorithm,
        stage=version.stage,
        metrics=version.metrics,
        reference_stats=version.reference_stats,
        mlflow_run_id=version.mlflow_run_id,
        mlflow_version=version.mlflow_version,
        training_job_id=version.training_job_id,
        created_at=version.created_at,
        deployed_at=version.deployed_at,
        gate=GateDecisionOut(
            decision=gate.decision,
            reason=gate.reason,
            champion=gate.champion.name if gate.champion else None,
            delta_macro_f1=gate.delta_macro_f1,
            probability_better=gate.probability_better,
            evaluation_set=gate.evaluation_set,
            candidate_metrics=gate.candidate_metrics,
            champion_metrics=gate.champion_metrics,
            created_at=gate.created_at,
        )
        if gate
        else None,
        deployments=[
            _deployment_out(d) for d in version.deployments.select_related("model_version", "previous", "user")
        ],
    )


@router.get(
    "/models",
    response_model=ModelVersionList,
    summary="Model versions with their metrics, gate decisions and deployment history",
    responses=error_responses(401, 403, 422),
)
def model_versions(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    principal: Principal = require("training.view_modelversion"),
) -> ModelVersionList:
    versions = ModelVersion.objects.order_by("-id")[:limit]
    champion = current_champion()
    return ModelVersionList(
        champion=champion.name if champion else None, results=[model_version_out(v) for v in versions]
    )


@router.post(
    "/models/{version}/promote",
    response_model=ModelVersionOut,
    summary="Deploy a model version by hand (recorded, with who and why)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def promote_model_version(
    version: Annotated[str, Path(max_length=100, description="Model version name")],
    body: DeploymentIn | None = None,
    principal: Principal = require("training.promote_modelversion"),
) -> ModelVersionOut:
    row = ModelVersion.objects.filter(name=version).first()
    if row is None:
        raise HTTPException(status_code=404, detail=f"Model version {version!r} does not exist")
    try:
        row = model_version_promote(
            version=row,
            action=Deployment.Action.MANUAL,
            user_id=principal.user_id,
            reason=(body.reason if body else "") or f"Promoted by {principal.username}",
        )
    except DeploymentError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return model_version_out(row)


@router.post(
    "/rollback",
    response_model=ModelVersionOut,
    summary="Redeploy the previous champion of a model kind (recorded)",
    responses=error_responses(401, 403, 409, 422),
)
def rollback(
    body: RollbackIn | None = None, principal: Principal = require("training.rollback_modelversion")
) -> ModelVersionOut:
    body = body or RollbackIn()
    try:
        row = model_version_rollback(kind=body.kind, user_id=principal.user_id, reason=body.reason)
    except DeploymentError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return model_version_out(row)


@router.get(
    "/readiness",
    response_model=RetrainingNeedOut,
    summary="New labels and rated reviews since the last training, and how many more retraining needs",
    responses=error_responses(401, 403, 422),
)
def retraining_readiness(principal: Principal = require("training.view_trainingjob")) -> RetrainingNeedOut:
    return RetrainingNeedOut(**retraining_need())
