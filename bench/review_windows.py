"""Benchmark: how the accurate kind reads a long review, its macro-F1 against its speed.

    .venv/bin/python bench/review_windows.py [--data-dir ../shared/data]

On the held-out 20 % of the shared Yelp and Zomato files (training.ml.datasets.split, never fine-tuned on), the
shipped fine-tuned head reads each review through the shipped int8 graph under several window policies for
reviews longer than the window: two windows (first and last 256 tokens, embeddings averaged: the reading until
7 December), and one window of head and tail (training.ml.review_encoder.head_and_tail, what ships) at 256, 192
and 128 tokens. Prints macro-F1, neutral F1, the blend with the fast kind at the default share (fitted on the
other 80 %), tokens per review and reviews/s (one window per run, runs in parallel on every core, as the
product runs them), each policy beside the two-window baseline from the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.conf import settings

    from training.ml import finetuned, lexicon_prior, review_encoder
    from training.ml.datasets import load_yelp, load_zomato, split
    from training.ml.metrics import evaluate

    data_dir = args.data_dir or Path(settings.SHARED_DATA_DIR)
    splits = {"yelp": split(load_yelp(data_dir)), "zomato": split(load_zomato(data_dir))}
    train = [example for train_part, _ in splits.values() for example in train_part]
    fast = lexicon_prior.fit([e.text for e in train], [e.label for e in train])
    encoder, head = finetuned.shipped_encoder(), finetuned.shipped_head()
    session = encoder._session

    def run_one(tokens: list[int]) -> np.ndarray:
        ids = np.array([tokens], dtype=np.int64)
        return session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]

    def two_windows(ids: list[int], size: int) -> list[list[int]]:
        return [ids] if len(ids) <= size else [ids[: size - 1] + ids[-1:], ids[:1] + ids[1 - size :]]

    policies = {
        "two windows of 256 (before)": lambda ids: two_windows(ids, 256),
        "one window, 256 (shipped)": lambda ids: [review_encoder.head_and_tail(ids, 256)],
        "one window, 192": lambda ids: [review_encoder.head_and_tail(ids, 192)],
        "one window, 128": lambda ids: [review_encoder.head_and_tail(ids, 128)],
    }
    run_one([101, 102])  # warm
    print(
        f"{'split':7s} {'policy':30s} {'macro-F1':>9s} {'neutral':>8s} {'blend':>7s} {'tokens':>7s} {'reviews/s':>10s}"
    )
    for name, (_, test) in splits.items():
        texts, labels = [e.text for e in test], [e.label for e in test]
        encodings = encoder._tokenizer.encode_batch(texts)
        fast_probabilities = fast.predict_proba(texts)
        baseline_speed = None
        for policy, windows_of in policies.items():
            windows, owners = [], []
            for index, encoding in enumerate(encodings):
                for window in windows_of(encoding.ids):
                    windows.append(window)
                    owners.append(index)
            started = time.perf_counter()
            vectors = np.array(list(encoder._pool().map(run_one, windows)))
            speed = len(texts) / (time.perf_counter() - started)
            summed = np.zeros((len(texts), vectors.shape[1]))
            np.add.at(summed, owners, vectors)
            probabilities = head.predict_proba(summed / np.linalg.norm(summed, axis=1, keepdims=True))
            scores = evaluate(probabilities, labels)
            blend = evaluate(finetuned.FinetunedSentimentModel.blend(probabilities, fast_probabilities), labels)
            baseline_speed = baseline_speed or speed
            print(
                f"{name:7s} {policy:30s} {scores['macro_f1']:9.4f} {scores['per_class']['neutral']['f1']:8.3f} "
                f"{blend['macro_f1']:7.4f} {sum(map(len, windows)) / len(texts):7.1f} {speed:7.0f} "
                f"({speed / baseline_speed:.2f}x)",
                flush=True,
            )


if __name__ == "__main__":
    main()
