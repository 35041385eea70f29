"""The trained defaults that ship in the repository (training/pretrained/), so a fresh install serves trained
suggestion and aspect models instead of the rule and the cold start.

`manage.py build_default_models` builds them reproducibly from the public annotation files (SHARED_DATA_DIR),
leaving out every sentence of the evaluation bucket (training.ml.holdout.text_in_evaluation_bucket): when a
customer imports the same files and trains, the gate scores the default on sentences it never learned from.
It writes each model, `defaults.json` (what was trained on what, and the measured quality) and MODEL_CARD.md.

At migrate (training.receivers) each shipped model is registered as a ModelVersion and deployed when its kind
has no champion yet; the customer's own training replaces it through the gate as any champion.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import joblib
import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviews.models import Review
from training import aspects as aspect_training
from training import storage
from training.ml import aspect_data, finetuned, lexicon, lexicon_prior, review_encoder
from training.ml.aspect_schemes import SCHEMES, AspectModelBundle
from training.ml.datasets import load_yelp, load_zomato, split
from training.ml.holdout import text_in_evaluation_bucket
from training.ml.metrics import evaluate
from training.ml.suggestion_data import read_semeval2019_csv, review_domain_sentences
from training.ml.suggestions import SuggestionModel, SuggestionRule
from training.models import Deployment, ModelVersion
from training.suggestions import SEMEVAL2019, SHIPPED, Example, deduplicated, suggestion_scores
from training.versions import DeploymentError, model_version_promote, reextract_all_aspects

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
MANIFEST = "defaults.json"


def shipped_manifest(folder: Path = PRETRAINED_DIR) -> dict:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def _bucket_metrics(kind: str, entry: dict) -> dict:
    """The build's scores on the evaluation bucket, in the shape a trained version's evaluation has (the aspect
    gate's: the product themes)."""
    bucket = entry.get("metrics", {}).get("held_out_bucket", {})
    return bucket.get("themes", {}) if kind == ModelVersion.Kind.ASPECTS else bucket


def model_version_ensure_defaults(folder: Path = PRETRAINED_DIR) -> list[ModelVersion]:
    """Register every shipped model (idempotent: by its file's digest) and deploy it where its kind has no
    champion. Returns the versions registered or found."""
    if not settings.DEPLOY_SHIPPED_MODELS:
        return []
    versions, deployed = [], False
    for kind, entry in shipped_manifest(folder).items():
        file = folder / entry["file"]
        if kind not in ModelVersion.Kind.values or not file.exists():
            continue
        name = f"default-{kind}-{_digest(file)}"
        key = f"{name}.joblib"
        if key not in storage.keys():
            scratch = storage.scratch_dir() / key
            shutil.copyfile(file, scratch)
            storage.save(scratch, key)
        version, _ = ModelVersion.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "algorithm": entry["algorithm"],
                "artifact_path": key,
                "parameters": {"shipped": True, **entry.get("parameters", {})},
                "metrics": {
                    "evaluation": _bucket_metrics(kind, entry),
                    "evaluation_set": {"kind": "shipped-build", "note": "the evaluation bucket of the public files"},
                    "shipped": entry.get("metrics", {}),
                },
            },
        )
        if not ModelVersion.objects.filter(kind=kind, stage=ModelVersion.Stage.CHAMPION).exists():
            try:
                with transaction.atomic():
                    ModelVersion.objects.filter(pk=version.pk).update(
                        stage=ModelVersion.Stage.CHAMPION, deployed_at=timezone.now()
                    )
                    Deployment.objects.create(
                        model_version=version,
                        action=Deployment.Action.INITIAL,
                        reason="The default trained on public annotations that ships with the code",
                    )
                deployed = True
            except IntegrityError:
                pass  # another process deployed one at the same moment; that one wins
            version.refresh_from_db()
        versions.append(version)
    if deployed and Review.objects.exists():
        reextract_all_aspects()  # an upgrade: stored reviews follow the models that serve now
    sentiment = _ensure_shipped_sentiment(folder)
    return versions + ([sentiment] if sentiment else [])


