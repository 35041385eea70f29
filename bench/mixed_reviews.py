"""Mixed reviews: do the aspect model's per-theme polarities help the review-level model, the neutral class above all?

    .venv/bin/python bench/mixed_reviews.py [--data-dir /work/shared/data] [--stack-reviews 4000]

The neutral class is mostly mixed reviews ("great food, terrible service"). This measures the idea of issue 20's
part 3 before it goes into the product: a stacker (balanced logistic regression) over the default sentiment
model's log-probabilities plus features of the review's aspects, read by the shipped aspect model
(training/pretrained/aspects.joblib, themes scheme): shares of positive / negative / neutral mentions, whether it
has both polarities, log counts, no mention at all, and per theme whether it is praised and whether it is faulted.

Splits: bench/quality.py's (training.ml.datasets.split: 20% of Yelp and of Zomato held out, duplicates together).
The default model is fitted on the other 80%. The stacker learns from --stack-reviews training reviews, each with
the default model's out-of-fold probabilities (5 folds over the whole training set), so it never sees a
probability from a model that trained on that review.

Printed side by side on each test split, macro-F1 and neutral-class F1 of:
- the default model (argmax), what the product serves;
- the stacker over its probabilities alone (recalibration: what stacking gains without aspects);
- the stacker with the aspect features.
The aspect reading of each review is cached in --cache (default /tmp/bench-mixed-aspects.pkl): reading ~7,000
reviews takes a few minutes on the 2 cores. Writes bench/results/mixed_reviews.json.

--accurate measures the same idea on the accurate kind, the default kind since 7 December: its probabilities as
it predicts before any refit (the shipped fine-tuned head blended with the fast kind fitted on the training 80 %).
The encoder was fine-tuned on every training review, so its probabilities there are not out-of-fold: the stacker
learns and is scored by 5-fold cross-validation over the held-out 20 % of both files together (each review
scored by a stacker fitted on the other four fifths), reported per file. Writes
bench/results/mixed_reviews_accurate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import joblib  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from training.ml import text_classifier  # noqa: E402
from training.ml.aspect_schemes import THEMES, as_bundle  # noqa: E402
from training.ml.datasets import default_data_dir, load_yelp, load_zomato, split  # noqa: E402
from training.ml.labels import LABELS  # noqa: E402
from training.ml.text import split_sentences  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "mixed_reviews.json"
BUNDLE = ROOT / "training" / "pretrained" / "aspects.joblib"


class AspectReader:
    """Per-review theme mentions from the shipped aspect model, cached on disk between runs."""

    def __init__(self, cache_path: Path):
        self.model = as_bundle(joblib.load(BUNDLE)).model_for(THEMES)
        self.themes = sorted(self.model.categories)
        self.cache_path = cache_path
        self.cache: dict[str, list] = pickle.loads(cache_path.read_bytes()) if cache_path.exists() else {}

    def read(self, texts: list[str]) -> None:
        todo = [text for text in dict.fromkeys(texts) if text not in self.cache]
        started = time.perf_counter()
        for start in range(0, len(todo), 200):
            chunk = todo[start : start + 200]
            sentences = [split_sentences(text) or [text] for text in chunk]
            predicted = self.model.predict([s for group in sentences for s in group])
            at = 0
            for text, group in zip(chunk, sentences, strict=True):
                self.cache[text] = predicted[at : at + len(group)]
                at += len(group)
            done, seconds = start + len(chunk), time.perf_counter() - started
            print(f"  aspects of {done:,}/{len(todo):,} reviews, {seconds:.0f} s", flush=True)
        if todo:
            self.cache_path.write_bytes(pickle.dumps(self.cache))

    def features(self, texts: list[str]) -> np.ndarray:
        self.read(texts)
        rows = []
        for text in texts:
            praised, faulted = np.zeros(len(self.themes)), np.zeros(len(self.themes))
            counts = {"positive": 0, "negative": 0, "neutral": 0}
            for sentence in self.cache[text]:
                for category, polarity, _ in sentence:
                    at = self.themes.index(category)
                    counts[polarity if polarity in counts else "neutral"] += 1
                    if polarity in ("positive", "conflict"):
                        praised[at] = 1
                    if polarity in ("negative", "conflict"):
                        faulted[at] = 1
            total = max(sum(counts.values()), 1)
            both = float(counts["positive"] > 0 and counts["negative"] > 0)
            shares = [counts[polarity] / total for polarity in ("positive", "negative", "neutral")]
            logs = [np.log1p(counts["positive"]), np.log1p(counts["negative"])]
            summary = [*shares, both, *logs, float(sum(counts.values()) == 0)]
            rows.append(np.concatenate([summary, praised, faulted]))
        return np.array(rows)


def log_probabilities(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-6, 1.0))


def scores(truth: list[str], predicted) -> dict:
    predicted = list(predicted)
    return {
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "neutral_f1": round(float(f1_score(truth, predicted, labels=["neutral"], average="macro")), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--stack-reviews", type=int, default=4000)
    default_cache = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-mixed-aspects.pkl"
    parser.add_argument("--cache", type=Path, default=default_cache)
    parser.add_argument("--accurate", action="store_true", help="Measure on the accurate kind (see above)")
    args = parser.parse_args()
    if not (args.data_dir / "yelp_reviews_10k_train").exists():
        print(f"no shared data in {args.data_dir}", file=sys.stderr)
        return 2
    if args.accurate:
        return measure_accurate(args)
    started = time.perf_counter()
    yelp_train, yelp_test = split(load_yelp(args.data_dir))
    zomato_train, zomato_test = split(load_zomato(args.data_dir))
    train = yelp_train + zomato_train
    texts = [e.text for e in train]
    labels = np.array([e.label for e in train])
    print(f"train {len(train):,} reviews; test Yelp {len(yelp_test):,}, Zomato {len(zomato_test):,}", flush=True)

    default = text_classifier.fit(texts, list(labels))
    stack_ids = np.array(sorted(random.Random(0).sample(range(len(train)), min(args.stack_reviews, len(train)))))
    out_of_fold = np.zeros((len(stack_ids), len(LABELS)))
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(stack_ids, labels[stack_ids])
    for fold, (_, held) in enumerate(folds):
        held_ids = set(stack_ids[held].tolist())
        keep = [i for i in range(len(train)) if i not in held_ids]
        model = text_classifier.fit([texts[i] for i in keep], list(labels[keep]))
        out_of_fold[held] = model.predict_proba([texts[i] for i in stack_ids[held]])
        print(f"  out-of-fold probabilities, fold {fold + 1}/5", flush=True)

    reader = AspectReader(args.cache)
    stack_texts = [texts[i] for i in stack_ids]
    stack_aspects = reader.features(stack_texts)
    recalibrated = LogisticRegression(max_iter=3000, class_weight="balanced").fit(
        log_probabilities(out_of_fold), labels[stack_ids]
    )
    with_aspects = LogisticRegression(max_iter=3000, class_weight="balanced").fit(
        np.hstack([log_probabilities(out_of_fold), stack_aspects]), labels[stack_ids]
    )
    mixed_share = float(np.mean(stack_aspects[:, 3]))

    result: dict = {"stack_reviews": len(stack_ids), "mixed_share": round(mixed_share, 3), "splits": {}}
    print(f"\n{'split':8s} {'system':34s} {'macro-F1':>9s} {'neutral F1':>11s}")
    for name, test in (("yelp", yelp_test), ("zomato", zomato_test)):
        test_texts, truth = [e.text for e in test], [e.label for e in test]
        p = default.predict_proba(test_texts)
        aspects = reader.features(test_texts)
        systems = {
            "default model": scores(truth, (LABELS[i] for i in p.argmax(axis=1))),
            "stacker, probabilities only": scores(truth, recalibrated.predict(log_probabilities(p))),
            "stacker + aspect polarities": scores(
                truth, with_aspects.predict(np.hstack([log_probabilities(p), aspects]))
            ),
        }
        result["splits"][name] = systems
        for system, figures in systems.items():
            print(f"{name:8s} {system:34s} {figures['macro_f1']:9.4f} {figures['neutral_f1']:11.4f}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["load"] = os.getloadavg()[0]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {RESULTS.relative_to(ROOT)} in {result['seconds']} s")
    return 0


def measure_accurate(args) -> int:
    from training.ml import finetuned, lexicon_prior

    started = time.perf_counter()
    splits = {"yelp": split(load_yelp(args.data_dir)), "zomato": split(load_zomato(args.data_dir))}
    train = [example for train_part, _ in splits.values() for example in train_part]
    test = [(name, example) for name, (_, held_out) in splits.items() for example in held_out]
    texts, truth = [example.text for _, example in test], np.array([example.label for _, example in test])
    names = np.array([name for name, _ in test])
    print(f"fast kind on {len(train):,} training reviews; stacker by 5-fold CV on {len(test):,} held-out", flush=True)
    fast = lexicon_prior.fit([e.text for e in train], [e.label for e in train])
    head = finetuned.shipped_head().predict_proba(finetuned.shipped_encoder().encode(texts))
    accurate = finetuned.FinetunedSentimentModel.blend(head, fast.predict_proba(texts))
    aspects = AspectReader(args.cache).features(texts)
    inputs = {
        "stacker, probabilities only": log_probabilities(accurate),
        "stacker + aspect polarities": np.hstack([log_probabilities(accurate), aspects]),
    }
    predicted = {"accurate kind": np.array([LABELS[i] for i in accurate.argmax(axis=1)])}
    for system, features in inputs.items():
        predicted[system] = np.empty(len(test), dtype=object)
        strata = np.char.add(names.astype(str), truth.astype(str))
        for fitted, held in StratifiedKFold(5, shuffle=True, random_state=0).split(features, strata):
            stacker = LogisticRegression(max_iter=3000, class_weight="balanced").fit(features[fitted], truth[fitted])
            predicted[system][held] = stacker.predict(features[held])
    result: dict = {"held_out_reviews": len(test), "mixed_share": round(float(np.mean(aspects[:, 3])), 3), "splits": {}}
    print(f"\n{'split':8s} {'system':34s} {'macro-F1':>9s} {'neutral F1':>11s}")
    for name in splits:
        rows = names == name
        result["splits"][name] = {
            system: scores(list(truth[rows]), labels[rows]) for system, labels in predicted.items()
        }
        for system, figures in result["splits"][name].items():
            print(f"{name:8s} {system:34s} {figures['macro_f1']:9.4f} {figures['neutral_f1']:11.4f}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = RESULTS.with_name("mixed_reviews_accurate.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out.relative_to(ROOT)} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
