"""Which model is deployed (serving): loaded once per process and swapped when the database says so.

The `ModelVersion` row with stage=champion is the source of truth. Each process
keeps the loaded model in memory and re-reads only the champion's id from the
database at most every MODEL_REFRESH_SECONDS, so a promotion reaches every web
and worker process within that window without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import joblib
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from training import storage
from training.ml import finetuned, lexicon
from training.ml.predictor import SentimentModel
from training.models import Deployment, ModelVersion

BASELINE_NAME = "baseline-lexicon"


@dataclass(frozen=True, slots=True)
class DeployedModel:
    version_id: int
    name: str
    model: SentimentModel


logger = logging.getLogger(__name__)
_lock = threading.Lock()
_deployed: DeployedModel | None = None
_checked_at = 0.0
_loaded: dict[int, SentimentModel] = {}


def load_model(version: ModelVersion) -> SentimentModel:
    if version.algorithm == lexicon.ALGORITHM:
        return lexicon.LexiconSentimentModel()
    if version.algorithm == finetuned.SHIPPED_ALGORITHM:
        model = finetuned.shipped_model()
        model.predict_proba(["warm up"])
        return model
    if version.artifact_path:
        model = joblib.load(storage.local_path(version.artifact_path))
        # One prediction before anyone relies on it: a model that cannot predict is never
        # swapped in, and lazily built parts (the MiniLM session) are ready for the first request.
        model.predict_proba(["warm up"])
        return model
    raise ValueError(f"Unknown algorithm {version.algorithm!r} for model version {version.name}")


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


def current_champion(kind: str = ModelVersion.Kind.SENTIMENT) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, stage=ModelVersion.Stage.CHAMPION).first()


def current_aspect_champion() -> ModelVersion | None:
    return current_champion(ModelVersion.Kind.ASPECTS)


def sentiment_features_version() -> ModelVersion | None:
    """The sentiment champion whose probabilities the aspect models read, or None when
    ASPECT_SENTIMENT_FEATURES is off or only the lexicon baseline is deployed (its scores would repeat
    the VADER ones). From the database, not the process's deployed-model cache: a sentiment job may
    have promoted a model moments ago on this worker."""
    if not settings.ASPECT_SENTIMENT_FEATURES:
        return None
    version = current_champion(ModelVersion.Kind.SENTIMENT)
    # The shipped default's fast part is the lexicon too.
    lexicon_only = (lexicon.ALGORITHM, finetuned.SHIPPED_ALGORITHM)
    return None if version is None or version.algorithm in lexicon_only else version


def aspect_serving_key(champion: ModelVersion | None, sentiment: ModelVersion | None) -> str:
    return champion.name if champion else f"cold-start+{sentiment.name if sentiment else 'vader'}"


def serving_aspect_model_key() -> str:
    """Names what extraction (training.aspect_extraction) serves now: the aspect champion, or the cold start and the
    sentiment champion it reads clause polarity from; and the suggestion champion, or the rule. Stored aspect rows
    follow this key: a change of any part re-extracts them."""
    champion = current_aspect_champion()
    suggestions = current_champion(ModelVersion.Kind.SUGGESTIONS)
    aspects = aspect_serving_key(champion, None if champion else sentiment_features_version())
    return f"{aspects}|suggestions:{suggestions.name if suggestions else 'rule'}"


def _champion() -> ModelVersion:
    return current_champion(ModelVersion.Kind.SENTIMENT) or model_version_ensure_baseline()


def deployed_model_if_fresh() -> DeployedModel | None:
    """The model in memory when no database check is due (never touches the database), else None."""
    current = _deployed
    if current is not None and time.monotonic() - _checked_at < settings.MODEL_REFRESH_SECONDS:
        return current
    return None


def get_deployed_model() -> DeployedModel:
    """The champion, from memory; touches the database at most every MODEL_REFRESH_SECONDS.

    One thread refreshes while the others keep serving the model they have, so a
    promotion (which may load a large file) never stalls requests in flight.
    """
    global _deployed, _checked_at
    current = _deployed
    if current is not None and time.monotonic() - _checked_at < settings.MODEL_REFRESH_SECONDS:
        return current
    if not _lock.acquire(blocking=current is None):
        return current  # another thread is already refreshing
    try:
        if _deployed is not None and time.monotonic() - _checked_at < settings.MODEL_REFRESH_SECONDS:
            return _deployed
        version = _champion()
        if _deployed is None or _deployed.version_id != version.pk:
            model = _loaded.get(version.pk)
            if model is None:
                try:
                    model = load_model(version)
                except Exception:
                    if _deployed is None:
                        raise
                    # Keep serving the model we have rather than fail requests; retry later.
                    logger.exception("Could not load model version %s; still serving %s", version.name, _deployed.name)
                    _checked_at = time.monotonic()
                    return _deployed
                _loaded.clear()  # keep one model in memory, not every version ever deployed
                _loaded[version.pk] = model
            _deployed = DeployedModel(version_id=version.pk, name=version.name, model=model)
        _checked_at = time.monotonic()
        return _deployed
    finally:
        _lock.release()


def forget_deployed_model() -> None:
    """Make the next call re-read the champion (after a promotion in this process, and in tests)."""
    global _checked_at, _deployed
    with _lock:
        _checked_at = 0.0
        _deployed = None
        _loaded.clear()
