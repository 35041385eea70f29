"""Aspect-category benchmark on the SemEval restaurant train files (leak-free split).

    .venv/bin/python bench/aspects.py [--data-dir /work/shared/data] [--validate] [--no-2016]

Split (training/ml/aspect_data.leak_free_split): the 2014 and 2016 files are pooled and deduplicated by normalised text
(NFKC, lower-case, whitespace collapsed); near-duplicates (same lower-case alphanumeric key, or word TF-IDF cosine
>= 0.9, transitively) form groups, and groups go 80/20 to train/test by a salted hash. A text shared by both files, or
"Highly recommended." and "Highly recommended!!", never straddles the split.

SemEval-2014 scheme (food, service, price, ambience, anecdotes/miscellaneous) is evaluated on the 2014 sentences of the
test side: aspect-category detection micro-F1, and category-polarity accuracy over the gold (sentence, category)
pairs (SemEval-2014 subtask 4 definition: polarity predicted for the gold categories). Models: plain TF-IDF +
one-vs-rest LR (reference; with scikit-learn's defaults, and with balanced class weights in the detectors),
AspectModel (trained on the train side of 2014, plus 2016-only train sentences mapped to
the 2014 categories), ColdStartAspectModel (no labels; seed terms expanded over unlabelled Yelp/Zomato text).

Sentiment features (the product default, ASPECT_SENTIMENT_FEATURES): the polarity model also reads the probabilities
of the deployed review sentiment model. Here that model is the default sentiment model trained on the train side of
the Yelp + Zomato rated reviews (bench/quality.py's split), as `train` would build it from stored rated reviews; it
never sees SemEval. `--no-sentiment-features` leaves it out; otherwise "ours, without sentiment features" is measured
beside it.

Product taxonomy: evaluated on the 2016 sentences of the test side, on the categories that 2016 annotation can express
(food, service, price/value, ambience, drinks, location, menu/variety); trained on 2016 train-side sentences.
cleanliness, wait time/speed, staff and portion size have no gold and are cold-start only.

--validate: every number comes from a further 80/20 group split of the train side (for tuning; the test side is not
read). Writes bench/results/aspects.json (or aspects_validate.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.ml import encoder  # noqa: E402
from training.ml.aspect_coldstart import ColdStartAspectModel  # noqa: E402
from training.ml.aspect_data import (  # noqa: E402
    DEFAULT_PRODUCT_TAXONOMY,
    SEMEVAL14_CATEGORIES,
    leak_free_split,
    load_semeval,
    normalise,
    product_categories_with_gold,
    to_product_scheme,
    to_semeval2014_scheme,
)
from training.ml.aspect_reference import ReferenceAspectModel  # noqa: E402
from training.ml.aspects import AspectModel  # noqa: E402

TARGETS = {"micro_f1": 0.89, "polarity_accuracy": 0.83}


def default_data_dir() -> Path:
    env = os.environ.get("SHARED_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def micro_f1(gold: list[list[str]], pred: list[list[str]], categories) -> dict:
    tp = fp = fn = 0
    per = {c: [0, 0, 0] for c in categories}
    for g, p in zip(gold, pred):
        g, p = set(g) & set(categories), set(p) & set(categories)
        tp += len(g & p)
        fp += len(p - g)
        fn += len(g - p)
        for c in categories:
            per[c][0] += int(c in g and c in p)
            per[c][1] += int(c in p and c not in g)
            per[c][2] += int(c in g and c not in p)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    per_f1 = {c: round(2 * a / (2 * a + b + d), 4) if a else 0.0 for c, (a, b, d) in per.items()}
    return {"micro_f1": round(f1, 4), "precision": round(prec, 4), "recall": round(rec, 4), "per_category_f1": per_f1}


def evaluate(model, texts, gold_aspects, categories) -> dict:
    t0 = time.perf_counter()
    pred = model.predict(texts)
    predict_s = time.perf_counter() - t0
    out = micro_f1([[c for c, _ in g] for g in gold_aspects], [[c for c, _, _ in p] for p in pred], categories)
    pairs = [(t, c, p) for t, g in zip(texts, gold_aspects) for c, p in g if c in categories]
    pols = model.predict_polarity([p[0] for p in pairs], [p[1] for p in pairs])
    correct = sum(int(pp == p[2]) for p, (pp, _) in zip(pairs, pols))
    out["polarity_accuracy"] = round(correct / len(pairs), 4) if pairs else None
    out["polarity_pairs"] = len(pairs)
    out["predict_sentences_per_s"] = round(len(texts) / predict_s, 1) if predict_s else None
    return out


def unlabelled_reviews(data_dir: Path, limit: int = 8000) -> list[str]:
    import csv

    csv.field_size_limit(2**31 - 1)
    texts = []
    for path, col in (
        (data_dir / "yelp_reviews_10k_train" / "yelp_train_part1.csv", "text"),
        (data_dir / "zomato_restaurant_reviews_train" / "zomato_train.csv", "Review"),
    ):
        if path.exists():
            with path.open(newline="", encoding="utf-8") as fh:
                for i, row in enumerate(csv.DictReader(fh)):
                    if i >= limit // 2:
                        break
                    if row.get(col):
                        texts.append(row[col])
    return texts


def rated_reviews_sentiment_model(data_dir: Path):
    """The default sentiment model fitted on the train side of the rated Yelp + Zomato reviews."""
    from training.ml import datasets, text_classifier

    train, _ = datasets.split(datasets.load_yelp(data_dir) + datasets.load_zomato(data_dir))
    return text_classifier.fit([e.text for e in train], [e.label for e in train])


def timed_fit(model, texts, aspects):
    t0 = time.perf_counter()
    model.fit(texts, aspects)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--validate", action="store_true", help="evaluate on a split of the train side only")
    parser.add_argument("--no-2016", action="store_true", help="train the 2014-scheme model on 2014 sentences only")
    parser.add_argument("--no-sentiment-features", action="store_true", help="no sentiment model in the polarity")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    s14, s16 = load_semeval(args.data_dir)
    if not s14 or not s16:
        print(f"SemEval files not found under {args.data_dir}", file=sys.stderr)
        return 2
    side, _ = leak_free_split(s14, s16)
    if args.validate:
        train_keys = {k for k, v in side.items() if v == "train"}
        s14 = [s for s in s14 if normalise(s.text) in train_keys]
        s16 = [s for s in s16 if normalise(s.text) in train_keys]
        side, _ = leak_free_split(s14, s16, seed="aspects-validate-v1")
    train14 = [s for s in s14 if side[normalise(s.text)] == "train"]
    test14 = [s for s in s14 if side[normalise(s.text)] == "test"]
    train16 = [s for s in s16 if side[normalise(s.text)] == "train"]
    test16 = [s for s in s16 if side[normalise(s.text)] == "test"]
    known14 = {normalise(s.text) for s in s14}
    extra16 = [s for s in train16 if normalise(s.text) not in known14]
    print(
        f"split: 2014 train {len(train14)} / test {len(test14)}; 2016 train {len(train16)} / test {len(test16)}; "
        f"2016-only train sentences added to the 2014 scheme: {0 if args.no_2016 else len(extra16)}"
        + ("  [VALIDATION: inner split of the train side]" if args.validate else "")
    )

    cats14 = list(SEMEVAL14_CATEGORIES)
    x14 = [s.text for s in train14] + ([] if args.no_2016 else [s.text for s in extra16])
    y14 = [to_semeval2014_scheme(s) for s in train14] + (
        [] if args.no_2016 else [to_semeval2014_scheme(s) for s in extra16]
    )
    ref_x = [s.text for s in train14]
    ref_y = [s.aspects for s in train14]
    test_x = [s.text for s in test14]
    test_y = [s.aspects for s in test14]

    unlabelled = unlabelled_reviews(args.data_dir)
    sentiment_model = None if args.no_sentiment_features else rated_reviews_sentiment_model(args.data_dir)
    results: dict = {
        "split": {
            "train14": len(train14),
            "test14": len(test14),
            "train16": len(train16),
            "test16": len(test16),
            "validate": args.validate,
        },
        "semeval2014": {},
        "product": {},
    }

    reference = ReferenceAspectModel()
    ref_fit = timed_fit(reference, ref_x, ref_y)
    results["semeval2014"]["reference"] = evaluate(reference, test_x, test_y, cats14) | {"fit_s": round(ref_fit, 2)}
    balanced = ReferenceAspectModel(balanced=True)
    balanced_fit = timed_fit(balanced, ref_x, ref_y)
    results["semeval2014"]["reference_balanced"] = evaluate(balanced, test_x, test_y, cats14) | {
        "fit_s": round(balanced_fit, 2)
    }

    # The product default (ASPECT_EMBEDDINGS=true) adds MiniLM sentence embeddings; the TF-IDF-only
    # variant is measured too, to show what the embeddings buy and cost.
    embeddings = encoder.is_available()
    if embeddings:
        tfidf_only = AspectModel(taxonomy=cats14, sentiment_model=sentiment_model)
        tfidf_fit = timed_fit(tfidf_only, x14, y14)
        results["semeval2014"]["ours_tfidf_only"] = evaluate(tfidf_only, test_x, test_y, cats14) | {
            "fit_s": round(tfidf_fit, 2)
        }
    if sentiment_model is not None:
        without = AspectModel(taxonomy=cats14, embeddings=embeddings)
        without_fit = timed_fit(without, x14, y14)
        results["semeval2014"]["ours_without_sentiment"] = evaluate(without, test_x, test_y, cats14) | {
            "fit_s": round(without_fit, 2)
        }
    ours = AspectModel(taxonomy=cats14, embeddings=embeddings, sentiment_model=sentiment_model)
    ours_fit = timed_fit(ours, x14, y14)
    results["semeval2014"]["ours"] = evaluate(ours, test_x, test_y, cats14) | {
        "fit_s": round(ours_fit, 2),
        "train_sentences_per_s": round(len(x14) / ours_fit, 1),
    }

    cold = ColdStartAspectModel(scheme="semeval2014")
    t0 = time.perf_counter()
    cold.fit(unlabelled + x14)
    cold_fit = time.perf_counter() - t0
    results["semeval2014"]["cold_start"] = evaluate(cold, test_x, test_y, cats14) | {"fit_s": round(cold_fit, 2)}
    if sentiment_model is not None:  # what serves before any aspect training once a sentiment model is trained
        cold.sentiment_model = sentiment_model
        results["semeval2014"]["cold_start_sentiment"] = evaluate(cold, test_x, test_y, cats14) | {"fit_s": 0.0}
        cold.sentiment_model = None

    # product taxonomy where gold exists (2016 mapping)
    gold_cats = product_categories_with_gold("semeval2016")
    px = [s.text for s in train16]
    py = [to_product_scheme(s) for s in train16]
    tx = [s.text for s in test16]
    ty = [to_product_scheme(s) for s in test16]
    product = AspectModel(
        taxonomy=list(DEFAULT_PRODUCT_TAXONOMY), embeddings=embeddings, sentiment_model=sentiment_model
    )
    product_fit = timed_fit(product, px, py)
    results["product"]["ours"] = evaluate(product, tx, ty, gold_cats) | {"fit_s": round(product_fit, 2)}
    cold_p = ColdStartAspectModel().fit(unlabelled + px)
    results["product"]["cold_start"] = evaluate(cold_p, tx, ty, gold_cats)
    if sentiment_model is not None:
        cold_p.sentiment_model = sentiment_model
        results["product"]["cold_start_sentiment"] = evaluate(cold_p, tx, ty, gold_cats)
        cold_p.sentiment_model = None
    results["product"]["categories_with_gold"] = gold_cats
    results["product"]["cold_start_only"] = [c for c in DEFAULT_PRODUCT_TAXONOMY if c not in gold_cats]
    results["product"]["ours_model_categories"] = {
        "trained": product.categories_,
        "cold_start": product.cold_start_.categories if product.cold_start_ else [],
    }

    # single-sentence latency of the trained model
    t0 = time.perf_counter()
    for text in test_x[:50]:
        ours.predict([text])
    results["semeval2014"]["ours"]["single_sentence_ms"] = round((time.perf_counter() - t0) / 50 * 1000, 2)

    r = results["semeval2014"]
    print(f"\nSemEval-2014 categories ({len(test14)} test sentences, {r['ours']['polarity_pairs']} gold pairs)")
    print(f"{'model':<22}{'micro-F1':>10}{'P':>8}{'R':>8}{'pol-acc':>10}{'fit s':>8}{'pred sent/s':>13}")
    for name, key in (
        ("TF-IDF+OvR LR (ref)", "reference"),
        ("ref, balanced", "reference_balanced"),
        ("ours, TF-IDF only", "ours_tfidf_only"),
        ("ours, no sentiment", "ours_without_sentiment"),
        ("AspectModel (ours)", "ours"),
        ("cold start", "cold_start"),
        ("cold start + sentiment", "cold_start_sentiment"),
    ):
        if key not in r:
            continue
        m = r[key]
        print(
            f"{name:<22}{m['micro_f1']:>10.4f}{m['precision']:>8.3f}{m['recall']:>8.3f}{m['polarity_accuracy']:>10.4f}"
            f"{m['fit_s']:>8.1f}{m['predict_sentences_per_s']:>13.0f}"
        )
    print(f"targets: micro-F1 >= {TARGETS['micro_f1']}, polarity accuracy >= {TARGETS['polarity_accuracy']}")
    print("per-category F1 (ours):", r["ours"]["per_category_f1"])
    print(
        f"training throughput (ours): {r['ours']['train_sentences_per_s']} sentences/s; "
        f"single sentence {r['ours']['single_sentence_ms']} ms"
    )
    p = results["product"]
    print(f"\nProduct taxonomy on 2016 test sentences ({len(test16)}), categories with gold: {', '.join(gold_cats)}")
    rows = (("AspectModel (ours)", "ours"), ("cold start", "cold_start"), ("cold + sentiment", "cold_start_sentiment"))
    for name, key in rows:
        if key not in p:
            continue
        m = p[key]
        print(
            f"{name:<22}micro-F1 {m['micro_f1']:.4f}  pol-acc {m['polarity_accuracy']:.4f}  "
            f"per-category {m['per_category_f1']}"
        )
    print("cold-start only (no gold):", ", ".join(p["cold_start_only"]))

    out = args.out or ROOT / "bench" / "results" / ("aspects_validate.json" if args.validate else "aspects.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    results["algorithms"] = {
        "ours": ours.algorithm,
        "cold_start": ColdStartAspectModel.ALGORITHM,
        "reference": ReferenceAspectModel.ALGORITHM,
    }
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