def _ensure_shipped_sentiment(folder: Path) -> ModelVersion | None:
    """The shipped fine-tuned head as a sentiment version (no file of its own: training.registry builds it from
    the shipped encoder), deployed in place of the lexicon baseline when nothing trained serves yet. Unlabelled
    stored reviews are re-scored by it (model_version_promote)."""
    entry = shipped_manifest(folder).get("sentiment_encoder")
    if entry is None or not finetuned.is_available():
        return None
    scores = entry["metrics"]["finetuned_head"]
    evaluation = entry["metrics"]["finetuned_head_evaluation"]
    version, _ = ModelVersion.objects.get_or_create(
        name=f"default-sentiment-{review_encoder.graph_digest(finetuned.SHIPPED_DIR / finetuned.GRAPH_FILE)[:10]}",
        defaults={
            "kind": ModelVersion.Kind.SENTIMENT,
            "algorithm": finetuned.SHIPPED_ALGORITHM,
            "parameters": {"shipped": True, "kind": "accurate", **entry.get("parameters", {})},
            "metrics": {
                "evaluation": evaluation,
                "evaluation_set": {
                    "kind": "public",
                    "size": evaluation["n"],
                    "note": "public Yelp and Zomato reviews held out when it was built, not your reviews",
                },
                "shipped": scores,
            },
        },
    )
    champion = ModelVersion.objects.filter(kind=ModelVersion.Kind.SENTIMENT, stage=ModelVersion.Stage.CHAMPION).first()
    if champion is None or champion.algorithm == lexicon.ALGORITHM:
        try:
            model_version_promote(
                version=version,
                action=Deployment.Action.INITIAL,
                reason="The fine-tuned sentiment encoder that ships with the code, until a trained model wins the gate",
            )
        except (DeploymentError, IntegrityError):
            pass  # another process deployed it (or something else) at the same moment
        version.refresh_from_db()
    return version


