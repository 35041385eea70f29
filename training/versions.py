"""Writes for model versions: registering a trained candidate with its gate decision, MLflow registration,
promotion, rollback and the MLflow aliases that follow the database."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from project.outbox.services import outbox_enqueue
from training import storage, tracking
from training.models import Deployment, GateDecision, ModelVersion, TrainingJob
from training.registry import current_champion, serving_aspect_model_key


class DeploymentError(Exception):
    """A promotion or rollback that cannot happen; the message says why."""


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


def model_version_register(
    *,
    job: TrainingJob,
    name: str,
    algorithm: str,
    parameters: dict,
    evaluation_set: dict,
    candidate_metrics: dict,
    champion: ModelVersion | None,
    champion_metrics: dict,
    promote: bool,
    reason: str,
    delta: float,
    probability_better: float,
    kind: str = ModelVersion.Kind.SENTIMENT,
    reference_stats: dict | None = None,
    mlflow_run_id: str = "",
    mlflow_version: str = "",
) -> ModelVersion:
    """Record a trained candidate (its file already saved as `{name}.joblib`) and the gate's decision on it,
    then act on the decision: promote it (the same path as a manual promotion or a rollback: archives the
    champion, records the deployment and does what a new champion of its kind needs), or mark it rejected."""
    version = ModelVersion.objects.create(
        name=name,
        kind=kind,
        algorithm=algorithm,
        artifact_path=f"{name}.joblib",
        parameters=parameters,
        metrics={"evaluation": candidate_metrics, "evaluation_set": evaluation_set},
        reference_stats=reference_stats if reference_stats is not None else {},
        mlflow_run_id=mlflow_run_id,
        mlflow_version=mlflow_version,
        training_job=job,
    )
    GateDecision.objects.create(
        candidate=version,
        champion=champion,
        training_job=job,
        evaluation_set=evaluation_set,
        candidate_metrics=candidate_metrics,
        champion_metrics=champion_metrics,
        delta_macro_f1=delta,
        probability_better=probability_better,
        decision=GateDecision.Decision.PROMOTED if promote else GateDecision.Decision.REJECTED,
        reason=reason,
    )
    if promote:
        model_version_promote(version=version, action=Deployment.Action.GATE, reason=reason)
    else:
        ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.REJECTED)
    version.refresh_from_db()
    return version


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


def reextract_all_aspects() -> None:
    """Stored review aspects follow the deployed aspect model (the cold start's also the sentiment champion):
    re-extract them all, in batches. Called in the promotion's transaction: the outbox publishes the task
    after commit (or once the broker is back). The pass carries the model it is for, so a later deployment's
    pass supersedes it instead of running beside it."""
    outbox_enqueue("reviews.reextract_all_aspects", args=[0, serving_aspect_model_key()])


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
