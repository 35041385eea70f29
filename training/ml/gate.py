"""The promotion gate (pure): is the candidate reliably better than the champion?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import f1_score

from training.ml.labels import LABELS


@dataclass(frozen=True)
class GateConfig:
    min_delta: float = 0.005
    min_probability: float = 0.90
    max_class_f1_drop: float = 0.05
    bootstrap_samples: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class GateResult:
    promote: bool
    delta_macro_f1: float
    probability_better: float
    class_f1_deltas: dict[str, float]
    reason: str


def _macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 from a confusion matrix (the bootstrap calls this thousands of times;
    sklearn's f1_score costs ~1 ms a call). A class absent from both counts 0, as sklearn."""
    k = len(LABELS)
    confusion = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    true_positive = np.diag(confusion).astype(float)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(k), where=denominator > 0)
    return float(f1.mean())


def paired_bootstrap_probability(
    truth: np.ndarray, champion: np.ndarray, candidate: np.ndarray, *, samples: int, seed: int = 0
) -> float:
    """Share of bootstrap resamples (the same rows for both models) where the candidate's macro-F1 is higher."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    wins = 0
    for _ in range(samples):
        rows = rng.integers(0, n, n)
        wins += _macro_f1(truth[rows], candidate[rows]) > _macro_f1(truth[rows], champion[rows])
    return wins / samples


def decide(
    truth: np.ndarray, champion: np.ndarray, candidate: np.ndarray, config: GateConfig = GateConfig()
) -> GateResult:
    """truth/champion/candidate: class indices into LABELS for the same evaluation rows."""
    champion_f1 = _macro_f1(truth, champion)
    candidate_f1 = _macro_f1(truth, candidate)
    delta = candidate_f1 - champion_f1
    indices = list(range(len(LABELS)))
    per_class_champion = f1_score(truth, champion, labels=indices, average=None, zero_division=0)
    per_class_candidate = f1_score(truth, candidate, labels=indices, average=None, zero_division=0)
    class_deltas = {
        label: round(float(per_class_candidate[i] - per_class_champion[i]), 4) for i, label in enumerate(LABELS)
    }
    probability = paired_bootstrap_probability(
        truth, champion, candidate, samples=config.bootstrap_samples, seed=config.seed
    )
    worst_label = min(class_deltas, key=class_deltas.get)
    if delta < config.min_delta:
        promote, reason = False, f"macro-F1 gain {delta:+.4f} is below the required {config.min_delta:+.4f}"
    elif probability < config.min_probability:
        promote, reason = (
            False,
            f"only {probability:.0%} of bootstrap resamples favour the candidate (need {config.min_probability:.0%})",
        )
    elif -class_deltas[worst_label] > config.max_class_f1_drop:
        promote, reason = (
            False,
            f"class {worst_label} loses {-class_deltas[worst_label]:.4f} F1 "
            f"(at most {config.max_class_f1_drop} allowed)",
        )
    else:
        promote, reason = True, f"macro-F1 {delta:+.4f} with {probability:.0%} bootstrap probability of being better"
    return GateResult(
        promote=promote,
        delta_macro_f1=round(delta, 4),
        probability_better=round(probability, 4),
        class_f1_deltas=class_deltas,
        reason=reason,
    )
