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

SemEval-2016 scheme (the twelve E#A categories as the files spell them, predict_file --aspect-scheme semeval2016):
trained on the 2016 train side, evaluated on the 2016 test side (sentence-level slot 1: category micro-F1; every
in-scope sentence counts, also those without an opinion), and polarity accuracy over the gold pairs. The best
published slot-1 figure (0.730, on the official test set) is for reference only: this is a split of the train file.

Product themes (what extraction stores): trained as `train --model aspects` trains them (2016 train side mapped to
the themes, 2014-only train sentences where their category names one theme, detectors masked where it does not;
speed and waiting and cleanliness by the cold start), evaluated on the 2016 test side mapped (per-theme F1 for the
eight themes 2016 gold expresses). With bench/gold.py (the hand-annotated review-sentence sample) importable, every
theme, cold-start ones included, is also scored on real review sentences; without it that table is skipped.

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
    COLD_START_THEMES,
    SEED_BACKED_THEMES,
    SEMEVAL14_CATEGORIES,
    SEMEVAL16_CATEGORIES,
    THEMES,
    leak_free_split,
    load_semeval,
    normalise,
    themes_known,
    to_semeval2014_scheme,
    to_semeval2016_scheme,
    to_themes,
)
from training.ml.aspect_reference import ReferenceAspectModel  # noqa: E402
from training.ml.aspects import AspectModel  # noqa: E402

TARGETS = {"micro_f1": 0.89, "polarity_accuracy": 0.85}
BEST_PUBLISHED_SEMEVAL2016_SLOT1 = 0.730


