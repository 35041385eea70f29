"""Quality and speed benchmark of the sentiment models on the shared data.

    .venv/bin/python bench/quality.py [--data-dir /work/shared/data] [--scale 100000]

Splits (fixed, seeded, stratified, duplicates kept together: training/ml/datasets.py):
20% of Yelp and 20% of Zomato are the test splits; one model is trained on the other
80% of both. SemEval-2014/2016 restaurant sentences with all-positive or all-negative
opinions measure binary accuracy on short texts (argmax over positive vs negative).

Models compared: VADER (training/ml/lexicon.py), TextBlob polarity (p > 0.1 positive,
p < -0.05 negative, else neutral: TextBlob's polarity is skewed positive, so the
positive threshold sits higher), plain word 1-2-gram TF-IDF + balanced LR (no tricks),
the fast model (training/ml/text_classifier.py), the accurate kind before the fine-tune (training/ml/accurate.py:
the fast model blended with a head on the bundled MiniLM's embeddings of short texts), and the accurate kind
(training/ml/finetuned.py: the shipped fine-tuned encoder, its head refit on the training reviews, blended with
the fast model; the product's default kind, so the targets are judged on it), with its reviews/s on 2 cores.

--scale N times fit of the default model on N synthetic reviews made by recombining
sentences of the training texts, and reports peak RSS (resource.getrusage).
Writes bench/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from training.ml import accurate, encoder, finetuned, text_classifier  # noqa: E402
from training.ml.datasets import default_data_dir, load_semeval_sentences, load_yelp, load_zomato, split  # noqa: E402
from training.ml.labels import LABELS  # noqa: E402
from training.ml.lexicon import LexiconSentimentModel  # noqa: E402
from training.ml.metrics import evaluate  # noqa: E402

TARGETS = {
    "yelp_macro_f1": (0.71, 0.75),
    "zomato_macro_f1": (0.75, 0.78),
    "semeval_binary_acc": (0.86, 0.90),
    "batch_reviews_per_s": (2000, None),
    "single_p50_ms": (2.0, None),
}
ACCURATE_MIN_PER_S = 200


def clear_encoder_caches() -> None:
    """Speed is timed on texts no encoder cache has seen (the quality pass encoded them)."""
    if encoder.is_available():
        encoder.shared_encoder().clear_cache()
    if finetuned.is_available():
        finetuned.shipped_encoder().clear_cache()


TEXTBLOB_POSITIVE, TEXTBLOB_NEGATIVE = 0.1, -0.05


class TextBlobModel:
    def predict_proba(self, texts):
        from textblob import TextBlob

        out = np.zeros((len(texts), 3))
        for i, text in enumerate(texts):
            polarity = TextBlob(text).sentiment.polarity
            out[i, 0 if polarity > TEXTBLOB_POSITIVE else 2 if polarity < TEXTBLOB_NEGATIVE else 1] = 1.0
        return out


class PlainTfidf:
    """Reference: word 1-2-gram TF-IDF + class-balanced LR, no tricks."""

    def __init__(self, texts, labels):
        self.vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, dtype=np.float32)
        self.clf = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced")
        self.clf.fit(self.vec.fit_transform(texts), labels)

    def predict_proba(self, texts):
        raw = self.clf.predict_proba(self.vec.transform(texts))
        classes = list(self.clf.classes_)
        return raw[:, [classes.index(label) for label in LABELS]]


def measure(name, model, fit_seconds, yelp_test, zomato_test, semeval, speed_texts):
    row = {"model": name, "fit_s": None if fit_seconds is None else round(fit_seconds, 1)}
    for key, test in (("yelp", yelp_test), ("zomato", zomato_test)):
        result = evaluate(np.asarray(model.predict_proba([e.text for e in test])), [e.label for e in test])
        row[f"{key}_macro_f1"] = result["macro_f1"]
        row[f"{key}_neutral_f1"] = result["per_class"]["neutral"]["f1"]
        row[f"{key}_ece"] = result["ece"]
        row[f"{key}_brier"] = result["brier"]
    probabilities = np.asarray(model.predict_proba([t for t, _ in semeval]))
    predicted = np.where(probabilities[:, 0] >= probabilities[:, 2], "positive", "negative")
    row["semeval_binary_acc"] = round(float(np.mean(predicted == np.array([label for _, label in semeval]))), 4)
    clear_encoder_caches()
    started = time.perf_counter()
    model.predict_proba(speed_texts)
    row["batch_reviews_per_s"] = round(len(speed_texts) / (time.perf_counter() - started))
    clear_encoder_caches()
    singles = []
    for text in speed_texts[:300]:
        started = time.perf_counter()
        model.predict_proba([text])
        singles.append((time.perf_counter() - started) * 1000)
    row["single_p50_ms"] = round(statistics.median(singles), 3)
    short_texts = [t for t, _ in semeval][:1000]
    clear_encoder_caches()
    started = time.perf_counter()
    model.predict_proba(short_texts)
    row["short_texts_per_s"] = round(len(short_texts) / (time.perf_counter() - started))
    print(f"  measured {name}", flush=True)
    return row


def verdict(metric, value):
    required, stretch = TARGETS[metric]
    lower_is_better = metric.endswith("_ms")
    ok = value <= required if lower_is_better else value >= required
    text = "PASS" if ok else "FAIL"
    if ok and stretch is not None and value >= stretch:
        text = "PASS+stretch"
    return text


def print_table(rows):
    columns = [
        ("yelp_macro_f1", "Yelp F1"),
        ("zomato_macro_f1", "Zomato F1"),
        ("yelp_neutral_f1", "neu Y"),
        ("zomato_neutral_f1", "neu Z"),
        ("semeval_binary_acc", "SemEval acc"),
        ("yelp_ece", "ECE Y"),
        ("zomato_ece", "ECE Z"),
        ("yelp_brier", "Brier Y"),
        ("zomato_brier", "Brier Z"),
        ("fit_s", "fit s"),
        ("batch_reviews_per_s", "batch/s"),
        ("single_p50_ms", "p50 ms"),
        ("short_texts_per_s", "short/s"),
    ]
    header = f"{'model':28s}" + "".join(f"{title:>12s}" for _, title in columns)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['model']:28s}" + "".join(f"{str(row.get(key, '')):>12s}" for key, _ in columns))
    ours = next(row for row in rows if row["model"].startswith("default"))
    print("\nTargets for the fast model:")
    for metric, (required, stretch) in TARGETS.items():
        result = verdict(metric, ours[metric])
        print(f"  {metric:22s} {ours[metric]!s:>10s}  required {required}  stretch {stretch}  {result}")
    best = next((row for row in rows if row["model"].startswith("accurate")), None)
    if best is not None:
        print("The accurate kind (the default kind):")
        for metric in ("yelp_macro_f1", "zomato_macro_f1", "semeval_binary_acc"):
            required, stretch = TARGETS[metric]
            result = verdict(metric, best[metric])
            print(f"  {metric:22s} {best[metric]!s:>10s}  required {required}  stretch {stretch}  {result}")
        for metric in ("batch_reviews_per_s", "short_texts_per_s"):
            result = "PASS" if best[metric] >= ACCURATE_MIN_PER_S else "FAIL"
            print(f"  {metric:22s} {best[metric]!s:>10s}  required {ACCURATE_MIN_PER_S}  {result}")


def synthetic_reviews(texts, n, seed=0):
    """N reviews made of 3-12 sentences drawn at random from the training texts (Yelp-like length)."""
    rng = random.Random(seed)
    sentences = [s for t in texts for s in re.split(r"(?<=[.!?])\s+|\n+", t) if len(s.split()) >= 3]
    labels = list(LABELS)
    out_texts = [" ".join(rng.choices(sentences, k=rng.randint(3, 12))) for _ in range(n)]
    return out_texts, [labels[rng.randrange(3)] for _ in range(n)]


def run_scale(n, train_texts):
    texts, labels = synthetic_reviews(train_texts, n)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    text_classifier.fit(texts, labels, progress=lambda f, m: print(f"    {f:.2f} {m}", flush=True))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "n": n,
        "fit_s": round(seconds, 1),
        "peak_rss_mb": round(peak),
        "rss_before_fit_mb": round(rss_before),
        "mean_words": round(float(np.mean([len(t.split()) for t in texts[:5000]])), 1),
    }
    print(f"scale fit on {n} synthetic reviews: {result}")
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--scale", type=int, default=0, help="only time fit on N synthetic reviews")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "quality.json")
    args = parser.parse_args()

    yelp_train, yelp_test = split(load_yelp(args.data_dir))
    zomato_train, zomato_test = split(load_zomato(args.data_dir))
    train = yelp_train + zomato_train
    texts, labels = [e.text for e in train], [e.label for e in train]
    args.output.parent.mkdir(parents=True, exist_ok=True)

    if args.scale:
        result = run_scale(args.scale, texts)
        path = args.output.with_name(f"scale_{args.scale}.json")
        path.write_text(json.dumps(result, indent=2))
        return

    semeval = load_semeval_sentences(args.data_dir)
    print(f"train {len(train)} | test yelp {len(yelp_test)} zomato {len(zomato_test)} | semeval {len(semeval)}")
    speed_texts = [e.text for e in yelp_test][:1000]
    rows = []
    rows.append(measure("VADER", LexiconSentimentModel(), None, yelp_test, zomato_test, semeval, speed_texts))
    rows.append(measure("TextBlob", TextBlobModel(), None, yelp_test, zomato_test, semeval, speed_texts))

    def fitted_row(name: str, fit) -> dict:
        started = time.perf_counter()
        model = fit(texts, labels)
        return measure(name, model, time.perf_counter() - started, yelp_test, zomato_test, semeval, speed_texts)

    rows.append(fitted_row("TF-IDF+LR plain", PlainTfidf))
    rows.append(fitted_row(f"default ({text_classifier.ALGORITHM})", text_classifier.fit))
    if encoder.is_available():
        rows.append(fitted_row(f"MiniLM-head blend, before ({accurate.ALGORITHM})", accurate.fit))
    if finetuned.is_available():
        rows.append(fitted_row(f"accurate ({finetuned.ALGORITHM})", finetuned.fit))
    print()
    print_table(rows)
    default_row = next(
        (row for row in rows if row["model"].startswith("accurate")),
        next(row for row in rows if row["model"].startswith("default")),
    )
    summary = {
        "data_dir": str(args.data_dir),
        "sizes": {"train": len(train), "yelp_test": len(yelp_test), "zomato_test": len(zomato_test)},
        "semeval_sentences": len(semeval),
        "rows": rows,
        "targets": {
            k: {"required": r, "stretch": s, "result": verdict(k, default_row[k])} for k, (r, s) in TARGETS.items()
        },
    }
    args.output.write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
