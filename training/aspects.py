"""Aspect annotations and the aspect model's lifecycle (import, train, gate, serve).

The aspect model trains from stored annotations (SemEval files or staff
corrections) through the same job / MLflow / gate path as the sentiment model.
One version carries a model per scheme (training/ml/aspect_schemes.py): the product themes that extraction stores,
and the SemEval-2014 and SemEval-2016 categories for predict_file --aspect-scheme. Without a trained model of a
scheme, the cold-start model (seed terms, no labels) serves it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import joblib
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from training import storage, tracking
from training.jobs import TrainingError
from training.ml import aspect_data, encoder
from training.ml.aspect_coldstart import ColdStartAspectModel
from training.ml.aspect_schemes import (
    SCHEMES,
    SEMEVAL2014,
    SEMEVAL2016,
    THEMES,
    AspectModelBundle,
    as_bundle,
    score_aspects,
)
from training.ml.aspects import AspectModel
from training.ml.holdout import text_in_evaluation_bucket
from training.models import AspectAnnotation, ModelVersion, TrainingJob
from training.registry import aspect_serving_key, current_aspect_champion, load_model, sentiment_features_version
from training.registry import serving_aspect_model_key as serving_aspect_model_key  # still imported from here
from training.versions import model_version_register
from training.versions import reextract_all_aspects as reextract_all_aspects  # still imported from here

logger = logging.getLogger(__name__)
GATE_MIN_DELTA = 0.005
_lock = threading.Lock()
_cache: dict[str, object] = {}  # the serving key, the deployed bundle, the cold start's sentiment model, models


class AnnotationError(Exception):
    pass


def _xml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob("**/*.xml"))
    return [path]


def aspect_annotations_import(*, path: Path) -> dict[str, int]:
    """Store the sentences of SemEval-2014 or SemEval-2016 XML files (format by root
    element); idempotent by (source, sentence id)."""
    counts = {"files": 0, "sentences": 0, "created": 0, "existing": 0, "skipped": 0}
    for file in _xml_files(path):
        try:
            root = ElementTree.parse(file).getroot()
        except ElementTree.ParseError as exc:
            raise AnnotationError(f"{file}: not XML ({exc})") from exc
        if root.tag == "sentences":
            sentences, scheme = aspect_data.parse_semeval2014(file), "semeval2014"
        elif root.tag == "Reviews":
            sentences, scheme = aspect_data.parse_semeval2016(file), "semeval2016"
        else:
            raise AnnotationError(f"{file}: root <{root.tag}> is neither SemEval-2014 <sentences> nor 2016 <Reviews>")
        counts["files"] += 1
        counts["sentences"] += len(sentences)
        # Sentences the parsers leave out: SemEval-2016's OutOfScope ones (not about the restaurant) and empty ones.
        counts["skipped"] += sum(1 for _ in root.iter("sentence")) - len(sentences)
        existing = set(
            AspectAnnotation.objects.filter(
                source=scheme, external_id__in=[s.sentence_id for s in sentences]
            ).values_list("external_id", flat=True)
        )
        fresh = [
            AspectAnnotation(
                text=s.text,
                aspects=[{"category": c, "polarity": p} for c, p in s.aspects],
                scheme=scheme,
                source=scheme,
                external_id=s.sentence_id,
            )
            for s in sentences
            if s.sentence_id not in existing
        ]
        with transaction.atomic():
            AspectAnnotation.objects.bulk_create(fresh, ignore_conflicts=True)
        counts["created"] += len(fresh)
        counts["existing"] += len(existing)
    return counts


def _annotated_sentences() -> list[tuple[int, aspect_data.AnnotatedSentence]]:
    rows = AspectAnnotation.objects.order_by("id").values_list("id", "text", "aspects", "scheme", "external_id")
    return [
        (
            pk,
            aspect_data.AnnotatedSentence(
                text=text,
                aspects=[(a["category"], a["polarity"]) for a in aspects],
                source=_SOURCE_OF_SCHEME.get(scheme, THEMES),
                sentence_id=external_id,
            ),
        )
        for pk, text, aspects, scheme, external_id in rows
    ]


# Staff saves before the themes (scheme "staff": not the 2014 five) count where their categories are themes.
_SOURCE_OF_SCHEME = {SEMEVAL2014: "semeval2014", SEMEVAL2016: "semeval2016", THEMES: THEMES, "staff": THEMES}
_FILES = {"semeval2014", "semeval2016"}


def scheme_examples(
    annotated: list[tuple[int, aspect_data.AnnotatedSentence]], scheme: str
) -> list[tuple[str, list[tuple[str, str]], frozenset[str] | None]]:
    """(text, gold, the categories the gold states or None for all) of every annotation that speaks of the scheme.
    Themes: every sentence, also one without a theme (it says which themes are absent); SemEval-2014: the sentences
    with a 2014 category (2016 ones mapped, as every 2014 sentence has one); SemEval-2016: the 2016 sentences."""
    # A sentence both files annotate counts once, by the finer scheme for the purpose (2016 for themes).
    preferred = "semeval2014" if scheme == SEMEVAL2014 else "semeval2016"
    twice = {aspect_data.normalise(s.text) for _, s in annotated if s.source == preferred}
    out = []
    for _, sentence in annotated:
        if sentence.source in _FILES - {preferred} and aspect_data.normalise(sentence.text) in twice:
            continue
        if scheme == THEMES:
            out.append((sentence.text, aspect_data.to_themes(sentence), aspect_data.themes_known(sentence)))
        elif scheme == SEMEVAL2014 and sentence.source != THEMES:
            gold = aspect_data.to_semeval2014_scheme(sentence)
            if gold:
                out.append((sentence.text, gold, None))
        elif scheme == SEMEVAL2016 and sentence.source == "semeval2016":
            out.append((sentence.text, aspect_data.to_semeval2016_scheme(sentence) or [], None))
    return out


def score_examples(model, examples) -> dict:
    return score_aspects(model, [e[0] for e in examples], [e[1] for e in examples], [e[2] for e in examples])


def aspect_model_evaluate(version: ModelVersion) -> dict:
    """Score an aspect model version on today's held-out annotations (the sentences its gate uses): the product
    themes when it has a themes model (older versions: SemEval-2014), and each scheme it carries."""
    bundle = as_bundle(load_aspect_model(version))
    annotated = _annotated_sentences()
    schemes = {}
    for scheme, model in bundle.models.items():
        test = [e for e in scheme_examples(annotated, scheme) if text_in_evaluation_bucket(e[0])]
        if test:
            schemes[scheme] = score_examples(model, test)
    primary = THEMES if THEMES in schemes else next(iter(schemes), None)
    if primary is None:
        raise ValueError("No held-out aspect annotations: import some with import_aspect_annotations first")
    return {
        "evaluation_set": {"kind": "aspect-annotations", "size": schemes[primary]["n"], "note": HELD_OUT_NOTE},
        "metrics": schemes[primary],
        "schemes": schemes,
    }


def _fast_sentiment_model(version: ModelVersion):
    """The version's model; of an accurate-kind model only its fast TF-IDF part: extraction scores every
    sentence and clause, and MiniLM there would cost more than it adds."""
    model = load_model(version)
    return getattr(model, "base", model)


def _sentiment_features_model() -> tuple[str | None, object | None]:
    """The name and fast model of the sentiment champion that feeds the aspect polarity (or Nones)."""
    version = sentiment_features_version()
    return (None, None) if version is None else (version.name, _fast_sentiment_model(version))


def aspect_gate(candidate: dict, champion: dict, champion_label: str) -> tuple[bool, str]:
    """Promote a candidate that is better on one measure and no worse on the other: micro-F1 up by
    GATE_MIN_DELTA with polarity accuracy at most 0.02 lower, or polarity accuracy up by GATE_MIN_DELTA
    with micro-F1 no lower (a model that only reads polarity better, e.g. with sentiment features,
    detects exactly what its champion detects)."""
    f1_delta = candidate["micro_f1"] - champion["micro_f1"]
    polarity_delta = candidate["polarity_accuracy"] - champion["polarity_accuracy"]
    least = GATE_MIN_DELTA - 1e-9  # the metrics are rounded to 4 places: 0.745 - 0.74 is 0.00499...
    promote = (f1_delta >= least and polarity_delta >= -0.02 - 1e-9) or (f1_delta >= -1e-9 and polarity_delta >= least)
    reason = (
        f"micro-F1 {candidate['micro_f1']} vs {champion['micro_f1']} ({champion_label}), "
        f"polarity accuracy {candidate['polarity_accuracy']} vs {champion['polarity_accuracy']}"
    )
    return promote, reason


# The fit's stages report 0..1 each; the job's bar gives them consecutive parts of 10-70 % so it never goes back.
_FIT_STAGES = {"detection-thresholds": (0.1, 0.4), "detection": (0.4, 0.55), "polarity": (0.55, 0.7)}


def _fit_progress(stage: str, fraction: float) -> float:
    start, end = _FIT_STAGES.get(stage, (0.1, 0.7))
    return start + (end - start) * min(max(fraction, 0.0), 1.0)


def _scheme_share(index: int, count: int, overall: float) -> float:
    """The index-th of count schemes fits in its own part of the job's 10-70 %, so the bar never goes back."""
    return 0.1 + 0.6 * (index + (overall - 0.1) / 0.6) / count