def default_data_dir() -> Path:
    env = os.environ.get("SHARED_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def micro_f1(gold: list[list[str]], pred: list[list[str]], categories, known=None) -> dict:
    """Micro-F1 over ``categories``; ``known`` (per sentence, optional): only the categories its gold states."""
    tp = fp = fn = 0
    per = {c: [0, 0, 0] for c in categories}
    for i, (g, p) in enumerate(zip(gold, pred)):
        scope = set(categories) & set(known[i]) if known is not None and known[i] is not None else set(categories)
        g, p = set(g) & scope, set(p) & scope
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


def evaluate(model, texts, gold_aspects, categories, known=None) -> dict:
    t0 = time.perf_counter()
    pred = model.predict(texts)
    predict_s = time.perf_counter() - t0
    gold = [[c for c, _ in g] for g in gold_aspects]
    out = micro_f1(gold, [[c for c, _, _ in p] for p in pred], categories, known)
    pairs = [(t, c, p) for t, g in zip(texts, gold_aspects) for c, p in g if c in categories]
    pols = model.predict_polarity([p[0] for p in pairs], [p[1] for p in pairs])
    correct = sum(int(pp == p[2]) for p, (pp, _) in zip(pairs, pols))
    out["polarity_accuracy"] = round(correct / len(pairs), 4) if pairs else None
    by_category: dict[str, list[int]] = {}
    for p, (pp, _) in zip(pairs, pols):
        by_category.setdefault(p[1], []).append(int(pp == p[2]))
    out["polarity_accuracy_per_category"] = {c: round(sum(v) / len(v), 3) for c, v in by_category.items()}
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


def rated_reviews_sentiment_model(data_dir: Path, *, leaving_out: list[str] = ()):
    """The default sentiment model fitted on the train side of the rated Yelp + Zomato reviews, without the reviews
    that hold a sentence of ``leaving_out`` (the gold sample's: their star rating would leak into its polarity)."""
    from training.ml import datasets, text_classifier

    train, _ = datasets.split(datasets.load_yelp(data_dir) + datasets.load_zomato(data_dir))
    if leaving_out:
        train = [e for e in train if not any(sentence in e.text for sentence in leaving_out)]
    return text_classifier.fit([e.text for e in train], [e.label for e in train])


def review_sentence_gold(data_dir: Path):
    """The hand-annotated review-sentence sample (bench/gold.py), or None when it or its data is not here."""
    try:
        from bench.gold import load_review_sentence_gold
    except ImportError:
        return None
    return load_review_sentence_gold(data_dir)


def themes_training_set(train14, train16):
    """What `train --model aspects` gives the themes model: 2016 sentences mapped, 2014-only ones with the themes
    their categories name exactly and the rest of their gold as stated absences (training.aspects)."""
    in16 = {normalise(s.text) for s in train16}
    sentences = list(train16) + [s for s in train14 if normalise(s.text) not in in16]
    return [s.text for s in sentences], [to_themes(s) for s in sentences], [themes_known(s) for s in sentences]


def themes_model(embeddings: bool, sentiment_model) -> AspectModel:
    return AspectModel(
        taxonomy=list(THEMES),
        cold_start_categories=COLD_START_THEMES,
        seed_backed_categories=SEED_BACKED_THEMES,
        embeddings=embeddings,
        sentiment_model=sentiment_model,
    )


def gold_table(models: dict, gold) -> dict:
    """Per-theme F1, micro-F1 and polarity accuracy of each model on the review-sentence gold (all ten themes)."""
    texts = [g.text for g in gold]
    aspects = [[(t, g.polarities.get(t, "neutral")) for t in g.themes] for g in gold]
    return {name: evaluate(model, texts, aspects, list(THEMES)) for name, model in models.items()}


def timed_fit(model, texts, aspects, **fit_options):
    t0 = time.perf_counter()
    model.fit(texts, aspects, **fit_options)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--validate", action="store_true", help="evaluate on a split of the train side only")
    parser.add_argument("--no-2016", action="store_true", help="train the 2014-scheme model on 2014 sentences only")
    parser.add_argument("--no-sentiment-features", action="store_true", help="no sentiment model in the polarity")
    parser.add_argument("--quick", action="store_true", help="skip the reference models and the ablations")
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
    gold = review_sentence_gold(args.data_dir)
    gold_texts = [g.text for g in gold or []]
    sentiment_model = (
        None if args.no_sentiment_features else rated_reviews_sentiment_model(args.data_dir, leaving_out=gold_texts)
    )
    results: dict = {
        "split": {
            "train14": len(train14),
            "test14": len(test14),
            "train16": len(train16),
            "test16": len(test16),
            "validate": args.validate,
        },
        "semeval2014": {},
        "semeval2016": {},
        "themes": {},
    }

    # The product default (ASPECT_EMBEDDINGS=true) adds MiniLM sentence embeddings; the TF-IDF-only
    # variant is measured too, to show what the embeddings buy and cost.
    embeddings = encoder.is_available()
    if not args.quick:
        reference = ReferenceAspectModel()
        ref_fit = timed_fit(reference, ref_x, ref_y)
        results["semeval2014"]["reference"] = evaluate(reference, test_x, test_y, cats14) | {"fit_s": round(ref_fit, 2)}
        balanced = ReferenceAspectModel(balanced=True)
        balanced_fit = timed_fit(balanced, ref_x, ref_y)
        results["semeval2014"]["reference_balanced"] = evaluate(balanced, test_x, test_y, cats14) | {
            "fit_s": round(balanced_fit, 2)
        }

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

    # SemEval-2016 E#A (slot 1 + polarity), on the 2016 test side
    cats16 = list(SEMEVAL16_CATEGORIES)
    x16, y16 = [s.text for s in train16], [to_semeval2016_scheme(s) for s in train16]
    tx16, ty16 = [s.text for s in test16], [to_semeval2016_scheme(s) for s in test16]
    ours16 = AspectModel(taxonomy=cats16, embeddings=embeddings, sentiment_model=sentiment_model)
    fit16 = timed_fit(ours16, x16, y16)
    results["semeval2016"]["ours"] = evaluate(ours16, tx16, ty16, cats16) | {"fit_s": round(fit16, 2)}
    # As the cold start serves (training.aspects.get_aspect_model): seed terms, not expanded.
    cold16 = ColdStartAspectModel(scheme="semeval2016", sentiment_model=sentiment_model)
    results["semeval2016"]["cold_start_sentiment"] = evaluate(cold16, tx16, ty16, cats16)
    results["semeval2016"]["best_published_slot1_f1"] = BEST_PUBLISHED_SEMEVAL2016_SLOT1

    # Product themes: 2016 test side mapped (the eight learned themes), then the review-sentence gold (all ten)
    learned = [t for t in THEMES if t not in COLD_START_THEMES]
    tx, ty, tk = themes_training_set(train14, train16)
    themes = themes_model(embeddings, sentiment_model)
    themes_fit = timed_fit(themes, tx, ty, known=tk)
    vx, vy = [s.text for s in test16], [to_themes(s) for s in test16]
    results["themes"]["ours"] = evaluate(themes, vx, vy, learned) | {"fit_s": round(themes_fit, 2)}
    if not args.quick:
        only16 = themes_model(embeddings, sentiment_model)
        only16.fit([s.text for s in train16], [to_themes(s) for s in train16])
        results["themes"]["ours_2016_gold_only"] = evaluate(only16, vx, vy, learned)
    cold_themes = ColdStartAspectModel(sentiment_model=sentiment_model)
    results["themes"]["cold_start_sentiment"] = evaluate(cold_themes, vx, vy, learned)
    results["themes"]["learned"] = learned
    results["themes"]["cold_start_only"] = list(COLD_START_THEMES)
    results["themes"]["train_sentences"] = len(tx)
    if gold is not None:
        results["review_sentence_gold"] = {"sentences": len(gold)} | gold_table(
            {"ours": themes, "cold_start_sentiment": cold_themes}, gold
        )

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
    r16 = results["semeval2016"]
    print(f"\nSemEval-2016 E#A on 2016 test sentences ({len(test16)}; best published slot 1: 0.730, official test)")
    for name, key in (("AspectModel (ours)", "ours"), ("cold start + sentiment", "cold_start_sentiment")):
        m = r16[key]
        print(f"{name:<24}micro-F1 {m['micro_f1']:.4f}  P {m['precision']:.3f}  R {m['recall']:.3f}  "
              f"pol-acc {m['polarity_accuracy']:.4f}")  # fmt: skip
    print("per-category F1 (ours):", r16["ours"]["per_category_f1"])
    t = results["themes"]
    print(f"\nProduct themes on 2016 test sentences mapped ({len(test16)}; learned themes: {', '.join(learned)})")
    for name, key in (
        ("themes model (ours)", "ours"),
        ("ours, 2016 gold only", "ours_2016_gold_only"),
        ("cold start + sentiment", "cold_start_sentiment"),
    ):
        if key in t:
            m = t[key]
            print(f"{name:<24}micro-F1 {m['micro_f1']:.4f}  pol-acc {m['polarity_accuracy']:.4f}")
            print(f"{'':<24}per theme {m['per_category_f1']}")
    g = results.get("review_sentence_gold")
    if g is None:
        print("\nreview-sentence gold (bench/gold.py): not available, table skipped")
    else:
        print(f"\nAll ten themes on the hand-annotated review sentences ({g['sentences']})")
        for name in ("ours", "cold_start_sentiment"):
            m = g[name]
            print(f"{name:<24}micro-F1 {m['micro_f1']:.4f}  P {m['precision']:.3f}  R {m['recall']:.3f}  "
                  f"pol-acc {m['polarity_accuracy']:.4f} ({m['polarity_pairs']} pairs)")  # fmt: skip
            print(f"{'':<24}per theme {m['per_category_f1']}")
            print(f"{'':<24}polarity per theme {m['polarity_accuracy_per_category']}")

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
