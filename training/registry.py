"""Which model is deployed, loaded once per process and swapped when the database says so.

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

from training import storage
from training.ml import lexicon
from training.ml.predictor import SentimentModel
from training.models import ModelVersion


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
    if version.artifact_path:
        model = joblib.load(storage.local_path(version.artifact_path))
        # One prediction before anyone relies on it: a model that cannot predict is never
        # swapped in, and lazily built parts (the MiniLM session) are ready for the first request.
        model.predict_proba(["warm up"])
        return model
    raise ValueError(f"Unknown algorithm {version.algorithm!r} for model version {version.name}")


def _champion() -> ModelVersion:
    version = ModelVersion.objects.filter(kind=ModelVersion.Kind.SENTIMENT, stage=ModelVersion.Stage.CHAMPION).first()
    if version is None:
        from training.services import model_version_ensure_baseline

        version = model_version_ensure_baseline()
    return version


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