def _trainable(examples, min_samples: int) -> bool:
    return sum(1 for _, gold, _ in examples if gold) >= min_samples


def fit_scheme(scheme: str, train, sentiment_model, progress=None):
    """One scheme's model. Themes: the learned ones from annotations, speed and waiting and cleanliness (and any
    theme without labelled sentences) from the cold start's seed terms, beside them."""
    model = AspectModel(
        taxonomy=list(_TAXONOMY[scheme]),
        cold_start_categories=aspect_data.COLD_START_THEMES if scheme == THEMES else (),
        seed_backed_categories=aspect_data.SEED_BACKED_THEMES if scheme == THEMES else None,
        embeddings=settings.ASPECT_EMBEDDINGS and encoder.is_available(),
        sentiment_model=sentiment_model,
    )
    known = [e[2] for e in train] if scheme == THEMES else None
    return model.fit([e[0] for e in train], [e[1] for e in train], progress=progress, known=known)


_TAXONOMY = {
    THEMES: aspect_data.THEMES,
    SEMEVAL2014: aspect_data.SEMEVAL14_CATEGORIES,
    SEMEVAL2016: aspect_data.SEMEVAL16_CATEGORIES,
}
HELD_OUT_NOTE = "20% of sentences by text hash; the product themes"


def aspects_train(job: TrainingJob, progress: Callable[[float, str], None]) -> dict:
    """Train one aspect model per scheme that has annotations (the product themes, SemEval-2014, SemEval-2016) into
    one version, and gate it on the product themes."""
    progress(0.02, "Collecting aspect annotations")
    annotated = _annotated_sentences()
    min_samples = int(job.parameters.get("min_samples", 50))
    examples = {scheme: scheme_examples(annotated, scheme) for scheme in SCHEMES}
    schemes = [scheme for scheme in SCHEMES if _trainable(examples[scheme], min_samples)]
    if THEMES not in schemes:
        found = sum(1 for _, gold, _ in examples[THEMES] if gold)
        raise TrainingError(f"Not enough aspect annotations: found {found} with a theme; import some first")
    train = {scheme: [e for e in examples[scheme] if not text_in_evaluation_bucket(e[0])] for scheme in schemes}
    test = {scheme: [e for e in examples[scheme] if text_in_evaluation_bucket(e[0])] for scheme in schemes}
    started = time.monotonic()
    sentiment_version, sentiment_model = _sentiment_features_model()
    models = {}
    for index, scheme in enumerate(schemes):
        progress(
            _scheme_share(index, len(schemes), 0.1), f"Fitting the {scheme} model on {len(train[scheme])} sentences"
        )
        models[scheme] = fit_scheme(
            scheme,
            train[scheme],
            sentiment_model,
            progress=lambda stage, fraction, scheme=scheme, index=index: progress(
                _scheme_share(index, len(schemes), _fit_progress(stage, fraction)), f"Aspect model ({scheme}): {stage}"
            ),
        )
    bundle = AspectModelBundle(models)
    fit_seconds = round(time.monotonic() - started, 2)
    progress(0.75, f"Scoring candidate and champion on {len(test[THEMES])} held-out sentences")
    scheme_metrics = {scheme: score_examples(models[scheme], test[scheme]) for scheme in schemes if test[scheme]}
    candidate_metrics = scheme_metrics.get(THEMES) or score_examples(models[THEMES], [])
    champion = current_aspect_champion()
    champion_metrics = score_examples(get_aspect_model(THEMES), test[THEMES])  # what serves the themes now
    delta = candidate_metrics["micro_f1"] - champion_metrics["micro_f1"]
    promote, reason = aspect_gate(candidate_metrics, champion_metrics, "champion" if champion else "cold start")
    name = f"aspects-{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    scratch = storage.scratch_dir()
    joblib.dump(bundle, scratch / "model.joblib")
    evaluation_set = {"kind": "aspect-annotations", "size": len(test[THEMES]), "note": HELD_OUT_NOTE}
    train_sizes = {scheme: len(rows) for scheme, rows in train.items()}
    run_id = tracking.safely(
        "log the aspect training run",
        tracking.log_run,
        name=name,
        kind="aspects",
        params={
            "algorithm": bundle.algorithm,
            "schemes": ",".join(schemes),
            **{f"train_size_{scheme}": size for scheme, size in train_sizes.items()},
            "job_id": job.pk,
            "fit_seconds": fit_seconds,
            "sentiment_features": sentiment_version or "",
        },
        metrics={
            **candidate_metrics,
            "champion_micro_f1": champion_metrics["micro_f1"],
            **{f"{scheme}_{k}": v for scheme, m in scheme_metrics.items() for k, v in m.items()},
        },
        model_file=scratch / "model.joblib",
    )
    storage.save(scratch / "model.joblib", f"{name}.joblib")
    model_version_register(
        job=job,
        name=name,
        kind=ModelVersion.Kind.ASPECTS,
        algorithm=bundle.algorithm,
        parameters={
            "scheme": THEMES,
            "schemes": schemes,
            "train_size": train_sizes[THEMES],
            "train_sizes": train_sizes,
            "sentiment_features": sentiment_version,
        },
        evaluation_set=evaluation_set,
        candidate_metrics=candidate_metrics,
        champion=champion,
        champion_metrics=champion_metrics,
        promote=promote,
        reason=reason,
        delta=round(delta, 4),
        probability_better=1.0 if promote else 0.0,
        mlflow_run_id=run_id or "",
    )
    if promote:
        decision = f"promoted {name}: {reason}"
    else:
        decision = f"kept {champion.name if champion else 'cold start'}: candidate {name} rejected ({reason})"
    return {
        "decision": decision,
        "promoted": promote,
        "model": "aspects",
        "model_version": name,
        "train_size": train_sizes[THEMES],
        "train_sizes": train_sizes,
        "evaluation_set": evaluation_set,
        "candidate": candidate_metrics,
        "schemes": scheme_metrics,
        "champion_metrics": champion_metrics,
        "fit_seconds": fit_seconds,
        "mlflow_run_id": run_id or "",
    }


def load_aspect_model(version: ModelVersion):
    return joblib.load(storage.local_path(version.artifact_path))


def get_aspect_model(scheme: str = THEMES):
    """The deployed aspect model of a scheme (the product themes by default), or the cold start in that scheme when
    no trained model has one (its clause polarity from the sentiment champion when no aspect model is deployed and
    a sentiment model is trained, else from VADER). The deployed version is loaded once for all its schemes."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown aspect scheme {scheme!r}")
    champion = current_aspect_champion()
    sentiment = None if champion else sentiment_features_version()
    key = aspect_serving_key(champion, sentiment)
    with _lock:
        if _cache.get("key") != key:  # loaded before the cache changes: a failed load leaves the old one
            bundle = as_bundle(load_aspect_model(champion)) if champion else None
            sentiment_model = _fast_sentiment_model(sentiment) if sentiment else None
            _cache.clear()
            _cache.update(key=key, bundle=bundle, sentiment=sentiment_model, models={})
        models = _cache["models"]
        if scheme not in models:
            trained = _cache["bundle"].model_for(scheme) if _cache["bundle"] is not None else None
            models[scheme] = trained or ColdStartAspectModel(scheme=scheme, sentiment_model=_cache["sentiment"])
        return models[scheme]
