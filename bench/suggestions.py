"""Suggestion detection benchmark: the rule, plain TF-IDF + LR, and SuggestionModel, side by side.

    .venv/bin/python bench/suggestions.py [--data-dir /work/shared/data] [--gold-repo PATH] [--folds 5]

Systems (F1 / precision / recall of the suggestion class, the SemEval-2019 Task 9 metric):
- rule: SuggestionRule, the keyword/imperative rule (no training);
- plain TF-IDF + LR: word 1-2-gram TF-IDF (sublinear) + LogisticRegression(class_weight=balanced) at 0.5, trained on
  the forum file (V1.4_Training.csv) only, as SOURCE.md measured it;
- ours, forum only: SuggestionModel trained on the forum file alone (how far structure transfers by itself);
- ours: SuggestionModel trained on the forum file + training/ml/data/review_suggestions.csv (the product's setup).

Evaluated on:
- trial: SubtaskA_Trial_Test_Labeled.csv (forum domain; never trained on);
- review CV: the review-domain sentences in --folds stratified folds, each scored by a model trained on the forum file
  plus the other folds (what they add on review sentences the model has not seen; the rule and the forum-only models
  score every sentence once);
- gold: the hand-annotated Yelp/Zomato review sentences (bench/gold.py, `is_suggestion`) when they exist, here or in
  --gold-repo; never used for tuning. Reported also per sample ("random" is the unbiased one).

Leak checks: no review-domain sentence may equal (NFKC, lower-case, whitespace collapsed) a forum training or trial
sentence, or a gold sentence. Throughput: predict_proba over 10,000 trial sentences in one call, one process.
Writes bench/results/suggestions.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from training.ml.suggestion_data import read_semeval2019_csv, review_domain_sentences  # noqa: E402
from training.ml.suggestions import SuggestionModel, SuggestionRule  # noqa: E402

TARGETS = {"trial_f1": 0.79}
SEMEVAL_FOLDER = "semeval2019_task9_suggestions_train"


def default_data_dir() -> Path:
    env = os.environ.get("SHARED_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def normalised(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).lower().split()).strip(" \"'")


def scores(labels, predicted) -> dict:
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    true_positives = int(np.sum((predicted == 1) & (labels == 1)))
    precision = true_positives / max(int(np.sum(predicted == 1)), 1)
    recall = true_positives / max(int(np.sum(labels == 1)), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": round(f1, 3), "precision": round(precision, 3), "recall": round(recall, 3), "n": len(labels)}


class PlainTfidf:
    """The reference: TF-IDF word 1-2-grams + LR, threshold 0.5, as SOURCE.md measured it."""

    def fit(self, sentences, labels):
        self.pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            LogisticRegression(class_weight="balanced", max_iter=2000),
        ).fit(list(sentences), list(labels))
        return self

    def predict(self, sentences):
        return self.pipeline.predict(list(sentences))


def review_gold(gold_repo: Path | None, data_dir: Path):
    """The gold review sentences as (texts, labels, samples), or None when the gold sample or its data is absent."""
    for repo in (ROOT, gold_repo):
        if repo is None or not (repo / "bench" / "gold.py").exists():
            continue
        spec = importlib.util.spec_from_file_location("review_sentence_gold", repo / "bench" / "gold.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        gold_csv = repo / "bench" / "data" / "review_sentences_gold.csv"
        if not gold_csv.exists():
            continue
        rows = module.load_review_sentence_gold(data_dir, gold_csv=gold_csv)
        if rows is None:
            return None
        return [row.text for row in rows], [row.is_suggestion for row in rows], [row.sample for row in rows]
    return None


def throughput(model, sentences: list[str], count: int = 10_000) -> float:
    batch = (sentences * (count // len(sentences) + 1))[:count]
    started = time.perf_counter()
    model.predict(batch)
    return round(count / (time.perf_counter() - started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--gold-repo", type=Path, default=None, help="a checkout holding bench/gold.py and its data")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    folder = args.data_dir / SEMEVAL_FOLDER
    forum = read_semeval2019_csv(folder / "V1.4_Training.csv")
    trial = read_semeval2019_csv(folder / "SubtaskA_Trial_Test_Labeled.csv")
    reviews = review_domain_sentences()
    forum_texts, forum_labels = [s.text for s in forum], [s.label for s in forum]
    trial_texts, trial_labels = [s.text for s in trial], [s.label for s in trial]
    review_texts, review_labels = [s.text for s in reviews], np.array([s.label for s in reviews])
    gold = review_gold(args.gold_repo, args.data_dir)
    print(
        f"forum {len(forum)} sentences ({sum(forum_labels)} suggestions, {forum.skipped} rows skipped), trial "
        f"{len(trial)} ({sum(trial_labels)}), review-domain {len(reviews)} ({int(review_labels.sum())}), gold "
        f"{'absent' if gold is None else f'{len(gold[0])} ({sum(gold[1])})'}",
        flush=True,
    )

    leaks = {
        "forum": sorted({normalised(t) for t in review_texts} & {normalised(t) for t in forum_texts}),
        "trial": sorted({normalised(t) for t in review_texts} & {normalised(t) for t in trial_texts}),
        "gold": sorted({normalised(t) for t in review_texts} & {normalised(t) for t in gold[0]}) if gold else [],
    }
    for name, shared in leaks.items():
        print(f"review-domain sentences equal to a {name} sentence: {len(shared)} {shared[:5]}")

    started = time.perf_counter()
    systems = {
        "rule": SuggestionRule(),
        "plain TF-IDF + LR (forum)": PlainTfidf().fit(forum_texts, forum_labels),
        "ours, forum only": SuggestionModel().fit(forum_texts, forum_labels),
        "ours (forum + reviews)": SuggestionModel().fit(
            forum_texts + review_texts,
            forum_labels + list(review_labels),
            review_domain=[False] * len(forum_texts) + [True] * len(review_texts),
        ),
    }
    print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)

    review_cv = {name: system.predict(review_texts) for name, system in systems.items() if "reviews" not in name}
    out_of_fold = np.zeros(len(review_texts), dtype=int)
    splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
    for train, held_out in splitter.split(review_texts, review_labels):
        model = SuggestionModel().fit(
            forum_texts + [review_texts[i] for i in train],
            forum_labels + list(review_labels[train]),
            review_domain=[False] * len(forum_texts) + [True] * len(train),
        )
        out_of_fold[held_out] = model.predict([review_texts[i] for i in held_out])
    review_cv["ours (forum + reviews)"] = out_of_fold

    results: dict = {"systems": {}, "leaks": {name: len(shared) for name, shared in leaks.items()}}
    for name, system in systems.items():
        entry = {
            "trial": scores(trial_labels, system.predict(trial_texts)),
            "review_cv": scores(review_labels, review_cv[name]),
            "sentences_per_s": throughput(system, trial_texts),
        }
        if hasattr(system, "threshold"):
            entry["threshold"] = system.threshold
        if gold is not None:
            predicted = system.predict(gold[0])
            entry["gold"] = scores(gold[1], predicted)
            for sample in sorted(set(gold[2])):
                rows = [i for i, s in enumerate(gold[2]) if s == sample]
                entry[f"gold_{sample}"] = scores([gold[1][i] for i in rows], predicted[rows])
        results["systems"][name] = entry

    columns = ["trial", "review_cv"] + (["gold"] + [f"gold_{s}" for s in sorted(set(gold[2]))] if gold else [])
    print("\nF1 / precision / recall (n)")
    print(f"{'system':28} " + " ".join(f"{c:>22}" for c in columns) + f" {'sentences/s':>12}")
    for name, entry in results["systems"].items():
        cells = [f"{entry[c]['f1']:.3f}/{entry[c]['precision']:.3f}/{entry[c]['recall']:.3f}" for c in columns]
        print(f"{name:28} " + " ".join(f"{cell:>22}" for cell in cells) + f" {entry['sentences_per_s']:>12,}")
    ours = results["systems"]["ours (forum + reviews)"]
    print(f"\nours: threshold {ours['threshold']}; trial F1 {ours['trial']['f1']} (target >= {TARGETS['trial_f1']})")

    out = ROOT / "bench" / "results" / "suggestions.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
