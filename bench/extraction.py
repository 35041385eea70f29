"""Aspect + suggestion extraction speed (what `predict_file --aspects --suggestions` runs), and the quality check.

    VAR_DIR=/tmp/bench-extraction-var .venv/bin/python bench/extraction.py [--reviews 1000] [--variants float,int8]
        [--no-quality] [--data-dir /work/shared/data]

Install: without DATABASE_URL the VAR_DIR gets an SQLite install; `migrate` deploys the shipped defaults
(training/pretrained: the aspect bundle and the suggestion detector), which is what extraction serves.

Speed: the first N reviews of the shared Yelp part 1 (column `text`) go through `manage.py predict_file IN --aspects
--suggestions --out OUT.csv` in this process, once per encoder variant: `float` (the float32 MiniLM graph, how
extraction ran before) and `int8` (the dynamically quantised graph, the default now). Before each variant the
encoder caches are emptied and the models are warmed on other reviews, so a figure counts the work of N unseen
reviews, not the one-off loading. Printed per variant: reviews/s, sentences/s, and the seconds of the MiniLM
encoding of the distinct sentences alone (the part the variants differ in).

Quality (SemEval restaurant training files, the evaluation bucket the shipped bundle never learned from,
training.ml.holdout): each scheme of the shipped bundle scored with float and with int8 embeddings: category
micro-F1 and polarity accuracy must stay within 0.005.

Writes bench/results/extraction.json. Timings move with other load on the 2 cores: compare variants of one run.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUALITY_TOLERANCE = 0.005
WARM_REVIEWS = 30


def default_data_dir() -> Path:
    env = os.environ.get("SHARED_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def setup_django(var_dir: Path) -> None:
    os.environ.setdefault("VAR_DIR", str(var_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("MLFLOW_ENABLED", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)  # deploys the shipped aspect and suggestion defaults


def yelp_texts(data_dir: Path, count: int) -> list[str]:
    path = data_dir / "yelp_reviews_10k_train" / "yelp_train_part1.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if row.get("text", "").strip()]
    if len(texts) < count + WARM_REVIEWS:
        raise SystemExit(f"{path} has {len(texts)} reviews; asked for {count} + {WARM_REVIEWS} to warm up")
    return texts[: count + WARM_REVIEWS]


def write_csv(path: Path, texts: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([text] for text in texts)


def use_variant(variant: str) -> None:
    """Point the aspect models at the float or the int8 encoder, both with empty caches, and empty the cache of
    the sentiment model's review encoder too (the shipped fine-tuned head is the sentiment default since 7
    December: without this, the second variant got the first one's review embeddings for free)."""
    from training.ml import aspect_features, encoder, finetuned

    aspect_features.QUANTIZED_EMBEDDINGS = variant == "int8"
    for quantized in (False, True):
        encoder.shared_encoder(quantized=quantized).clear_cache()
    if finetuned.is_available():
        finetuned.shipped_encoder().clear_cache()


def predict_file(source: Path, target: Path) -> None:
    from django.core.management import call_command

    call_command(
        "predict_file",
        str(source),
        text_col="text",
        aspects=True,
        suggestions=True,
        out=str(target),
        stderr=io.StringIO(),
    )


def measure_variant(variant: str, folder: Path, texts: list[str], warm: list[str]) -> dict:
    from training.ml import aspect_features, encoder
    from training.ml.text import split_sentences
    from training.serving import predict_texts

    use_variant(variant)
    write_csv(folder / "warm.csv", warm)
    predict_file(folder / "warm.csv", folder / "warm.out.csv")  # loads the models, builds the ONNX session
    use_variant(variant)
    write_csv(folder / "reviews.csv", texts)
    started = time.perf_counter()
    predict_file(folder / "reviews.csv", folder / f"{variant}.out.csv")
    seconds = time.perf_counter() - started

    sentences = [s for text in texts for s in (split_sentences(text.strip()) or [text.strip()])]
    distinct = list(dict.fromkeys(sentences))
    sentence_encoder = encoder.shared_encoder(quantized=aspect_features.QUANTIZED_EMBEDDINGS)
    sentence_encoder.clear_cache()
    started = time.perf_counter()
    sentence_encoder.encode(distinct)
    encode_seconds = time.perf_counter() - started
    use_variant(variant)
    started = time.perf_counter()
    predict_texts([text.strip() for text in texts])  # the review-level sentiment predict_file also writes
    sentiment_seconds = time.perf_counter() - started
    return {
        "reviews": len(texts),
        "sentences": len(sentences),
        "distinct_sentences": len(distinct),
        "seconds": round(seconds, 2),
        "reviews_per_s": round(len(texts) / seconds, 1),
        "sentences_per_s": round(len(sentences) / seconds, 1),
        "encode_seconds": round(encode_seconds, 2),
        "encode_sentences_per_s": round(len(distinct) / encode_seconds, 1),
        "sentiment_seconds": round(sentiment_seconds, 2),
    }


