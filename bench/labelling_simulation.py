"""Benchmark: how much macro-F1 each label buys, uncertainty queue against random labelling.

Runs the product's labelling simulation (training/labelling_simulation.py, the code behind
`manage.py simulate_labelling`) over several seeds on the shared data (SHARED_DATA_DIR, default
../shared/data; nothing is copied into the repository). Each seed draws a pool of Yelp reviews (labels
from stars: 1-2 negative, 3 neutral, 4-5 positive, hidden until "labelled") and two disjoint evaluation
sets: other Yelp reviews, and Zomato reviews. Prints per strategy and step the mean (min-max) macro-F1
over the seeds, and how many labels the uncertainty queue needs to match random labelling's last step.
(bench/labelling.py is another benchmark: the labelling page's latency in a browser.)

    .venv/bin/python bench/labelling_simulation.py [--seeds 5] [--pool 3000] [--eval 500] [--budget 600]
        [--step 100] [--random-share 0.2] [--kind fast|accurate]

The accurate kind's runs draw pool and evaluation sets from the 20 % of each file the shipped encoder was not
fine-tuned on (at most ~1,100 pool reviews).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _sets(data_dir: Path, seed: int, pool_size: int, eval_size: int, *, held_out: bool = False):
    """held_out: draw only from the 20 % of each file the shipped encoder was not fine-tuned on (the accurate
    kind: scored on reviews it learned, it would look better than it is)."""
    from training.labelling_simulation import LabelledTexts
    from training.ml.datasets import load_yelp, load_zomato, split

    yelp, zomato = load_yelp(data_dir), load_zomato(data_dir)
    if held_out:
        yelp, zomato = split(yelp)[1], split(zomato)[1]
        pool_size = min(pool_size, len(yelp) - eval_size)
    order = list(range(len(yelp)))
    random.Random(seed).shuffle(order)
    pool = [yelp[i] for i in order[:pool_size]]
    yelp_eval = [yelp[i] for i in order[pool_size : pool_size + eval_size]]
    zomato_eval = random.Random(1000 + seed).sample(zomato, eval_size)

    def labelled(examples) -> LabelledTexts:
        return LabelledTexts([e.text for e in examples], [e.label for e in examples])

    return labelled(pool), {"yelp": labelled(yelp_eval), "zomato": labelled(zomato_eval)}


def _labels_to_match(labels: list[int], curve: list[float], target: float) -> str:
    for n, f1 in zip(labels, curve):
        if f1 >= target:
            return str(n)
    return f"> {labels[-1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--pool", type=int, default=3000)
    parser.add_argument("--eval", type=int, default=500)
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--step", type=int, default=100)
    parser.add_argument("--random-share", type=float, default=None, help="Default: the setting")
    parser.add_argument("--kind", choices=("fast", "accurate"), default=None, help="Default: SENTIMENT_MODEL_KIND")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("MLFLOW_ENABLED", "false")
    import django

    django.setup()
    from django.conf import settings

    from training.labelling_simulation import labelling_simulate

    if args.random_share is not None:
        settings.LABELLING_UNCERTAIN_RANDOM_SHARE = args.random_share
    kind = args.kind or settings.SENTIMENT_MODEL_KIND
    data_dir = Path(settings.SHARED_DATA_DIR)
    if not (data_dir / "yelp_reviews_10k_train").exists():
        sys.exit(f"No shared data under {data_dir} (set SHARED_DATA_DIR)")
    print(
        f"pool {args.pool} Yelp reviews, evaluation {args.eval} Yelp + {args.eval} Zomato, budget {args.budget}, "
        f"step {args.step}, {args.seeds} seeds, random share {settings.LABELLING_UNCERTAIN_RANDOM_SHARE}, "
        f"cold start {settings.LABELLING_COLD_START_LABELS}, kind {kind}"
        + (" (pool and evaluation from the held-out 20 % the encoder never saw)" if kind == "accurate" else ""),
        flush=True,
    )
    curves: dict[tuple[str, str], list[list[float]]] = {}
    seconds: dict[str, list[float]] = {}
    labels: list[int] = []
    for seed in range(args.seeds):
        pool, evaluations = _sets(data_dir, seed, args.pool, args.eval, held_out=kind == "accurate")
        for name, evaluation in evaluations.items():
            for strategy in ("random", "uncertainty"):
                started = time.perf_counter()
                result = labelling_simulate(
                    pool, evaluation, strategy=strategy, budget=args.budget, step=args.step, seed=seed, kind=kind
                )
                curves.setdefault((name, strategy), []).append(result.macro_f1)
                seconds.setdefault(strategy, []).append(time.perf_counter() - started)
                labels = result.labels
                print(f"seed {seed} {name:6s} {strategy:11s} {result.macro_f1} {result.seconds:.1f} s", flush=True)

    print()
    for name in ("yelp", "zomato"):
        print(f"Yelp pool -> {name} evaluation: macro-F1 mean (min-max) over {args.seeds} seeds")
        print("  labels       " + "".join(f"{n:>20d}" for n in labels))
        means = {}
        for strategy in ("random", "uncertainty"):
            runs = np.array(curves[(name, strategy)])
            means[strategy] = runs.mean(axis=0)
            cells = "".join(
                f"{m:>8.3f} ({lo:.3f}-{hi:.3f})" for m, lo, hi in zip(means[strategy], runs.min(0), runs.max(0))
            )
            print(f"  {strategy:12s} {cells}")
        target = float(means["random"][-1])
        needed = _labels_to_match(labels, list(means["uncertainty"]), target)
        never_below = bool((means["uncertainty"] >= means["random"] - 1e-9).all())
        print(
            f"  uncertainty needs {needed} labels for random's {labels[-1]}-label macro-F1 {target:.3f}; "
            f"at or above random at every step: {never_below}"
        )
    for strategy, values in seconds.items():
        print(f"{strategy}: {np.mean(values):.1f} s per run of {args.budget} labels (mean)")


if __name__ == "__main__":
    main()
