"""How accuracy grows with human labels: a fit over this install's own models, and what the next point costs.

Learning curves of text classifiers flatten roughly like the logarithm of the number of labels (each doubling
buys about the same gain), so accuracy = intercept + slope * ln(labels) is fitted by least squares over the
models evaluated on held-out human labels. With it, the labels needed for the next accuracy point (+1
percentage point) are labels * (exp(0.01 / slope) - 1): the price of a point doubles as the curve flattens.
Pure: no Django (the selector in training/learning_curve.py feeds it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NEXT_POINT = 0.01  # one percentage point of accuracy
MIN_FIT_POINTS = 2  # distinct label counts needed for a slope


@dataclass(frozen=True)
class CurvePoint:
    labels: int  # human labels the model was trained on
    accuracy: float  # on the held-out human labels of the evaluation bucket


@dataclass(frozen=True)
class LogFit:
    intercept: float
    slope: float  # accuracy gained per e-fold of labels
    points: int

    def accuracy_at(self, labels: int) -> float:
        return self.intercept + self.slope * math.log(labels)


def fit_log_curve(points: Sequence[CurvePoint]) -> LogFit | None:
    """Least-squares accuracy = a + b ln(labels) over the points with labels > 0; None without at least
    MIN_FIT_POINTS distinct label counts."""
    usable = [p for p in points if p.labels > 0]
    if len({p.labels for p in usable}) < MIN_FIT_POINTS:
        return None
    xs = [math.log(p.labels) for p in usable]
    ys = [p.accuracy for p in usable]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return LogFit(intercept=mean_y - slope * mean_x, slope=slope, points=len(usable))


def labels_for_next_point(fit: LogFit | None, labels_now: int, gain: float = NEXT_POINT) -> int | None:
    """More human labels needed (beyond labels_now) for `gain` more accuracy on the fitted curve; None when the
    curve does not rise (more of the same labels has not helped so far) or there is no fit."""
    if fit is None or labels_now <= 0 or fit.slope <= 0:
        return None
    return math.ceil(labels_now * math.expm1(gain / fit.slope))