def _write_model(model, folder: Path, file_name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    joblib.dump(model, path, compress=3)  # compressed: the repository carries these files
    return path


def build_default_suggestions(data_dir: Path, folder: Path = PRETRAINED_DIR) -> dict:
    """Train the shipped suggestion detector on the SemEval-2019 training file and the shipped review sentences,
    minus the evaluation bucket; measure it on the trial file (never trained on) and on the bucket."""
    source = data_dir / "semeval2019_task9_suggestions_train"
    forum = [Example(s.text, s.label, SEMEVAL2019) for s in read_semeval2019_csv(source / "V1.4_Training.csv")]
    examples = deduplicated(forum + [Example(s.text, s.label, SHIPPED) for s in review_domain_sentences()])
    train = [e for e in examples if not text_in_evaluation_bucket(e.text)]
    bucket = [e for e in examples if text_in_evaluation_bucket(e.text)]
    trial_file = source / "SubtaskA_Trial_Test_Labeled.csv"
    trial = [Example(s.text, s.label, SEMEVAL2019) for s in read_semeval2019_csv(trial_file)]
    model = SuggestionModel().fit(
        [e.text for e in train], [e.label for e in train], review_domain=[e.is_review_text for e in train]
    )
    path = _write_model(model, folder, "suggestions.joblib")
    rule = SuggestionRule()
    return {
        "file": path.name,
        "algorithm": model.algorithm,
        "parameters": {"train_size": len(train), "threshold": round(float(model.threshold), 4)},
        "data": [
            "SemEval-2019 Task 9 Subtask A training file V1.4 (software-developer forum; CC BY-NC-SA 4.0)",
            "training/ml/data/review_suggestions.csv (review sentences written for this project)",
        ],
        "metrics": {
            "trial": suggestion_scores(model, trial),
            "held_out_bucket": suggestion_scores(model, bucket),
        },
        "baselines": {
            "keyword_rule": {
                "trial": suggestion_scores(rule, trial),
                "held_out_bucket": suggestion_scores(rule, bucket),
            }
        },
    }


def build_default_aspects(data_dir: Path, folder: Path = PRETRAINED_DIR) -> dict:
    """Train the shipped aspect bundle (themes, SemEval-2014, SemEval-2016) on the SemEval restaurant training files
    minus the evaluation bucket, as an aspect training job would from the same files imported (without the
    customer's sentiment model: the default must not depend on one); measure each scheme on the bucket."""
    s14, s16 = aspect_data.load_semeval(data_dir)
    if not s14 or not s16:
        missing = [str(p) for p in aspect_data.semeval_paths(data_dir) if not p.exists()]
        raise FileNotFoundError(2, "SemEval restaurant file missing", ", ".join(missing))
    annotated = list(enumerate(s14 + s16))
    models, metrics, sizes = {}, {}, {}
    for scheme in SCHEMES:
        examples = aspect_training.scheme_examples(annotated, scheme)
        train = [e for e in examples if not text_in_evaluation_bucket(e[0])]
        bucket = [e for e in examples if text_in_evaluation_bucket(e[0])]
        models[scheme] = aspect_training.fit_scheme(scheme, train, None)
        metrics[scheme] = aspect_training.score_examples(models[scheme], bucket)
        sizes[scheme] = len(train)
    bundle = AspectModelBundle(models)
    path = _write_model(bundle, folder, "aspects.joblib")
    return {
        "file": path.name,
        "algorithm": bundle.algorithm,
        "parameters": {"train_size": sizes, "schemes": list(models), "sentiment_features": None},
        "data": [
            "SemEval-2014 Task 4 restaurants training file (research use)",
            "SemEval-2016 Task 5 restaurants SB1 training file (non-commercial)",
        ],
        "metrics": {"held_out_bucket": metrics},
    }


def _sentiment_scores(probabilities, labels) -> dict:
    result = evaluate(probabilities, labels)
    return {"n": result["n"], "macro_f1": result["macro_f1"], "neutral_f1": result["per_class"]["neutral"]["f1"]}


def build_default_sentiment_encoder(
    data_dir: Path, folder: Path = PRETRAINED_DIR, *, weights_dir: Path | None = None
) -> dict:
    """Ship the fine-tuned review encoder (bench/finetune_encoder.py wrote its weights and head to weights_dir) as
    the accurate kind's int8 graph and head, and measure it on the held-out 20 % of the shared Yelp and Zomato
    files (training.ml.datasets.split, the split the fine-tune left out) beside the fast kind trained on the
    other 80 %, and their blend as the accurate kind predicts before any refit. Without weights_dir, measure the
    graph and head already in folder again (after a change to how reviews are read, say)."""
    splits = {"yelp": split(load_yelp(data_dir)), "zomato": split(load_zomato(data_dir))}
    train = [example for train_part, _ in splits.values() for example in train_part]
    graph_path = folder / finetuned.GRAPH_FILE
    if weights_dir is None:
        if not graph_path.is_file() or not (folder / finetuned.HEAD_FILE).is_file():
            raise FileNotFoundError(2, "No shipped fine-tuned encoder to measure", str(graph_path))
        head_data = json.loads((folder / finetuned.HEAD_FILE).read_text())
    else:
        if not (weights_dir / "model.safetensors").is_file() or not (weights_dir / "head.json").is_file():
            raise FileNotFoundError(2, "No fine-tuned weights (model.safetensors, head.json)", str(weights_dir))
        head_data = json.loads((weights_dir / "head.json").read_text())
    if head_data.get("train_reviews") != len(train):
        raise ValueError(f"The fine-tune trained on {head_data.get('train_reviews')} reviews, not these {len(train)}")
    if weights_dir is not None:
        # What the encoder learned from, so a customer's refit leaves those reviews out (finetuned.fit).
        head_data["trained_on"] = sorted({finetuned.text_key(example.text) for example in train})
        folder.mkdir(parents=True, exist_ok=True)
        graph_path.write_bytes(review_encoder.build_shipped_graph(weights_dir))
        (folder / finetuned.HEAD_FILE).write_text(json.dumps(head_data))
        review_encoder.graph_digest.cache_clear()
        finetuned.trained_on.cache_clear()

    head = finetuned.LinearHead.read(folder / finetuned.HEAD_FILE)
    reviews_encoder = review_encoder.review_encoder(graph_path)
    fast = lexicon_prior.fit([e.text for e in train], [e.label for e in train])
    metrics: dict = {"finetuned_head": {}, "accurate_blend": {}}
    baselines: dict = {"fast_kind": {}}
    seconds, reviews = 0.0, 0
    all_probabilities, all_labels = [], []
    for name, (_, test) in splits.items():
        texts, labels = [e.text for e in test], [e.label for e in test]
        reviews_encoder.clear_cache()
        started = time.perf_counter()
        head_probabilities = head.predict_proba(reviews_encoder.encode(texts))
        seconds, reviews = seconds + time.perf_counter() - started, reviews + len(texts)
        fast_probabilities = fast.predict_proba(texts)
        blend = finetuned.FinetunedSentimentModel.blend(head_probabilities, fast_probabilities)
        metrics["finetuned_head"][name] = _sentiment_scores(head_probabilities, labels)
        metrics["accurate_blend"][name] = _sentiment_scores(blend, labels)
        baselines["fast_kind"][name] = _sentiment_scores(fast_probabilities, labels)
        all_probabilities.append(head_probabilities)
        all_labels += labels
    # The whole evaluation (accuracy, per class, confusion matrix, calibration) on both splits together: what a
    # fresh install's model page shows for the shipped head (_ensure_shipped_sentiment).
    metrics["finetuned_head_evaluation"] = evaluate(np.vstack(all_probabilities), all_labels)
    return {
        "file": graph_path.name,
        "head_file": finetuned.HEAD_FILE,
        "algorithm": finetuned.ALGORITHM,
        "parameters": {key: head_data.get(key) for key in ("max_tokens", "epochs", "seed", "train_reviews", "scale")},
        "data": [
            "Yelp Dataset Challenge reviews, 80 % of 7,986 (no licence stated by the copy used; Yelp's dataset terms "
            "apply: **non-commercial**)",
            "Zomato Hyderabad restaurant reviews (Kaggle), 80 % of 7,739 (no licence stated: treat as "
            "**research only**)",
        ],
        "metrics": {**metrics, "encode_reviews_per_s": round(reviews / max(seconds, 1e-9), 1)},
        "baselines": baselines,
    }