def quality_check(data_dir: Path) -> dict:
    """Each shipped scheme on the evaluation bucket, float vs int8 embeddings."""
    import joblib

    from training import aspects as aspect_training
    from training.defaults import PRETRAINED_DIR
    from training.ml import aspect_data
    from training.ml.aspect_schemes import as_bundle
    from training.ml.holdout import text_in_evaluation_bucket

    s14, s16 = aspect_data.load_semeval(data_dir)
    if not s14 or not s16:
        return {"skipped": f"SemEval files not found under {data_dir}"}
    annotated = list(enumerate(s14 + s16))
    bundle = as_bundle(joblib.load(PRETRAINED_DIR / "aspects.joblib"))
    result = {}
    for scheme in bundle.schemes:
        bucket = [e for e in aspect_training.scheme_examples(annotated, scheme) if text_in_evaluation_bucket(e[0])]
        scores = {}
        for variant in ("float", "int8"):
            use_variant(variant)
            scores[variant] = aspect_training.score_examples(bundle.model_for(scheme), bucket)
        deltas = {
            metric: round(scores["int8"][metric] - scores["float"][metric], 4)
            for metric in ("micro_f1", "polarity_accuracy")
        }
        within = all(abs(delta) <= QUALITY_TOLERANCE for delta in deltas.values())
        result[scheme] = {**scores, "delta": deltas, "within_tolerance": within}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=1000)
    parser.add_argument("--variants", default="float,int8", help="comma-separated: float, int8")
    parser.add_argument("--no-quality", action="store_true", help="skip the float vs int8 quality check")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "extraction.json")
    args = parser.parse_args(argv)

    setup_django(Path(tempfile.gettempdir()) / "bench-extraction-var")
    texts = yelp_texts(args.data_dir, args.reviews)
    warm, texts = texts[:WARM_REVIEWS], texts[WARM_REVIEWS:]
    results: dict = {"reviews": len(texts), "load_before": os.getloadavg()[0], "speed": {}}
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as folder:
        for variant in args.variants.split(","):
            figures = measure_variant(variant.strip(), Path(folder), texts, warm)
            results["speed"][variant] = figures
            f = figures
            print(
                f"{variant:>5}: {f['reviews_per_s']:7.1f} reviews/s  {f['sentences_per_s']:7.1f} sentences/s"
                f"  ({f['reviews']} reviews, {f['sentences']} sentences in {f['seconds']} s; encoding the "
                f"{f['distinct_sentences']} distinct sentences alone: {f['encode_seconds']} s, "
                f"{f['encode_sentences_per_s']} sentences/s; the review-level sentiment alone: "
                f"{f['sentiment_seconds']} s)",
                flush=True,
            )
    results["load_after"] = os.getloadavg()[0]
    print(f"load average before {results['load_before']:.1f}, after {results['load_after']:.1f} (2 cores)")
    if not args.no_quality:
        results["quality"] = quality_check(args.data_dir)
        for scheme, figures in results["quality"].items():
            if scheme == "skipped":
                print(f"quality check skipped: {figures}")
                continue
            exact, approximate = figures["float"], figures["int8"]
            print(
                f"{scheme:>12}: micro-F1 float {exact['micro_f1']:.4f} int8 {approximate['micro_f1']:.4f}"
                f"  polarity float {exact['polarity_accuracy']:.4f} int8 {approximate['polarity_accuracy']:.4f}"
                f"  (n={exact['n']}) {'PASS' if figures['within_tolerance'] else 'FAIL'}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
