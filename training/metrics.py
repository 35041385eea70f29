"""Prometheus gauges about training, read at scrape time: training jobs by status and kind, and the deployed
model of each kind. Served by GET /metrics (project/metrics.py) once registered there (project/api.py)."""

from __future__ import annotations

from django.db.models import Count
from django.db.models.fields.json import KT
from prometheus_client.core import GaugeMetricFamily, Metric

from project.db import releases_db_connection
from training.models import ModelVersion, TrainingJob


@releases_db_connection
def training_job_counts() -> dict[tuple[str, str], int]:
    """Training jobs by (status, kind), kind being the model trained: sentiment, aspects or suggestions."""
    rows = (
        TrainingJob.objects.order_by()
        .values("status", kind=KT("parameters__model"))
        .annotate(jobs=Count("id"))
        .values_list("status", "kind", "jobs")
    )
    counts = {(status, kind): 0 for status in TrainingJob.Status.values for kind in ModelVersion.Kind.values}
    for status, kind, jobs in rows:
        key = (status, kind or "sentiment")
        counts[key] = counts.get(key, 0) + jobs
    return counts


@releases_db_connection
def deployed_models() -> list[tuple[str, str]]:
    """(kind, name) of each champion."""
    return list(
        ModelVersion.objects.filter(stage=ModelVersion.Stage.CHAMPION).order_by("kind").values_list("kind", "name")
    )


def training_metrics() -> list[Metric]:
    """revsent_training_jobs and revsent_deployed_model_info (raises when the database does not answer)."""
    jobs = training_job_counts()
    models = deployed_models()
    job_gauge = GaugeMetricFamily(
        "revsent_training_jobs",
        "Training jobs in the database by status and kind (queued and running are current; "
        "succeeded, failed and cancelled only grow)",
        labels=["status", "kind"],
    )
    for (status, kind), count in sorted(jobs.items()):
        job_gauge.add_metric([status, kind], count)
    model_gauge = GaugeMetricFamily(
        "revsent_deployed_model_info", "The deployed (champion) model of each kind", labels=["kind", "version"]
    )
    for kind, name in models:
        model_gauge.add_metric([kind, name], 1)
    return [job_gauge, model_gauge]
