"""Whether an aspect is an issue, a strength, or neither, decided by the significance of its net sentiment.

Among an aspect's polar mentions (positive + negative; neutral and conflicting ones take no side), the
negative share's 95% Wilson score interval is compared with one half: entirely above, customers criticise
it more than they praise it (an issue); entirely below, they praise it more (a strength); straddling one
half, or with fewer than MIN_POLAR_MENTIONS polar mentions, the evidence does not say ("mixed", "too few").
An aspect is therefore never both, and a handful of mentions never tops either list. General-like
categories (analytics.taxonomy) are never ranked at all.
"""

from __future__ import annotations

import math

from analytics.taxonomy import is_general

MIN_POLAR_MENTIONS = 5
Z_95 = 1.959964

ISSUE = "issue"
STRENGTH = "strength"
MIXED = "mixed"
TOO_FEW = "too few"
GENERAL = "general"


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion; (0, 1) with no trials."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def aspect_verdict(*, category: str, positive: int, negative: int) -> dict:
    """{"verdict", "net_negative_low", "net_negative_high"}: the verdict and the negative share's
    interval among polar mentions (None when there are none)."""
    polar = positive + negative
    low, high = wilson_interval(negative, polar) if polar else (None, None)
    if is_general(category):
        verdict = GENERAL
    elif polar < MIN_POLAR_MENTIONS:
        verdict = TOO_FEW
    elif low > 0.5:
        verdict = ISSUE
    elif high < 0.5:
        verdict = STRENGTH
    else:
        verdict = MIXED
    return {
        "verdict": verdict,
        "net_negative_low": round(low, 4) if low is not None else None,
        "net_negative_high": round(high, 4) if high is not None else None,
    }
